"""Benchmark: the fault storm of issue 23 on every ERP × AP pair: how many records get through, and what breaks.

    .venv/bin/python bench/bench_storm.py [--pairs infor-bill ifs-avidxchange ...] [--runs 3] [--seed 1]
                                          [--storm issue|mild] [--scale demo|small] [--latency-ms 0] [--save DIR]

By default the five pairs with a demo (seed_demo's); the other three AvidXchange pairs (`--pairs ifs-avidxchange
acumatica-avidxchange syspro-avidxchange`) send their ERP's demo data to the AvidXchange demo's company. For each
pair, its data is loaded into fresh simulators (sandbox.hub.SandboxHub over real HTTP) and into a database of its
own: an SQLite file in a temporary folder, or, when DATABASE_URL names a PostgreSQL server, a database created on it
for the pair and dropped afterwards. A storm is set on both simulators (POST /_control/faults): the issue's is
15 % server errors, 10 % rate-limit answers, 3 % timeouts of 2 s and 5 % session expiries. The integration then runs
`--runs` times as the scheduler runs it (trigger "schedule"; a deferred run is followed by the next one anyway, as
the next scheduled run would be), a few bills are paid in the AP platform as soon as the storm has let some through
(after a run, before the last), so payments come back under the storm too, and the faults are cleared for one more
run.

Which records are eligible is not guessed: the same pair is first run the same way without faults, in a database of
its own, and what that reference pass brings through (or the storm pass by its clean run) is what the storm should
bring through. Each pass runs in a process of its own (bench_storm.py --worker), so every pass has its own database
and its own Django; `--save DIR` keeps each pass's raw result there (every run's synced records) for a second look.

Prints one JSON object per pair: eligible records, through after each storm run, % through after `--runs` runs,
runs that crashed (ended with an internal error, or raised), runs deferred and why, duplicates counted from the
simulators' own state (vendors, bills and attachments in the AP platform by their key or number; payments written
back twice in the ERP), anything left running or pending, and the records still failed, grouped by cause code.
`--seed` seeds the simulators' fault dice; the runs' own threads share those dice, so a repeat is close, not exact.
"""

import argparse
import contextlib
import inspect
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness import control, state

ROOT = Path(__file__).resolve().parents[1]

# Every ERP × AP pair (tests/syncs/test_pairs.py makes the same eight): (ERP, AP platform).
PAIRS = {f"{erp}-{ap}": (erp, ap) for ap in ("bill", "avidxchange") for erp in ("infor", "ifs", "acumatica", "syspro")}
# The pairs with a demo of their own: its module's system id (sandbox/<id>/demo.py), set up by seed_demo.
DEMOS = {"infor-bill": "infor", "ifs-bill": "ifs", "infor-avidxchange": "avidxchange", "acumatica-bill": "acumatica",
         "syspro-bill": "syspro"}
# The other three are put together here: the ERP's demo data, sent to the AvidXchange demo's company.
STORMS = {
    # Issue 23 §1: what one storm run of the embedded default must survive.
    "issue": {"error_rate": 0.15, "rate_limit_rate": 0.10, "timeout_rate": 0.03, "timeout_seconds": 2,
              "session_expiry_rate": 0.05},
    # For the suite: every kind of answer but the slow one, rarely enough that a tiny seed gets through.
    "mild": {"error_rate": 0.05, "rate_limit_rate": 0.03, "session_expiry_rate": 0.03},
}
# A tiny seed for the suite: each demo module's sizes, kept large enough for the records its seed names (the
# supplier without a tax id, the locked invoice, the vendor on hold) to exist.
SMALL = {"infor": {"SUPPLIERS": 12, "INVOICES": 20}, "ifs": {"SUPPLIERS": 15, "INVOICES": 20},
         "avidxchange": {"SUPPLIERS": 8, "INVOICES": 15, "IMAGES": 4},
         "acumatica": {"VENDORS": 30, "RELEASED_BILLS": 20}, "syspro": {"SUPPLIERS": 16, "INVOICES": 20}}
# Bills paid in the AP platform after the first run.
PAY = {"demo": 5, "small": 3}
CRASH_PREFIX = "Internal error"


