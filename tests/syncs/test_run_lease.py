"""The run of record: a run holds its integration by a lease, checked before each write step. A run held up past its
lease stops before writing beside the run that took over; a run whose lease is fresh is never reaped, however long its
heartbeat has stalled; an attempt to start while a run holds the integration is counted on that run, not written as a
run of its own. On the fake pair, with invoice images, since duplicate attachments are what a second run made."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from syncs import run as lifecycle
from syncs.engine import run_integration
from syncs.models import FollowUp, FollowUpKind, RunLease, RunStatus, SyncRecord, SyncRun
from syncs.steps import base as steps_base
from syncs.steps.follow_ups import FollowUpStep
from syncs.steps.suppliers import Suppliers
from tests.fakes import demo
from tests.fakes.fake_ap.connector import FakeApConnector


@pytest.fixture
def with_images(fakes, fake_demo):
    """Every invoice of the demo has one image in the ERP."""
    for source_id in fakes.erp().invoices:
        fakes.erp().documents[source_id] = [(f"{source_id}.pdf", b"%PDF-1.4 scan")]
    return fake_demo


def held_up(run, *, lease_lapsed):
    """What a run that stopped moving for 40 s looks like from outside: its heartbeat stale (longer ago than the
    reaper's cutoff), and its lease lapsed too when the whole process stood still."""
    assert timedelta(seconds=40) > lifecycle.stale_after()
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=40))
    if lease_lapsed:
        RunLease.objects.filter(holder=run).update(expires_at=timezone.now() - timedelta(seconds=5))


def elsewhere(work):
    """`work()` on a thread of its own, as another worker would run it: its own database connection (its own session
    on PostgreSQL, where advisory locks are held per session), and its own lock files. Returns what it returned."""
    result = {}

    def run():
        try:
            result["value"] = work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result["value"]


def attachments_per_bill(fakes):
    return {bill_id: len(files) for bill_id, files in fakes.ap().attachments.items()}


def pause_in_follow_ups(monkeypatch, kind, during):
    """Call `during(run)` once, when the run has made the first chunk's follow-up calls and not yet recorded any:
    the moment a second run would make them all again."""
    settle = FollowUpStep.settle
    state = {"done": False}

    def settle_after_a_pause(self, record, done, error, waiting_for):
        if self.kind == kind and not state["done"]:
            state["done"] = True
            during(self.sync.run)
        return settle(self, record, done, error, waiting_for)

    monkeypatch.setattr(FollowUpStep, "settle", settle_after_a_pause)
    return state


def test_a_run_whose_lease_another_run_took_stops_before_its_next_write_step(fake_demo, fakes, monkeypatch):
    suppliers = Suppliers.run
    taken = {}

    def suppliers_then_taken_over(self, sync):
        suppliers(self, sync)
        held_up(sync.run, lease_lapsed=True)
        newer = lifecycle.start_run(fake_demo, "schedule", False)  # the scheduler's next attempt reaps and takes over
        taken["run"] = newer

    monkeypatch.setattr(Suppliers, "run", suppliers_then_taken_over)
    run = run_integration(fake_demo.pk)
    newer = taken["run"]
    assert newer.status == RunStatus.RUNNING and newer.pk != run.pk
    run.refresh_from_db()
    assert run.status == RunStatus.DEFERRED and run.deferral == "taken_over"
    assert run.get_status_display() == "Deferred (another run took over)"
    assert f"run {newer.pk} took over" in run.error
    assert fakes.ap().vendors, "the suppliers went before the lease was lost"
    assert fakes.ap().bills == {} and not fakes.erp().acknowledged, "nothing written after it was lost"
    assert not SyncRecord.objects.filter(object_type="bill").exists()
    assert RunLease.objects.get(integration=fake_demo).holder_id == newer.pk, "the old run never let go of another's"


def test_a_run_taken_over_between_two_batches_sends_no_further_batch(fake_demo, fakes, monkeypatch):
    create_bills = FakeApConnector.create_bills
    calls = []

    def first_batch_then_taken_over(self, items):
        created = create_bills(self, items)
        if not calls:
            held_up(SyncRun.objects.get(status=RunStatus.RUNNING), lease_lapsed=True)
            lifecycle.start_run(fake_demo, "schedule", False)
        calls.append(len(items))
        return created

    monkeypatch.setattr(FakeApConnector, "create_bills", first_batch_then_taken_over)
    run = run_integration(fake_demo.pk)
    assert run.deferral == "taken_over", run.error
    assert demo.INVOICES > 2 * FakeApConnector.batch_size, "a stream of several batches"
    assert len(calls) == 1 and len(fakes.ap().bills) == calls[0]
    assert SyncRecord.objects.filter(object_type="bill", status="synced").count() == calls[0], "its batch is kept"


