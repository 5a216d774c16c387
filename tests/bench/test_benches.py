"""Each benchmark in bench/ run as its own process at a tiny size, as documented in docs/PERFORMANCE.md but without
latency: these tests fail when a bench no longer runs on a fresh checkout or no longer prints its figures. They
check what a bench prints (created objects, exact call counts, pages answered), never a timing."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
# Set by the suite for its own database, locks and settings; a bench makes its own in a temporary folder.
SUITE_ONLY = ("DATABASE_URL", "LOCK_DIR", "SANDBOX_ENABLED", "REDIS_URL")


def run_bench(script, *args):
    env = {key: value for key, value in os.environ.items() if key not in SUITE_ONLY}
    done = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=BENCH, env=env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode:
        # Not its arguments: a server URL may carry a password.
        pytest.fail(f"{script} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def test_bench_sync_with_a_second_process():
    out = json.loads(run_bench("bench_sync.py", "--latency-ms", "0", "--invoices", "5", "--workers", "2"))
    first, again = out["first_run"], out["unchanged_rerun"]
    assert first["vendors_created"] > 0 and first["bills_created"] > 0
    assert 0 < first["bill_calls_per_created_object"] <= 0.1
    assert again["unchanged"] > 0 and again["bill_calls"] <= 10
    assert 0 < out["bill_max_in_flight"] <= 3
    assert out["bill_bills"] == first["bills_created"], "the second process made a duplicate bill"
    assert out["second_process"] and out["second_process"].split()[0] in ("succeeded", "partial")


def test_bench_demos():
    lines = run_bench("bench_demos.py", "--latency-ms", "0", "--only", "acumatica").splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["first_run"]["api_calls"] > 0 and out["first_run"]["created"].get("bills_created", 0) > 0
    assert 0 < out["unchanged_rerun"]["api_calls"] <= out["first_run"]["api_calls"]


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