def setup_django(tmp):
    """Django on the worker's own database: DATABASE_URL when the orchestrator gave one, else an SQLite file in
    `tmp`; its file locks in `tmp` too."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SANDBOX_ENABLED", "1")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ.setdefault("LOCK_DIR", f"{tmp}/locks")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # The cache is a database table (settings.CACHES without REDIS_URL), which migrate does not make.
    call_command("createcachetable", verbosity=0)


# --- the orchestrator --------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", nargs="*", choices=sorted(PAIRS),
                        help=f"Default: the five demo pairs ({', '.join(DEMOS)}).")
    parser.add_argument("--runs", type=int, default=3, help="Storm runs before the clean one.")
    parser.add_argument("--seed", type=int, default=1, help="The seed of the simulators' fault dice.")
    parser.add_argument("--storm", choices=sorted(STORMS), default="issue")
    parser.add_argument("--scale", choices=("demo", "small"), default="demo")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--save", help="A folder to keep each pass's raw result in.")
    parser.add_argument("--worker", choices=sorted(PAIRS), help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args)
        Path(args.out).write_text(json.dumps(result))
        return
    for pair in args.pairs or DEMOS:
        reference = in_own_process(pair, args, reference=True)
        storm = in_own_process(pair, args, reference=False)
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
            Path(args.save, f"{pair}.json").write_text(json.dumps({"reference": reference, "storm": storm}))
        print(json.dumps(summary(pair, args, reference, storm)), flush=True)


def in_own_process(pair, args, reference):
    """One pass of one pair (the reference or the storm) in a process and a database of its own."""
    out = Path(tempfile.mkdtemp(prefix="mlc-storm-out-")) / "result.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", pair, "--out", str(out),
               "--runs", str(args.runs), "--seed", str(args.seed), "--storm", args.storm, "--scale", args.scale,
               "--latency-ms", str(args.latency_ms)] + (["--reference"] if reference else [])
    with own_database(pair, "ref" if reference else "storm") as env:
        done = subprocess.run(command, cwd=ROOT / "bench", env=env, capture_output=True, text=True)
    if done.returncode or not out.exists():
        sys.exit(f"bench_storm: the {'reference' if reference else 'storm'} pass of {pair} failed:\n"
                 f"{done.stderr[-4000:]}")
    return json.loads(out.read_text())


@contextlib.contextmanager
def own_database(pair, kind):
    """The environment of a worker: its own SQLite file (the worker makes it), or its own PostgreSQL database on the
    server DATABASE_URL names, created here and dropped afterwards."""
    env = dict(os.environ)
    url = env.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        env.pop("DATABASE_URL", None)
        yield env
        return
    import psycopg

    name = f"mlc_storm_{pair.replace('-', '_')}_{kind}_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(url)
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**env, "DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}"))}
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def summary(pair, args, reference, storm):
    """The pair's figures: the storm pass measured against what the reference pass brought through."""
    # What either pass brought through in the end: a reference run that itself fails (a crash is not a fault of the
    # storm's) must not shrink what the storm is measured against.
    eligible = set(reference["runs"][-1]["synced"]) | set(storm["runs"][-1]["synced"])
    # Payments come from the bills paid in the AP platform in the pass itself, so the storm's own are eligible.
    eligible = {key for key in eligible if not key.startswith("payment:")}
    paid = storm["paid_in_ap"]

    def through(run):
        keys = set(run["synced"])
        return len(keys & eligible) + min(paid, sum(1 for key in keys if key.startswith("payment:")))

    storm_runs, clean = storm["runs"][:-1], storm["runs"][-1]
    total = len(eligible) + paid
    after = [through(run) for run in storm_runs]
    by_type = Counter(key.split(":")[0] for key in eligible)
    missing = sorted(eligible - set(storm_runs[-1]["synced"])) if storm_runs else []
    return {
        "pair": pair, "storm": args.storm, "faults": storm["faults"],
        "seed": args.seed, "scale": args.scale, "database": storm["database"],
        "eligible": total, "eligible_by_type": {**by_type, "payment": paid},
        "reference_through": through(reference["runs"][-1]) if reference["paid_in_ap"] == paid else None,
        "through_after_run": after,
        "percent_through": round(100 * after[-1] / total, 1) if total and after else None,
        "through_after_clean_run": through(clean),
        "not_through_after_storm": {"count": len(missing), "first": missing[:10]},
        "crashed_runs": sum(1 for run in storm["runs"] if run["crashed"]),
        "crashes": storm["crashes"],
        "deferred_runs": [{"run": n, "kind": run.get("deferral", ""), "why": run["error"],
                           "where": run.get("stopped_at", "")}
                          for n, run in enumerate(storm["runs"], 1) if run["status"] == "deferred"],
        "runs": [{"status": run["status"], "seconds": run["seconds"], "error": run["error"][:300],
                  "counters": run["counters"]} for run in storm["runs"]],
        "duplicates": storm["duplicates"],
        "stuck": storm["stuck"],
        # What still stops records: after the last storm run, and what the clean run left (the seed's own problems).
        "failed_by_cause": by_cause(storm_runs[-1]["failed"], eligible) if storm_runs else {},
        "failed_after_clean_run": by_cause(clean["failed"], eligible),
        "follow_ups_not_done": storm["follow_ups_not_done"],
        "warnings_logged": storm["warnings"],
        "reference_runs": [run["status"] for run in reference["runs"]],
    }


