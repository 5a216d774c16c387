"""A run's lifecycle: started under the integration's lock (a second attempt is counted on the run in progress, never
overlapped), held by a lease it renews, kept alive by a heartbeat, reaped when its worker died, and ended with its
outcome and counters recorded and audited, once the database takes them.

The lease makes the run of record: a run checks it before each write step (engine.Sync.fence) and stops at once
when another run took it over, so a run only held up (a paused process, a long wait) never writes beside the run
that replaced it. What a run does between its start and its end is the engine's (syncs.engine); this module only
knows that it ran.
"""

import logging
import multiprocessing
import os
import threading
from datetime import timedelta
from time import sleep

from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from connectors.errors import ConnectorError, DeferralKind, Deferred, TransientError
from portal import audit
from portal.fields import CredentialsUnreadable
from portal.redaction import redact
from syncs.models import Integration, RunLease, RunStatus, SyncRun, Trigger

# The engine's logger: a run's log lines read under one name, whichever module writes them.
logger = logging.getLogger("syncs.engine")

ACTOR = "system:sync"
# A run's heartbeat is written by a thread of its own, so a long remote wait never looks like death.
HEARTBEAT_EVERY = timedelta(seconds=10)
# A dead worker's run shows 'running' no longer than two beats: it is stale a beat and a half after its last sign of
# life, and every task-cluster worker process looks for stale runs each half beat (Reaper). A live run held up for
# longer loses its lease (renewed each half beat), and stops when it wakes (Lease.check).
STALE_BEATS = 1.5
# How long a run stops after a remote system failed it for a passing reason (an outage), at least.
OUTAGE_PAUSE = timedelta(minutes=5)
# How long a finished run keeps trying to record its outcome while the database is away, and the longest pause
# between two tries. Past it the run stays 'running' until the reaper fails it.
OUTCOME_PATIENCE = timedelta(minutes=10)
OUTCOME_BACKOFF_MAX = timedelta(seconds=30)
# Counters that say nothing happened to any record; a scheduled run with only these is not audited.
QUIET_COUNTERS = {"api_calls", "unchanged", "mapping_rules_invalid"}
QUIET_SUFFIXES = ("_unchanged", "_still_failing", "_ignored", "_set_aside", "_not_ours", "_without_baseline",
                  "_waiting")
DATABASE_DOWN = (OperationalError, InterfaceError)


def stale_after():
    """A running run whose heartbeat thread has missed its beats has lost its worker."""
    return HEARTBEAT_EVERY * STALE_BEATS


# A lease lapses after as long as a heartbeat goes stale, so a dead worker blocks its integration no longer than
# before; a run held up for longer than this loses its lease, and stops once it wakes (Lease.check).
LEASE_TTL = stale_after()


class TakenOver(Deferred):
    """Another run holds the integration now: this one stops where it stands, before writing anything more."""

    def __init__(self, holder_id):
        by = f"run {holder_id}" if holder_id else "another run"
        super().__init__(f"This run was held up longer than its lease and {by} took over the integration; it stopped "
                         "before its next write, so nothing is sent twice. The run that took over carries on.",
                         until=None, kind=DeferralKind.TAKEN_OVER)


class Lease:
    """A run's hold on its integration (models.RunLease). Every change is one compare-and-set UPDATE, so two
    processes never both believe they hold it."""

    def __init__(self, run):
        self.run = run
        self.lost = threading.Event()  # once lost, never held again: the run only has to stop

    def row(self):
        return RunLease.objects.filter(integration_id=self.run.integration_id)

    def take(self):
        """Whether the run took the lease: free, lapsed, or held by a run that ended without letting go. The caller
        holds the integration's one running run, so no other live run can be taking it at once. Each condition is on
        the lease row's own columns, which PostgreSQL checks again on the row it waited for."""
        now = timezone.now()
        taken = {"holder": self.run, "expires_at": now + LEASE_TTL}
        if self.row().filter(Q(holder__isnull=True) | Q(expires_at__lt=now)).update(**taken):
            return True
        for holder in self.row().values_list("holder_id", flat=True):
            if holder is None:  # let go since
                return bool(self.row().filter(holder__isnull=True).update(**taken))
            ended = not SyncRun.objects.filter(pk=holder, status=RunStatus.RUNNING).exists()
            return ended and bool(self.row().filter(holder_id=holder).update(**taken))
        try:
            with transaction.atomic():
                RunLease.objects.create(integration_id=self.run.integration_id, **taken)
        except IntegrityError:
            return False  # made by another meanwhile
        return True

    def renew(self):
        """Whether the run still holds its integration; when it does, the lease runs LEASE_TTL from now."""
        if self.lost.is_set():
            return False
        if self.row().filter(holder=self.run).update(expires_at=timezone.now() + LEASE_TTL):
            return True
        if not self.row().exists():
            # No row to be seen from this connection: the heartbeat's own connection cannot see a lease taken in a
            # transaction not yet committed, and nobody can take over a row nobody else sees. Only a row that names
            # another holder, or none, is proof the run lost its integration.
            return True
        self.lost.set()
        return False

    def check(self):
        """Raise TakenOver unless the run still holds its integration (renewing it when it does)."""
        if not self.renew():
            raise TakenOver(self.row().values_list("holder_id", flat=True).first())

    def release(self):
        self.row().filter(holder=self.run).update(holder=None, expires_at=timezone.now())


