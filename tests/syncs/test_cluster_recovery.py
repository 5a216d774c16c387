"""What a node's death and a broker restart cost a cluster of task nodes (issue "Production that survives", §2; the
whole deployment is bench/bench_cluster.py's): a dead node's run is failed within two heartbeats of its lease lapsing,
by whatever runs next or by the reaper of any worker process, whichever integration that is; and integrations made
together do not fall due in the same second, a burst one broker restart would lose together."""

from datetime import timedelta

from django.utils import timezone

from portal.models import Tenant
from syncs.engine import run_integration
from syncs.models import Integration, RunStatus, SyncRun
from syncs.run import HEARTBEAT_EVERY, Reaper, stale_after
from syncs.schedules import sync_schedule
from tests.syncs.test_status_pages import make_integration


def dead_run(integration):
    run = SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.RUNNING)
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - stale_after() - timedelta(seconds=1))
    return run


def test_a_dead_run_shows_running_no_longer_than_two_heartbeats():
    # Stale after this long, and found by the next look, which every worker process's reaper takes each half beat.
    assert stale_after() + HEARTBEAT_EVERY / 2 <= 2 * HEARTBEAT_EVERY


def test_another_integrations_run_fails_the_dead_run(fake_demo, tenant):
    other = make_integration(Tenant.objects.create(slug="other", name="Other"), name="Other → AP")
    dead = dead_run(other)
    run_integration(fake_demo.pk, trigger="schedule")
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "stopped" in dead.error


class LooksOnce:
    """A stop event that lets the reaper's loop look once, then stops it."""

    def __init__(self):
        self.looks = 0

    def wait(self, timeout):
        self.looks += 1
        return self.looks > 1


def test_a_worker_processs_reaper_fails_any_integrations_dead_run_with_no_run_starting(fake_demo, tenant,
                                                                                     monkeypatch):
    other = make_integration(Tenant.objects.create(slug="other", name="Other"), name="Other → AP")
    dead = dead_run(other)
    alive = SyncRun.objects.create(integration=fake_demo, trigger="schedule", status=RunStatus.RUNNING,
                                   heartbeat_at=timezone.now())
    # One look, in this thread: the test's database is this connection's, kept open.
    monkeypatch.setattr("syncs.run.close_old_connections", lambda: None)
    Reaper.loop(0, LooksOnce())
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "stopped" in dead.error
    assert alive.status == RunStatus.RUNNING


def test_integrations_made_together_fall_due_at_different_seconds(tenant):
    first = make_integration(tenant)
    integrations = [first] + [Integration.objects.create(tenant=tenant, name=f"ERP → AP {n}", source=first.source,
                                                         target=first.target) for n in range(5)]
    for integration in integrations:
        integration.interval_minutes = 1
        integration.save()
    due = {sync_schedule(integration).next_run.replace(microsecond=0) for integration in integrations}
    assert len(due) == len(integrations), "every schedule falls due in the same second"


def test_each_task_cluster_worker_process_starts_one_reaper_after_the_fork(monkeypatch):
    from django_q.signals import post_spawn

    import syncs.run

    started = []
    monkeypatch.setattr(syncs.run.threading, "Thread", lambda **kw: started.append(kw) or NotStarted())
    monkeypatch.setattr(Reaper, "started_in", None)
    post_spawn.send(sender="django_q", proc_name="MainProcess")
    assert started == [], "a task run in the calling process (sync mode) starts no reaper there"
    monkeypatch.setattr(syncs.run.multiprocessing, "parent_process", lambda: "the cluster's sentinel")
    post_spawn.send(sender="django_q", proc_name="Process-1")
    post_spawn.send(sender="django_q", proc_name="Process-1")  # the same process: still one reaper
    assert [kw["target"] for kw in started] == [Reaper.loop]
    assert started[0]["args"] == (HEARTBEAT_EVERY.total_seconds() / 2,)


class NotStarted:
    def start(self):
        pass
