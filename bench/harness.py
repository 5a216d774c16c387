"""What the benches share: a database of their own, the simulators served by a process of their own, and each sync
run in a process of its own, so that a run's peak memory (RSS) is the syncing process's alone and never the
simulators' data or the bench's own bookkeeping.

    .venv/bin/python bench/harness.py serve                     # the simulators; prints their URL, then serves
    .venv/bin/python bench/harness.py run <integration> <trigger>  # one run; prints one JSON object

Both take their database and settings from the environment the bench set up (setup_django)."""

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[1]
# Set by the test suite for its own database, locks and settings; a bench makes its own in a temporary folder.
SUITE_ONLY = ("DATABASE_URL", "LOCK_DIR", "SANDBOX_ENABLED", "REDIS_URL")


def configure(tmp=None):
    """Settings for a bench process: its own SQLite database and locks under `tmp` unless DATABASE_URL is set."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("SANDBOX_ENABLED", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if tmp is not None:
        os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
        os.environ.setdefault("LOCK_DIR", f"{tmp}/locks")
    import django

    django.setup()


def setup_django(tmp):
    configure(tmp)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # The cache is a database table (settings.CACHES without REDIS_URL), which migrate does not make.
    call_command("createcachetable", verbosity=0)


def summarize(value, depth=3):
    """A simulator's state with every list replaced by its length (and dicts deeper than `depth` too): the counts
    a bench reads, without sending 50,000 invoices over the loopback."""
    if isinstance(value, dict):
        return {k: summarize(v, depth - 1) for k, v in value.items()} if depth else len(value)
    if isinstance(value, list | tuple):
        return len(value)
    return value


def state(url, system):
    """What a simulator served at `url` holds and has counted (`/_control/state`)."""
    import requests

    return requests.get(f"{url}/_control/state", params={"system": system}, timeout=120).json()


def control(url, path, payload):
    """One of the simulators' controls (`/_control/<path>`): seeding, faults, the clock."""
    import requests

    response = requests.post(f"{url}/_control/{path}", json=payload, timeout=600)
    response.raise_for_status()
    return response.json()


class Simulators:
    """The simulators served on a free loopback port by a child process (`harness.py serve`)."""

    def __init__(self):
        # {system: the tenant whose counts to read}, for a simulator of several tenants (Infor's).
        self.tenants = {}
        # Its stdin stays open as long as this process lives (exit_with_parent).
        self.process = subprocess.Popen([sys.executable, __file__, "serve"], cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError("The simulators did not start (their error is above).")

    def control(self, path, payload):
        return control(self.url, path, payload)

    def summary(self, system):
        import requests

        params = {"system": system, **({"tenant": self.tenants[system]} if self.tenants.get(system) else {})}
        response = requests.get(f"{self.url}/_bench/summary", params=params, timeout=600)
        response.raise_for_status()
        return response.json()

    def calls(self, *systems):
        """{system: the calls its simulator has answered so far}."""
        return {system: self.summary(system)["calls"] for system in systems}

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def exit_with_parent():
    """End this process when the bench that started it ends, killed or not: its end closes our stdin."""
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(1)), daemon=True, name="parent-gone").start()


def serve():
    configure()
    from wsgiref.simple_server import make_server

    from sandbox.hub import QuietHandler, SandboxHub, ThreadingServer, wsgi_app

    # No background ticks (BILL delivering webhooks on its own), as in the tests: a bench drives the runs.
    hub = SandboxHub()
    simulators = wsgi_app(hub)

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/_bench/summary":
            return simulators(environ, start_response)
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        sim = hub.simulators[query["system"]]
        with sim.lock:
            state = sim.state(sim.tenants[query["tenant"]]) if "tenant" in query else sim.state()
            body = json.dumps(summarize(state)).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    exit_with_parent()
    server = make_server("127.0.0.1", 0, app, server_class=ThreadingServer, handler_class=QuietHandler)
    hub.url = f"http://127.0.0.1:{server.server_port}"
    print(hub.url, flush=True)
    server.serve_forever()


class QueryCounter:
    """Counts the database queries of every thread (each thread has a connection of its own: the counter is put on
    each as it connects), the workers' rate-limit counters as much as the main thread's ledger."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def watch(self, sender, connection, **kwargs):
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)

    def __call__(self, execute, sql, params, many, context):
        with self.lock:
            self.count += 1
        return execute(sql, params, many, context)


def memory_mb(field):
    """VmHWM (the peak) or VmRSS (now) of this process in MB, from /proc; ru_maxrss where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_child(integration_id, trigger):
    exit_with_parent()
    configure()
    from django.db import connections
    from django.db.backends.signals import connection_created

    from syncs.engine import run_integration
    from syncs.models import Integration

    # Timed as a worker of the cluster runs it: one that has run a task before has imported the systems' connectors
    # and derived the key that decrypts their credentials (100,000 rounds of PBKDF2), which this new process would
    # otherwise pay inside the run (about 30 ms).
    integration = Integration.objects.select_related("source", "target").get(pk=int(integration_id))
    for connection in (integration.source, integration.target):
        connection.connector()
    counter = QueryCounter()
    connection_created.connect(counter.watch)
    for connection in connections.all(initialized_only=True):
        counter.watch(None, connection)
    before = memory_mb("VmRSS")
    started = time.perf_counter()
    run = run_integration(int(integration_id), trigger=trigger)
    seconds = time.perf_counter() - started
    print(json.dumps({"status": run.status, "seconds": round(seconds, 2), "counters": run.counters,
                      "db_queries": counter.count, "rss_before_mb": before, "peak_rss_mb": memory_mb("VmHWM")}))


def start_run(integration_id, trigger):
    """A sync run in a process of its own; finish_run() waits for it and reads what it printed."""
    # Not communicate(): it would close the run's stdin, which ends it (exit_with_parent). Its errors go to a file,
    # so that a long traceback cannot fill a pipe nobody reads yet.
    errors = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, __file__, "run", str(integration_id), trigger], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
    process.errors = errors
    return process


def finish_run(process):
    out = process.stdout.read()
    process.wait()
    process.stdin.close()
    process.errors.seek(0)
    err = process.errors.read()
    process.errors.close()
    if process.returncode:
        raise RuntimeError(f"The sync run stopped (exit {process.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def run_sync(integration_id, trigger):
    return finish_run(start_run(integration_id, trigger))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve()
    elif sys.argv[1:2] == ["run"] and len(sys.argv) == 4:
        run_child(*sys.argv[2:])
    else:
        sys.exit(__doc__)
