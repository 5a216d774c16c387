"""Benchmark: the deployment a growing customer base runs (issue 23 §2): PostgreSQL, Redis as broker and cache,
several task-cluster nodes, many integrations each scheduled every minute, while a node is killed -9 and a new one
starts later, Redis is restarted once and PostgreSQL is restarted once.

    .venv/bin/python bench/bench_cluster.py [--minutes 15] [--tenants 20] [--nodes 3] [--workers-per-node 2]
                                            [--no-faults]

Everything runs on loopback and is stopped at the end, in a temporary folder of its own: its OWN PostgreSQL 15
cluster (initdb, pg_ctl as the `postgres` user, a free port) and its OWN redis-server (a free port, no persistence),
never the machine's shared servers. The simulators are one SandboxHub per tenant, all served by one other process
(bench_cluster.py --serve-hubs N), so every tenant has organizations of its own in every simulator. For each hub,
seed_demo sets up the five demo tenants on a small seed (as bench_storm.py's), each demo module's tenant, BILL
organization, AvidXchange company and Infor tenant given a suffix for the hub ("-t03") while it runs, so every
seed_demo makes fresh tenants with accounts of their own; every integration runs every minute. The nodes are
`manage.py qcluster` processes, each in a process group of its own so that kill -9 takes its workers too.

Every simulator answers --latency-ms later, so a run takes as long as a few dozen remote calls do. Timeline, as
fractions of --minutes from the moment the nodes start: bills paid in every AP organization at 20 % (so payments
come back), node 1 killed -9 at 30 %, a new node at 45 %, Redis killed and started again at 60 %, PostgreSQL
restarted (pg_ctl restart -m fast) at 75 %, each fault waiting (a minute at most) until a few runs are under way;
at 100 % the schedules are held, the runs under way are given a minute to end, and the nodes get SIGTERM, then
SIGKILL. Then one quiet run of each pair in this process measures
its CPU seconds and database queries, and one JSON object is printed: completed runs per 3-minute window, schedule
lag, duplicates in every organization (from the simulators' own state), the simulators' limits, runs lost at each
fault and how long until their integration ran again, runs left 'running' after their process died, errors.
"""

import argparse
import contextlib
import inspect
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import harness
import requests
from harness import control, state

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = "/usr/bin/redis-server"
WINDOW_SECONDS = 180
# When each fault happens, as a fraction of the bench's minutes.
TIMELINE = (("pay", 0.20), ("kill_node", 0.30), ("start_node", 0.45), ("restart_redis", 0.60),
            ("restart_postgres", 0.75))
PAY_PER_ORGANIZATION = 2
# A fault waits for runs to be under way, so that it meets some (a fault between two bursts of scheduled runs
# proves little), for a tenth of the bench's time and a minute at most.
IN_FLIGHT_WANTED, IN_FLIGHT_PATIENCE = 3, 60
# The demo modules' sizes for a small seed (as bench_storm.py's), large enough for the records each demo's story
# names (the supplier without a tax id, the locked invoice, the vendor on hold) to exist.
SMALL = {"infor": {"SUPPLIERS": 12, "INVOICES": 20}, "ifs": {"SUPPLIERS": 15, "INVOICES": 20},
         "avidxchange": {"SUPPLIERS": 8, "INVOICES": 15, "IMAGES": 4},
         "acumatica": {"VENDORS": 30, "RELEASED_BILLS": 20}, "syspro": {"SUPPLIERS": 16, "INVOICES": 20}}
