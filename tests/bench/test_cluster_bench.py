"""bench/bench_cluster.py at a tiny size with every fault (a node killed -9, a new node, Redis and PostgreSQL
restarted), as its own process: it still starts its own PostgreSQL and Redis, runs two task nodes, stops everything
it started, and prints one object in which nothing is duplicated, nothing is left running and every integration
completed a run. Never a timing: the windows, lags and CPU figures are the full bench's, run by hand.

It takes two minutes of wall time, mostly waiting for its schedule, so `make test` (held under 8 minutes) leaves it
out and `.ci/run` runs it as a step of its own, with BENCH_CLUSTER=1, once: the bench brings its own PostgreSQL, so
the suite's PostgreSQL pass would only run it a second time."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.test_benches import BENCH, SUITE_ONLY

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def missing():
    """Why the bench does not run here, or ''."""
    if not os.environ.get("BENCH_CLUSTER"):
        return "two minutes of wall time: .ci/run runs it as a step of its own (BENCH_CLUSTER=1)"
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "the bench brings its own PostgreSQL: it runs on the SQLite pass of the suite only"
    if os.geteuid() != 0:
        return "the bench starts PostgreSQL as the postgres user through runuser, which needs root"
    if not (PG_BIN / "initdb").exists() or not shutil.which("redis-server"):
        return f"the bench needs PostgreSQL 15 ({PG_BIN}) and redis-server"
    return ""


pytestmark = pytest.mark.skipif(bool(missing()), reason=missing() or "runs")


def run_cluster_bench(*args, timeout=400):
    env = {key: value for key, value in os.environ.items() if key not in SUITE_ONLY}
    process = subprocess.Popen([sys.executable, str(BENCH / "bench_cluster.py"), *args], cwd=BENCH, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the bench then stops the servers and nodes it started.
        process.terminate()
        out, err = process.communicate(timeout=60)
        pytest.fail(f"bench_cluster.py did not finish in {timeout} s:\n{err[-3000:]}")
    if process.returncode:
        pytest.fail(f"bench_cluster.py failed:\n{err[-3000:]}")
    return json.loads(out)


def test_two_nodes_through_a_node_killed_and_both_servers_restarted():
    out = run_cluster_bench("--minutes", "2", "--tenants", "1", "--nodes", "2", "--workers-per-node", "2")
    assert out["integrations"] == 5 and out["faults_injected"]
    assert [e["event"] for e in out["timeline"]] == ["pay", "kill_node", "start_node", "restart_redis",
                                                     "restart_postgres"]
    assert set(out["faults"]) == {"kill_node", "restart_redis", "restart_postgres"}
    assert out["integrations_without_a_completed_run"] == [], out["not_completed_runs"]
    assert out["duplicates"]["total"] == 0, out["duplicates"]
    assert out["at_stop"]["runs_left_running"] == 0
    assert out["limits"]["bill"]["held"] and out["limits"]["bill"]["rejected_concurrent"] == 0
    assert set(out["quiet_run_per_pair"]) == {"infor-bill", "ifs-bill", "acumatica-bill", "syspro-bill",
                                              "infor-avidxchange"}
    assert all(pair["db_queries"] > 0 for pair in out["quiet_run_per_pair"].values())