class Heartbeat:
    """Writes the run's heartbeat every HEARTBEAT_EVERY until stopped, whatever the run is waiting on, with
    the counters so far (`progress()`), so a long run (a backfill) shows how far it has come; and renews the run's
    `lease` first, on its own, so a heartbeat that cannot be written does not cost the run its integration."""

    def __init__(self, run_pk, every=HEARTBEAT_EVERY, progress=None, lease=None):
        self.run_pk = run_pk
        self.progress = progress
        self.lease = lease
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
        """Each half beat the lease renewed; each beat, the heartbeat."""
        tick = 0
        try:
            while not self.stopped.wait(self.every / 2):
                if self.lease is not None:
                    try:
                        self.lease.renew()
                    except Exception as exc:  # the run's own checks renew it too
                        logger.warning("lease of run %s not renewed: %s", self.run_pk, type(exc).__name__)
                if tick % 2 == 0:
                    try:
                        beat = {"heartbeat_at": timezone.now()}
                        if self.progress is not None:
                            beat["counters"] = self.progress()
                        SyncRun.objects.filter(pk=self.run_pk, status=RunStatus.RUNNING).update(**beat)
                    except Exception as exc:  # a missed beat is survivable; a dead heartbeat thread is not
                        logger.warning("heartbeat of run %s not written: %s", self.run_pk, type(exc).__name__)
                tick += 1
        finally:
            close_old_connections()


class Reaper:
    """Looks for dead runs every half beat in a task-cluster worker process, so a node's death is noticed within two
    beats even when no run is long enough to beat, nor starts, in the meantime (django-q fires due schedules in rounds
    about 30 s apart). Started per worker process after django-q forked it (signal post_spawn): a thread started in
    the parent would not survive the fork, and its database connection must not be shared across it."""

    started_in = None  # the pid whose reaper runs: a recycled worker is a new process that starts its own

    @classmethod
    def start(cls, **signal):
        # django-q runs a task in the calling process too (sync mode: tests, a cluster-less setup), sending the same
        # signal there: a process that was not forked by the cluster gets no reaper.
        if cls.started_in == os.getpid() or multiprocessing.parent_process() is None:
            return
        cls.started_in = os.getpid()
        threading.Thread(target=cls.loop, args=(HEARTBEAT_EVERY.total_seconds() / 2,), name="run-reaper",
                         daemon=True).start()

    @staticmethod
    def loop(every, stopped=None):
        stopped = stopped or threading.Event()
        while not stopped.wait(every):
            try:
                reap_dead_runs()
            except Exception as exc:  # the database away: the next look tries again
                logger.warning("dead runs not reaped: %s", type(exc).__name__)
            finally:
                close_old_connections()


def reap_dead_runs(integration=None):
    """Mark runs whose worker died as failed, so nothing stays 'running' forever. A run is dead once its heartbeat is
    stale and its lease has lapsed: a run whose lease is fresh is alive, only held up. The lapsed lease is revoked
    first, by compare-and-set, so a run that wakes after all finds it lost and stops."""
    now = timezone.now()
    runs = SyncRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=now - stale_after())
    if integration is not None:
        runs = runs.filter(integration=integration)
    for run in runs.select_related("integration__tenant"):
        held = RunLease.objects.filter(integration_id=run.integration_id, holder=run)
        if not held.filter(expires_at__lt=now).update(holder=None, expires_at=now) and held.exists():
            continue  # renewed in time: alive
        error = (f"The worker running this sync stopped (last sign of life {run.heartbeat_at:%Y-%m-%d %H:%M:%S} "
                 "UTC). Marked failed; the next run picks up where the cursors stand.")
        if SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.FAILED, finished_at=now, error=error):
            run.status, run.finished_at, run.error = RunStatus.FAILED, now, error
            audit.record("sync.run.reaped", actor=ACTOR, tenant=run.integration.tenant, obj=run, message=error)


def start_run(integration, trigger, dry_run):
    """The run, RUNNING and holding the integration's lease; or SKIPPED when a scheduled run finds the integration
    paused (a row of its own), or another run of it is still in progress (the database allows one running run per
    integration): then the attempt is counted on that run (see refused())."""
    reap_dead_runs()  # any integration's, so a dead node's runs do not wait for their own integration's next start
    now = timezone.now()
    if trigger == "schedule" and (not integration.enabled or integration.paused):
        return SyncRun.objects.create(integration=integration, trigger=trigger, status=RunStatus.SKIPPED,
                                      finished_at=now, error="The integration is paused.")
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(integration=integration, trigger=trigger, dry_run=dry_run,
                                         status=RunStatus.RUNNING, heartbeat_at=now)
    except IntegrityError:
        return refused(integration, trigger, dry_run)
    if not Lease(run).take():
        run.delete()
        return refused(integration, trigger, dry_run)
    return run


