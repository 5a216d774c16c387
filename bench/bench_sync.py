"""Benchmark: the demo's Infor → BILL runs against the simulators over real HTTP, with simulated latency.

    .venv/bin/python bench/bench_sync.py [--latency-ms 50] [--invoices 400] [--workers 1]

Prints one JSON object: BILL calls per created object, run times, the calls an unchanged re-run
makes, the most BILL calls seen in flight, and database queries per record. It builds its own
SQLite database in a temporary folder (or uses DATABASE_URL if set), so it never touches db.sqlite3.
With --workers 2 a second process runs a second integration on the same BILL organization at the
same time, to show the limit holds across processes.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_django(tmp):
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


class QueryCounter:
    """Counts the main thread's database queries (connection.execute_wrapper)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def state(url, system):
    import requests

    return requests.get(f"{url}/_control/state", params={"system": system}, timeout=60).json()


def control(url, path, payload):
    import requests

    response = requests.post(f"{url}/_control/{path}", json=payload, timeout=600)
    response.raise_for_status()
    return response.json()


def second_process(integration_id, env):
    code = ("import django; django.setup()\n"
            "from syncs.engine import run_integration\n"
            f"run = run_integration({integration_id}, trigger='manual')\n"
            "print(run.status, run.counters.get('api_calls'))\n")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--invoices", type=int, default=400)
    parser.add_argument("--workers", type=int, default=1, choices=[1, 2])
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="mlc-bench-")
    setup_django(tmp)

    from django.core.management import call_command
    from django.db import connection

    from connectors.models import Connection
    from sandbox.bill import simulator as bill_sandbox
    from sandbox.hub import SandboxHub, serve_in_thread, wsgi_app
    from sandbox.infor import demo
    from syncs.engine import run_integration
    from syncs.models import Integration, MappingRule, SyncRecord

    hub = SandboxHub()
    server, url = serve_in_thread(wsgi_app(hub))
    hub.url = url
    demo.seed_sandboxes(url, invoices=args.invoices)
    call_command("seed_demo", sandbox_url=url, only=["infor"], stdout=open(os.devnull, "w"))
    integration = Integration.objects.get(name="Infor → BILL")
    other = None
    if args.workers == 2:
        # A second tenant's integration on the same BILL organization, from the same Infor data.
        other = Integration.objects.create(tenant=integration.tenant, name="Infor → BILL (second)",
                                           source=integration.source,
                                           target=Connection.objects.get(pk=integration.target_id), enabled=False)
        for rule in MappingRule.objects.filter(integration=integration):
            rule.pk, rule.integration = None, other
            rule.save()
    for system in ("infor", "bill"):
        control(url, "faults", {"system": system, "latency_ms": args.latency_ms})

    bill_before = state(url, "bill")["calls"]
    helper = None
    if other is not None:
        env = {**os.environ}
        helper = second_process(other.pk, env)
    started = time.perf_counter()
    with connection.execute_wrapper(counter := QueryCounter()):
        first = run_integration(integration.pk, trigger="manual")
    first_seconds = time.perf_counter() - started
    helper_result = None
    if helper is not None:
        out, err = helper.communicate(timeout=600)
        helper_result = out.strip() or err.strip()[-500:]
    bill_state = state(url, "bill")
    org = bill_state["organizations"][bill_sandbox.ORG_ID]
    created = first.counters.get("vendors_created", 0) + first.counters.get("bills_created", 0)
    bill_calls_first = bill_state["calls"] - bill_before
    records = SyncRecord.objects.filter(integration=integration).count()

    bill_before = bill_state["calls"]
    started = time.perf_counter()
    with connection.execute_wrapper(again_counter := QueryCounter()):
        again = run_integration(integration.pk, trigger="schedule")
    again_seconds = time.perf_counter() - started
    bill_calls_again = state(url, "bill")["calls"] - bill_before

    bulk_calls = math.ceil(first.counters.get("bills_created", 0) / 100) + math.ceil(
        first.counters.get("vendors_created", 0) / 20)
    floor = bulk_calls * args.latency_ms / 1000 / 3
    result = {
        "latency_ms": args.latency_ms, "invoices": args.invoices, "workers": args.workers,
        "first_run": {"status": first.status, "seconds": round(first_seconds, 2),
                      "vendors_created": first.counters.get("vendors_created", 0),
                      "bills_created": first.counters.get("bills_created", 0),
                      "bill_calls": bill_calls_first,
                      "bill_calls_per_created_object": round(bill_calls_first / created, 4) if created else None,
                      "db_queries_per_record": round(counter.count / max(records, 1), 2),
                      "bulk_call_floor_seconds": round(floor, 2)},
        "unchanged_rerun": {"status": again.status, "seconds": round(again_seconds, 2), "bill_calls": bill_calls_again,
                            "unchanged": again.counters.get("unchanged", 0),
                            "db_queries_per_record": round(again_counter.count / max(records, 1), 2)},
        "bill_max_in_flight": bill_state["max_in_flight"],
        "bill_refused_concurrent": bill_state.get("rejected_concurrent"),
        "bill_vendors": len(org["vendors"]), "bill_bills": len(org["bills"]),
        "second_process": helper_result,
    }
    print(json.dumps(result, indent=2))
    server.shutdown()


if __name__ == "__main__":
    main()
