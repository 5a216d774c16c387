"""The admin's "Check assumptions" on a connection: the button queues the allow-listed task, the report page follows
it (progress, then each assumption in words, who asked and when), ops confirm and withdraw overrides of what stops
steps (audited), the integration page warns of what stops, and another tenant's connection is not there at all.

Run against the Infor simulator with a probe of the test's own for I1 (other probes of the system run too, so the
assertions keep to I1's row)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_q.models import OrmQ

from connectors import assumptions, tasks
from connectors import capabilities as can
from connectors.models import Connection
from portal.models import AuditEntry, Membership, Tenant
from syncs.models import Integration
from tests.connectors.infor.conftest import make_infor_connection

SEEN = "LstMLCApprovedInv: the transaction does not exist"


def probe_i1(monkeypatch, check):
    # Infor's own probes register when its connector is first imported, and refuse a second I1 then: loaded first.
    assumptions.probes_for("infor")
    monkeypatch.setitem(assumptions.PROBES, "I1", assumptions.Probe(
        "I1", "infor", check, stops=(can.WRITES_PAYMENTS_BACK,)))


@pytest.fixture
def i1_contradicted(monkeypatch):
    probe_i1(monkeypatch, lambda connector: assumptions.contradicted(SEEN))


@pytest.fixture
def connection(tenant, sandbox):
    return make_infor_connection(tenant, sandbox.url)


def report_url(connection):
    return reverse("admin:connectors_connection_assumptions", args=[connection.pk])


def override_url(connection, assumption_id="I1"):
    return reverse("admin:connectors_connection_override", args=[connection.pk, assumption_id])


def i1_row(page):
    found = re.search(r'<tr id="assumption-I1".*?</tr>', page, re.S)
    assert found, page[:3000]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[0]))


def test_check_assumptions_queues_the_allow_listed_task_and_its_page_follows_it_to_the_report(
        client, ops, connection, i1_contradicted):
    change_page = client.get(reverse("admin:connectors_connection_change", args=[connection.pk])).content.decode()
    assert "Check assumptions" in change_page and "Never checked" in change_page

    answer = client.post(reverse("admin:connectors_connection_check_assumptions", args=[connection.pk]))
    assert answer.status_code == 302 and answer["Location"].startswith(report_url(connection) + "?after=")
    task = OrmQ.objects.get().task
    assert (task["func"], task["args"]) == ("connectors.tasks.check_assumptions", (connection.pk, "olivia"))
    page = client.get(answer["Location"]).content.decode()
    assert "The check is queued" in page and 'http-equiv="refresh"' in page

    tasks.check_assumptions(*task["args"])  # as the worker runs it
    page = client.get(answer["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in page
    assert "asked by olivia" in page
    row = i1_row(page)
    assert "contradicted" in row and SEEN in row and "Stops the steps by which payments are written back" in row
    assert "Confirm override" in row
    entry = AuditEntry.objects.get(action="connection.assumptions_checked")
    assert entry.actor == "olivia" and entry.object_id == str(connection.pk) and "contradicted" in entry.message

    change_page = client.get(reverse("admin:connectors_connection_change", args=[connection.pk])).content.decode()
    assert "asked by olivia" in change_page and "contradicted" in change_page and report_url(connection) in change_page


def test_the_report_page_shows_how_far_a_running_check_has_come_and_refreshes(client, ops, connection, monkeypatch):
    seen_while_running = []

    def look_at_the_page(connector):
        seen_while_running.append(client.get(report_url(connection)).content.decode())
        return assumptions.held("the page was looked at")

    probe_i1(monkeypatch, look_at_the_page)
    total = len(assumptions.probes_for("infor"))
    tasks.check_assumptions(connection.pk, "olivia")

    page = seen_while_running[0]
    assert re.search(rf"\d+ of {total} probes done", page), page[:3000]
    assert 'http-equiv="refresh"' in page and "asked by olivia" in page
    assert "held" in i1_row(client.get(report_url(connection)).content.decode())


def test_a_check_that_could_not_run_shows_why_in_words(client, ops, tenant, sandbox):
    refused = make_infor_connection(tenant, sandbox.url, name="Infor, wrong secret", cs="not-the-client-secret")
    tasks.check_assumptions(refused.pk, "olivia")
    page = client.get(report_url(refused)).content.decode()
    error = re.search(r'<p class="errornote" id="assumptions-error">(.*?)</p>', page, re.S)
    assert error and error[1].startswith("The check could not run"), page[:3000]
    assert "{" not in error[1], "said in words, not as a raw mapping"
    assert 'id="assumptions"' not in page


def test_ops_confirm_an_override_and_withdraw_it_each_audited_with_who(client, ops, connection, i1_contradicted):
    tasks.check_assumptions(connection.pk, "olivia")
    connection.refresh_from_db()
    assert assumptions.stopped_capabilities(connection) == {can.WRITES_PAYMENTS_BACK: ["I1"]}

    assert client.post(override_url(connection)).status_code == 302
    connection.refresh_from_db()
    assert connection.assumption_overrides["I1"]["by"] == "olivia" and connection.assumption_overrides["I1"]["at"]
    assert assumptions.stopped_capabilities(connection) == {}
    confirmed = AuditEntry.objects.get(action="connection.assumption_overridden")
    assert confirmed.actor == "olivia" and confirmed.details == {"assumption": "I1"}
    row = i1_row(client.get(report_url(connection)).content.decode())
    assert "Override confirmed by olivia" in row and "Withdraw override" in row
    assert "Stopped before writing" not in row
    assert re.search(r"The steps by which payments are written back run under the override confirmed by olivia on "
                     r"\d{4}-\d\d-\d\d \d\d:\d\d UTC, although the check finds the assumption contradicted\.", row), row

    assert client.post(override_url(connection), {"withdraw": "1"}).status_code == 302
    connection.refresh_from_db()
    assert connection.assumption_overrides == {}
    assert assumptions.stopped_capabilities(connection) == {can.WRITES_PAYMENTS_BACK: ["I1"]}
    withdrawn = AuditEntry.objects.get(action="connection.assumption_override_withdrawn")
    assert withdrawn.actor == "olivia" and withdrawn.details == {"assumption": "I1"}
    row = i1_row(client.get(report_url(connection)).content.decode())
    assert "Stopped before writing" in row and "run under the override" not in row


def test_an_assumption_that_stops_nothing_cannot_be_overridden(client, ops, connection, monkeypatch):
    probe_i1(monkeypatch, lambda connector: assumptions.held("listed"))
    tasks.check_assumptions(connection.pk, "olivia")
    answer = client.post(override_url(connection), follow=True)
    assert "nothing to override" in answer.content.decode()
    connection.refresh_from_db()
    assert connection.assumption_overrides == {}
    assert not AuditEntry.objects.filter(action="connection.assumption_overridden").exists()


def test_another_tenants_connection_answers_404_and_nothing_is_queued_or_changed(client, ops, sandbox,
                                                                                i1_contradicted):
    other = make_infor_connection(Tenant.objects.create(name="Other Co", slug="other"), sandbox.url)
    tasks.check_assumptions(other.pk, "someone else")
    assert client.get(report_url(other)).status_code == 404
    assert client.post(reverse("admin:connectors_connection_check_assumptions", args=[other.pk])).status_code == 404
    assert client.post(override_url(other)).status_code == 404
    assert not OrmQ.objects.exists()
    other.refresh_from_db()
    assert other.assumption_overrides == {}
    assert not AuditEntry.objects.filter(action="connection.assumption_overridden").exists()


def test_the_integration_page_warns_which_assumption_stops_what_with_a_link_to_the_report(
        client, ops, connection, tenant, i1_contradicted):
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL", base_url="https://x.test/connect")
    integration = Integration.objects.create(tenant=tenant, name="Infor → BILL", source=connection, target=bill,
                                             interval_minutes=15)
    page_url = reverse("admin:syncs_integration_change", args=[integration.pk])
    assert "stop before writing" not in client.get(page_url).content.decode()

    tasks.check_assumptions(connection.pk, "olivia")
    page = client.get(page_url).content.decode()
    warning = re.search(r'<li class="warning">(.*?)</li>', page, re.S)
    assert warning, page[:3000]
    assert "I1" in warning[1] and "payments are written back" in warning[1] and connection.name in warning[1]
    assert report_url(connection) in warning[1]

    client.post(override_url(connection))
    assert "stop before writing" not in client.get(page_url).content.decode()


def test_staff_who_may_only_view_the_connection_read_the_report_but_cannot_check_or_override(
        client, tenant, connection, i1_contradicted):
    viewer = get_user_model().objects.create_user("vera", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_connection"))
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.OPS)
    client.force_login(viewer)
    tasks.check_assumptions(connection.pk, "olivia")

    row = i1_row(client.get(report_url(connection)).content.decode())
    assert "contradicted" in row and "Confirm override" not in row
    check = reverse("admin:connectors_connection_check_assumptions", args=[connection.pk])
    assert client.post(check).status_code == 403
    assert client.post(override_url(connection)).status_code == 403
    assert not OrmQ.objects.exists()
    connection.refresh_from_db()
    assert connection.assumption_overrides == {}


def test_staff_who_may_only_view_a_connection_see_its_page_read_only(client, tenant, connection):
    viewer = get_user_model().objects.create_user("vic", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_connection"))
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.OPS)
    client.force_login(viewer)
    page = client.get(reverse("admin:connectors_connection_change", args=[connection.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert connection.name in html and 'name="_save"' not in html
