"""A backfill: everything changed since a cut-over date, previewed by a dry run, then run with its progress shown.

The run is an ordinary engine run (trigger "backfill", `since` the cut-over), queued like any other; the
ledger keeps it from sending anything twice. Its progress is the number of the integration's ledger rows it
has written, against the number the preview said would be sent.
"""

from datetime import UTC, datetime

from django.utils import timezone

from syncs import reasons
from syncs.engine import describe_counters
from syncs.models import SyncRun
from syncs.progress import rows_touched


def cut_over(day):
    """The moment a backfill or a resync re-reads from: `day` at 00:00 UTC. A day ahead is refused (ValueError, in
    words): it would move the cursors past changes not read yet, and they would never be read."""
    if day > timezone.now().date():
        raise ValueError("Choose today or a date before it: a later date would skip changes.")
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def backfill_preview(run):
    """A dry run's counters as the backfill page shows them: what would be sent, what already exists."""
    counters = run.counters or {}

    def total(*suffixes):
        return sum(v for k, v in counters.items() if k.endswith(suffixes))

    return {"run": run, "send": total("_would_create", "_would_update"), "exist": total("_unchanged",
                                                                                        "_changed_after_sending"),
            "fail": total("_failed"), "set_aside": total("_set_aside"), "failed": run.status == SyncRun.FAILED,
            "error": reasons.readable(run.error) if run.error else "", "words": describe_counters(counters)}


def backfill_progress(integration, params):
    """The backfill run queued at `after` (Unix seconds), and how many ledger rows it has touched so far."""
    try:
        after = datetime.fromtimestamp(int(params.get("after", "")), tz=UTC)
        expected = int(params.get("expected") or 0)
    except (ValueError, OverflowError, OSError):  # typed into the address bar: not a moment there is
        return None
    run = (SyncRun.objects.filter(integration=integration, trigger="backfill", started_at__gte=after)
           .order_by("started_at").first())
    if run is None:
        return {"run": None, "expected": expected}
    done = rows_touched(integration, run.started_at, run.finished_at)
    percent = min(100, round(100 * done / expected)) if expected else None
    return {"run": run, "done": done, "expected": expected, "percent": percent,
            "finished": run.status != SyncRun.RUNNING, "words": describe_counters(run.counters or {})}
