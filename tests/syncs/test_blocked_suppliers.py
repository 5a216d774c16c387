"""A supplier blocked in the ERP gets no new vendor, and its invoices say why."""

from dataclasses import replace

from connectors.infor.connector import InforConnector
from portal.models import AuditEntry
from syncs.engine import run_integration
from syncs.models import SyncRecord
from tests.syncs.test_infor_to_bill import INVOICES, bill_org, integration  # noqa: F401 (fixture)

BLOCKED = "S10005"


def test_a_blocked_supplier_gets_no_vendor_and_its_invoices_wait(integration, sandbox, monkeypatch):  # noqa: F811
    read = InforConnector.suppliers

    def suppliers(self, since=None):
        for supplier in read(self, since):
            yield replace(supplier, active=False) if supplier.source_id == BLOCKED else supplier

    monkeypatch.setattr(InforConnector, "suppliers", suppliers)
    run = run_integration(integration.pk)
    assert BLOCKED not in {v["shortName"] for v in bill_org(sandbox)["vendors"]}
    record = SyncRecord.objects.get(object_type="vendor", source_id=BLOCKED)
    assert record.status == SyncRecord.SKIPPED and "is blocked or on hold in Infor CloudSuite" in record.error_detail
    assert run.counters["vendors_set_aside"] == 1
    theirs = [n for n, inv in INVOICES.items() if inv["SUNO"] == BLOCKED]
    failed = {r.source_ref.split(" ")[0]: r for r in SyncRecord.objects.filter(object_type="bill", status="failed")}
    assert theirs and all("is blocked or on hold in Infor CloudSuite" in failed[n].error_detail for n in theirs)
    entries = AuditEntry.objects.filter(action="sync.vendor.set_aside").count()
    run_integration(integration.pk, trigger="schedule")
    assert AuditEntry.objects.filter(action="sync.vendor.set_aside").count() == entries == 1, "audited once"
