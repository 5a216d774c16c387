"""Found under faults: one record's refusal, an outage, a dead worker and a refused payment each stay
contained. The engine's behaviour, so on the fake pair; each connector's own faults are proven on its simulator."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.errors import DataError, NotFound, TransientError
from connectors.records import Unreadable
from syncs import engine
from syncs.engine import run_integration
from syncs.ledger import OUTAGE_MIN_ATTEMPTS
from syncs.models import Cursor, RecordStatus, RunStatus, SyncRecord, SyncRun
from syncs.run import Heartbeat, stale_after
from tests.fakes import demo
from tests.fakes.fake_ap.connector import FakeApConnector
from tests.fakes.fake_erp.connector import FakeErpConnector


def test_a_vendor_missing_in_the_ap_platform_fails_that_supplier_only(fake_demo, fakes, monkeypatch):
    create = FakeApConnector.create_vendors

    def create_vendors(self, suppliers):
        results = create(self, [s for s in suppliers if s.source_id != "S10003"])
        if any(s.source_id == "S10003" for s in suppliers):
            results["S10003"] = NotFound("Fake AP HTTP 404: No vendor with id 009x")
        return results

    monkeypatch.setattr(FakeApConnector, "create_vendors", create_vendors)
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    vendor = SyncRecord.objects.get(object_type="vendor", source_id="S10003")
    assert vendor.status == RecordStatus.FAILED and vendor.error_class == "not_found"
    assert "No vendor with id 009x" in vendor.error_detail
    # Every supplier but that one and the one without a tax id.
    assert run.counters["vendors_created"] == len(fakes.ap().vendors) == demo.SUPPLIERS - 2


def test_an_outage_stops_the_run_early_instead_of_grinding(fake_demo, fakes, monkeypatch):
    attempts = []

    def update_vendor(self, vendor_id, supplier):
        attempts.append(supplier.source_id)
        raise TransientError("Fake AP HTTP 503: service unavailable")

    run_integration(fake_demo.pk)
    for n in range(1, demo.SUPPLIERS + 1):
        fakes.erp().change_supplier(f"S1{n:04d}", name=f"Renamed supplier {n}")
    monkeypatch.setattr(FakeApConnector, "update_vendor", update_vendor)
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.DEFERRED
    assert len(attempts) == OUTAGE_MIN_ATTEMPTS, "stopped after a few records, not all eleven"
    assert f"failed {OUTAGE_MIN_ATTEMPTS} of the last {OUTAGE_MIN_ATTEMPTS} attempts" in run.error
    assert "503" in run.error
    failed = SyncRecord.objects.filter(object_type="vendor", status=RecordStatus.FAILED, error_class="transient")
    assert failed.count() == OUTAGE_MIN_ATTEMPTS, "the records tried are kept for the next run"
    monkeypatch.undo()
    again = run_integration(fake_demo.pk)
    assert again.status == RunStatus.PARTIAL and again.counters["vendors_updated"] == demo.SUPPLIERS - 1


def test_a_run_whose_worker_died_is_reaped_after_a_few_missed_heartbeats(fake_demo):
    integration = fake_demo
    dead = SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.RUNNING)
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - stale_after()
                                              - timedelta(seconds=1))
    assert stale_after() < timedelta(minutes=1)
    run = run_integration(integration.pk, trigger="schedule")
    assert run.status != RunStatus.SKIPPED, run.error
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "stopped" in dead.error
    alive = SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.RUNNING,
                                   heartbeat_at=timezone.now())
    assert run_integration(integration.pk, trigger="schedule").status == RunStatus.SKIPPED
    alive.refresh_from_db()
    assert alive.status == RunStatus.RUNNING


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_beats_while_the_run_waits(tenant):
    from connectors.models import Connection
    from syncs.models import Integration

    infor = Connection.objects.create(tenant=tenant, system="infor", name="Infor")
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL")
    integration = Integration.objects.create(tenant=tenant, name="x", source=infor, target=bill)
    run = SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.RUNNING,
                                 heartbeat_at=timezone.now() - timedelta(hours=1))
    with Heartbeat(run.pk, every=timedelta(milliseconds=20)) as beat:
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
    integration = Integration.objects.create(tenant=tenant, name="x", source=infor, target=bill)
    run = SyncRun.objects.create(integration=integration, trigger="backfill", status=RunStatus.RUNNING,
                                 heartbeat_at=timezone.now())
    sync = engine.Sync(integration, run)
    sync.counters["bills_created"] = 120
    with Heartbeat(run.pk, every=timedelta(milliseconds=20), progress=sync.progress) as beat:
        for _ in range(200):
            if beat.stopped.wait(0.02) or SyncRun.objects.get(pk=run.pk).counters:
                break
    run.refresh_from_db()
    assert run.counters == {"bills_created": 120}


def test_a_payment_the_erp_refuses_does_not_block_the_others(fake_demo, fakes, monkeypatch):
    run_integration(fake_demo.pk)
    bills = sorted(fakes.ap().bills.items(), key=lambda item: item[1]["number"])[:3]
    for bill_id, _ in bills:
        fakes.ap().pay(bill_id)
    refused = bills[0][1]["number"]
    post = FakeErpConnector.post_payment

    def post_payment(self, reference, payment):
        if reference.get("id") == refused:
            raise DataError("Fake ERP: Invoice is closed for payment")
        return post(self, reference, payment)

    monkeypatch.setattr(FakeErpConnector, "post_payment", post_payment)
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL
    assert run.counters["payments_written_back"] == 2 and run.counters["payments_failed"] == 1
    failed = SyncRecord.objects.get(object_type="payment", status=RecordStatus.FAILED)
    assert "Invoice is closed for payment" in failed.error_detail and "claim_until" not in failed.data
    later = run_integration(fake_demo.pk)
    assert later.counters.get("payments_written_back", 0) == 0, "nothing written twice"
    assert later.status == RunStatus.PARTIAL


def test_an_unreadable_polled_payment_fails_alone_and_the_others_go_on(fake_demo, fakes, monkeypatch):
    run_integration(fake_demo.pk)
    fakes.ap().pay(next(iter(fakes.ap().bills)))
    real = FakeApConnector.payments
    # As a connector yields a payment it cannot read (tests/connectors/bill/test_bill_payments_polled.py).
    bad = Unreadable(object_type="payment", source_id="stp-bad", source_ref="payment stp-bad",
                     reason="The amount 'abc' is not a number.", updated_marker="2026-11-30T00:00:00+00:00")
    monkeypatch.setattr(FakeApConnector, "payments", lambda self, since=None: iter([bad, *real(self, since)]))
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL
    assert run.counters["payments_written_back"] == 1, "the good payment after it still went"
    failed = SyncRecord.objects.get(object_type="payment", source_id="stp-bad")
    assert failed.status == RecordStatus.FAILED and "amount" in failed.error_detail
    assert run_integration(fake_demo.pk).status == RunStatus.PARTIAL, "later runs are not stopped by it"


def test_invoices_waiting_on_a_vendor_are_retried_with_it(fake_demo, monkeypatch):
    def create_vendors(self, suppliers):
        raise TransientError("Fake AP HTTP 503: service unavailable")

    monkeypatch.setattr(FakeApConnector, "create_vendors", create_vendors)
    first = run_integration(fake_demo.pk)
    waiting = SyncRecord.objects.filter(object_type="bill", status=RecordStatus.FAILED, error_class="transient")
    without_tax_id = {i.source_id for i in demo.invoices() if i.supplier_id == demo.SUPPLIER_WITHOUT_TAX_ID}
    assert first.counters.get("bills_created", 0) == 0 and waiting.count() == demo.INVOICES - len(without_tax_id)
    monkeypatch.undo()
    # Past the overlap window: only the retry of passing failures brings these invoices back.
    Cursor.objects.filter(integration=fake_demo).update(value="2999-01-01T00:00:00+00:00")
    again = run_integration(fake_demo.pk)
    assert again.counters["bills_created"] == demo.INVOICES - len(demo.expected_failures()), "no replay was needed"

