"""Call slots, rate counters and critical sections hold across separate processes, on SQLite (file locks) and on
PostgreSQL (advisory locks), and a holder that is killed gives its lock back."""

import fcntl
import os
import secrets
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from multiprocessing.connection import Listener
from pathlib import Path

import pytest
from django.db import DatabaseError, transaction
from django.db import connection as db

from connectors.errors import TransientError
from connectors.limits import concurrency_slot, exclusive

ROOT = Path(__file__).resolve().parents[2]

# argv: mode ("slot" or "exclusive"), lock dir, tally port, tally key (hex), counter file, threads, rounds.
WORKER = """
import sys, threading, time
from multiprocessing.connection import Client
import django
django.setup()
from django.conf import settings
from django.db import connection as db
from connectors.limits import concurrency_slot, exclusive

mode, lock_dir, port, authkey, counter, threads, rounds = sys.argv[1:]
settings.LOCK_DIR = lock_dir
failures = []

def guarded():
    return concurrency_slot("k", 3) if mode == "slot" else exclusive("k")

def work():
    tally = Client(("127.0.0.1", int(port)), authkey=bytes.fromhex(authkey))
    try:
        tally.send("ready")
        if not tally.recv():
            raise RuntimeError("the other workers never showed up")
        for _ in range(int(rounds)):
            with guarded():
                tally.send("enter")
                if not tally.recv():
                    raise RuntimeError("the limit was never reached")
                with open(counter) as f:
                    seen = int(f.read() or 0)
                time.sleep(0.01)  # widens the window in which a broken lock would let two blocks overlap
                with open(counter, "w") as f:
                    f.write(str(seen + 1))
                tally.send("exit")
                tally.recv()
    except Exception as exc:
        failures.append(repr(exc))
    finally:
        tally.close()
        db.close()

workers = [threading.Thread(target=work) for _ in range(int(threads))]
[t.start() for t in workers]
[t.join() for t in workers]
print("FAILURES", failures)
raise SystemExit(1 if failures else 0)
"""

# argv: mode, lock dir, key. Says "held" once inside, then stays there until it is killed.
HOLDER = """
import sys
import django
django.setup()
from django.conf import settings
from connectors.limits import concurrency_slot, exclusive

mode, lock_dir, key = sys.argv[1:]
settings.LOCK_DIR = lock_dir
with concurrency_slot(key, 1) if mode == "slot" else exclusive(key):
    print("held", flush=True)
    sys.stdin.read()
"""


GUARDS = {"slot": lambda key, **kw: concurrency_slot(key, 1, **kw), "exclusive": exclusive}


def python(script, *args, **popen_kwargs):
    """Start `script` in a new interpreter against the test database (PostgreSQL) or none (SQLite,
    where the locks do not touch the database), like tests.conftest.run_in_processes."""
    if db.vendor == "postgresql":
        s = db.settings_dict
        password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
        url = f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    else:
        url = "sqlite:///:memory:"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "portal.settings", "DEBUG": "1"}
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=ROOT, env=env, text=True,
                            **popen_kwargs)


class Tally:
    """A counter on loopback that the workers' threads report to as they enter and leave the guarded
    block. It starts them together, and holds each one inside until `target` were in at once, so
    reaching the limit does not depend on timing."""

    def __init__(self, parties, target):
        self.authkey = secrets.token_bytes(16)
        self.listener = Listener(("127.0.0.1", 0), backlog=parties, authkey=self.authkey)
        self.port = self.listener.address[1]
        self.start = threading.Barrier(parties, timeout=60)
        self.changed = threading.Condition()
        self.target = target
        self.inside = self.most = 0
        threading.Thread(target=self._accept, args=(parties,), daemon=True).start()

    def _accept(self, parties):
        with self.listener:
            for _ in range(parties):
                threading.Thread(target=self._serve, args=(self.listener.accept(),), daemon=True).start()

    def _serve(self, conn):
        with conn:
            while True:
                try:
                    message = conn.recv()
                except EOFError:
                    return
                conn.send(getattr(self, message)())

    def ready(self):
        try:
            self.start.wait()
        except threading.BrokenBarrierError:
            return False
        return True

    def enter(self):
        with self.changed:
            self.inside += 1
            self.most = max(self.most, self.inside)
            self.changed.notify_all()
            return self.changed.wait_for(lambda: self.most >= self.target, timeout=60)

    def exit(self):
        with self.changed:
            self.inside -= 1
        return True


