"""A detail read that fails for a passing reason after its retries fails that one record, to be read again by the
next run, never the run (issue "Production that survives", §1: under a storm, most runs met one such read among
hundreds and ended deferred). On the Infor → BILL demo: one supplier's address read keeps failing."""

from connectors.errors import TransientError
from connectors.infor import m3
from connectors.infor.client import InforClient
from syncs.engine import run_integration
from syncs.models import RecordStatus, RunStatus, SyncRecord

BROKEN = "S10002"


def test_one_suppliers_failing_read_fails_that_vendor_alone_until_the_next_run(infor_to_bill, monkeypatch):
    integration = infor_to_bill
    real = InforClient.execute

    def execute(client, transaction, inputs=None, *args, **kwargs):
        if transaction == m3.SUPPLIER_ADDRESSES and (inputs or {}).get("SUNO") == BROKEN:
            raise TransientError("Infor HTTP 500 after 5 attempts")
        return real(client, transaction, inputs, *args, **kwargs)

    monkeypatch.setattr(InforClient, "execute", execute)
    run = run_integration(integration.pk, trigger="schedule")
    assert run.status == RunStatus.PARTIAL, (run.status, run.error)
    vendors = SyncRecord.objects.filter(integration=integration, object_type="vendor")
    broken = vendors.get(source_id=BROKEN)
    assert broken.status == RecordStatus.FAILED and broken.error_class == "transient"
    assert "did not answer properly" in broken.error_detail and BROKEN in broken.error_detail
    assert vendors.filter(status=RecordStatus.SYNCED).count() > 250

    monkeypatch.setattr(InforClient, "execute", real)
    again = run_integration(integration.pk, trigger="schedule")
    assert again.status in (RunStatus.PARTIAL, RunStatus.SUCCEEDED), again.error
    broken.refresh_from_db()
    assert broken.status == RecordStatus.SYNCED, broken.error_detail