# --- one pass of one pair, in its own process --------------------------------------------------------------------

class LogTally(logging.Handler):
    """What the run's threads logged: each crash with where it was raised, and warnings counted by their words."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.crashes = []
        self.warnings = Counter()

    def emit(self, record):
        if record.exc_info and record.levelno >= logging.ERROR:
            exc = record.exc_info[1]
            self.crashes.append({"logged": record.getMessage()[:200], "error": f"{type(exc).__name__}: {exc}"[:300],
                                 "where": where(record.exc_info[2])})
        else:
            self.warnings[f"{record.name}: {record.msg}"[:200]] += 1


def where(tb):
    """The innermost frame of the project's own code in a traceback, as path:line, and the frame it raised in."""
    frames = traceback.extract_tb(tb)
    own = [f for f in frames if f.filename.startswith(str(ROOT)) and "/.venv/" not in f.filename]
    point = own[-1] if own else (frames[-1] if frames else None)
    if point is None:
        return ""
    said = f"{Path(point.filename).relative_to(ROOT) if own else point.filename}:{point.lineno} ({point.name})"
    if frames and own and frames[-1] is not own[-1]:
        said += f" -> {Path(frames[-1].filename).name}:{frames[-1].lineno}"
    return said


def chain(tb, depth=5):
    """The last `depth` frames of the project's own code in a traceback above the HTTP client, outermost first: which
    step, connector and call an error came through."""
    own = [f for f in traceback.extract_tb(tb) if f.filename.startswith(str(ROOT)) and "/.venv/" not in f.filename
           and not f.filename.endswith("connectors/http.py")]
    return " > ".join(f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} ({f.name})" for f in own[-depth:])


class StopLog:
    """Where each exception that ended a run came from: the engine's stopped_by() wrapped, so a deferral says which
    call failed after its retries (the run's own error says only what the system answered)."""

    def __init__(self):
        self.seen = []
        from syncs import engine

        original = getattr(engine, "stopped_by", None)
        if original is None:
            return

        def noting(exc, *args, **kwargs):
            self.seen.append(f"{type(exc).__name__} via {chain(exc.__traceback__)}")
            return original(exc, *args, **kwargs)

        engine.stopped_by = noting


@contextlib.contextmanager
def scaled(module, sizes):
    """The demo module's sizes replaced while its data is made."""
    saved = {name: getattr(module, name) for name in sizes}
    for name, value in sizes.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def bill_org(module):
    from sandbox import demo

    return getattr(module, "BILL_ORGANIZATION", None) or demo.bill_organization(module.TENANT[0])


class Setup:
    """One pair set up: its integration, where its objects live in the AP platform (the BILL organization or the
    AvidXchange company), and what the ERP's canonical-state control needs to find its tenant."""

    def __init__(self, integration, ap_account, erp_payload):
        self.integration, self.ap_account, self.erp_payload = integration, ap_account, erp_payload


