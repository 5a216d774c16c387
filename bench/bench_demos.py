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
A demo whose story needs payments (Infor → AvidXchange) has its first run made by seed_demo, before the payments:
that run is the one timed as its first, and the run after the payments, which writes them to the ERP, is shown
too ("payments_run", with its own floor).
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

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


def sizes(module, args):
    """--invoices and --suppliers, for the demo they size (Infor → BILL's, which can seed other sizes)."""
    if not hasattr(module, "seed_sandboxes"):
        return {}
    return {k: v for k, v in (("invoices", args.invoices), ("suppliers", args.suppliers)) if v}


def erp_part(system, module, counters, latency, args, images=0):
    if system == "infor":
        writes = counters.get("payments_written_back", 0) + counters.get("payments_reversed", 0)
        if not counters.get("bills_created"):
            return floors.infor(0, 0, latency, writes)
        data = module.infor_data(**sizes(module, args))
        # Its code lists where it publishes them; a Document Management search per bill and a fetch per image where
        # the images go along.
        lookups = (2 if counters.get("codes_published") else 0) + (
            counters.get("documents_done", 0) + images if counters.get("documents_done") else 0)
        return floors.infor(sum(len(i["lines"]) for i in data["invoices"]), len(data["suppliers"]), latency, writes,
                            lookups=lookups)
    if system == "ifs":
        return floors.ifs(counters.get("acknowledgements_done", 0), latency,
                          suppliers=counters.get("vendors_created", 0), invoices=counters.get("bills_created", 0))
    return floors.unlimited(system, latency)


def ap_part(system, counters, latency, images=0):
    vendors, bills = counters.get("vendors_created", 0), counters.get("bills_created", 0)
    if system == "avidxchange":
        written_back = counters.get("payments_written_back", 0) + counters.get("payments_reversed", 0)
        return floors.avidxchange(vendors, bills, latency, payments_read=bool(written_back),
                                  code_lists=2 if counters.get("codes_published") else 0, images=images)
    return floors.bill(vendors, bills, latency)


def images_attached(sims, ap):
    """The bills the AP platform holds images for (the AvidXchange simulator keeps them by invoice)."""
    if ap != "avidxchange":
        return 0
    return sum(company.get("attachments", 0) for company in sims.summary(ap)["companies"].values())


def with_floor(run, sims, system_id, module, erp, ap, args, images=0):
    latency = args.latency_ms / 1000
    counters = run["counters"]
    floor = floors.floor([erp_part(erp, module, counters, latency, args, images),
                          ap_part(ap, counters, latency, images)])
    return floor, floors.ratio(run["seconds"], floor["seconds"])


def measure(sims, integration, erp, ap, trigger):
    before = sims.calls(erp, ap)
    run = harness.run_sync(integration.pk, trigger)
    after = sims.calls(erp, ap)
    run["erp_calls"], run["ap_calls"] = after[erp] - before[erp], after[ap] - before[ap]
    return run


def demo(system_id, module, args):
    from django.core.management import call_command

    from sandbox.management.commands import seed_demo
    from syncs.models import Integration

    def ready(integration):
        """The simulators' latency on, and the tenant whose calls count named: before the integration's first run."""
        erp, ap = integration.source.system, integration.target.system
        # A demo with its ERP in a tenant of its own names it (the Infor → AvidXchange demo: INFOR_TENANT).
        sims.tenants = {erp: getattr(module, f"{erp.upper()}_TENANT", None)}
        for system in (erp, ap):
            sims.control("faults", {"system": system, "latency_ms": args.latency_ms})
        return erp, ap

    seeding = []  # the first run, where seed_demo makes it (before the payments its story needs)

    def first_run_timed(integration_id, trigger, actor):
        integration = Integration.objects.get(pk=integration_id)
        seeding.append(measure(sims, integration, *ready(integration), trigger))

    with harness.Simulators() as sims:
        if sizes(module, args):
            module.seed_sandboxes(sims.url, **sizes(module, args))
        with mock.patch.object(seed_demo, "run_integration", first_run_timed):
            call_command("seed_demo", sandbox_url=sims.url, only=[system_id], stdout=open(os.devnull, "w"))
        integration = Integration.objects.get(name=module.INTEGRATION)
        erp, ap = ready(integration)
        images = images_attached(sims, ap)
        first = seeding[0] if seeding else measure(sims, integration, erp, ap, "manual")
        payments = measure(sims, integration, erp, ap, "schedule") if seeding else None
        again = measure(sims, integration, erp, ap, "schedule")
    counters = first["counters"]
    created = {k: v for k, v in counters.items() if k.endswith(("_created", "_published"))}
    made = sum(counters.get(k, 0) for k in ("vendors_created", "bills_created"))
    floor, ratio = with_floor(first, sims, system_id, module, erp, ap, args, images or 0)
    figures = ("status", "seconds", "erp_calls", "ap_calls", "db_queries", "peak_rss_mb")
    out = {"bench": "demos", "demo": module.INTEGRATION, "erp": erp, "ap": ap, "latency_ms": args.latency_ms,
           "first_run": {**{k: first[k] for k in figures}, "api_calls": counters.get("api_calls"), "created": created,
                         "images": images, "ap_calls_per_created_object": round(first["ap_calls"] / made, 4)
                         if made else None},
           "unchanged_rerun": {**{k: again[k] for k in figures}, "api_calls": again["counters"].get("api_calls"),
                               "unchanged": again["counters"].get("unchanged", 0)},
           "floor": floor, "ratio_to_floor": ratio}
    if payments is not None:
        floor, ratio = with_floor(payments, sims, system_id, module, erp, ap, args)
        out["payments_run"] = {**{k: payments[k] for k in figures}, "counters": payments["counters"],
                               "floor": floor, "ratio_to_floor": ratio}
    return out


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
