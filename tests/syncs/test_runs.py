"""A run's life, whatever the systems: skipped while another runs, a dead worker's run reaped, a dry run that writes
nothing, a quiet rerun that audits nothing. The engine's own behaviour, so on the fake pair."""

from datetime import timedelta

from django.utils import timezone

from portal.models import AuditEntry
from syncs.engine import run_integration
from syncs.models import RecordStatus, RunStatus, SyncRecord, SyncRun
from tests.fakes import demo


def test_a_second_run_is_skipped_while_one_is_running(fake_demo):
    SyncRun.objects.create(integration=fake_demo, trigger="schedule", status=RunStatus.RUNNING)
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.SKIPPED and "still in progress" in run.error


def test_a_run_whose_worker_died_is_marked_failed(fake_demo):
    dead = SyncRun.objects.create(integration=fake_demo, trigger="schedule", status=RunStatus.RUNNING,
                                  heartbeat_at=timezone.now() - timedelta(hours=2))
    run = run_integration(fake_demo.pk, dry_run=True)
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "stopped" in dead.error
    assert run.status == RunStatus.PARTIAL


def test_dry_run_writes_nothing_remote(fake_demo, fakes):
    run = run_integration(fake_demo.pk, dry_run=True)
    assert run.counters["bills_would_create"] == demo.INVOICES - len(demo.expected_failures())
    assert any(step["action"] == "create bill" for step in run.plan)
    assert fakes.ap().bills == {} and fakes.ap().vendors == {}
    assert not fakes.erp().acknowledged
    assert not SyncRecord.objects.exists()


def test_a_scheduled_rerun_with_nothing_changed_writes_no_audit_entries(fake_demo):
    first = run_integration(fake_demo.pk, trigger="schedule")
    assert first.counters["bills_created"] == demo.INVOICES - len(demo.expected_failures())
    before = AuditEntry.objects.count()
    again = run_integration(fake_demo.pk, trigger="schedule")
    assert again.status == RunStatus.PARTIAL, "the known failures still fail"
    synced = SyncRecord.objects.filter(integration=fake_demo, status=RecordStatus.SYNCED,
                                       object_type__in=["vendor", "bill"]).count()
    assert again.counters["unchanged"] == synced, "the overlap re-read every synced record and counted it"
    assert again.counters["bills_still_failing"] == len(demo.expected_failures())
    assert AuditEntry.objects.count() == before, list(AuditEntry.objects.filter(pk__gt=0)[:5].values("action"))
    assert not AuditEntry.objects.filter(action__endswith=".skipped").exists()
