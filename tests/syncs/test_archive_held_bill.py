"""Ops archive in BILL the bill of an invoice the ERP held after it was sent: an admin action on sync records, never
a run's doing. Audited with its actor, refused in words for any other record, scoped to the tenants the user
operates; BILL's own refusal (a paid bill) is shown and audited too. Infor → BILL over the simulators."""

import html

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from connectors import canonical
from connectors.models import Connection
from portal.models import AuditEntry, Membership, Tenant
from portal.roles import OPS_GROUP
from sandbox.bill import simulator as bill_sandbox
from syncs import tieout
from syncs.engine import run_integration
from syncs.models import Integration, RecordStatus, SyncRecord
from tests.syncs.test_holds_after_sending import SENT, HoldsAfterSending

pytestmark = pytest.mark.django_db

ARCHIVED = "Bill {} archived in BILL: it cannot be paid there unless someone restores it."


def log_in_ops(client, tenant, username="olivia"):
    """An ops colleague operating `tenant` only, logged in."""
    user = get_user_model().objects.create_user(username, password="pw-0123456789", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=user, tenant=tenant, role=Membership.OPS)
    client.force_login(user)


def archive(client, *records):
    """The admin action on these records; the messages it left, as read."""
    page = client.post(reverse("admin:syncs_syncrecord_changelist"),
                       {"action": "archive_bill", "_selected_action": [r.pk for r in records]}, follow=True)
    assert page.status_code == 200
    return [html.unescape(str(m)) for m in page.context["messages"]]


def bills_in_bill(sandbox):
    """The BILL simulator's bills as it keeps them, archived flag included."""
    state = sandbox.state("bill")
    return state["organizations"][bill_sandbox.ORG_ID]["bills"]


class TestArchiveHeldBill:
    erp, ap = "infor", "bill"
    ap_ids = HoldsAfterSending.ap_ids
    integration = HoldsAfterSending.integration
    bill = HoldsAfterSending.bill
    invoice = HoldsAfterSending.invoice

    @pytest.fixture
    def held(self, integration, sandbox):
        """INV-1001 sent, then held in Infor: its record says so, its bill stands in BILL."""
        run_integration(integration.pk)
        self.invoice(sandbox, SENT, held=True)
        run_integration(integration.pk)
        record = self.bill(integration, SENT)
        assert record.status == RecordStatus.SYNCED and record.cause == "held_after_sending"
        return record

    def in_bill(self, sandbox, bill_id):
        return next(b for b in bills_in_bill(sandbox) if b["id"] == bill_id)

    def test_ops_archive_the_bill_of_an_invoice_held_after_it_was_sent(self, held, integration, sandbox, client):
        assert self.in_bill(sandbox, held.target_id)["archived"] is False, "a run leaves it as it was sent"
        log_in_ops(client, integration.tenant)
        assert archive(client, held) == [f"{SENT.number}: {ARCHIVED.format(held.target_id)}"]

        assert self.in_bill(sandbox, held.target_id)["archived"] is True
        held.refresh_from_db()
        assert held.status == RecordStatus.SYNCED and held.data["archived_by"] == "olivia"
        assert held.error_detail.startswith("Held in Infor CloudSuite after it was sent; its bill was archived in BILL "
                                            "by olivia on ")
        entry = AuditEntry.objects.get(action="sync.bill.archived")
        assert (entry.actor, entry.tenant, entry.target_id, entry.object_id) == (
            "olivia", integration.tenant, held.target_id, str(held.pk))
        assert entry.message == ARCHIVED.format(held.target_id)
        refused = requests.post(f"{sandbox.url}/_control/bill/pay", json={"billId": held.target_id}, timeout=30)
        assert refused.status_code == 400 and "archived" in refused.text, "it cannot be paid in BILL now"

        again = archive(client, held)
        assert again[0].startswith(f"{SENT.number}: its bill was archived in BILL already, by olivia on ")
        assert AuditEntry.objects.filter(action="sync.bill.archived").count() == 1
        run = run_integration(integration.pk, trigger="schedule")
        assert run.counters.get("bills_held_after_sending", 0) == 0
        assert self.in_bill(sandbox, held.target_id)["archived"] is True, "a run does not restore it"
        report = tieout.report(integration)
        assert not report.error and SENT.number not in {row.number for row in report.rows}, \
            "the tie-out does not take the archived bill for one paid in BILL"

    def test_a_record_that_is_not_a_bill_held_after_sending_is_refused_in_words(self, held, integration, sandbox,
                                                                               client):
        sent = self.bill(integration, canonical.GOOD_INVOICES[1])
        vendor = SyncRecord.objects.get(integration=integration, object_type="vendor", source_id=SENT.supplier_id)
        log_in_ops(client, integration.tenant)
        assert archive(client, sent, vendor) == [
            f"Not archived: {sent.number}, {vendor.number or vendor.source_id} (vendor). Only the bill of an invoice "
            "held in the ERP after it was sent is archived from here, at most 20 at once."]
        assert not any(b["archived"] for b in bills_in_bill(sandbox))
        assert not AuditEntry.objects.filter(action__startswith="sync.bill.archive").exists()

    def test_another_tenants_record_is_left_alone(self, held, integration, sandbox, client):
        other = Tenant.objects.create(name="Other Co", slug="other")
        log_in_ops(client, other, "otto")
        assert archive(client, held) == []
        assert self.in_bill(sandbox, held.target_id)["archived"] is False
        assert not AuditEntry.objects.filter(action__startswith="sync.bill.archive").exists()

    def test_bills_refusal_is_shown_and_audited_and_nothing_is_recorded(self, held, integration, sandbox, client):
        sandbox.control("bill/pay", {"billId": held.target_id})
        log_in_ops(client, integration.tenant)
        said = archive(client, held)
        assert said == [f"{SENT.number}: BILL did not archive bill {held.target_id}: BILL HTTP 400: BDC_1001: Bill "
                        f"{held.target_id} is paid, in full or in part: a paid bill cannot be archived."]
        held.refresh_from_db()
        assert "archived_at" not in held.data and held.error_detail.startswith("Held in Infor CloudSuite after it was "
                                                                               "sent — stop it in BILL")
        entry = AuditEntry.objects.get(action="sync.bill.archive_refused")
        assert entry.actor == "olivia" and entry.target_id == held.target_id and "a paid bill" in entry.message


def test_an_ap_platform_that_cannot_archive_is_named(client, tenant):
    """AvidXchange declares no ARCHIVES_BILLS: the record is refused before anything is called."""
    erp = Connection.objects.create(tenant=tenant, system="infor", name="Infor")
    avx = Connection.objects.create(tenant=tenant, system="avidxchange", name="AvidXchange")
    integration = Integration.objects.create(tenant=tenant, name="Infor → AvidXchange", source=erp, target=avx)
    record = SyncRecord.objects.create(integration=integration, object_type="bill", source_id="INV-9", number="INV-9",
                                       status=RecordStatus.SYNCED, target_id="AVX-77", cause="held_after_sending",
                                       data={"held": "payment stopped"})
    log_in_ops(client, tenant)
    said = archive(client, record)
    assert said == ["INV-9: ml-connector cannot archive AvidXchange bills; stop bill AVX-77 in AvidXchange itself."]
    assert not AuditEntry.objects.filter(action__startswith="sync.bill.archive").exists()
