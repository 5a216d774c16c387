"""A progress bar on a terminal for the long commands (`sync`, `backfill`).

The engine is not told about it: a thread counts the integration's ledger rows written since the run began,
twice a second, and redraws one line. Nothing is drawn when the output is not a terminal (a log, a pipe, cron),
so those keep only the final summary.
"""

import threading
import time

from django.core.management.base import OutputWrapper
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from syncs.models import SyncRecord

WIDTH = 30
REDRAW_SECONDS = 0.5


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
            self.last = rows_touched(self.integration, self.since)
        except DatabaseError:
            pass  # the run holds a write lock (SQLite): keep the last count, redraw next time
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


def rows_touched(integration, since, until=None):
    """Ledger rows of an integration written between two moments: how far a run has come."""
    return SyncRecord.objects.filter(integration=integration, updated_at__gte=since,
                                     updated_at__lte=until or timezone.now()).count()
