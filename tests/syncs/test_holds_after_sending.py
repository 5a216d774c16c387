"""A hold placed in the ERP after something was sent is noticed, on every ERP that declares it can see one:

- a supplier blocked or put on hold after its vendor was made: its new invoices wait with that reason, as those of a
  supplier held before it had a vendor do, and go through on replay once it is released;
- an invoice held (cancelled, a payment stop) after its bill was sent: its record says so, one alert goes out, the
  tie-out names it "held in the ERP, open in the AP platform", and the bill in the AP platform is left as it is;
- reading holds costs a quiet run no call: they come in the same reads.

Over the simulators, for each ERP → BILL pair and Infor → AvidXchange, with the pair suite's fixtures."""

import html

import pytest
from django.core import mail
from django.urls import reverse

from connectors import canonical
from connectors import capabilities as can
from connectors.records import Unreadable
from connectors.registry import get_system
from portal.models import AuditEntry
from sandbox.infor import simulator as infor_sandbox
from syncs import operations, tieout
from syncs.engine import run_integration
from syncs.models import RecordStatus, RunStatus, SyncRecord
from syncs.pair import system_name
from tests.connectors.contracts.base import make_connection
from tests.syncs.test_pairs import PairContract

SENT = canonical.GOOD_INVOICES[0]  # INV-1001, sent by the first run
# A supplier with a vendor after the first run, and its invoice approved only after that run: a new invoice of it.
NEW = next(i for i in canonical.INVOICES if i.number == canonical.UNAPPROVED_INVOICE)
SUPPLIER = NEW.supplier_id


def label(system):
    return get_system(system).label.split(" (")[0]


