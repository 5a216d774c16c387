"""Benchmark: the demo's Infor → BILL runs against the simulators over real HTTP, with simulated latency.

    .venv/bin/python bench/bench_sync.py [--scenario demo|quiet|scale|queries|all ...] [--latency-ms 50]
        [--invoices N] [--suppliers N] [--workers 1|2] [--ledger-rows 1000 100000]
    .venv/bin/python bench/bench_sync.py --compare <commit A> <commit B> [--repeat 3] --scenario demo ...

Prints one JSON object a line, one per scenario:
- demo: the first run of the demo (400 invoices, 300 suppliers): its time, the calls to each system, BILL calls per
  created object, the most BILL calls in flight, database queries per record, the syncing process's peak RSS,
  and the floor the documented limits of both systems allow (bench/floors.py), with the ratio to it.
- quiet: the unchanged re-run after that first run: its time and the calls to each system.
- scale: the demo's first run at 50,000 invoices and 5,000 suppliers, with the same figures.
- queries: database queries per record on a first run of about 1,000 records with 1,000 and with 100,000 ledger
  rows already there (synced bills, their follow-ups done).
--invoices and --suppliers replace every scenario's own size. Each scenario runs in a process of its own with its
own SQLite database in a temporary folder (or DATABASE_URL if set), never db.sqlite3; the simulators run in another
process (bench/harness.py), and so does each sync run, whose peak RSS is read from /proc (VmHWM). With --workers 2
a second process runs a second integration on the same BILL organization during the first run of demo and scale, to
show the limit holds across processes. --compare runs this bench at two commits, alternately (bench/compare.py).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import compare
import floors
import harness

# Each scenario's (invoices, suppliers) unless --invoices or --suppliers say otherwise.
SIZES = {"demo": (400, 300), "quiet": (400, 300), "scale": (50000, 5000), "queries": (900, 100)}
LEDGER_ROWS = (1000, 100000)
PREFILL_BATCH = 5000


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", action="append", choices=[*SIZES, "all"],
                   help="repeatable; default: all of them, each in a process of its own")
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--invoices", type=int)
    p.add_argument("--suppliers", type=int)
    p.add_argument("--workers", type=int, default=1, choices=[1, 2])
    p.add_argument("--ledger-rows", type=int, nargs="+", default=list(LEDGER_ROWS),
                   help="the queries scenario: ledger rows already there before each of its runs")
    compare.add_arguments(p)
    return p


class Environment:
    """The Infor → BILL demo loaded into simulators of its own (another process) at a size, with its integration,
    and a second one on the same BILL organization when there are two workers."""

    def __init__(self, args, invoices, suppliers):
        from django.core.management import call_command

        from connectors.models import Connection
        from sandbox.infor import demo
        from syncs.models import Integration, MappingRule

        self.args, self.invoices, self.suppliers = args, invoices, suppliers
        data = demo.infor_data(invoices=invoices, suppliers=suppliers)
        self.invoice_rows = sum(len(invoice["lines"]) for invoice in data["invoices"])
        del data
        self.sims = harness.Simulators()
        self.seed()
        call_command("seed_demo", sandbox_url=self.sims.url, only=["infor"], stdout=open(os.devnull, "w"))
        self.integration = Integration.objects.get(name=demo.INTEGRATION)
        self.other = None
        if args.workers == 2:
            integration = self.integration
            self.other = Integration.objects.create(tenant=integration.tenant, name=f"{integration.name} (second)",
                                                    source=integration.source, enabled=False,
                                                    target=Connection.objects.get(pk=integration.target_id))
            for rule in MappingRule.objects.filter(integration=integration):
                rule.pk, rule.integration = None, self.other
                rule.save()
        self.latency()

    def seed(self):
        from sandbox.infor import demo

        demo.seed_sandboxes(self.sims.url, invoices=self.invoices, suppliers=self.suppliers)

    def latency(self):
        for system in ("infor", "bill"):
            self.sims.control("faults", {"system": system, "latency_ms": self.args.latency_ms})

    def reload(self):
        """Simulators as new and an empty ledger: a first run again, in the same database. The tokens kept for the
        simulators' sessions go too: reset, they know none of them, and a run would first be refused, then sign in
        again from each of its threads, which is no measure of the ledger."""
        from connectors.models import ConnectionToken
        from syncs.models import Cursor, SyncRecord

        self.sims.control("reset", {})
        ConnectionToken.objects.all().delete()
        self.seed()
        self.latency()
        SyncRecord.objects.filter(integration=self.integration).delete()
        Cursor.objects.filter(integration=self.integration).delete()

    def run(self, trigger, second=False):
        """One run of the integration in a process of its own; with `second` and two workers, the second
        integration's first run in another process at the same time."""
        before = {system: self.sims.summary(system) for system in ("infor", "bill")}
        helper = harness.start_run(self.other.pk, "manual") if second and self.other else None
        result = harness.run_sync(self.integration.pk, trigger)
        if helper is not None:
            other = harness.finish_run(helper)
            result["second_process"] = {"status": other["status"], "seconds": other["seconds"],
                                        **{k: other["counters"].get(k, 0)
                                           for k in ("api_calls", "vendors_created", "bills_created")}}
        after = {system: self.sims.summary(system) for system in ("infor", "bill")}
        result["infor_calls"] = after["infor"]["calls"] - before["infor"]["calls"]
        result["bill_calls"] = after["bill"]["calls"] - before["bill"]["calls"]
        was, now = before["infor"]["transaction_calls"], after["infor"]["transaction_calls"]
        result["infor_calls_by_transaction"] = {k: n - was.get(k, 0) for k, n in sorted(now.items())
                                                if n != was.get(k, 0)}
        return result

    def records(self):
        from syncs.models import SyncRecord

        return SyncRecord.objects.filter(integration=self.integration).count()

    def bill_state(self):
        from sandbox.infor import demo

        state = self.sims.summary("bill")
        org = state["organizations"][demo.BILL_ORGANIZATION]
        return {"bill_max_in_flight": state["max_in_flight"], "bill_refused_concurrent": state["rejected_concurrent"],
                "bill_vendors": org.get("vendors", 0), "bill_bills": org.get("bills", 0)}

    def close(self):
        self.sims.close()


