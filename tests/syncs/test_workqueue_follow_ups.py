"""Bills that went across but whose follow-up was refused for good: grouped in the work queue apart from the failed
records, and tried again when a person asks (audited), once the cause is fixed. The work queue's behaviour, so on the
fake pair (IFS's own refusals and locked rows are proven by its demo, tests/syncs/test_demos.py)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from connectors.errors import DataError, Locked
from portal.models import AuditEntry, Membership
from portal.roles import OPS_GROUP
from syncs import workqueue
from syncs.engine import run_integration
from syncs.models import FollowUp, FollowUpKind, FollowUpState, RecordStatus, RunStatus, SyncRecord
from tests.fakes import demo
from tests.fakes.fake_erp.connector import FakeErpConnector

REFUSAL = "Fake ERP refused the change: the invoice's company is closed for posting."
# Once the company is open again, this invoice's row is still locked: a passing refusal, which waits.
LOCKED_INVOICE = "INV-200002"


@pytest.fixture
def refusing_erp(fake_demo, monkeypatch):
    """The demo on the fake pair, whose acknowledgements the ERP refuses for good until `fixed` is set."""
    acknowledge = FakeErpConnector.acknowledge_invoice
    state = {"fixed": False}

    def refusing(self, reference):
        if not state["fixed"]:
            raise DataError(REFUSAL)
        if reference["id"] == LOCKED_INVOICE:
            raise Locked(f"Fake ERP: invoice {LOCKED_INVOICE} is locked by another user.")
        return acknowledge(self, reference)

    monkeypatch.setattr(FakeErpConnector, "acknowledge_invoice", refusing)
    return fake_demo, state


def synced_bills(integration):
    return SyncRecord.objects.filter(integration=integration, object_type="bill", status=RecordStatus.SYNCED)


def acknowledgements(state):
    return FollowUp.objects.filter(kind=FollowUpKind.ACKNOWLEDGEMENT, state=state)


@pytest.mark.django_db
def test_refused_acknowledgements_are_a_group_tried_again_when_asked(client, refusing_erp,
                                                                     django_capture_on_commit_callbacks):
    integration, erp = refusing_erp
    run_integration(integration.pk)
    bills = synced_bills(integration)
    assert bills.count() == demo.INVOICES - len(demo.expected_failures())
    assert not acknowledgements(FollowUpState.DONE).exists()
    run_integration(integration.pk)
    assert AuditEntry.objects.filter(action="sync.bill.acknowledgements_failed").count() == bills.count(), \
        "a refusal for good is not tried again by the next run, nor audited again"

    follow_ups, _ = workqueue.follow_up_groups()
    assert [(g.reason, g.count) for g in follow_ups] == [(REFUSAL, bills.count())]
    group = follow_ups[0]
    assert group.key not in {g.key for g in workqueue.groups()[0]}, "the bills went across: they are not failed"

    ops = get_user_model().objects.create_user("olivia", is_staff=True)
    ops.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=ops, tenant=integration.tenant, role=Membership.OPS)
    client.force_login(ops)
    queue = client.get(reverse("admin:syncs_syncrecord_workqueue")).content.decode()
    assert "Bills sent, a follow-up refused" in queue and "invoice not marked as transferred in the ERP" in queue
    page = client.get(reverse("admin:syncs_syncrecord_group", args=[group.key])).content.decode()
    assert f"Try again for all {bills.count()}" in page and "Set the whole group aside" not in page

    erp["fixed"] = True
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(reverse("admin:syncs_syncrecord_group", args=[group.key]), {"retry": "1"})
    assert answer.status_code == 302
    entry = AuditEntry.objects.get(action="sync.follow_up.retry")
    assert entry.actor == "olivia" and f"{bills.count()} bill(s)" in entry.message
    assert AuditEntry.objects.filter(action="sync.record.follow_up_retried", actor="olivia").count() == bills.count()
    waiting = acknowledgements(FollowUpState.WAITING).count()  # the invoice on a locked row
    assert waiting == 1 and acknowledgements(FollowUpState.DONE).count() == bills.count() - waiting, \
        "the queued run acknowledged them"
    assert not acknowledgements(FollowUpState.REFUSED).exists()
    assert workqueue.follow_up_groups() == ([], 0)


@pytest.mark.django_db
def test_a_follow_up_group_cannot_be_set_aside(client, refusing_erp):
    integration, _ = refusing_erp
    run_integration(integration.pk)
    group = workqueue.follow_up_groups()[0][0]
    ops = get_user_model().objects.create_user("olivia", is_staff=True)
    ops.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=ops, tenant=integration.tenant, role=Membership.OPS)
    client.force_login(ops)
    client.post(reverse("admin:syncs_syncrecord_group", args=[group.key]), {"ignore": "1", "reason": "dup"})
    assert not SyncRecord.objects.filter(status=RecordStatus.IGNORED).exists(), "a bill already sent stays synced"


@pytest.mark.django_db
def test_a_follow_up_that_stops_the_run_keeps_what_the_others_did(refusing_erp, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from connectors.errors import Deferred

    integration, erp = refusing_erp
    erp["fixed"] = True
    acknowledge = FakeErpConnector.acknowledge_invoice
    stopped = []

    def stopping_once(self, reference):
        if not stopped:
            stopped.append(reference)
            raise Deferred("Fake ERP asked us to wait.", until=timezone.now() + timedelta(minutes=5))
        return acknowledge(self, reference)

    monkeypatch.setattr(FakeErpConnector, "acknowledge_invoice", stopping_once)
    run = run_integration(integration.pk)
    assert run.status == RunStatus.DEFERRED and stopped
    done = acknowledgements(FollowUpState.DONE).count()
    assert done > 0, "the acknowledgements made beside the one that stopped the run are kept"
    assert AuditEntry.objects.filter(action="sync.invoice.acknowledged").count() == done


@pytest.mark.django_db
def test_follow_up_groups_are_one_integration_each():
    from portal.models import Tenant
    from tests.syncs.test_status_pages import invoice, make_integration

    mine, theirs = (make_integration(Tenant.objects.create(name=name, slug=name.lower())) for name in ("Acme", "Beta"))
    for n, integration in enumerate((mine, mine, theirs)):
        FollowUp.objects.create(record=invoice(integration, n), kind=FollowUpKind.ACKNOWLEDGEMENT,
                                state=FollowUpState.REFUSED, error=REFUSAL, cause="refused")
    follow_ups, _ = workqueue.follow_up_groups()
    assert sorted((g.integration_name, g.count) for g in follow_ups) == [("Acme: ERP → AP", 2), ("Beta: ERP → AP", 1)]
    for group in follow_ups:
        assert {r.integration_id for r in workqueue.records_of(group)} == {group.integration_id}, \
            "trying again acts on one integration's bills"