SIMULATED = ("bill", "infor", "ifs", "acumatica", "syspro", "avidxchange")
# How long the runs under way at the end get to finish before the nodes are stopped.
DRAIN_SECONDS = 60
REAPED_PREFIX = "The worker running this sync stopped"


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=15)
    p.add_argument("--tenants", type=int, default=20, help="Tenants of each demo kind (5 integrations each).")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--workers-per-node", type=int, default=2)
    p.add_argument("--no-faults", action="store_true", help="No node killed, no restart of Redis or PostgreSQL.")
    p.add_argument("--latency-ms", type=int, default=50, help="Every simulator answers this much later.")
    p.add_argument("--keep-logs", action="store_true", help="Keep the temporary folder (nodes', PostgreSQL's and "
                   "Redis's logs) and say where it is.")
    p.add_argument("--serve-hubs", type=int, help=argparse.SUPPRESS)
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message):
    print(f"[bench_cluster {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the simulators' process ---------------------------------------------------------------------------------

def serve_hubs(count):
    """One SandboxHub per tenant, each on a port of its own; prints their URLs as one JSON line, then serves."""
    harness.configure()
    from sandbox.hub import SandboxHub, serve_in_thread, wsgi_app

    # No background ticks (BILL delivering webhooks on its own): the portal that would receive them is not run;
    # payments come back by polling.
    urls = [serve_in_thread(wsgi_app(SandboxHub()))[1] for _ in range(count)]
    print(json.dumps(urls), flush=True)
    threading.Event().wait()


# --- the servers the bench owns --------------------------------------------------------------------------------

class Postgres:
    """A PostgreSQL cluster of the bench's own, in `folder`, run as the `postgres` user (initdb refuses root)."""

    def __init__(self, folder):
        self.data, self.sockets, self.logfile = folder / "pg", folder / "pgsock", folder / "pg.log"
        self.port = free_port()
        for path in (self.data, self.sockets):
            path.mkdir()
        self.logfile.touch()
        for path in (self.data, self.sockets, self.logfile):
            shutil.chown(path, "postgres", "postgres")
        self.as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
                         "--no-locale", "-E", "UTF8")
        # Durability settings off: a restart here is always a clean one (-m fast), and the machine is shared.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = "
                       f"'{self.sockets}'\nmax_connections = 300\nfsync = off\nsynchronous_commit = off\n"
                       "full_page_writes = off\n")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/mlc"

    def start(self):
        self.pg_ctl("start")
        import psycopg

        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE mlc")

    @staticmethod
    def as_postgres(*command):
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True, capture_output=True)

    def pg_ctl(self, action, *extra):
        self.as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "120", action, *extra)

    def restart(self):
        self.pg_ctl("restart", "-m", "fast")

    def stop(self):
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pg_ctl("stop", "-m", "immediate")


class Redis:
    def __init__(self, folder):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        logfile = open(self.folder / "redis.log", "a")
        self.process = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder)],
                                        stdout=logfile, stderr=subprocess.STDOUT)
        import redis

        client = redis.Redis(port=self.port)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start; see redis.log")

    def queued(self):
        """Tasks waiting in the broker's lists."""
        import redis

        client = redis.Redis(port=self.port)
        return sum(client.llen(key) for key in client.scan_iter() if client.type(key) == b"list")

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self):
        self.kill()
        self.start()