def first_run_figures(env, run, records):
    counters = run.pop("counters")
    vendors, bills = counters.get("vendors_created", 0), counters.get("bills_created", 0)
    # With two workers the BILL calls are both processes': so are the objects they created.
    other = run.get("second_process", {})
    created = vendors + bills + other.get("vendors_created", 0) + other.get("bills_created", 0)
    figures = {**run, "vendors_created": vendors, "bills_created": bills, "records": records,
               "api_calls": counters.get("api_calls"),
               "bill_calls_per_created_object": round(run["bill_calls"] / created, 4) if created else None,
               "db_queries_per_record": round(run["db_queries"] / max(records, 1), 2)}
    latency = env.args.latency_ms / 1000
    floor = floors.floor([floors.infor(env.invoice_rows, env.suppliers, latency),
                          floors.bill(vendors + other.get("vendors_created", 0),
                                      bills + other.get("bills_created", 0), latency)])
    return figures, floor


def first_run_scenario(env, name):
    run = env.run("manual", second=True)
    figures, floor = first_run_figures(env, run, env.records())
    return {"first_run": figures, "floor": floor, "ratio_to_floor": floors.ratio(figures["seconds"], floor["seconds"]),
            **env.bill_state()}


def quiet(env, name):
    first = env.run("manual")
    records = env.records()
    again = env.run("schedule")
    counters = again.pop("counters")
    return {"first_run": {"status": first["status"], "records": records},
            "unchanged_rerun": {**again, "unchanged": counters.get("unchanged", 0),
                                "api_calls": counters.get("api_calls"),
                                "db_queries_per_record": round(again["db_queries"] / max(records, 1), 2)},
            **env.bill_state()}


def prefill(integration, rows):
    """`rows` synced bills the simulators know nothing of, each with every follow-up done, as a ledger that has
    been running for a while holds them: a run must not touch them."""
    from syncs.models import FollowUp, FollowUpKind, FollowUpState, ObjectType, RecordStatus, SyncRecord

    for start in range(0, rows, PREFILL_BATCH):
        ids = [f"PREFILL-{n:07d}" for n in range(start, min(start + PREFILL_BATCH, rows))]
        SyncRecord.objects.bulk_create(
            SyncRecord(integration=integration, object_type=ObjectType.BILL, source_id=source_id,
                       source_ref=f"OLD-{source_id[8:]}", target_id=f"00n{source_id[8:]:0>14}", number=source_id[8:],
                       status=RecordStatus.SYNCED, source_hash="0" * 64) for source_id in ids)
        pks = SyncRecord.objects.filter(integration=integration, source_id__in=ids).values_list("pk", flat=True)
        FollowUp.objects.bulk_create(FollowUp(record_id=pk, kind=kind, state=FollowUpState.DONE)
                                     for pk in pks for kind in FollowUpKind.values)


def queries(env, name):
    runs = []
    for n, rows in enumerate(env.args.ledger_rows):
        if n:
            env.reload()
        prefill(env.integration, rows)
        run = env.run("manual")
        records = env.records() - rows
        runs.append({"ledger_rows_before": rows, "records": records, "status": run["status"],
                     "seconds": run["seconds"], "db_queries": run["db_queries"],
                     "db_queries_per_record": round(run["db_queries"] / max(records, 1), 3),
                     "bill_calls": run["bill_calls"], "infor_calls": run["infor_calls"]})
    smallest, largest = runs[0]["db_queries_per_record"], runs[-1]["db_queries_per_record"]
    return {"runs": runs, "per_record_ratio_largest_to_smallest": round(largest / smallest, 3) if smallest else None}


SCENARIOS = {"demo": first_run_scenario, "quiet": quiet, "scale": first_run_scenario, "queries": queries}


def run_scenario(args, name):
    invoices, suppliers = (args.invoices or SIZES[name][0]), (args.suppliers or SIZES[name][1])
    harness.setup_django(tempfile.mkdtemp(prefix=f"mlc-bench-{name}-"))
    env = Environment(args, invoices, suppliers)
    try:
        result = SCENARIOS[name](env, name)
    finally:
        env.close()
    return {"bench": "sync", "scenario": name, "latency_ms": args.latency_ms, "invoices": invoices,
            "suppliers": suppliers, "workers": args.workers, **result}


def main():
    args = parser().parse_args()
    if args.compare:
        return compare.delegate(Path(__file__).name, sys.argv[1:])
    names = [name for name in SIZES if not args.scenario or "all" in args.scenario or name in args.scenario]
    if len(names) == 1:
        print(json.dumps(run_scenario(args, names[0])), flush=True)
        return 0
    # Django takes one database a process: each scenario gets a process of its own, and a fresh database.
    rest = list(sys.argv[1:])
    while "--scenario" in rest:
        at = rest.index("--scenario")
        del rest[at:at + 2]
    failed = 0
    for name in names:
        failed |= subprocess.run([sys.executable, __file__, "--scenario", name, *rest]).returncode
    return failed


if __name__ == "__main__":
    sys.exit(main())
