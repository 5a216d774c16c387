"""BILL's limit of 3 concurrent calls per organization holds across worker processes (PostgreSQL)."""

import pytest

from tests.conftest import run_in_processes
from tests.connectors.bill.conftest import make_bill_connection

WORKER = """
import threading
from connectors.models import Connection
failures = []
def work():
    from django.db import connection as db
    try:
        connector = Connection.objects.get(pk=CONNECTION_ID).connector()
        for _ in range(4):
            connector.gl_accounts()
    except Exception as exc:
        failures.append(repr(exc))
    finally:
        db.close()
threads = [threading.Thread(target=work) for _ in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
print("FAILURES", failures)
raise SystemExit(1 if failures else 0)
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_three_in_flight_at_most_across_processes(tenant, sandbox):
    connection = make_bill_connection(tenant, sandbox.url)
    sandbox.control("faults", {"system": "bill", "latency_ms": 30})
    connection.connector().check()
    results = run_in_processes(WORKER.replace("CONNECTION_ID", str(connection.pk)), count=3)
    for code, out, err in results:
        assert code == 0, out + err[-2000:]
    state = sandbox.state("bill")
    assert state["max_in_flight"] == 3
    assert state["rejected_concurrent"] == 0
    assert state["logins"] == 1, "every process reused the one cached session"
