"""Found under faults: one record's refusal, an outage, a dead worker and a refused payment each stay
contained, over real HTTP against the simulators."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.bill.connector import BillConnector
from connectors.errors import DataError, NotFound, TransientError
from connectors.infor.connector import InforConnector
from syncs import engine
from syncs.engine import run_integration
from syncs.models import Cursor, SyncRecord, SyncRun
from tests.syncs.test_infor_to_bill import bill_org, control, integration  # noqa: F401 (fixture)


def test_a_vendor_missing_in_bill_fails_that_supplier_only(integration, sandbox, monkeypatch):  # noqa: F811
    create = BillConnector.create_vendors

    def create_vendors(self, suppliers):
        results = create(self, [s for s in suppliers if s.source_id != "S10003"])
        if any(s.source_id == "S10003" for s in suppliers):
            results["S10003"] = NotFound("BILL HTTP 404: No vendor with id 009x")
        return results

    monkeypatch.setattr(BillConnector, "create_vendors", create_vendors)
    run = run_integration(integration.pk)
    assert run.status == SyncRun.PARTIAL, run.error
    vendor = SyncRecord.objects.get(object_type="vendor", source_id="S10003")
    assert vendor.status == SyncRecord.FAILED and vendor.error_class == "not_found"
    assert "No vendor with id 009x" in vendor.error_detail
    assert run.counters["vendors_created"] == len(bill_org(sandbox)["vendors"]) > 290


def test_an_outage_stops_the_run_early_instead_of_grinding(integration, sandbox, monkeypatch):  # noqa: F811
    attempts = []

    def update_vendor(self, vendor_id, supplier):
        attempts.append(supplier.source_id)
        raise TransientError("BILL HTTP 503: service unavailable")

    run_integration(integration.pk)
    for n in range(1, 7):
        control(sandbox, "infor/update-supplier", {"SUNO": f"S1{n:04d}", "SUNM": f"Renamed supplier {n}"})
    monkeypatch.setattr(BillConnector, "update_vendor", update_vendor)
    run = run_integration(integration.pk)
    assert run.status == SyncRun.DEFERRED
    assert len(attempts) == engine.OUTAGE_STREAK, "stopped after a few records in a row, not all six"
    assert "in a row" in run.error and "503" in run.error
    failed = SyncRecord.objects.filter(object_type="vendor", status=SyncRecord.FAILED, error_class="transient")
    assert failed.count() == engine.OUTAGE_STREAK, "the records tried are kept for the next run"
    monkeypatch.undo()
    again = run_integration(integration.pk)
    assert again.status == SyncRun.PARTIAL and again.counters["vendors_updated"] == 6


def test_a_run_whose_worker_died_is_reaped_after_a_few_missed_heartbeats(integration):  # noqa: F811
    dead = SyncRun.objects.create(integration=integration, trigger="schedule", status=SyncRun.RUNNING)
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - engine.stale_after()
                                              - timedelta(seconds=1))
    assert engine.stale_after() < timedelta(minutes=1)
    run = run_integration(integration.pk, trigger="schedule")
    assert run.status != SyncRun.SKIPPED, run.error
    dead.refresh_from_db()
    assert dead.status == SyncRun.FAILED and "stopped" in dead.error
    alive = SyncRun.objects.create(integration=integration, trigger="schedule", status=SyncRun.RUNNING,
                                   heartbeat_at=timezone.now())
    assert run_integration(integration.pk, trigger="schedule").status == SyncRun.SKIPPED
    alive.refresh_from_db()
    assert alive.status == SyncRun.RUNNING


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_beats_while_the_run_waits(tenant):
    from connectors.models import Connection
    from syncs.models import Integration

    infor = Connection.objects.create(tenant=tenant, system="infor", name="Infor")
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL")
    integration = Integration.objects.create(tenant=tenant, name="x", source=infor, target=bill)  # noqa: F811
    run = SyncRun.objects.create(integration=integration, trigger="schedule", status=SyncRun.RUNNING,
                                 heartbeat_at=timezone.now() - timedelta(hours=1))
    with engine.Heartbeat(run.pk, every=timedelta(milliseconds=20)) as beat:
        for _ in range(200):
            if beat.stopped.wait(0.02) or SyncRun.objects.get(pk=run.pk).heartbeat_at > \
                    timezone.now() - timedelta(minutes=1):
                break
    run.refresh_from_db()
    assert run.heartbeat_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_writes_the_counters_so_far_for_a_progress_display(tenant):
    from connectors.models import Connection
    from syncs.models import Integration

    infor = Connection.objects.create(tenant=tenant, system="infor", name="Infor")
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL")
    integration = Integration.objects.create(tenant=tenant, name="x", source=infor, target=bill)  # noqa: F811
    run = SyncRun.objects.create(integration=integration, trigger="backfill", status=SyncRun.RUNNING,
                                 heartbeat_at=timezone.now())
    sync = engine.Sync(integration, run)
    sync.counters["bills_created"] = 120
    with engine.Heartbeat(run.pk, every=timedelta(milliseconds=20), progress=sync.progress) as beat:
        for _ in range(200):
            if beat.stopped.wait(0.02) or SyncRun.objects.get(pk=run.pk).counters:
                break
    run.refresh_from_db()
    assert run.counters == {"bills_created": 120}


def test_a_payment_the_erp_refuses_does_not_block_the_others(integration, sandbox, monkeypatch):  # noqa: F811
    run_integration(integration.pk)
    bills = sorted(bill_org(sandbox)["bills"], key=lambda b: b["invoice"]["invoiceNumber"])[:3]
    for bill in bills:
        control(sandbox, "bill/pay", {"billId": bill["id"]})
    refused = bills[0]["invoice"]["invoiceNumber"]
    post = InforConnector.post_payment

    def post_payment(self, reference, payment):
        if reference.get("SINO") == refused:
            raise DataError("M3: Invoice is closed for payment")
        return post(self, reference, payment)

    monkeypatch.setattr(InforConnector, "post_payment", post_payment)
    run = run_integration(integration.pk)
    assert run.status == SyncRun.PARTIAL
    assert run.counters["payments_written_back"] == 2 and run.counters["payments_failed"] == 1
    failed = SyncRecord.objects.get(object_type="payment", status=SyncRecord.FAILED)
    assert "Invoice is closed for payment" in failed.error_detail and "claim_until" not in failed.data
    later = run_integration(integration.pk)
    assert later.counters.get("payments_written_back", 0) == 0, "nothing written twice"
    assert later.status == SyncRun.PARTIAL


def test_an_unreadable_polled_payment_fails_alone_and_the_others_go_on(integration, sandbox, monkeypatch):  # noqa: F811
    from connectors.bill.client import BillClient

    run_integration(integration.pk)
    bill = bill_org(sandbox)["bills"][0]
    control(sandbox, "bill/pay", {"billId": bill["id"]})
    real = BillClient.payments
    bad = {"id": "stp-bad", "billIds": [bill["id"]], "amount": "abc", "singleStatus": "CLEARED",
           "updatedTime": "2026-11-30T00:00:00.000Z"}
    monkeypatch.setattr(BillClient, "payments", lambda self, since=None: iter([bad, *real(self, since)]))
    run = run_integration(integration.pk)
    assert run.status == SyncRun.PARTIAL
    assert run.counters["payments_written_back"] == 1, "the good payment after it still went"
    failed = SyncRecord.objects.get(object_type="payment", source_id="stp-bad")
    assert failed.status == SyncRecord.FAILED and "amount" in failed.error_detail
    assert run_integration(integration.pk).status == SyncRun.PARTIAL, "later runs are not stopped by it"


def test_invoices_waiting_on_a_vendor_are_retried_with_it(integration, sandbox, monkeypatch):  # noqa: F811
    def create_vendors(self, suppliers):
        raise TransientError("BILL HTTP 503: service unavailable")

    monkeypatch.setattr(BillConnector, "create_vendors", create_vendors)
    first = run_integration(integration.pk)
    waiting = SyncRecord.objects.filter(object_type="bill", status=SyncRecord.FAILED, error_class="transient")
    assert first.counters.get("bills_created", 0) == 0 and waiting.count() > 300
    monkeypatch.undo()
    # Past the overlap window: only the retry of passing failures brings these invoices back.
    Cursor.objects.filter(integration=integration).update(value="2999-01-01T00:00:00+00:00")
    again = run_integration(integration.pk)
    assert again.counters["bills_created"] > 300, "no replay was needed"
