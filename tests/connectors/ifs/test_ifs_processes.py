"""The client-side limit on calls to one IFS instance holds across worker processes (PostgreSQL)."""

import pytest

from tests.conftest import run_in_processes
from tests.connectors.ifs.conftest import make_ifs_connection

LIMIT = 12
WORKER = """
from connectors.errors import Deferred
from connectors.models import Connection
connector = Connection.objects.get(pk=CONNECTION_ID).connector()
done = deferred = 0
for _ in range(10):
    try:
        connector.check()
        done += 1
    except Deferred:
        deferred += 1
print("RESULT", done, deferred)
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_together_stay_under_the_tenant_limit(tenant, sandbox):
    """Two workers each want 10 calls a minute to one IFS instance limited to 12: together they make at most 12 in
    any minute IFS counts (the simulator's per-tenant counter), the rest deferred, and they share one token."""
    connection = make_ifs_connection(tenant, sandbox.url, options={"calls_per_minute": str(LIMIT)})
    connection.connector().check()
    results = run_in_processes(WORKER.replace("CONNECTION_ID", str(connection.pk)), count=2,
                               env_extra={"CONNECTOR_MAX_RETRY_AFTER": "0.5"})
    made = 0
    for code, out, err in results:
        assert code == 0, out + err[-2000:]
        done, deferred = (int(n) for n in out.split("RESULT")[1].split())
        assert done + deferred == 10
        made += done
    state = sandbox.state("ifs")
    assert state["calls"] == made + 1, "every call made reached IFS, and only those"
    assert state["max_calls_in_a_minute"] <= LIMIT, state["calls_by_minute"]
    assert state["logins"] == 1, "every process reused the one cached token"
