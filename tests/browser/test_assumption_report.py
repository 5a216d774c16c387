"""Ops in a real browser check a connection's assumptions against the Infor simulator, read the report and confirm
an override of the assumption that stops a step. I1 has a probe of the test's own (other probes of the system may
run too, so the assertions keep to I1's row)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from connectors import assumptions
from connectors import capabilities as can
from portal.models import AuditEntry, Membership
from portal.roles import OPS_GROUP
from tests.browser.conftest import PASSWORD, log_in
from tests.connectors.infor.conftest import make_infor_connection

pytestmark = pytest.mark.django_db(transaction=True)
SEEN = "LstMLCApprovedInv: the transaction does not exist"


@pytest.fixture
def connection(tenant, sandbox, live_server, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # the queued check runs inside the request that queues it
    # Infor's own probes register when its connector is first imported, and refuse a second I1 then: loaded first.
    assumptions.probes_for("infor")
    monkeypatch.setitem(assumptions.PROBES, "I1", assumptions.Probe(
        "I1", "infor", lambda connector: assumptions.contradicted(SEEN), stops=(can.WRITES_PAYMENTS_BACK,)))
    ops = get_user_model().objects.create_user("olivia", password=PASSWORD, is_staff=True)
    ops.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=ops, tenant=tenant, role=Membership.OPS)
    return make_infor_connection(tenant, sandbox.url)


def test_ops_check_a_connections_assumptions_and_confirm_an_override(page, connection):
    log_in(page, "olivia", admin=True)
    page.goto(f"/admin/connectors/connection/{connection.pk}/change/")
    page.get_by_role("button", name="Check assumptions").click()

    row = page.locator("#assumptions tr#assumption-I1")
    row.wait_for()
    assert "asked by olivia" in page.locator("#content-main").inner_text()
    assert "contradicted" in row.inner_text() and SEEN in row.inner_text()
    assert "Stops the steps by which payments are written back" in row.inner_text()
    statuses = page.locator("#assumptions tbody tr td:nth-child(3)").all_inner_texts()
    assert set(statuses) <= set(assumptions.STATUS_WORDS.values()), statuses

    row.get_by_role("button", name="Confirm override").click()
    assert "Override of I1 confirmed" in page.locator(".messagelist").inner_text()
    overridden = page.locator("#assumptions tr#assumption-I1").inner_text()
    assert "Override confirmed by olivia" in overridden
    assert "run under the override confirmed by olivia" in overridden and "Stopped before writing" not in overridden
    connection.refresh_from_db()
    assert connection.assumption_overrides["I1"]["by"] == "olivia"
    assert assumptions.stopped_capabilities(connection) == {}
    assert AuditEntry.objects.get(action="connection.assumption_overridden").actor == "olivia"
