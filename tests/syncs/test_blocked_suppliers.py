"""A supplier blocked in the ERP gets no new vendor, and its invoices say why (the engine's rule: on the fake pair)."""

from dataclasses import replace

from portal.models import AuditEntry
from syncs.engine import run_integration
from syncs.models import RecordStatus, SyncRecord
from tests.fakes import demo
from tests.fakes.fake_erp.connector import FakeErpConnector

BLOCKED = "S10005"


def test_a_blocked_supplier_gets_no_vendor_and_its_invoices_wait(fake_demo, fakes, monkeypatch):
    read = FakeErpConnector.suppliers

    def suppliers(self, since=None):
        for supplier in read(self, since):
            yield replace(supplier, active=False) if supplier.source_id == BLOCKED else supplier

    monkeypatch.setattr(FakeErpConnector, "suppliers", suppliers)
    run = run_integration(fake_demo.pk)
    assert BLOCKED not in {v["key"] for v in fakes.ap().vendors.values()}
    record = SyncRecord.objects.get(object_type="vendor", source_id=BLOCKED)
    assert record.status == RecordStatus.SKIPPED and "is blocked or on hold in Fake ERP" in record.error_detail
    assert run.counters["vendors_set_aside"] == 1
    theirs = [i.invoice_number for i in demo.invoices() if i.supplier_id == BLOCKED]
    failed = {r.source_ref.split(" ")[0]: r for r in SyncRecord.objects.filter(object_type="bill", status="failed")}
    assert theirs and all("is blocked or on hold in Fake ERP" in failed[n].error_detail for n in theirs)
    entries = AuditEntry.objects.filter(action="sync.vendor.set_aside").count()
    run_integration(fake_demo.pk, trigger="schedule")
    assert AuditEntry.objects.filter(action="sync.vendor.set_aside").count() == entries == 1, "audited once"
