"""A run's lifecycle: started under the integration's lock (a second run is skipped, never overlapped), kept alive
by a heartbeat, reaped when its worker died, and ended with its outcome and counters recorded and audited.

What a run does between its start and its end is the engine's (syncs.engine); this module only knows that it ran.
"""

import logging
import threading
from datetime import timedelta

from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone

from connectors.errors import ConnectorError, Deferred, TransientError
from portal import audit
from portal.fields import CredentialsUnreadable
from syncs.models import Integration, RunStatus, SyncRun

# The engine's logger: a run's log lines read under one name, whichever module writes them.
logger = logging.getLogger("syncs.engine")

ACTOR = "system:sync"
# A run's heartbeat is written by a thread of its own, so a long remote wait never looks like death.
HEARTBEAT_EVERY = timedelta(seconds=10)
MISSED_BEATS = 3
# How long a run stops after a remote system failed it for a passing reason (an outage), at least.
OUTAGE_PAUSE = timedelta(minutes=5)
# Counters that say nothing happened to any record; a scheduled run with only these is not audited.
QUIET_COUNTERS = {"api_calls", "unchanged", "mapping_rules_invalid"}
QUIET_SUFFIXES = ("_unchanged", "_still_failing", "_ignored", "_set_aside", "_not_ours", "_without_baseline",
                  "_waiting")


def stale_after():
    """A running run whose heartbeat thread has missed a few beats has lost its worker."""
    return HEARTBEAT_EVERY * MISSED_BEATS + timedelta(seconds=5)


class Heartbeat:
    """Writes the run's heartbeat every HEARTBEAT_EVERY until stopped, whatever the run is waiting on, with
    the counters so far (`progress()`), so a long run (a backfill) shows how far it has come."""

    def __init__(self, run_pk, every=HEARTBEAT_EVERY, progress=None):
        self.run_pk = run_pk
        self.progress = progress
        self.every = every.total_seconds()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, name=f"heartbeat-run-{run_pk}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(timeout=self.every)

    def loop(self):
        try:
            while not self.stopped.wait(self.every):
                try:
                    beat = {"heartbeat_at": timezone.now()}
                    if self.progress is not None:
                        beat["counters"] = self.progress()
                    SyncRun.objects.filter(pk=self.run_pk, status=RunStatus.RUNNING).update(**beat)
                except Exception as exc:  # a missed beat is survivable; a dead heartbeat thread is not
                    logger.warning("heartbeat of run %s not written: %s", self.run_pk, type(exc).__name__)
        finally:
            close_old_connections()


def reap_dead_runs(integration=None):
    """Mark runs whose worker died as failed, so nothing stays 'running' forever."""
    cutoff = timezone.now() - stale_after()
    runs = SyncRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
    if integration is not None:
        runs = runs.filter(integration=integration)
    for run in runs.select_related("integration__tenant"):
        run.status = RunStatus.FAILED
        run.finished_at = timezone.now()
        run.error = (f"The worker running this sync stopped (last sign of life {run.heartbeat_at:%Y-%m-%d %H:%M:%S} "
                     "UTC). Marked failed; the next run picks up where the cursors stand.")
        run.save(update_fields=["status", "finished_at", "error"])
        audit.record("sync.run.reaped", actor=ACTOR, tenant=run.integration.tenant, obj=run, message=run.error)


def start_run(integration, trigger, dry_run):
    """The run, RUNNING; or SKIPPED when a scheduled run finds the integration paused, or another run of it is
    still in progress (the database allows one running run per integration)."""
    reap_dead_runs(integration)
    now = timezone.now()
    if trigger == "schedule" and (not integration.enabled or integration.paused):
        return SyncRun.objects.create(integration=integration, trigger=trigger, status=RunStatus.SKIPPED,
                                      finished_at=now, error="The integration is paused.")
    try:
        with transaction.atomic():
            return SyncRun.objects.create(integration=integration, trigger=trigger, dry_run=dry_run,
                                          status=RunStatus.RUNNING, heartbeat_at=now)
    except IntegrityError:
        running = SyncRun.objects.filter(integration=integration, status=RunStatus.RUNNING).first()
        return SyncRun.objects.create(
            integration=integration, trigger=trigger, dry_run=dry_run, status=RunStatus.SKIPPED, finished_at=now,
            error=f"Run {running.pk if running else '?'} of this integration is still in progress.")


def stopped_by(exc, run, next_run):
    """(status, error in words, next run) of a run that `exc` ended; `next_run` is when it was due otherwise."""
    if isinstance(exc, Deferred):
        return RunStatus.DEFERRED, str(exc), exc.until
    if isinstance(exc, TransientError):
        # A read (or a whole-batch call) still failing after the client's retries cannot be pinned on one
        # record: the run stops, deferred like an outage, and the next one starts again from the same cursors.
        return (RunStatus.DEFERRED,
                f"A remote system did not answer properly after retries ({exc}); the next run tries again.",
                timezone.now() + max(timedelta(seconds=getattr(exc, "retry_after", None) or 0), OUTAGE_PAUSE))
    if isinstance(exc, CredentialsUnreadable):
        return RunStatus.FAILED, str(exc), next_run
    if isinstance(exc, ConnectorError):
        return RunStatus.FAILED, f"{type(exc).__name__}: {exc}", next_run
    logger.exception("sync run %s crashed", run.pk)
    return RunStatus.FAILED, f"Internal error ({type(exc).__name__}); see the worker log.", next_run


def finish(run, counters, plan):
    """The run's end written, whatever ended it: its counters, a dry run's plan of what would be sent, the time."""
    run.counters = dict(counters)
    run.plan = plan
    run.finished_at = timezone.now()
    run.save()


def conclude(run, next_run, actor):
    """After the run is saved: the integration's next run set (not by a dry run), and the run audited when it is
    worth it."""
    integration = run.integration
    if not run.dry_run:
        Integration.objects.filter(pk=integration.pk).update(last_run_at=run.started_at, next_run_at=next_run)
    if worth_auditing(run):
        audit.record("sync.run.dry_run" if run.dry_run else "sync.run", actor=actor, tenant=integration.tenant,
                     obj=run, message=f"{run.get_status_display()}: {describe_counters(run.counters)}"
                     + (f" — {run.error}" if run.error else ""),
                     details={"counters": run.counters, "trigger": run.trigger})


def worth_auditing(run):
    """A person's run, a run that failed, or one that moved something. A scheduled re-read that found
    nothing new (records unchanged, known failures failing again) stays on its SyncRun row only."""
    if run.trigger != "schedule" or run.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
        return True
    quiet = {key for key in run.counters if key in QUIET_COUNTERS or key.endswith(QUIET_SUFFIXES)}
    newly_failed = sum(run.counters.get(key, 0) for key in run.counters if key.endswith("_failed")) - sum(
        run.counters.get(key, 0) for key in run.counters if key.endswith("_still_failing"))
    return newly_failed > 0 or any(count for key, count in run.counters.items()
                                   if key not in quiet and not key.endswith("_failed"))


def describe_counters(counters):
    said = [f"{key.replace('_', ' ')} {value}" for key, value in sorted(counters.items()) if value]
    return ", ".join(said) or "nothing"
