"""Per-connection concurrency and rate limits, and named critical sections, that hold across every
worker process: the task workers, `manage.py sync` and the web process alike.

On PostgreSQL the concurrency limit is a set of N session advisory locks (one per slot) and a critical
section is one more advisory lock. On SQLite they are OS file locks (flock) on files in `LOCK_DIR`,
which every process on the host sees. The kernel drops a process's locks when it dies, as PostgreSQL
does when the session ends, so a killed worker never leaves a slot taken. The rate limit is a
fixed-window counter: a row in the database on PostgreSQL (atomic, and shared by every node), and on SQLite a
record in a file in `LOCK_DIR`, read and written under flock, so that no remote call takes the database's one
write lock.

LOCK_DIR must be on a local filesystem: over NFS, Linux emulates flock with per-process POSIX locks,
so two threads of one process would no longer exclude each other.
"""

import fcntl
import hashlib
import os
import random
import struct
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F

from connectors.errors import Deferred, TransientError
from connectors.models import RateWindow


def _key_hash(key):
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def _exclusive_key(key):
    # The single-bigint form of an advisory lock is a key space of its own, apart from the (int, int)
    # form the slots use, so a critical section can never collide with a call slot.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _wait_for(attempt, wait_seconds, sleep, failure):
    """Call `attempt` until it returns something other than None, or raise TransientError(failure)."""
    deadline = time.monotonic() + wait_seconds
    while (held := attempt()) is None:
        if time.monotonic() > deadline:
            raise TransientError(failure)
        sleep(0.005 + random.random() * 0.02)
    return held


# (key, limit) -> the slots of this process: its threads queue there, woken the moment one is let go, and only
# those holding one try the slots across processes, which are polled.
_process_slots = {}
_process_slots_lock = threading.Lock()


@contextmanager
def concurrency_slot(key, limit, *, wait_seconds=120, sleep=time.sleep):
    """Hold one of `limit` slots for `key` while the block runs."""
    with _process_slots_lock:
        mine = _process_slots.setdefault((key, limit), threading.BoundedSemaphore(limit))
    if not mine.acquire(timeout=wait_seconds):
        raise TransientError(f"No free call slot for {key} after {wait_seconds} s.")
    try:
        slot = _advisory_slot if connection.vendor == "postgresql" else _file_slot
        with slot(key, limit, wait_seconds, sleep):
            yield
    finally:
        mine.release()


@contextmanager
def _advisory_slot(key, limit, wait_seconds, sleep):
    class_id = _key_hash(key)
    slots = list(range(limit))

    def attempt():
        random.shuffle(slots)
        with connection.cursor() as cursor:
            for slot in slots:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [class_id, slot])
                if cursor.fetchone()[0]:
                    return slot
        return None

    held = _wait_for(attempt, wait_seconds, sleep, f"No free call slot for {key} after {wait_seconds} s.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [class_id, held])


@contextmanager
def _file_slot(key, limit, wait_seconds, sleep):
    stem = _file_stem("slot", key)
    slots = list(range(limit))

    def attempt():
        random.shuffle(slots)
        for slot in slots:
            fd = _try_flock(_lock_dir() / f"{stem}-{slot}")
            if fd is not None:
                return fd
        return None

    fd = _wait_for(attempt, wait_seconds, sleep, f"No free call slot for {key} after {wait_seconds} s.")
    try:
        yield
    finally:
        os.close(fd)


@contextmanager
def exclusive(key, *, wait_seconds=120, sleep=time.sleep):
    """Run the block while no other process or thread runs a block under the same `key`.

    Not re-entrant: entering `key` again inside its own block waits for itself on SQLite."""
    section = _advisory_exclusive if connection.vendor == "postgresql" else _file_exclusive
    with section(key, wait_seconds, sleep):
        yield


@contextmanager
def _advisory_exclusive(key, wait_seconds, sleep):
    lock_id = _exclusive_key(key)

    def attempt():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
            return True if cursor.fetchone()[0] else None

    _wait_for(attempt, wait_seconds, sleep,
              f"Another worker has held the lock on {key} for over {wait_seconds} s; giving up for now.")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
        except DatabaseError:
            # The block failed inside a transaction, which now refuses every query, unlock included.
            # Ending the session is the one way left to release the lock; the exception in flight
            # carries on (the transaction was going to be rolled back anyway).
            connection.close()


@contextmanager
def _file_exclusive(key, wait_seconds, sleep):
    path = _lock_dir() / _file_stem("exclusive", key)

    def attempt():
        fd = _try_flock(path)
        if fd is None:
            return None
        # The holder before us unlinks the file on leaving, so the inode we locked may no longer be
        # the one at `path`: a third process could create and lock a fresh one. Only the lock on the
        # inode currently at `path` counts.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is None or (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
            os.close(fd)
            return None
        return fd

    fd = _wait_for(attempt, wait_seconds, sleep,
                   f"Another worker has held the lock on {key} for over {wait_seconds} s; giving up for now.")
    try:
        yield
    finally:
        # Unlinked while still locked, so that one file per (organization, supplier) key does not pile up.
        os.unlink(path)
        os.close(fd)


def _lock_dir():
    return Path(getattr(settings, "LOCK_DIR", None) or Path(settings.BASE_DIR) / "var" / "locks")


def _file_stem(kind, key):
    # Keys can name an organization or a supplier; the lock directory shows only a hash of them.
    return f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _open_lock_file(path):
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)