def refused(integration, trigger, dry_run):
    """An attempt to start while another run holds the integration, counted on that run (its refused_starts). A
    scheduled attempt is answered with a SKIPPED run that is not saved, so a schedule firing every minute during a
    long run leaves no row a minute; one a person asked for (Sync now, a dry run, a backfill…) keeps its SKIPPED row,
    which the page that follows their request reads to tell them."""
    running = SyncRun.objects.filter(integration=integration, status=RunStatus.RUNNING)
    running.update(refused_starts=F("refused_starts") + 1)
    holder = running.values_list("pk", flat=True).first()
    attempt = SyncRun(integration=integration, trigger=trigger, dry_run=dry_run, status=RunStatus.SKIPPED,
                      finished_at=timezone.now(),
                      error=f"Run {holder or '?'} of this integration is still in progress; this attempt was counted "
                            "on it and not run.")
    if trigger != Trigger.SCHEDULE:
        attempt.save()
    return attempt


def stopped_by(exc, run, next_run):
    """The run's status, error in words and deferral kind, set as `exc` ended it; returns when the integration runs
    next (`next_run` is when it was due otherwise)."""
    run.deferral = ""
    if isinstance(exc, Deferred):
        run.status, run.error, run.deferral = RunStatus.DEFERRED, str(exc), exc.kind
        return exc.until or next_run
    if isinstance(exc, TransientError):
        # A read (or a whole-batch call) still failing after the client's retries cannot be pinned on one
        # record: the run stops, deferred like an outage, and the next one starts again from the same cursors.
        run.status, run.deferral = RunStatus.DEFERRED, DeferralKind.OUTAGE
        run.error = f"A remote system did not answer properly after retries ({exc}); the next run tries again."
        return timezone.now() + max(timedelta(seconds=getattr(exc, "retry_after", None) or 0), OUTAGE_PAUSE)
    run.status = RunStatus.FAILED
    if isinstance(exc, CredentialsUnreadable):
        run.error = str(exc)
    elif isinstance(exc, ConnectorError):
        run.error = f"{type(exc).__name__}: {exc}"
    elif isinstance(exc, DATABASE_DOWN):
        logger.warning("sync run %s stopped: the database was unreachable (%s)", run.pk, type(exc).__name__)
        said = redact(str(exc).strip().splitlines()[0][:200]) if str(exc).strip() else type(exc).__name__
        run.error = (f"The database was unreachable ({said}); the run stopped there and its outcome was recorded "
                     "once the database was back. What it had sent is on the ledger; the next run picks up where "
                     "the cursors stand.")
    else:
        logger.exception("sync run %s crashed", run.pk)
        run.error = f"Internal error ({type(exc).__name__}); see the worker log."
    return next_run


def finish(run, counters, plan, lease=None):
    """The run's end written, whatever ended it: its outcome, its counters, a dry run's plan of what would be sent, the
    time; then its lease let go. While the database is away this waits for it, trying again with a growing pause
    and a fresh connection each time, for OUTCOME_PATIENCE at most: an outcome lost would leave the run 'running' and
    its counters gone until the reaper came."""
    run.counters = dict(counters)
    run.plan = plan
    run.finished_at = timezone.now()
    pause, waited = 1.0, 0.0
    while True:
        try:
            # The outcome and the lease's release together. Only what the run itself decides is written: an attempt
            # refused meanwhile was counted on the row (refused_starts).
            with transaction.atomic():
                run.save(update_fields=["status", "error", "deferral", "counters", "plan", "finished_at"])
                if lease is not None:
                    lease.release()
            return
        except DATABASE_DOWN as exc:
            if waited + pause > OUTCOME_PATIENCE.total_seconds():
                logger.error("run %s: outcome not recorded, the database stayed unreachable for %s (%s); the reaper "
                             "will fail it", run.pk, OUTCOME_PATIENCE, type(exc).__name__)
                raise
            logger.warning("run %s: outcome not recorded, the database is unreachable (%s); trying again in %.0f s",
                           run.pk, type(exc).__name__, pause)
            reconnect()
            sleep(pause)
            waited += pause
            pause = min(pause * 2, OUTCOME_BACKOFF_MAX.total_seconds())


def reconnect():
    """Drop the broken connection, so the next query opens a new one. Not inside a transaction: closing would end
    it, and its work with it, under the caller's feet."""
    if not connection.in_atomic_block:
        connection.close()


def conclude(run, next_run, actor):
    """After the run is saved: the integration's next run set (not by a dry run, nor by a run another took over from:
    that one sets it), and the run audited when it is worth it."""
    integration = run.integration
    if not run.dry_run and run.deferral != DeferralKind.TAKEN_OVER:
        Integration.objects.filter(pk=integration.pk).update(last_run_at=run.started_at, next_run_at=next_run)
    if worth_auditing(run):
        audit.record("sync.run.dry_run" if run.dry_run else "sync.run", actor=actor, tenant=integration.tenant,
                     obj=run, message=f"{run.get_status_display()}: {describe_counters(run.counters)}"
                     + (f" — {run.error}" if run.error else ""),
                     details={"counters": run.counters, "trigger": run.trigger,
                              **({"deferral": run.deferral} if run.deferral else {})})


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
