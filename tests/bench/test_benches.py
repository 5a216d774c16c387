"""Each benchmark in bench/ run as its own process at a tiny size, as documented in docs/PERFORMANCE.md but without
latency: these tests fail when a bench no longer runs on a fresh checkout or no longer prints its figures. They
check what a bench prints (created objects, exact call counts, floors, pages answered), never a timing."""

import importlib.util
import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench_module(name):
    """A module of bench/, loaded from its file: bench/ is scripts, not a package on the path."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare, floors = bench_module("compare"), bench_module("floors")
SUITE_ONLY = bench_module("harness").SUITE_ONLY

TINY = ("--latency-ms", "0", "--invoices", "20", "--suppliers", "10")


def run_bench(script, *args):
    env = {key: value for key, value in os.environ.items() if key not in SUITE_ONLY}
    done = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=BENCH, env=env, capture_output=True,
                          text=True, timeout=600)
    if done.returncode:
        # Not its arguments: a server URL may carry a password.
        pytest.fail(f"{script} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def lines(out):
    return [json.loads(line) for line in out.splitlines()]


def assert_floor(out, systems):
    floor = out["floor"]
    assert {part["system"] for part in floor["parts"]} == set(systems)
    # The critical path, level after level: never less than one system's share on its own.
    assert floor["seconds"] >= max(part["seconds"] for part in floor["parts"])
    assert out["ratio_to_floor"] is None  # no latency: a floor of nothing


def test_bench_sync_every_scenario():
    """All four scenarios, a second process on the same BILL organization during the first runs."""
    out = {o["scenario"]: o for o in lines(run_bench("bench_sync.py", *TINY, "--workers", "2",
                                                     "--ledger-rows", "10", "400"))}
    assert list(out) == ["demo", "quiet", "scale", "queries"]

    for name in ("demo", "scale"):
        first, second = out[name]["first_run"], out[name]["first_run"]["second_process"]
        assert first["status"] in ("succeeded", "partial") and second["status"] in ("succeeded", "partial")
        vendors = first["vendors_created"] + second["vendors_created"]
        bills = first["bills_created"] + second["bills_created"]
        assert vendors > 0 and bills > 0
        assert out[name]["bill_bills"] == bills, "the second process made a duplicate bill"
        assert out[name]["bill_vendors"] == vendors, "the second process made a duplicate vendor"
        assert 0 < out[name]["bill_max_in_flight"] <= 3 and out[name]["bill_refused_concurrent"] == 0
        assert first["infor_calls"] == sum(first["infor_calls_by_transaction"].values())
        assert first["peak_rss_mb"] >= first["rss_before_mb"] > 0
        assert first["db_queries"] > 0
        assert_floor(out[name], ["infor", "bill"])
        infor, bill = out[name]["floor"]["parts"]
        assert bill["calls"] == math.ceil(vendors / 20) + math.ceil(bills / 100)
        assert infor["calls"] == 1 + 3 + 10  # 20 invoices' lines in one custom-list call; 3 lists; 10 addresses

    quiet = out["quiet"]
    again = quiet["unchanged_rerun"]
    assert "second_process" not in again
    assert again["unchanged"] > 0 and again["bill_calls"] <= 10
    assert again["infor_calls"] == sum(again["infor_calls_by_transaction"].values())
    assert quiet["bill_bills"] > 0

    small, large = out["queries"]["runs"]
    assert (small["ledger_rows_before"], large["ledger_rows_before"]) == (10, 400)
    assert small["records"] == large["records"] > 0
    # The same run against a ledger 40 times larger: only the bookkeeping of each remote call (rate-limit windows)
    # may differ; a query per ledger row would add 390.
    calls = max(small["bill_calls"] + small["infor_calls"], large["bill_calls"] + large["infor_calls"])
    assert abs(large["db_queries"] - small["db_queries"]) <= calls


def test_bench_demos_every_pair():
    out = {o["demo"]: o for o in lines(run_bench("bench_demos.py", *TINY))}
    assert set(out) == {"Infor → BILL", "IFS → BILL", "Acumatica → BILL", "SYSPRO → BILL", "Infor → AvidXchange"}
    for name, demo in out.items():
        first, again = demo["first_run"], demo["unchanged_rerun"]
        assert first["status"] in ("succeeded", "partial"), name
        assert first["erp_calls"] > 0 and first["ap_calls"] > 0, name
        # The connectors' own count includes sign-ins that some simulators do not count as calls.
        assert first["erp_calls"] + first["ap_calls"] <= first["api_calls"], name
        assert again["ap_calls"] <= 10 and again["erp_calls"] <= 10, name  # a quiet run: at most 10 calls a system
        assert again["unchanged"] > 0, name
        assert_floor(demo, [demo["erp"], demo["ap"]])
    for name in ("IFS → BILL", "Acumatica → BILL", "SYSPRO → BILL"):
        assert 0 < out[name]["first_run"]["ap_calls_per_created_object"] <= 0.1, name
    # Its first run is the one seed_demo makes, timed; the run after the payments writes them back and creates nothing.
    avid = out["Infor → AvidXchange"]
    assert avid["first_run"]["created"]["bills_created"] > 0 and avid["first_run"]["images"] > 0
    assert {p["system"] for p in avid["floor"]["parts"]} == {"infor", "avidxchange"}
    assert f"then {avid['first_run']['images']} invoice images" in avid["floor"]["parts"][1]["how"]
    payments = avid["payments_run"]
    assert payments["counters"].get("payments_written_back", 0) > 0 and not payments["counters"].get("bills_created")


def test_compare_a_commit_with_itself():
    """The same commit twice: every call count is the same at both, so its ratio is 1. Options the commit's bench
    does not take are left out and said so, never a failure."""
    listed = subprocess.run(["git", "worktree", "list"], cwd=BENCH, capture_output=True, text=True)
    if listed.returncode:
        pytest.skip(f"--compare checks commits out of git, and this is not a git checkout: {listed.stderr.strip()}")
    worktrees = listed.stdout
    out = json.loads(run_bench("compare.py", "HEAD", "HEAD", "--repeat", "1", "--", "bench_demos.py",
                               "--latency-ms", "0", "--only", "acumatica", "--no-such-option", "1"))
    assert out["a"]["runs"] == out["b"]["runs"] == 1
    [(name, scenario)] = out["scenarios"].items()
    assert name == "Acumatica → BILL"
    ratios = scenario["ratio_b_to_a"]
    assert ratios["first_run.api_calls"] == ratios["unchanged_rerun.api_calls"] == 1.0
    assert any("--no-such-option 1" in line for line in out["not_compared"])
    assert subprocess.run(["git", "worktree", "list"], cwd=BENCH, capture_output=True, text=True).stdout == worktrees


def test_compare_keeps_only_the_options_a_bench_takes():
    known = compare.options_of("usage: bench [-h] [--latency-ms LATENCY_MS] [--only [ONLY ...]]")
    kept, dropped = compare.keep_known(["--latency-ms", "0", "--scenario", "demo", "--only", "ifs", "syspro"], known)
    assert kept == ["--latency-ms", "0", "--only", "ifs", "syspro"] and dropped == ["--scenario", "demo"]
    assert compare.split_own(["--scenario", "demo", "--compare", "a1", "b2", "--repeat", "5"]) == (
        ["a1", "b2"], 5, ["--scenario", "demo"])


def test_compare_reads_old_and_new_output_alike():
    """An older bench printed one indented object naming no scenario; it is compared with the one scenario the
    other commit's bench printed, figure by figure of the same name."""
    old = compare.by_scenario(compare.objects(json.dumps({"first_run": {"seconds": 4.0, "bill_calls": 30},
                                                          "ok": True}, indent=2)))
    new = [compare.by_scenario(compare.objects(json.dumps({"scenario": "demo", "first_run": {
        "seconds": seconds, "bill_calls": 30, "infor_calls": 310}}))) for seconds in (1.0, 3.0, 2.0)]
    note = compare.align([old], new)
    assert "commit A's bench names no scenario" in note
    scenarios, not_compared = compare.summarize([old], new)
    assert scenarios["demo"]["ratio_b_to_a"] == {"first_run.seconds": 0.5, "first_run.bill_calls": 1.0}
    assert not_compared == ["scenario demo: only at commit B: first_run.infor_calls"]