def set_up(url, pair, scale):
    """The pair's data in fresh simulators, then its tenant and integration. A demo pair's data goes in before
    seed_demo runs: seed_demo then finds it there and only sets up the tenant, so no run happens before the storm (a
    demo with a pay step would otherwise run once, fault-free)."""
    from django.core.management import call_command

    from sandbox import demo
    from syncs.models import Integration

    modules = demo.demo_modules()
    erp, ap = PAIRS[pair]
    own = DEMOS.get(pair)
    module, avid = modules[own or erp], modules["avidxchange"]
    sizes = SMALL[own or erp] if scale == "small" else {}
    # A size the seed takes as an argument is bound when the module loads, so it is passed as well as replaced.
    accepted = inspect.signature(module.seed).parameters
    with scaled(module, sizes):
        module.seed(url, **{name.lower(): value for name, value in sizes.items() if name.lower() in accepted})
    if own is None:
        integration = composed(url, erp, module, avid)
    else:
        if ap == "bill":
            demo.seed_bill_organization(url, bill_org(module), module)
        call_command("seed_demo", sandbox_url=url, only=[own], stdout=open(os.devnull, "w"))
        integration = Integration.objects.get(name=module.INTEGRATION)
    integration = Integration.objects.select_related("source", "target").get(pk=integration.pk)
    return Setup(integration, bill_org(module) if ap == "bill" else avid.COMPANY_ID,
                 {"tenant": avid.INFOR_TENANT} if own == "avidxchange" else {})


def composed(url, erp, module, avid):
    """An ERP demo's data sent to the AvidXchange demo's company (an empty one): a tenant of its own with both
    connections, as seed_demo makes them. AvidXchange takes the ERP's codes as published, so no mapping rule is
    needed."""
    from connectors.models import Connection
    from connectors.registry import get_system
    from portal.models import Tenant
    from syncs.models import Integration

    avid.post(url, "avidxchange/account", {"company_id": avid.COMPANY_ID, "company_name": "Storm bench company",
                                           "company_token": avid.COMPANY_TOKEN, "user_token": avid.USER_TOKEN})
    tenant = Tenant.objects.create(slug=f"storm-{erp}", name=f"Storm {erp}")
    connections = []
    for system_id, spec in ((erp, module.connection(url)), ("avidxchange", avid.connection(url))):
        connection = Connection(tenant=tenant, system=system_id, name=f"{get_system(system_id).label} (sandbox)",
                                base_url=spec.get("base_url", ""), options=spec.get("options", {}))
        connection.set_credentials(spec["credentials"])
        connection.save()
        connections.append(connection)
    return Integration.objects.create(tenant=tenant, name=f"{get_system(erp).label} → AvidXchange",
                                      source=connections[0], target=connections[1], interval_minutes=1)


def pay_some(url, setup, count):
    """`count` bills paid in full in the AP platform (as a person's payment run); returns how many were paid."""
    if setup.integration.target.system == "avidxchange":
        return len(control(url, "avidxchange/settle-open", {"company": setup.ap_account, "count": count})["payments"])
    org_id = setup.ap_account
    bills = state(url, "bill")["organizations"].get(org_id, {}).get("bills", [])
    open_bills = sorted((b for b in bills if not b["archived"] and b["paymentStatus"] == "UNPAID"),
                        key=lambda b: b["invoice"]["invoiceNumber"])[:count]
    for bill in open_bills:
        control(url, "bill/pay", {"organizationId": org_id, "billId": bill["id"]})
    return len(open_bills)