def _try_flock(path):
    """An open descriptor holding an exclusive flock on `path`, or None if someone else holds it.

    Each call opens the file afresh, so each holder has its own open file description, and flock
    excludes those from one another even within one process: threads need no lock of their own."""
    fd = _open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _count_in_database(key, limit, window):
    """One more call in the window: True if counted, False if the window is full, None if another caller
    created the window row at the same moment."""
    with transaction.atomic():
        if RateWindow.objects.filter(key=key, window_start=window, count__lt=limit).update(count=F("count") + 1):
            return True
        # The update may have looked before another caller's new row was committed, which this read then sees:
        # only a count at the limit means full; anything less is that race, and counting again succeeds.
        counted = RateWindow.objects.filter(key=key, window_start=window).values_list("count", flat=True).first()
        if counted is not None:
            return False if counted >= limit else None
        try:
            with transaction.atomic():
                RateWindow.objects.create(key=key, window_start=window, count=1)
        except IntegrityError:
            return None
        return True


WINDOW_RECORD = struct.Struct("<qq")  # the window's start, the calls counted in it


def _count_in_file(key, limit, window):
    """One more call in the window: True if counted, False if the window is full.

    The record is rewritten in place by one write of 16 bytes under the lock, so a process killed at any point
    leaves either the old record or the new one. A caller whose clock lags another's counts in the newer window
    the file already holds, so a window is never opened afresh behind a fuller one."""
    fd = _open_lock_file(_lock_dir() / _file_stem("rate", key))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a read and a write: microseconds
        record = os.pread(fd, WINDOW_RECORD.size, 0)
        start, counted = WINDOW_RECORD.unpack(record) if len(record) == WINDOW_RECORD.size else (window, 0)
        if window > start:
            start, counted = window, 0
        if counted >= limit:
            return False
        os.pwrite(fd, WINDOW_RECORD.pack(start, counted + 1), 0)
        return True
    finally:
        os.close(fd)


def _rate_counter():
    return _count_in_database if connection.vendor == "postgresql" else _count_in_file


def take_rate_token(key, limit, period_seconds, *, max_wait=30.0, clock=time.time, sleep=time.sleep):
    """Count one call against `limit` per `period_seconds` for `key`, waiting for the next window if
    the current one is full. A wait longer than `max_wait` defers the work instead of holding a worker."""
    count = _rate_counter()
    while True:
        now = clock()
        window = int(now // period_seconds * period_seconds)
        counted = count(key, limit, window)
        if counted is None:
            continue  # another caller opened this window first: it is not full, so count in it
        if counted:
            if count is _count_in_database and random.random() < 0.01:
                RateWindow.objects.filter(key=key, window_start__lt=window - period_seconds).delete()
            return
        wait = window + period_seconds - now
        if wait > max_wait:
            from datetime import UTC, datetime

            raise Deferred(f"{key}: {limit} calls per {period_seconds} s used up.",
                           until=datetime.fromtimestamp(window + period_seconds, UTC))
        sleep(wait + random.random() * 0.05)
