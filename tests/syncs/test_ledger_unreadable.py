"""A record that cannot be read fails where the readable record would be kept, found by what could be read: a
payment under each bill it names ("<payment id>:<bill id>", as syncs.payments keeps a readable one), an invoice
under its own key with its number, so the row is the one that succeeds once the record reads fine."""

from dataclasses import replace

from connectors.bill.connector import bills_named
from connectors.infor.connector import InforConnector
from connectors.records import Unreadable
from syncs.engine import run_integration
from syncs.models import RecordStatus, SyncRecord
from tests.fakes.fake_ap.connector import FakeApConnector
from tests.fakes.fake_erp.connector import FakeErpConnector

INVOICE = "INV-200002"


def bill_of(integration, invoice):
    return SyncRecord.objects.get(integration=integration, object_type="bill", source_id=invoice)


def unreadable_payments(monkeypatch, payment, bill_ids):
    """The fake AP platform hands `payment` over as unreadable (a bad amount), naming `bill_ids`."""

    def payments(self, since=None):
        yield Unreadable("payment", payment.payment_id, f"Fake AP payment {payment.payment_id}",
                         f"Fake AP payment {payment.payment_id}: amount 'x' is not a number.", payment.updated_at,
                         bill_ids=bill_ids)

    monkeypatch.setattr(FakeApConnector, "payments", payments)


def test_an_unreadable_payment_is_filed_under_its_bill_and_found_by_the_invoice_number(fake_demo, fakes,
                                                                                     monkeypatch):
    run_integration(fake_demo.pk)
    bill = bill_of(fake_demo, INVOICE)
    payment_id = fakes.ap().pay(bill.target_id)
    unreadable_payments(monkeypatch, fakes.ap().payments[payment_id], (bill.target_id, "bill-of-someone-else"))
    run_integration(fake_demo.pk)
    row = SyncRecord.objects.get(integration=fake_demo, object_type="payment")
    assert row.source_id == f"{payment_id}:{bill.target_id}", "the key the readable payment is kept under"
    assert row.status == RecordStatus.FAILED and row.cause == "unreadable_record"
    assert row.number == INVOICE and INVOICE in row.source_ref, "found by the invoice's number"
    monkeypatch.undo()
    fakes.ap().payments[payment_id] = replace(fakes.ap().payments[payment_id],
                                              updated_at=fakes.stamp().isoformat())  # corrected in the AP platform
    run = run_integration(fake_demo.pk)
    assert run.counters["payments_written_back"] == 1, run.counters
    [row] = SyncRecord.objects.filter(integration=fake_demo, object_type="payment")
    assert row.status == RecordStatus.SYNCED and not row.error_detail


def test_a_payment_naming_no_readable_bill_is_settled_once_it_reads_fine(fake_demo, fakes, monkeypatch):
    run_integration(fake_demo.pk)
    bill = bill_of(fake_demo, INVOICE)
    payment_id = fakes.ap().pay(bill.target_id)
    unreadable_payments(monkeypatch, fakes.ap().payments[payment_id], ())
    run_integration(fake_demo.pk)
    bare = SyncRecord.objects.get(integration=fake_demo, object_type="payment")
    assert bare.source_id == payment_id and bare.status == RecordStatus.FAILED
    monkeypatch.undo()
    fakes.ap().payments[payment_id] = replace(fakes.ap().payments[payment_id], updated_at=fakes.stamp().isoformat())
    run_integration(fake_demo.pk)
    bare.refresh_from_db()
    assert bare.status != RecordStatus.FAILED and not bare.cause, "no longer said to be unreadable"
    share = SyncRecord.objects.get(integration=fake_demo, object_type="payment", source_id__contains=":")
    assert share.status == RecordStatus.SYNCED


def test_an_unreadable_invoice_is_found_by_its_number_and_succeeds_on_its_own_row(fake_demo, fakes, monkeypatch):
    read = FakeErpConnector.approved_invoices

    def approved_invoices(self, since=None, include_held=False):
        for invoice in read(self, since, include_held):
            if invoice.source_id == INVOICE:
                yield Unreadable("bill", invoice.source_id, f"{invoice.invoice_number} ({invoice.supplier_id})",
                                 "Fake ERP invoice INV-200002: due date '31/02' is not a date.",
                                 invoice.updated_marker, number=invoice.invoice_number)
            else:
                yield invoice

    monkeypatch.setattr(FakeErpConnector, "approved_invoices", approved_invoices)
    run_integration(fake_demo.pk)
    row = SyncRecord.objects.get(integration=fake_demo, object_type="bill", number=INVOICE)
    assert row.status == RecordStatus.FAILED and row.cause == "unreadable_record"
    monkeypatch.undo()
    fakes.erp().change_invoice(INVOICE, description="Corrected")
    run_integration(fake_demo.pk)
    row.refresh_from_db()
    assert row.status == RecordStatus.SYNCED and row.number == INVOICE


def test_infor_names_an_unreadable_invoice_by_its_number_and_supplier():
    head = {"SINO": "INV-77", "SUNO": "S100", "IVDT": "not a date", "DUDT": "20260101", "CUAM": "10.00",
            "LMTS": "20260101120000000"}
    unreadable = InforConnector._invoice(None, "K1", [{**head, "LNAM": "10.00", "LINO": "1"}])
    assert isinstance(unreadable, Unreadable)
    assert unreadable.source_id == "K1" and unreadable.number == "INV-77"
    assert unreadable.source_ref == "INV-77 (S100)", "as the readable invoice's row names it"


def test_bill_names_the_bills_of_a_payment_it_cannot_read():
    assert bills_named({"id": "stp1", "amount": "x", "billId": "b1", "billIds": ["b2", 3],
                        "billPayments": [{"billId": "b3"}, "junk", {"billId": "b1"}]}) == ("b1", "b2", "b3")
    assert bills_named("not an object") == ()
    assert bills_named({"billPayments": "junk", "billIds": {"b": 1}}) == ()
