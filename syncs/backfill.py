"""A backfill: everything changed since a cut-over date, previewed by a dry run, then run with its progress shown;
and the admin's dry run, followed the same way.

The preview (trigger "preview"), the backfill itself (trigger "backfill") and a dry run (trigger "dry_run") are
queued as tasks, so the admin page answers at once; the page's address carries the moment it queued its run (Unix
seconds), finds the run by it, and refreshes itself until the run has finished. Progress is the number of records
the run has read (syncs.progress.records_read), against the number its preview read. The ledger keeps a backfill
from sending anything twice.
"""

from datetime import UTC, datetime

from django.utils import timezone

from syncs import reasons
from syncs.models import RunStatus, SyncRun, Trigger
from syncs.progress import records_read
from syncs.run import describe_counters


def cut_over(day):
    """The moment a backfill or a resync re-reads from: `day` at 00:00 UTC. A day ahead is refused (ValueError, in
    words): it would move the cursors past changes not read yet, and they would never be read."""
    if day > timezone.now().date():
        raise ValueError("Choose today or a date before it: a later date would skip changes.")
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def backfill_preview(run):
    """A dry run's counters as the backfill page and command show them: what would be sent, what already exists,
    and every record it read (what the backfill's progress counts up to)."""
    counters = run.counters or {}

    def total(*suffixes):
        return sum(v for k, v in counters.items() if k.endswith(suffixes))

    return {"run": run, "send": total("_would_create", "_would_update"), "exist": total("_unchanged",
                                                                                        "_changed_after_sending"),
            "fail": total("_failed"), "set_aside": total("_set_aside"), "read": records_read(counters),
            "failed": run.status == RunStatus.FAILED, "error": reasons.readable(run.error) if run.error else "",
            "words": describe_counters(counters)}


def queued_at(params, name="after"):
    """The moment a page's address says its run was queued, or None (absent, or typed into the address bar and
    not a moment there is)."""
    try:
        return datetime.fromtimestamp(int(params.get(name, "")), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def run_progress(integration, trigger, after, expected=0):
    """The run of `trigger` queued at `after`, and how far it has come: None while no worker has started it."""
    run = (SyncRun.objects.filter(integration=integration, trigger=trigger, started_at__gte=after)
           .order_by("started_at").first())
    if run is None:
        return {"run": None, "expected": expected, "waited": int((timezone.now() - after).total_seconds())}
    done = records_read(run.counters)
    return {"run": run, "done": done, "expected": expected,
            "percent": min(100, round(100 * done / expected)) if expected else None,
            "finished": run.status != RunStatus.RUNNING, "skipped": run.status == RunStatus.SKIPPED,
            "error": reasons.readable(run.error) if run.error else "", "words": describe_counters(run.counters or {})}


def backfill_progress(integration, params):
    """The backfill run queued at `after`, against the number of records its preview read (`expected`)."""
    after = queued_at(params)
    try:
        expected = int(params.get("expected") or 0)
    except ValueError:
        expected = 0
    return run_progress(integration, Trigger.BACKFILL, after, expected) if after else None


def preview_progress(integration, params):
    """The preview queued at `previewed`: its progress while it runs, and what it found once it has finished."""
    after = queued_at(params, "previewed")
    if after is None:
        return None
    progress = run_progress(integration, Trigger.PREVIEW, after)
    if progress.get("finished"):
        progress.update(backfill_preview(progress["run"]))
    return progress