def duplicates(url, setup):
    """Objects made twice, counted from the simulators' own state: in the AP platform, vendors by our key, bills by
    vendor and number, attachments by bill and file name; in the ERP, payments written back twice to one invoice."""

    def extra(keys):
        return sum(n - 1 for n in Counter(k for k in keys if k).values())

    ap, erp = setup.integration.target.system, setup.integration.source.system
    found = {}
    if ap == "bill":
        org = state(url, "bill")["organizations"].get(setup.ap_account, {})
        found["ap_vendors"] = extra(v.get("shortName") for v in org.get("vendors", []))
        found["ap_bills"] = extra((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in org.get("bills", []))
    else:
        company = state(url, ap)["companies"][setup.ap_account]
        found["ap_vendors"] = extra(p["ExternalId"] for p in company["payees"])
        found["ap_bills"] = extra((i["PayeeId"], i["InvoiceNumber"]) for i in company["invoices"])
        found["ap_attachments"] = extra((invoice, a["FileName"]) for invoice, attached in company["attachments"].items()
                                        for a in attached)
    payments = control(url, f"{erp}/canonical-state", setup.erp_payload)["payments"]
    found["erp_payments"] = extra((p["invoice_number"], p["amount"]) for p in payments if p["status"] != "VOIDED")
    found["total"] = sum(found.values())
    return found


def one_run(integration, stops):
    from syncs.engine import run_integration

    stopped = len(stops.seen)
    started = time.perf_counter()
    try:
        run = run_integration(integration.pk, trigger="schedule")
        status, error, counters = run.status, run.error, {k: v for k, v in sorted(run.counters.items()) if v}
        crashed = error.startswith(CRASH_PREFIX)
        kind = getattr(run, "deferral", "")  # what kind of deferral, where the run records it
    except Exception as exc:  # a run that cannot even record its end is the worst crash of all
        status, error, crashed = "raised", f"{type(exc).__name__}: {exc} at {where(exc.__traceback__)}", True
        counters, kind = {}, ""
    return {"status": status, "error": error, "deferral": kind, "crashed": crashed,
            "seconds": round(time.perf_counter() - started, 1), "stopped_at": " | ".join(stops.seen[stopped:]),
            "counters": counters, "synced": synced(integration.pk), "failed": failed(integration)}


def synced(integration_id):
    from syncs.models import RecordStatus, SyncRecord

    rows = SyncRecord.objects.filter(integration_id=integration_id, status=RecordStatus.SYNCED)
    return sorted(f"{kind}:{source}" for kind, source in rows.values_list("object_type", "source_id"))


def failed(integration):
    """{record key: [its type/cause, its reason]} of every failed ledger row."""
    from syncs.models import RecordStatus

    rows = integration.records.filter(status=RecordStatus.FAILED).values_list(
        "object_type", "source_id", "cause", "error_class", "error_detail")
    return {f"{kind}:{source}": [f"{kind}/{cause or error_class or '?'}", detail[:240]]
            for kind, source, cause, error_class, detail in rows}


def by_cause(failed_rows, eligible):
    """Failed records grouped by type and cause, most first: how many, how many of them eligible, one reason."""
    groups = {}
    for key, (group, detail) in failed_rows.items():
        entry = groups.setdefault(group, {"count": 0, "eligible": 0, "example": detail})
        entry["count"] += 1
        entry["eligible"] += key in eligible or key.startswith("payment:")
    return dict(sorted(groups.items(), key=lambda item: (-item[1]["eligible"], -item[1]["count"])))


def follow_ups_not_done(integration):
    from syncs.models import FollowUp, FollowUpState

    rows = FollowUp.objects.filter(record__integration=integration).exclude(state=FollowUpState.DONE)
    return dict(Counter(f"{kind}/{state}/{cause or '?'}" for kind, state, cause in
                        rows.values_list("kind", "state", "cause")))


def worker(args):
    setup_django(tempfile.mkdtemp(prefix=f"mlc-storm-{args.worker}-"))
    from django.db import connection

    from sandbox.hub import SandboxHub, serve_in_thread, wsgi_app
    from syncs.models import RecordStatus, RunStatus, SyncRun

    tally = LogTally()
    logging.getLogger().addHandler(tally)
    server, url = serve_in_thread(wsgi_app(SandboxHub()))
    setup = set_up(url, args.worker, args.scale)
    stops = StopLog()
    integration = setup.integration
    systems = (integration.source.system, integration.target.system)
    faults = {} if args.reference else dict(STORMS[args.storm])
    if args.latency_ms:
        faults["latency_ms"] = args.latency_ms
    for system in systems:
        control(url, "faults", {"system": system, "seed": args.seed, **faults})
    runs, paid = [], 0
    for n in range(args.runs):
        runs.append(one_run(integration, stops))
        if n < args.runs - 1 and paid < PAY[args.scale]:
            # Bills paid as soon as the storm has let some through, so their payments come back under it too.
            paid += pay_some(url, setup, PAY[args.scale] - paid)
    for system in systems:
        control(url, "faults", {"system": system})
    runs.append(one_run(integration, stops))
    result = {
        "reference": args.reference, "faults": faults, "database": connection.vendor, "paid_in_ap": paid,
        "runs": runs, "crashes": tally.crashes, "warnings": dict(tally.warnings.most_common(12)),
        "duplicates": duplicates(url, setup),
        "stuck": {"runs_running": SyncRun.objects.filter(integration=integration, status=RunStatus.RUNNING).count(),
                  "records_pending": integration.records.filter(status=RecordStatus.PENDING).count()},
        "follow_ups_not_done": follow_ups_not_done(integration),
    }
    server.shutdown()
    return result


if __name__ == "__main__":
    main()