class HoldsAfterSending:
    erp = ""
    ap = ""
    # The pair suite's fixtures: both simulators on the canonical seed, every code mapped but the unmapped one.
    ap_ids = PairContract.ap_ids
    integration = PairContract.integration
    ap_state = PairContract.ap_state

    @pytest.fixture(autouse=True)
    def alert_address(self, settings):
        settings.ALERT_EMAILS = ["oncall@example.test"]

    def bill(self, integration, invoice):
        return SyncRecord.objects.get(integration=integration, object_type="bill",
                                      source_ref=f"{invoice.number} ({invoice.supplier_id})")

    def bills_numbered(self, sandbox, number):
        return [b for b in self.ap_state(sandbox)["bills"] if b["invoice_number"] == number]

    def invoice(self, sandbox, invoice, **change):
        sandbox.control(f"{self.erp}/canonical-invoice",
                {"supplier_id": invoice.supplier_id, "number": invoice.number, **change})

    def test_the_erp_declares_it_reports_held_invoices(self):
        assert can.REPORTS_HELD_INVOICES in get_system(self.erp).capabilities

    def test_a_supplier_held_after_its_vendor_exists_keeps_its_new_invoices_until_released(
            self, integration, sandbox, django_capture_on_commit_callbacks):
        run_integration(integration.pk)
        vendor = SyncRecord.objects.get(integration=integration, object_type="vendor", source_id=SUPPLIER)
        assert vendor.status == RecordStatus.SYNCED and vendor.target_id
        sandbox.control(f"{self.erp}/canonical-supplier", {"source_id": SUPPLIER, "active": False})
        self.invoice(sandbox, NEW, approved=True)

        held = run_integration(integration.pk)
        assert held.counters["vendors_on_hold"] == 1, held.counters
        reason = (f"Supplier {SUPPLIER} is blocked or on hold in {label(self.erp)}; its invoices are not sent to "
                  f"{label(self.ap)} while it is.")
        vendor.refresh_from_db()
        assert vendor.status == RecordStatus.SYNCED and vendor.error_detail == reason, "the vendor's record says so"
        waiting = self.bill(integration, NEW)
        assert waiting.status == RecordStatus.FAILED and waiting.error_class == "data"
        assert waiting.error_detail == reason
        assert self.bills_numbered(sandbox, NEW.number) == []
        assert AuditEntry.objects.filter(action="sync.vendor.on_hold").count() == 1
        run_integration(integration.pk, trigger="schedule")
        assert AuditEntry.objects.filter(action="sync.vendor.on_hold").count() == 1, "said once"
        assert self.bills_numbered(sandbox, NEW.number) == []

        sandbox.control(f"{self.erp}/canonical-supplier", {"source_id": SUPPLIER, "active": True})
        released = run_integration(integration.pk)
        assert released.counters["vendors_released"] == 1, released.counters
        vendor.refresh_from_db()
        assert "on_hold" not in vendor.data and vendor.error_detail == ""
        with django_capture_on_commit_callbacks(execute=True):
            operations.replay_failed(integration, "ops")
        assert self.bill(integration, NEW).status == RecordStatus.SYNCED
        assert len(self.bills_numbered(sandbox, NEW.number)) == 1, "sent once"

    def test_an_invoice_held_after_its_bill_was_sent_is_said_alerted_and_tied_out(self, integration, sandbox, client,
                                                                                 admin_user):
        run_integration(integration.pk)
        record = self.bill(integration, SENT)
        assert record.status == RecordStatus.SYNCED
        before = self.ap_state(sandbox)
        mail.outbox.clear()
        self.invoice(sandbox, SENT, held=True)

        run = run_integration(integration.pk)
        assert run.counters["bills_held_after_sending"] == 1, run.counters
        record.refresh_from_db()
        assert record.status == RecordStatus.SYNCED and record.target_id, "the bill stands, as sent"
        said = (f"Held in {label(self.erp)} after it was sent — stop it in {label(self.ap)} if it must not be "
                "paid")
        assert record.error_detail.startswith(said), record.error_detail
        client.force_login(admin_user)
        page = client.get(reverse("status:records", args=[integration.pk])).content.decode()
        assert html.escape(said) in page, "finance sees it on the records page"
        assert AuditEntry.objects.filter(action="sync.bill.held_after_sending", target_id=record.target_id).count() == 1
        assert AuditEntry.objects.filter(action="alert.sent").count() == 1
        assert len(mail.outbox) == 1 and SENT.number in mail.outbox[0].body
        assert f"held in {system_name(integration.source)} after it was sent" in mail.outbox[0].subject
        assert self.ap_state(sandbox) == before, "nothing changed or deleted in the AP platform"

        report = tieout.report(integration)
        assert not report.error, report.error
        rows = {row.number: row.kind for row in report.rows}
        assert rows[SENT.number] == tieout.HELD_IN_ERP == "held in the ERP, open in the AP platform"
        assert tieout.PAID_IN_ERP_ONLY not in rows.values()

        again = run_integration(integration.pk, trigger="schedule")
        assert again.counters.get("bills_held_after_sending", 0) == 0
        assert AuditEntry.objects.filter(action="alert.sent").count() == 1 and len(mail.outbox) == 1, "alerted once"

        self.invoice(sandbox, SENT, held=False)
        released = run_integration(integration.pk)
        assert released.counters["bills_released"] == 1, released.counters
        record.refresh_from_db()
        assert record.error_detail == "" and "held" not in record.data
        assert SENT.number not in {row.number for row in tieout.report(integration).rows}
        assert self.ap_state(sandbox) == before

    def test_an_invoice_held_before_it_was_ever_read_is_never_sent_and_leaves_no_record(self, integration, sandbox):
        self.invoice(sandbox, SENT, held=True)
        run = run_integration(integration.pk)
        assert run.status == RunStatus.PARTIAL, run.error
        assert self.bills_numbered(sandbox, SENT.number) == []
        assert not SyncRecord.objects.filter(integration=integration, source_ref__startswith=f"{SENT.number} ").exists()

    def test_a_quiet_run_reads_holds_without_a_call_more(self, integration, sandbox, monkeypatch):
        run_integration(integration.pk)
        self.invoice(sandbox, SENT, held=True)
        run_integration(integration.pk)  # the hold noticed
        entries = AuditEntry.objects.count()
        quiet = run_integration(integration.pk, trigger="schedule")
        assert quiet.status == RunStatus.PARTIAL, quiet.error
        assert AuditEntry.objects.count() == entries, "a quiet run writes no entry"
        # The same run with holds not read at all (as before the ERP declared them) makes no fewer calls: they come
        # in the same reads (SYSPRO's read even saves the look-up of a held invoice whose lines changed).
        monkeypatch.setattr(can, "REPORTS_HELD_INVOICES", "not declared by any system")
        without = run_integration(integration.pk, trigger="schedule")
        assert quiet.counters["api_calls"] <= without.counters["api_calls"], (quiet.counters, without.counters)


class TestInforToBill(HoldsAfterSending):
    erp, ap = "infor", "bill"


class TestIfsToBill(HoldsAfterSending):
    erp, ap = "ifs", "bill"


class TestAcumaticaToBill(HoldsAfterSending):
    erp, ap = "acumatica", "bill"


class TestSysproToBill(HoldsAfterSending):
    erp, ap = "syspro", "bill"


class TestInforToAvidxchange(HoldsAfterSending):
    erp, ap = "infor", "avidxchange"


def test_a_payment_stop_that_does_not_parse_fails_that_invoice_alone(tenant, sandbox):
    """Infor's IVBL is one digit; anything else is a data error on that invoice, and the others are still read."""
    sandbox.control("infor/seed-canonical")
    invoices = sandbox.simulators["infor"].tenants[infor_sandbox.TENANT].invoices
    next(i for i in invoices.values() if i["SINO"] == SENT.number)["IVBL"] = "Y"
    with make_connection("infor", tenant, sandbox).connector() as connector:
        read = list(connector.approved_invoices(include_held=True))
    unreadable = [r for r in read if isinstance(r, Unreadable)]
    assert len(unreadable) == 1 and SENT.number in unreadable[0].source_ref and "IVBL 'Y'" in unreadable[0].reason
    assert {r.invoice_number for r in read if not isinstance(r, Unreadable)} == \
        {i.number for i in canonical.APPROVED_INVOICES} - {SENT.number}