def test_floors():
    # 3,000 Infor calls fit in one minute; the 3,001st waits for the next. Sign-in, the lists, then the addresses.
    assert floors.infor(0, 2997, 0.05)["seconds"] == 0.15
    assert floors.infor(0, 2998, 0.05)["seconds"] == 60.15
    # 5,000 suppliers and 100,000 invoice lines: 10 list calls, 3 supplier lists, 5,000 address calls.
    assert floors.infor(100000, 5000, 0.05)["calls"] == 5013
    # 299 vendors (15 bulk calls) and 383 bills (4), three at a time: 7 round trips, after the sign-in.
    bill = floors.bill(299, 383, 0.05)
    assert (bill["calls"], bill["levels"]) == (19, {"sign-in": 0.05, "creates": 0.35})
    # One vendor call and one bill call fit in one round of 3 in flight, but the bill names the vendor's id: 2.
    assert floors.bill(5, 5, 0.05)["levels"]["creates"] == 0.1
    both = floors.floor([floors.infor(800, 300, 0.05), bill])
    # Sign-in; the supplier list, then its address calls; the creates: the levels follow one another.
    assert [(s["level"], s["seconds"], s["by"]) for s in both["path"]] == [
        ("sign-in", 0.05, "infor"), ("reads", 0.1, "infor"), ("creates", 0.35, "bill")]
    assert both["bound_by"] == "bill" and both["seconds"] == 0.5
    # IFS → BILL: the suppliers' addresses, then their communication methods, after the supplier list (the posting
    # lines, after the invoice list, beside them); the transfer marks follow the bills, all in one $batch call.
    ifs = floors.floor([floors.ifs(149, 0.05, suppliers=99, invoices=149), floors.bill(99, 149, 0.05)])
    assert [(s["level"], s["seconds"]) for s in ifs["path"]] == [
        ("sign-in", 0.05), ("reads", 0.15), ("creates", 0.15), ("follow-ups", 0.05)]
    assert ifs["seconds"] == 0.4 and ifs["path"][-1]["by"] == "ifs"
    # Nothing read in full: the lists alone.
    assert floors.ifs(0, 0.05)["levels"] == {"sign-in": 0.05, "reads": 0.05}
    # Payments written back to Infor follow their read from AvidXchange.
    back = floors.floor([floors.infor(0, 0, 0.05, writes=5), floors.avidxchange(0, 0, 0.05, payments_read=True)])
    assert [s["level"] for s in back["path"]] == ["sign-in", "reads", "follow-ups"] and back["seconds"] == 0.15