def test_a_run_whose_heartbeat_stalled_but_whose_lease_is_fresh_is_not_reaped(with_images, fakes, monkeypatch):
    attempts = []

    def second_attempt(run):
        held_up(run, lease_lapsed=False)  # its heartbeat stalled 40 s; its own step renewed the lease moments ago
        attempts.append(run_integration(with_images.pk, trigger="schedule"))

    pause_in_follow_ups(monkeypatch, FollowUpKind.DOCUMENTS, second_attempt)
    run = run_integration(with_images.pk)
    assert attempts[0].status == RunStatus.SKIPPED and attempts[0].pk is None
    assert f"Run {run.pk} of this integration is still in progress" in attempts[0].error
    assert list(SyncRun.objects.values_list("pk", flat=True)) == [run.pk], "no row for the refused attempt"
    run.refresh_from_db()
    assert run.status == RunStatus.PARTIAL and run.refused_starts == 1, run.error
    bills = SyncRecord.objects.filter(object_type="bill", status="synced").count()
    assert bills and set(attachments_per_bill(fakes).values()) == {1}
    assert len(attachments_per_bill(fakes)) == bills, "every bill got its image, once"


@pytest.mark.django_db(transaction=True)
def test_a_run_held_up_past_its_lease_makes_no_duplicate_when_another_takes_over(with_images, fakes, monkeypatch):
    """The 40 s pause: the whole process stood still, its lease lapsed and the next run took over. That run waits for
    the lock the held-up run sends under (briefly here: it defers), and the held-up run, once it moves again, keeps
    what it had done and stops at its next check. A third run finds every image attached, once."""
    monkeypatch.setattr(steps_base, "TARGET_LOCK_WAIT", timedelta(milliseconds=200))
    others = []

    def taken_over_meanwhile(run):
        held_up(run, lease_lapsed=True)
        others.append(elsewhere(lambda: run_integration(with_images.pk, trigger="schedule")))

    pause_in_follow_ups(monkeypatch, FollowUpKind.DOCUMENTS, taken_over_meanwhile)
    run = run_integration(with_images.pk)
    other = others[0]
    assert other.status == RunStatus.DEFERRED and other.deferral == "lock_wait", other.error
    assert other.get_status_display() == "Deferred (waiting for a lock held by another run)"
    run.refresh_from_db()
    assert run.status == RunStatus.DEFERRED and run.deferral == "taken_over", run.error
    assert not fakes.erp().acknowledged, "stopped before its next step"
    done = FollowUp.objects.filter(kind=FollowUpKind.DOCUMENTS, state="done").count()
    assert done == len(attachments_per_bill(fakes)), "what it attached before stopping is recorded"
    third = run_integration(with_images.pk)
    assert third.status == RunStatus.PARTIAL, third.error
    bills = SyncRecord.objects.filter(object_type="bill", status="synced").count()
    assert len(attachments_per_bill(fakes)) == bills and set(attachments_per_bill(fakes).values()) == {1}
    assert fakes.erp().acknowledged


def test_attempts_while_a_run_holds_the_integration_are_counted_not_written(fake_demo, admin_client):
    running = SyncRun.objects.create(integration=fake_demo, trigger="manual", status=RunStatus.RUNNING,
                                     heartbeat_at=timezone.now())
    for _ in range(3):
        attempt = run_integration(fake_demo.pk, trigger="schedule")
        assert attempt.status == RunStatus.SKIPPED and attempt.pk is None
    assert SyncRun.objects.count() == 1
    asked = run_integration(fake_demo.pk, trigger="manual")
    assert asked.status == RunStatus.SKIPPED and asked.pk, "a person's request keeps the row their page follows"
    running.refresh_from_db()
    assert running.refused_starts == 4
    page = admin_client.get(f"/admin/syncs/syncrun/{running.pk}/change/")
    assert "4 attempts to start this integration, each counted here and not run" in page.content.decode()
    listing = admin_client.get("/admin/syncs/syncrun/").content.decode()
    assert "4 refused while it ran" in listing


def test_a_dead_run_without_a_fresh_lease_is_still_reaped(fake_demo):
    run = run_integration(fake_demo.pk)
    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    RunLease.objects.filter(integration=fake_demo).update(holder=run, expires_at=timezone.now() - timedelta(seconds=1))
    held_up(run, lease_lapsed=True)
    again = run_integration(fake_demo.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped" in run.error
    assert again.status == RunStatus.PARTIAL
    assert RunLease.objects.get(integration=fake_demo).holder is None, "let go when it finished"


def test_a_lease_left_by_a_run_that_ended_is_taken_by_the_next(fake_demo):
    ended = run_integration(fake_demo.pk)
    RunLease.objects.filter(integration=fake_demo).update(holder=ended, expires_at=timezone.now() + timedelta(hours=1))
    again = run_integration(fake_demo.pk)
    assert again.status == RunStatus.PARTIAL, again.error
    assert SyncRun.objects.count() == 2



def test_a_lease_row_out_of_sight_is_not_lost_but_one_naming_another_run_is(fake_demo):
    """The heartbeat renews on a connection of its own, which cannot see a lease taken in a transaction not yet
    committed (PostgreSQL). No row in sight is no proof another run holds the integration, so the run keeps it; a row
    that names another run is. The row is deleted here to put it out of sight on both databases."""
    run = run_integration(fake_demo.pk)
    lease = lifecycle.Lease(run)
    assert lease.take()
    RunLease.objects.filter(integration=fake_demo).delete()
    assert lease.renew() is True and not lease.lost.is_set(), "lost on a row out of its sight"
    assert lease.take()
    newer = run_integration(fake_demo.pk)
    RunLease.objects.filter(integration=fake_demo).update(holder=newer)
    assert lease.renew() is False and lease.lost.is_set()
