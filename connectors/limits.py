"""Per-connection concurrency and rate limits that hold across every worker process.

On PostgreSQL the concurrency limit is a set of N session advisory locks (one per slot); on SQLite,
where the portal runs as one process, it is a semaphore. The rate limit is a fixed-window counter
row in the database, atomic on both.
"""

import random
import threading
import time
import zlib
from contextlib import contextmanager

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from connectors.errors import Deferred, TransientError

_semaphores = {}
_semaphores_lock = threading.Lock()


def _key_hash(key):
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


@contextmanager
def concurrency_slot(key, limit, *, wait_seconds=120, sleep=time.sleep):
    """Hold one of `limit` slots for `key` while the block runs."""
    if connection.vendor == "postgresql":
        with _advisory_slot(key, limit, wait_seconds, sleep):
            yield
        return
    with _semaphores_lock:
        semaphore = _semaphores.setdefault((key, limit), threading.BoundedSemaphore(limit))
    if not semaphore.acquire(timeout=wait_seconds):
        raise TransientError(f"No free call slot for {key} after {wait_seconds} s.")
    try:
        yield
    finally:
        semaphore.release()


@contextmanager
def _advisory_slot(key, limit, wait_seconds, sleep):
    class_id = _key_hash(key)
    deadline = time.monotonic() + wait_seconds
    slots = list(range(limit))
    held = None
    while held is None:
        random.shuffle(slots)
        with connection.cursor() as cursor:
            for slot in slots:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [class_id, slot])
                if cursor.fetchone()[0]:
                    held = slot
                    break
        if held is None:
            if time.monotonic() > deadline:
                raise TransientError(f"No free call slot for {key} after {wait_seconds} s.")
            sleep(0.005 + random.random() * 0.02)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [class_id, held])


def take_rate_token(key, limit, period_seconds, *, max_wait=30.0, clock=time.time, sleep=time.sleep):
    """Count one call against `limit` per `period_seconds` for `key`, waiting for the next window if
    the current one is full. A wait longer than `max_wait` defers the work instead of holding a worker."""
    from connectors.models import RateWindow

    while True:
        now = clock()
        window = int(now // period_seconds * period_seconds)
        with transaction.atomic():
            updated = RateWindow.objects.filter(key=key, window_start=window, count__lt=limit).update(
                count=F("count") + 1)
            if not updated:
                try:
                    with transaction.atomic():
                        RateWindow.objects.create(key=key, window_start=window, count=1)
                    updated = 1
                except IntegrityError:
                    updated = 0
        if updated:
            if random.random() < 0.01:
                RateWindow.objects.filter(key=key, window_start__lt=window - period_seconds).delete()
            return
        wait = window + period_seconds - now
        if wait > max_wait:
            from datetime import UTC, datetime

            raise Deferred(f"{key}: {limit} calls per {period_seconds} s used up.",
                           until=datetime.fromtimestamp(window + period_seconds, UTC))
        sleep(wait + random.random() * 0.05)