@pytest.fixture
def postgres_database():
    """A database name of its own on the bench's PostgreSQL server, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    server = os.environ.get("BENCH_PAGES_SERVER", "postgres://postgres@127.0.0.1:5432")
    try:
        psycopg.connect(f"{server}/postgres", connect_timeout=3).close()
    except psycopg.OperationalError:
        pytest.skip(f"bench_pages needs a PostgreSQL server, and none answers at {server.split('@')[-1]}")
    name = f"mlc_bench_pages_smoke_{uuid.uuid4().hex[:8]}"
    yield server, name
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_bench_pages(postgres_database):
    server, name = postgres_database
    out = json.loads(run_bench("bench_pages.py", "--server", server, "--database", name, "--records", "2000",
                               "--audit", "5000", "--repeat", "1").splitlines()[-1])
    assert out["records"] == 2500 and out["audit_entries"] == 5000
    assert len(out["pages"]) == 20
    assert all(page["queries"] > 0 for page in out["pages"])
    # Infor → AvidXchange's first run: 23 payees, then 51 invoices, the 2 code lists published beside the payees (4
    # calls, 4 in flight: still the 2 rounds the invoices' wait on their payees makes); then 11 images, one a call,
    # 4 in flight: 3 rounds after the invoices.
    avid = floors.avidxchange(23, 51, 0.05, code_lists=2, images=11)
    assert (avid["calls"], avid["levels"]) == (15, {"sign-in": 0.05, "creates": 0.1, "follow-ups": 0.15})
    assert floors.avidxchange(350, 0, 0.05, code_lists=2)["levels"]["creates"] == 0.1, "4 payee calls + 2 lists: 2"
    first = floors.floor([floors.infor(120, 23, 0.05, lookups=64), avid])
    assert first["seconds"] == 0.4 and floors.infor(120, 23, 0.05, lookups=64)["calls"] == 1 + 26 + 64