class Nodes:
    """`manage.py qcluster` processes, each the leader of a process group of its own."""

    def __init__(self, folder, env):
        self.folder, self.env, self.processes = folder, env, []

    def start(self):
        n = len(self.processes) + 1
        logfile = open(self.folder / f"node-{n}.log", "w")
        self.processes.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=self.env,
                                               stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True))

    def kill(self, index, sig=signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.processes[index].pid, sig)

    def stop_all(self, grace=30):
        """SIGTERM to every node alive, SIGKILL to what is left of its group after `grace` seconds; returns
        {node: seconds it took to exit after SIGTERM, or "killed"}."""
        asked, stopped = time.monotonic(), {}
        alive = {i: p for i, p in enumerate(self.processes, 1) if p.poll() is None}
        for process in alive.values():
            # To the cluster's main process alone: it stops its sentinel, which lets the workers finish. The
            # sentinel takes SIGTERM as death (django_q/cluster.py, Sentinel.__init__), so a SIGTERM to the whole
            # group would kill it and leave the main process waiting.
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for i, process in alive.items():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, asked + grace - time.monotonic()))
                stopped[f"node-{i}"] = round(time.monotonic() - asked, 1)
        for i, process in enumerate(self.processes, 1):
            if process.poll() is None:
                stopped[f"node-{i}"] = "killed"
            # The group too: a worker can outlive its cluster's main process.
            self.kill(i - 1)
            process.wait()
        return stopped

    def errors(self):
        """Exception lines in the nodes' logs, counted by their first words."""
        found = Counter()
        for path in sorted(self.folder.glob("node-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if re.match(r"^[\w.]+(Error|Exception|Timeout|Refused)\b.*:", line):
                    found[line[:160]] += 1
        return dict(found.most_common(12))


# --- setting up the tenants ----------------------------------------------------------------------------------

def seed(urls):
    """Every demo in every hub, on a small seed; returns one entry per integration."""
    from django.core.management import call_command

    from sandbox import demo
    from syncs.models import Integration
    from syncs.schedules import sync_schedule

    modules = demo.demo_modules()
    entries = []
    for n, url in enumerate(urls, 1):
        suffix = f"t{n:02d}"
        with contextlib.ExitStack() as own:
            for module in modules.values():
                own.enter_context(patched(module, own_accounts(module, n)))
                load_small(url, module)
            call_command("seed_demo", sandbox_url=url, stdout=open(os.devnull, "w"))
            for system_id, module in modules.items():
                integration = Integration.objects.get(tenant__slug=module.TENANT[0], name=module.INTEGRATION)
                integration.interval_minutes = 1
                integration.save()
                sync_schedule(integration)
                partner = getattr(module, "PARTNER", "bill")
                infor_tenant = getattr(module, "INFOR_TENANT", None)
                entries.append({
                    "url": url, "system_id": system_id, "integration_id": integration.pk,
                    "ap": integration.target.system, "erp": integration.source.system,
                    "ap_account": bill_org(module) if partner == "bill" else module.COMPANY_ID,
                    "erp_payload": {"tenant": infor_tenant} if infor_tenant else {},
                    "name": f"{suffix}/{integration.source.system}-{integration.target.system}"})
    return entries


def own_accounts(module, n):
    """What makes a demo tenant the n-th of its kind: its slug and name, and accounts of its own in the systems
    whose ids are global (a BILL organization, an AvidXchange company and its token, an Infor tenant). Two tenants
    on one BILL organization id would be one customer twice: the second one's vendors belong to the first's
    integration (connectors' lock_scope), and every one of its records fails."""
    slug, name = module.TENANT
    accounts = {"TENANT": (f"{slug}-t{n:02d}", f"{name} (t{n:02d})")}
    system_id = module.__name__.split(".")[1]
    if getattr(module, "PARTNER", "bill") == "bill":
        accounts["BILL_ORGANIZATION"] = f"008{system_id.upper()[:9]}T{n:02d}".ljust(17, "0")
    if hasattr(module, "COMPANY_ID"):
        accounts["COMPANY_ID"] = f"{module.COMPANY_ID}-T{n:02d}"
    if hasattr(module, "COMPANY_TOKEN"):  # AvidXchange knows a company by its token
        accounts["COMPANY_TOKEN"] = f"{module.COMPANY_TOKEN}-t{n:02d}"
    if hasattr(module, "INFOR_TENANT"):
        accounts["INFOR_TENANT"] = f"{module.INFOR_TENANT}_T{n:02d}"
    return accounts


def bill_org(module):
    from sandbox import demo

    return getattr(module, "BILL_ORGANIZATION", None) or demo.bill_organization(module.TENANT[0])


MISSING = object()


@contextlib.contextmanager
def patched(module, values):
    """The demo module's constants replaced (or given) for a while: its sizes, its tenant, its accounts."""
    saved = {name: getattr(module, name, MISSING) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is MISSING:
                delattr(module, name)
            else:
                setattr(module, name, value)


def load_small(url, module):
    """A demo's data, on the small seed, in the simulators before seed_demo runs: seed_demo then finds it there and
    only sets up the tenant (no run of its own: the nodes make every run)."""
    from sandbox import demo

    sizes = SMALL[module.__name__.split(".")[1]]
    # A size the seed takes as an argument is bound when the module loads, so it is passed as well as replaced.
    accepted = inspect.signature(module.seed).parameters
    with patched(module, sizes):
        module.seed(url, **{name.lower(): value for name, value in sizes.items() if name.lower() in accepted})
    if getattr(module, "PARTNER", "bill") == "bill":
        demo.seed_bill_organization(url, bill_org(module), module)


def pay_some(entry, count):
    """`count` bills paid in full in the AP platform (as a person's payment run); returns how many were paid."""
    url, account = entry["url"], entry["ap_account"]
    if entry["ap"] == "avidxchange":
        return len(control(url, "avidxchange/settle-open", {"company": account, "count": count})["payments"])
    bills = state(url, "bill")["organizations"].get(account, {}).get("bills", [])
    open_bills = sorted((b for b in bills if not b["archived"] and b["paymentStatus"] == "UNPAID"),
                        key=lambda b: b["invoice"]["invoiceNumber"])[:count]
    for bill in open_bills:
        control(url, "bill/pay", {"organizationId": account, "billId": bill["id"]})
    return len(open_bills)


def duplicates(entry):
    """Objects made twice, counted from the simulators' own state: in the AP platform, vendors by our key, bills by
    vendor and number, attachments by bill and file name; in the ERP, payments written back twice to one invoice."""

    def extra(keys):
        return sum(n - 1 for n in Counter(k for k in keys if k).values())

    url, account, found = entry["url"], entry["ap_account"], {}
    if entry["ap"] == "bill":
        org = state(url, "bill")["organizations"].get(account, {})
        found["ap_vendors"] = extra(v.get("shortName") for v in org.get("vendors", []))
        found["ap_bills"] = extra((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in org.get("bills", []))
    else:
        company = state(url, entry["ap"])["companies"][account]
        found["ap_vendors"] = extra(p["ExternalId"] for p in company["payees"])
        found["ap_bills"] = extra((i["PayeeId"], i["InvoiceNumber"]) for i in company["invoices"])
        found["ap_attachments"] = extra((invoice, a["FileName"]) for invoice, attached in company["attachments"].items()
                                        for a in attached)
    payments = control(url, f"{entry['erp']}/canonical-state", entry["erp_payload"])["payments"]
    found["erp_payments"] = extra((p["invoice_number"], p["amount"]) for p in payments if p["status"] != "VOIDED")
    found["total"] = sum(found.values())
    return found


def pay(entries):
    """Some bills paid in every AP organization, as a person's payment run, so payments come back."""
    paid = 0
    for entry in entries:
        with contextlib.suppress(requests.RequestException, KeyError):
            paid += pay_some(entry, PAY_PER_ORGANIZATION)
    return paid


def slow_down(urls, latency_ms):
    for url in urls:
        for system in SIMULATED:
            control(url, "faults", {"system": system, "latency_ms": latency_ms})


def when_runs_in_flight(patience):
    """Returns once a few runs are under way, or after `patience` seconds."""
    give_up = time.time() + patience
    while len(running_runs()) < IN_FLIGHT_WANTED and time.time() < give_up:
        time.sleep(0.3)


def running_runs():
    from django.db import close_old_connections

    from syncs.models import RunStatus, SyncRun

    close_old_connections()
    return list(SyncRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", "integration_id"))


def hold_schedules():
    """No scheduled run starts any more (the runs under way go on)."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))


# --- the figures ---------------------------------------------------------------------------------------------

def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))], 1)


def measure_runs(entries, t0, t_end, faults):
    from syncs.models import SyncRun
    from syncs.status import COMPLETED

    names = {e["integration_id"]: e["name"] for e in entries}
    runs = list(SyncRun.objects.filter(integration_id__in=names).order_by("started_at").values(
        "pk", "integration_id", "trigger", "status", "error", "started_at", "finished_at", "heartbeat_at"))
    for run in runs:
        for key in ("started_at", "finished_at", "heartbeat_at"):
            run[key] = run[key].timestamp() if run[key] else None
    by_integration = {pk: [r for r in runs if r["integration_id"] == pk] for pk in names}

    windows = int((t_end - t0) // WINDOW_SECONDS)
    missed, without_completed = {}, []
    for pk, own in by_integration.items():
        done = [r["finished_at"] for r in own if r["status"] in COMPLETED and r["finished_at"]]
        if not done:
            without_completed.append(names[pk])
        gaps = sum(1 for w in range(windows)
                   if not any(t0 + w * WINDOW_SECONDS <= f < t0 + (w + 1) * WINDOW_SECONDS for f in done))
        if gaps:
            missed[names[pk]] = gaps

    lags = []
    for own in by_integration.values():
        starts = [r["started_at"] for r in own if r["trigger"] == "schedule"]
        lags += [b - a - 60 for a, b in zip(starts, starts[1:], strict=False)]

    not_completed = Counter((names[r["integration_id"]].split("/")[1], r["status"], (r["error"] or "")[:200])
                            for r in runs if r["status"] not in COMPLETED)
    fault_figures = {}
    for fault in faults:
        at, in_flight = fault["at"], fault["in_flight"]
        outcome = {r["pk"]: r for r in runs}
        lost = []
        for pk, integration_id in in_flight:
            run = outcome.get(pk)
            if run is None or run["status"] in COMPLETED:
                continue
            own = by_integration.get(integration_id, [])
            next_start = next((r["started_at"] for r in own if r["started_at"] > at and r["pk"] != pk), None)
            next_done = next((r["finished_at"] for r in own if r["status"] in COMPLETED and r["finished_at"]
                              and r["started_at"] > at), None)
            lost.append({"integration": names.get(integration_id, integration_id), "status": run["status"],
                         "error": (run["error"] or "")[:200],
                         "marked_ended_after_s": round(run["finished_at"] - at, 1) if run["finished_at"] else None,
                         "next_run_started_after_s": round(next_start - at, 1) if next_start else None,
                         "next_completed_after_s": round(next_done - at, 1) if next_done else None})
        again = [min((r["finished_at"] for r in own if r["status"] in COMPLETED and r["finished_at"]
                      and r["finished_at"] > at), default=None) for own in by_integration.values()]
        fault_figures[fault["event"]] = {
            "at_s": round(at - t0, 1), "runs_in_flight": len(in_flight), "runs_lost": len(lost), "lost": lost,
            **({"queued_tasks_before": fault["queued"]} if "queued" in fault else {}),
            "every_integration_completed_again_after_s": (round(max(again) - at, 1) if all(again) else None),
            "integrations_not_completed_since": sum(1 for a in again if a is None)}

    # A run reaped was left 'running' after its worker died: from its last heartbeat (or the kill, when later) to
    # the moment it was marked failed.
    from syncs.run import HEARTBEAT_EVERY

    kill_at = next((f["at"] for f in faults if f["event"] == "kill_node"), None)
    dead_for = []
    for run in runs:
        if run["status"] == "failed" and (run["error"] or "").startswith(REAPED_PREFIX):
            died = max(run["heartbeat_at"] or run["started_at"], kill_at or 0)
            dead_for.append(run["finished_at"] - died)
    two_beats = 2 * HEARTBEAT_EVERY.total_seconds()
    return {
        "runs": len(runs), "runs_by_status": dict(Counter(r["status"] for r in runs)),
        "windows": {"window_minutes": WINDOW_SECONDS // 60, "full_windows": windows,
                    "missed_total": sum(missed.values()), "integrations_missing_a_window": len(missed),
                    "missed_by_integration": missed},
        "integrations_without_a_completed_run": without_completed,
        "schedule_lag_s": {"gaps": len(lags), "p50": percentile(lags, 0.5), "p95": percentile(lags, 0.95),
                           "max": round(max(lags), 1) if lags else None},
        "not_completed_runs": [{"pair": pair, "status": status, "error": error, "count": count}
                               for (pair, status, error), count in not_completed.most_common(15)],
        "faults": fault_figures,
        "left_running": {
            "two_heartbeats_s": two_beats,
            "reaped": len(dead_for),
            "reaped_later_than_two_heartbeats": sum(1 for d in dead_for if d > two_beats),
            "max_seconds_dead_before_marked_failed": round(max(dead_for), 1) if dead_for else None,
        },
    }


def measure_simulators(entries):
    made_twice, total = {}, 0
    for entry in entries:
        found = duplicates(entry)
        total += found["total"]
        if found["total"]:
            made_twice[entry["name"]] = found
    bill, infor, ifs = [], [], []
    for url in sorted({e["url"] for e in entries}):
        bill_state = state(url, "bill")
        bill.append((bill_state["max_in_flight"], bill_state["rejected_concurrent"]))
        spike = control(url, "infor/account", {})["spike_limit"]
        # The Infor → BILL demo is Infor's default tenant; the Infor → AvidXchange demo names its own.
        for entry in entries:
            if entry["url"] == url and entry["erp"] == "infor":
                counts = control(url, "infor/tenant-state", entry["erp_payload"])
                infor.append((counts["peak_calls_per_minute"], spike, counts["max_in_flight"]))
        ifs_state = state(url, "ifs")
        ifs.append((ifs_state["max_calls_in_a_minute"], ifs_state["rejected_rate_limited"]))
    return {
        "duplicates": {"total": total, "by_integration": made_twice},
        "limits": {
            "bill": {"max_in_flight": max(b[0] for b in bill), "limit": 3,
                     "rejected_concurrent": sum(b[1] for b in bill), "held": max(b[0] for b in bill) <= 3},
            "infor": {"peak_calls_per_minute": max(i[0] for i in infor), "spike_limit": infor[0][1],
                      "max_in_flight": max(i[2] for i in infor), "held": all(i[0] <= i[1] for i in infor)},
            "ifs": {"max_calls_in_a_minute": max(i[0] for i in ifs), "rejected_rate_limited": sum(i[1] for i in ifs)},
        },
    }


class QueryCounter:
    """Counts the queries of every connection opened while it is installed, the run's threads' too."""

    def __init__(self):
        self.count = 0
        self.installed = []

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def install(self, connection, **kwargs):
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)
            self.installed.append(connection)

    def remove(self):
        for connection in self.installed:
            with contextlib.suppress(ValueError):
                connection.execute_wrappers.remove(self)


def quiet_runs(entries):
    """One quiet run of each pair (the first tenant's), measured in this process: CPU seconds (every thread's) and
    database queries (every connection's). A first run, unmeasured, takes in whatever the faults left."""
    from django.db import connection
    from django.db.backends.signals import connection_created

    from syncs.engine import run_integration

    figures = {}
    for entry in entries:
        pair = entry["name"].split("/")[1]
        if pair in figures:
            continue
        run_integration(entry["integration_id"], trigger="schedule")
        counter = QueryCounter()
        connection_created.connect(counter.install)
        counter.install(connection)
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        try:
            run = run_integration(entry["integration_id"], trigger="schedule")
        finally:
            connection_created.disconnect(counter.install)
            counter.remove()
        after = resource.getrusage(resource.RUSAGE_SELF)
        figures[pair] = {"status": run.status, "seconds": round(time.perf_counter() - started, 2),
                         "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3),
                         "db_queries": counter.count, "api_calls": run.counters.get("api_calls")}
    return figures


# --- the orchestrator ----------------------------------------------------------------------------------------

def wait_until(moment):
    time.sleep(max(0.0, moment - time.time()))


def run(args, folder):
    started = time.time()
    pg, redis, hubs, nodes = Postgres(folder), Redis(folder), None, None
    try:
        pg.start()
        redis.start()
        env = {key: value for key, value in os.environ.items() if key not in harness.SUITE_ONLY}
        env.update({"DATABASE_URL": pg.url, "REDIS_URL": redis.url, "SANDBOX_ENABLED": "1", "DEBUG": "1",
                    "LOCK_DIR": str(folder / "locks"), "Q_WORKERS": str(args.workers_per_node),
                    "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "portal.settings",
                    # Nothing listens there: the portal is not run (BILL's simulator delivers no webhooks here).
                    "PUBLIC_URL": f"http://127.0.0.1:{free_port()}"})
        os.environ.update(env)
        for key in set(harness.SUITE_ONLY) - set(env):
            os.environ.pop(key, None)
        harness.setup_django(None)
        hub_env = {key: value for key, value in os.environ.items() if key not in harness.SUITE_ONLY}
        hubs = subprocess.Popen([sys.executable, __file__, "--serve-hubs", str(args.tenants)], cwd=ROOT / "bench",
                                env=hub_env, stdout=subprocess.PIPE, text=True)
        urls = json.loads(hubs.stdout.readline() or "null") or sys.exit("The simulators did not start.")
        log(f"PostgreSQL on {pg.port}, Redis on {redis.port}, {len(urls)} hubs; seeding")
        entries = seed(urls)
        slow_down(urls, args.latency_ms)
        setup_seconds = round(time.time() - started, 1)
        log(f"{len(entries)} integrations seeded in {setup_seconds} s; starting {args.nodes} nodes")

        nodes = Nodes(folder, env)
        t0 = time.time()
        for _ in range(args.nodes):
            nodes.start()
        duration = args.minutes * 60
        faults, timeline, paid = [], [], 0
        for event, fraction in TIMELINE:
            if args.no_faults and event != "pay":
                continue
            wait_until(t0 + fraction * duration)
            if event not in ("pay", "start_node"):
                when_runs_in_flight(min(IN_FLIGHT_PATIENCE, duration / 10))
            at = time.time()
            timeline.append({"event": event, "at_s": round(at - t0, 1)})
            log(event)
            if event == "pay":
                paid = pay(entries)
                continue
            if event == "start_node":
                nodes.start()
                continue
            in_flight = running_runs()
            fault = {"event": event, "at": at, "in_flight": in_flight}
            if event == "kill_node":
                nodes.kill(0)
            elif event == "restart_redis":
                fault["queued"] = redis.queued()
                redis.restart()
            elif event == "restart_postgres":
                from django.db import connection

                connection.close()
                pg.restart()
            faults.append(fault)
        wait_until(t0 + duration)
        t_end = time.time()
        log("holding the schedules; draining")
        hold_schedules()
        drain_until = time.time() + DRAIN_SECONDS
        while running_runs() and time.time() < drain_until:
            time.sleep(2)
        still_running = len(running_runs())
        stopped = nodes.stop_all()
        log("measuring")
        from syncs.models import RunStatus, SyncRun

        result = {"bench": "cluster", "minutes": args.minutes, "tenants": args.tenants, "nodes": args.nodes,
                  "workers_per_node": args.workers_per_node, "faults_injected": not args.no_faults,
                  "latency_ms": args.latency_ms,
                  "integrations": len(entries), "database": "postgresql-15", "broker": "redis",
                  "setup_seconds": setup_seconds, "timeline": timeline, "bills_paid_in_ap": paid}
        result.update(measure_runs(entries, t0, t_end, faults))
        result.update(measure_simulators(entries))
        result["at_stop"] = {"runs_running_after_drain": still_running, "node_exit_after_sigterm_s": stopped,
                             "runs_left_running": SyncRun.objects.filter(status=RunStatus.RUNNING).count()}
        result["node_log_errors"] = nodes.errors()
        result["quiet_run_per_pair"] = quiet_runs(entries)
        result["total_seconds"] = round(time.time() - started, 1)
        return result
    finally:
        if nodes is not None:
            nodes.stop_all(grace=5)
        if hubs is not None:
            hubs.kill()
            hubs.wait()
        redis.kill()
        from django.db import connections

        connections.close_all()
        pg.stop()


def main():
    args = parser().parse_args()
    if args.serve_hubs:
        return serve_hubs(args.serve_hubs)
    if os.geteuid() != 0:
        sys.exit("bench_cluster runs PostgreSQL as the `postgres` user through runuser, which needs root.")
    # A SIGTERM (a test's timeout) still stops every server and node the bench started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench_cluster: stopped by SIGTERM"))
    folder = Path(tempfile.mkdtemp(prefix="mlc-cluster-"))
    folder.chmod(0o755)  # the postgres user reaches its data folder through it
    try:
        result = run(args, folder)
    except BaseException:
        log(f"failed; the logs are kept in {folder}")
        raise
    print(json.dumps(result), flush=True)
    if args.keep_logs:
        log(f"the logs are in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
