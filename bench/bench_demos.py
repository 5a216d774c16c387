"""Benchmark: each system's demo tenant, first run and unchanged re-run, over real HTTP with simulated latency.

    .venv/bin/python bench/bench_demos.py [--latency-ms 50] [--only ifs acumatica ...] [--invoices N --suppliers N]
    .venv/bin/python bench/bench_demos.py --compare <commit A> <commit B> [--repeat 3] [--only ...]

Prints one JSON object a line, one per demo (pair): the first run's time, each system's calls as its simulator
counted them (the ERP's and the AP platform's apart), what was created, AP calls per created object, the unchanged
re-run's time and calls per system, and the pair's floor: the least time the documented batch sizes and concurrency
or rate limits of both systems allow for what the run created and wrote, level after level as the documentation
makes them follow one another (sign-in, reads, creates, follow-ups; bench/floors.py), with the ratio to it.
Each demo gets simulators of its own (another process); each run is a process of its own; one SQLite database in a
temporary folder. --invoices and --suppliers size the Infor → BILL demo only (the others have one size).
The Infor → AvidXchange demo's first run is made by seed_demo (its payments need bills to pay): its row is the run
after it, which writes the settled payments to Infor.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import compare
import floors
import harness


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--only", nargs="*", help="system ids of the demos to run (infor is Infor → BILL)")
    p.add_argument("--invoices", type=int, help="the Infor → BILL demo's invoices (default its own, 400)")
    p.add_argument("--suppliers", type=int, help="the Infor → BILL demo's suppliers (default its own, 300)")
    compare.add_arguments(p)
    return p


def erp_part(system, module, counters, latency, args):
    if system == "infor":
        writes = counters.get("payments_written_back", 0) + counters.get("payments_reversed", 0)
        if not counters.get("bills_created"):
            return floors.infor(0, 0, latency, writes)
        data = module.infor_data(**{k: v for k, v in (("invoices", args.invoices), ("suppliers", args.suppliers))
                                    if v})
        return floors.infor(sum(len(i["lines"]) for i in data["invoices"]), len(data["suppliers"]), latency, writes)
    if system == "ifs":
        return floors.ifs(counters.get("acknowledgements_done", 0), latency,
                          suppliers=counters.get("vendors_created", 0), invoices=counters.get("bills_created", 0))
    return floors.unlimited(system, latency)


def ap_part(system, counters, latency):
    vendors, bills = counters.get("vendors_created", 0), counters.get("bills_created", 0)
    if system == "avidxchange":
        written_back = counters.get("payments_written_back", 0) + counters.get("payments_reversed", 0)
        return floors.avidxchange(vendors, bills, latency, payments_read=bool(written_back))
    return floors.bill(vendors, bills, latency)


def measure(sims, integration, erp, ap, trigger):
    before = sims.calls(erp, ap)
    run = harness.run_sync(integration.pk, trigger)
    after = sims.calls(erp, ap)
    run["erp_calls"], run["ap_calls"] = after[erp] - before[erp], after[ap] - before[ap]
    return run


def demo(system_id, module, args):
    from django.core.management import call_command

    from syncs.models import Integration

    with harness.Simulators() as sims:
        if system_id == "infor" and (args.invoices or args.suppliers):
            module.seed_sandboxes(sims.url, **{k: v for k, v in (("invoices", args.invoices),
                                                                   ("suppliers", args.suppliers)) if v})
        call_command("seed_demo", sandbox_url=sims.url, only=[system_id], stdout=open(os.devnull, "w"))
        integration = Integration.objects.get(name=module.INTEGRATION)
        erp, ap = integration.source.system, integration.target.system
        # A demo with its ERP in a tenant of its own names it (the Infor → AvidXchange demo: INFOR_TENANT).
        sims.tenants = {erp: getattr(module, f"{erp.upper()}_TENANT", None)}
        for system in (erp, ap):
            sims.control("faults", {"system": system, "latency_ms": args.latency_ms})
        first = measure(sims, integration, erp, ap, "manual")
        again = measure(sims, integration, erp, ap, "schedule")
    counters = first["counters"]
    created = {k: v for k, v in counters.items() if k.endswith(("_created", "_published"))}
    made = sum(counters.get(k, 0) for k in ("vendors_created", "bills_created"))
    latency = args.latency_ms / 1000
    floor = floors.floor([erp_part(erp, module, counters, latency, args), ap_part(ap, counters, latency)])
    figures = ("status", "seconds", "erp_calls", "ap_calls", "db_queries", "peak_rss_mb")
    return {"bench": "demos", "demo": module.INTEGRATION, "erp": erp, "ap": ap, "latency_ms": args.latency_ms,
            "first_run": {**{k: first[k] for k in figures}, "api_calls": counters.get("api_calls"), "created": created,
                          "ap_calls_per_created_object": round(first["ap_calls"] / made, 4) if made else None},
            "unchanged_rerun": {**{k: again[k] for k in figures}, "api_calls": again["counters"].get("api_calls"),
                                "unchanged": again["counters"].get("unchanged", 0)},
            "floor": floor, "ratio_to_floor": floors.ratio(first["seconds"], floor["seconds"])}


def main():
    args = parser().parse_args()
    if args.compare:
        return compare.delegate(Path(__file__).name, sys.argv[1:])
    harness.setup_django(tempfile.mkdtemp(prefix="mlc-bench-demos-"))
    from sandbox import demo as demos

    modules = demos.demo_modules()
    unknown = set(args.only or ()) - set(modules)
    if unknown:
        sys.exit(f"No demo for {', '.join(sorted(unknown))}; demos: {', '.join(modules)}.")
    for system_id, module in modules.items():
        if not args.only or system_id in args.only:
            print(json.dumps(demo(system_id, module, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
