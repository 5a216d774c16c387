"""How far a run has come: the vendors and bills it has read so far (`records_read`), for the progress bar the long
commands (`sync`, `backfill`) draw on a terminal and for the admin's dry-run and backfill pages.

Counted from the run's counters, which its heartbeat writes every few seconds (syncs.run.Heartbeat) and the run writes
whole at its end, so the engine is not told about anyone watching. Every record read counts, whether it is sent,
found already sent, unchanged, failed or set aside: a re-read of records sent before moves the bar as much as a first
send. Nothing is drawn on a terminal when the output is not one (a log, a pipe, cron): those keep only the final
summary.
"""

import threading
import time

from django.core.management.base import OutputWrapper
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from syncs.models import SyncRun

WIDTH = 30
REDRAW_SECONDS = 0.5
# Each vendor or bill a run reads ends in exactly one of these counters; the others ("_still_failing",
# "_released", "_held_after_sending") say more about a record already counted.
READ_OUTCOMES = {"created", "updated", "matched", "unchanged", "changed_after_sending", "failed", "set_aside",
                 "ignored", "on_hold", "would_create", "would_update"}


def records_read(counters):
    """The vendors and bills a run has read, from its counters (a preview's, a run's, or a running run's so far)."""
    total = 0
    for key, value in (counters or {}).items():
        kind, _, outcome = key.partition("_")
        if kind in ("vendors", "bills") and outcome in READ_OUTCOMES:
            total += value
    return total


def bar(done, total, elapsed):
    if total:
        filled = min(WIDTH, round(WIDTH * done / total))
        return f"\r[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{total} records · {elapsed:.0f}s"
    return f"\r{done} records so far · {elapsed:.0f}s"


class Progress:
    """`with Progress(stream, integration, total):` around a run. `total` may be None (unknown)."""

    def __init__(self, stream, integration, total=None, every=None):
        self.stream = stream
        self.integration = integration
        self.total = total
        self.every = REDRAW_SECONDS if every is None else every
        self.on = bool(getattr(stream, "isatty", lambda: False)())
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, name="progress", daemon=True)
        self.since = None
        self.started = None
        self.last = 0

    def __enter__(self):
        if self.on:
            self.since, self.started = timezone.now(), time.monotonic()
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.on:
            self.stopped.set()
            self.thread.join()
            self.draw()
            self.write("\n")

    def done(self):
        try:
            run = (SyncRun.objects.filter(integration=self.integration, started_at__gte=self.since)
                   .order_by("-started_at").values("counters").first())
        except DatabaseError:
            return self.last  # the run holds a write lock (SQLite): keep the last count, redraw next time
        self.last = records_read(run["counters"]) if run else 0
        return self.last

    def write(self, text):
        # A command's OutputWrapper ends every write with a newline unless told otherwise.
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()

    def draw(self):
        self.write(bar(self.done(), self.total, time.monotonic() - self.started))

    def loop(self):
        try:
            while not self.stopped.wait(self.every):
                self.draw()
        finally:
            close_old_connections()
