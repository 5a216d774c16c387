"""Benchmark: each system's demo tenant, first run and unchanged re-run, over real HTTP with simulated latency.

    .venv/bin/python bench/bench_demos.py [--latency-ms 50] [--only ifs acumatica ...]

Prints one JSON object per demo: run times, remote calls on both sides (the connectors' own count), what
was created, and the calls an unchanged re-run makes. Its own SQLite database in a temporary folder.
"""

import argparse
import json
import os
import tempfile
import time

from bench_sync import control, setup_django


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    setup_django(tempfile.mkdtemp(prefix="mlc-bench-demos-"))

    from django.core.management import call_command

    from sandbox import demo
    from sandbox.hub import SandboxHub, serve_in_thread, wsgi_app
    from syncs.engine import run_integration
    from syncs.models import Integration

    for system_id, module in demo.demo_modules().items():
        if args.only and system_id not in args.only:
            continue
        hub = SandboxHub()
        server, url = serve_in_thread(wsgi_app(hub))
        call_command("seed_demo", sandbox_url=url, only=[system_id], stdout=open(os.devnull, "w"))
        integration = Integration.objects.get(name=module.INTEGRATION)
        for system in {integration.source.system, integration.target.system}:
            control(url, "faults", {"system": system, "latency_ms": args.latency_ms})
        started = time.perf_counter()
        first = run_integration(integration.pk, trigger="manual")
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = run_integration(integration.pk, trigger="schedule")
        again_seconds = time.perf_counter() - started
        created = {k: v for k, v in first.counters.items() if k.endswith(("_created", "_published"))}
        print(json.dumps({"demo": module.INTEGRATION, "latency_ms": args.latency_ms, "first_run": {
            "status": first.status, "seconds": round(first_seconds, 2), "api_calls": first.counters.get("api_calls"),
            "created": created}, "unchanged_rerun": {"status": again.status, "seconds": round(again_seconds, 2),
                                                     "api_calls": again.counters.get("api_calls")}}))
        server.shutdown()


if __name__ == "__main__":
    main()