def run_workers(mode, target, lock_dir, tmp_path, processes, threads, rounds):
    tally = Tally(processes * threads, target)
    counter = tmp_path / "counter"
    counter.write_text("0")
    procs = [python(WORKER, mode, lock_dir, tally.port, tally.authkey.hex(), counter, threads, rounds,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(processes)]
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, out + err[-2000:]
    return tally, int(counter.read_text())


@pytest.fixture
def lock_dir(settings, tmp_path):
    settings.LOCK_DIR = str(tmp_path / "locks")
    return settings.LOCK_DIR


@pytest.mark.django_db
def test_three_slots_in_flight_across_processes_never_more(lock_dir, tmp_path):
    tally, _ = run_workers("slot", 3, lock_dir, tmp_path, processes=3, threads=3, rounds=4)
    assert tally.most == 3


@pytest.mark.django_db
def test_exclusive_serialises_read_modify_write_across_processes(lock_dir, tmp_path):
    tally, count = run_workers("exclusive", 1, lock_dir, tmp_path, processes=4, threads=3, rounds=5)
    assert count == 4 * 3 * 5, "an increment was lost: two blocks overlapped"
    assert tally.most == 1


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["slot", "exclusive"])
def test_a_killed_holder_frees_its_lock(mode, lock_dir):
    holder = python(HOLDER, mode, lock_dir, "dead-holder", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(TransientError), GUARDS[mode]("dead-holder", wait_seconds=0):
            pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        # PostgreSQL ends the dead client's session a moment after the process is gone: wait for it.
        with GUARDS[mode]("dead-holder", wait_seconds=30):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdin.close()
        holder.stdout.close()


@contextmanager
def held_by_another_thread(hold):
    """`hold()`, a context manager, entered by another thread of this process; the block gets the event that makes
    it let go, which it does at the latest when the block ends."""
    entered, leave = threading.Event(), threading.Event()

    def holder():
        try:
            with hold():
                entered.set()
                leave.wait(timeout=30)
        finally:
            db.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert entered.wait(timeout=30)
        yield leave
    finally:
        leave.set()
        thread.join(timeout=30)


@pytest.mark.django_db
def test_exclusive_excludes_threads_of_one_process_and_not_the_slots():
    with held_by_another_thread(lambda: exclusive("shared")):
        with pytest.raises(TransientError, match="held the lock on shared"), exclusive("shared", wait_seconds=0):
            pass
        with concurrency_slot("shared", 1, wait_seconds=0), exclusive("other", wait_seconds=0):
            pass
    with exclusive("shared", wait_seconds=0):
        pass


@pytest.mark.django_db
def test_lock_files_default_to_var_locks_named_by_hash_and_sections_leave_none(settings, tmp_path):
    if db.vendor == "postgresql":
        pytest.skip("PostgreSQL uses advisory locks, not files")
    settings.BASE_DIR = tmp_path
    del settings.LOCK_DIR
    with concurrency_slot("slots:bill:Acme Org", 2), exclusive("vendor:Acme Org:S10007"):
        pass
    names = sorted(p.name for p in (tmp_path / "var" / "locks").iterdir())
    assert names and all(name.startswith("slot-") for name in names), names
    assert not any("Acme" in name for name in names)


@pytest.mark.django_db
def test_a_lock_won_on_a_file_its_holder_already_removed_does_not_count(lock_dir, monkeypatch):
    if db.vendor == "postgresql":
        pytest.skip("PostgreSQL uses advisory locks, not files")
    entered, leave, left, raced = (threading.Event() for _ in range(4))

    def first_holder():
        with exclusive("race"):
            entered.set()
            leave.wait(timeout=30)
        left.set()

    real_flock = fcntl.flock

    def flock_once_the_holder_has_gone(fd, operation):
        # We have opened the file the first holder still locks; it leaves (unlinking the file) before
        # our flock, which therefore succeeds on a file no longer at the lock's path.
        if not raced.is_set():
            raced.set()
            leave.set()
            assert left.wait(timeout=30)
        return real_flock(fd, operation)

    holder = threading.Thread(target=first_holder)
    holder.start()
    assert entered.wait(timeout=30)
    monkeypatch.setattr(fcntl, "flock", flock_once_the_holder_has_gone)
    outcome = []

    def third_worker():
        try:
            with exclusive("race", wait_seconds=0):
                outcome.append("entered as well")
        except TransientError:
            outcome.append("kept out")

    with exclusive("race", wait_seconds=10):
        assert raced.is_set()
        third = threading.Thread(target=third_worker)
        third.start()
        third.join(timeout=30)
    holder.join(timeout=30)
    assert outcome == ["kept out"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_exclusive_is_released_when_its_transaction_failed():
    with pytest.raises(DatabaseError), transaction.atomic(), exclusive("aborted"):
        with db.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")
    # From another session: this one would be let in again even if it still held the lock.
    errors = []

    def enter():
        try:
            with exclusive("aborted", wait_seconds=0):
                pass
        except TransientError as exc:
            errors.append(exc)
        finally:
            db.close()

    other = threading.Thread(target=enter)
    other.start()
    other.join(timeout=30)
    assert not errors


@pytest.fixture
def database_counter(monkeypatch):
    """The counter PostgreSQL keeps (a row per window), run here on whatever database the suite has."""
    from connectors import limits

    monkeypatch.setattr(limits, "_rate_counter", lambda: limits._count_in_database)


def test_a_window_another_caller_opens_at_the_same_moment_is_not_taken_for_full(db, monkeypatch, database_counter):
    from django.db import IntegrityError

    from connectors.limits import take_rate_token
    from connectors.models import RateWindow

    create = RateWindow.objects.create
    raced = []

    def losing_the_race(**fields):
        if not raced:
            raced.append(True)
            raise IntegrityError("duplicate key value violates unique constraint")
        return create(**fields)

    monkeypatch.setattr(RateWindow.objects, "create", losing_the_race)
    # Before, the lost race read as "window full" and deferred the work to the next window.
    take_rate_token("race", 10, 60, max_wait=0, clock=lambda: 120.0, sleep=lambda seconds: None)
    assert raced and RateWindow.objects.get(key="race", window_start=120).count == 1


def test_a_window_opened_just_after_the_count_looked_is_not_taken_for_full(db, monkeypatch, database_counter):
    """PostgreSQL: the update finds no row (another caller's new row was not committed yet), and the next read
    does see it. Under load at the start of a minute this deferred whole runs ("3000 calls per 60 s used up"
    after 263 calls); a window below its limit is counted in instead."""
    from connectors.limits import take_rate_token
    from connectors.models import RateWindow

    filter_ = RateWindow.objects.filter
    raced = []

    class TooEarly:
        def __init__(self, lookups):
            self.lookups = lookups

        def update(self, **changes):
            RateWindow.objects.create(key=self.lookups["key"], window_start=self.lookups["window_start"], count=1)
            return 0

    def looking_before_the_other_commit(*args, **lookups):
        if not raced and "count__lt" in lookups:
            raced.append(True)
            return TooEarly(lookups)
        return filter_(*args, **lookups)

    monkeypatch.setattr(RateWindow.objects, "filter", looking_before_the_other_commit)
    take_rate_token("late", 10, 60, max_wait=0, clock=lambda: 120.0, sleep=lambda seconds: None)
    assert raced and RateWindow.objects.get(key="late", window_start=120).count == 2


# argv: lock dir, limit, tokens per thread, threads. Prints the window each token was counted in, one a line.
TAKER = """
import sys, threading, time
import django
django.setup()
from django.conf import settings
from connectors.limits import take_rate_token

lock_dir, limit, tokens, threads = sys.argv[1:]
settings.LOCK_DIR = lock_dir
windows = []

def take():
    for _ in range(int(tokens)):
        seen = []
        take_rate_token("shared-budget", int(limit), 1, max_wait=5, clock=lambda: seen.append(time.time()) or seen[-1])
        windows.append(int(seen[-1]))  # the window of the count that succeeded

workers = [threading.Thread(target=take) for _ in range(int(threads))]
[t.start() for t in workers]
[t.join() for t in workers]
print("\\n".join(map(str, windows)))
"""


@pytest.mark.django_db
def test_the_rate_limit_holds_across_processes_in_every_window(lock_dir):
    """Two processes of two threads each spend one budget of 8 calls a second: never more in any window."""
    if db.vendor == "postgresql":
        pytest.skip("on PostgreSQL the counter is a database row (the tests above)")
    procs = [python(TAKER, lock_dir, 8, 6, 2, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    counted = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        counted += [int(line) for line in out.split()]
    assert len(counted) == 24
    per_window = {window: counted.count(window) for window in set(counted)}
    assert max(per_window.values()) <= 8, per_window


@pytest.mark.django_db
def test_a_rate_token_costs_no_database_write_on_sqlite(lock_dir, django_assert_num_queries):
    """The embedded default's one write lock is not taken per remote call: the counter is a file."""
    from connectors.errors import Deferred
    from connectors.limits import take_rate_token

    if db.vendor == "postgresql":
        pytest.skip("on PostgreSQL the counter is a database row")
    with django_assert_num_queries(0):
        for _ in range(3):
            take_rate_token("quiet", 3, 60, max_wait=0, clock=lambda: 600.0)
        with pytest.raises(Deferred, match="3 calls per 60 s used up"):
            take_rate_token("quiet", 3, 60, max_wait=0, clock=lambda: 659.0)
        for _ in range(3):
            take_rate_token("quiet", 3, 60, max_wait=0, clock=lambda: 660.0)  # the next window
        with pytest.raises(Deferred):
            # A caller whose clock lags counts in the newer window the file holds, never in a fresh old one.
            take_rate_token("quiet", 3, 60, max_wait=0, clock=lambda: 630.0)


@pytest.mark.django_db
def test_a_thread_waiting_for_a_slot_another_thread_holds_is_woken_without_polling():
    """Threads of one process queue on the process's own slots: the one waiting is woken when the holder lets go,
    and never polls the slots across processes (its `sleep` is never called)."""
    slept = []
    with held_by_another_thread(lambda: concurrency_slot("one-at-a-time", 1)) as leave:
        # The holder lets go a moment later, while this thread waits or before it asks: in neither case does it poll.
        threading.Timer(0.2, leave.set).start()
        with concurrency_slot("one-at-a-time", 1, sleep=slept.append):
            pass
    assert slept == []
