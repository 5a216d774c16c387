"""A run's outcome is recorded whatever ended it: when the database is away at the end, the final save is tried
again on a fresh connection until it comes back, so the run does not stay 'running' with its counters lost; a run the
database failed says so in words; and a deferred run says which kind of deferral stopped it, on its page too."""

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from connectors.errors import Deferred, TransientError
from connectors.limits import exclusive
from syncs import run as lifecycle
from syncs.engine import run_integration
from syncs.models import RunLease, RunStatus, SyncRun, ap_account
from syncs.steps import base as steps_base
from syncs.steps.invoices import Invoices
from tests.fakes.fake_erp.connector import FakeErpConnector


@contextmanager
def database_away_for_the_final_save(times):
    """The run's final UPDATE of its row fails `times` times, as when the database server went away, then goes
    through: a fault at the database driver, on this thread's connection only."""
    failures = {"left": times, "seen": 0}

    def away(execute, sql, params, many, context):
        if sql.startswith('UPDATE "syncs_syncrun"') and '"finished_at"' in sql and failures["left"]:
            failures["left"] -= 1
            failures["seen"] += 1
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(away):
        yield failures


@contextmanager
def held_elsewhere(key):
    """The lock on `key` held by another thread, with its own database session (advisory locks on PostgreSQL are
    held per session, and a session may take its own again), until the block ends."""
    held, done = threading.Event(), threading.Event()

    def hold():
        try:
            with exclusive(key):
                held.set()
                done.wait()
        finally:
            held.set()  # also when it could not take the lock: the test then fails on what it finds, not by hanging
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.fixture
def pauses(monkeypatch):
    """The pauses between tries of the final save, taken without waiting."""
    taken = []
    monkeypatch.setattr(lifecycle, "sleep", taken.append)
    return taken


def test_the_final_save_is_tried_again_until_the_database_is_back(fake_demo, fakes, pauses):
    with database_away_for_the_final_save(times=3) as failures:
        run = run_integration(fake_demo.pk)
    assert failures["seen"] == 3 and pauses == [1.0, 2.0, 4.0]
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.PARTIAL and stored.finished_at is not None
    assert stored.counters["bills_created"] == len(fakes.ap().bills) > 0, "the counters were kept"
    assert RunLease.objects.get(integration=fake_demo).holder is None, "the lease let go once the outcome was kept"


def test_the_final_save_gives_up_after_a_bounded_wait(fake_demo, pauses, monkeypatch):
    monkeypatch.setattr(lifecycle, "OUTCOME_PATIENCE", timedelta(seconds=20))
    with database_away_for_the_final_save(times=100), pytest.raises(OperationalError):
        run_integration(fake_demo.pk)
    assert sum(pauses) <= 20 and pauses == [1.0, 2.0, 4.0, 8.0]
    assert SyncRun.objects.get().status == RunStatus.RUNNING, "left to the reaper, whose cutoff it will pass"


def test_a_run_the_database_failed_says_so_in_words(fake_demo, pauses, monkeypatch):
    def database_gone(self, sync):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(Invoices, "run", database_gone)
    with database_away_for_the_final_save(times=1):
        run = run_integration(fake_demo.pk)
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.FAILED and pauses == [1.0]
    assert stored.error.startswith("The database was unreachable (could not connect to server: Connection refused)")
    assert "Internal error" not in stored.error
    assert stored.counters["vendors_created"] > 0


def rate_limited(self, since=None, include_held=False):
    raise Deferred("Fake ERP: rate limited, asked to wait 600 s.", until=timezone.now() + timedelta(minutes=10))


def down(self, since=None, include_held=False):
    raise TransientError("Fake ERP: 503 Service Unavailable", status=503)


@pytest.mark.parametrize("cause, kind, words", [
    ("rate_limit", "rate_limit", "Deferred (rate limit)"),
    ("outage", "outage", "Deferred (a remote system is down)"),
    ("lock", "lock_wait", "Deferred (waiting for a lock held by another run)"),
])
def test_each_kind_of_deferral_says_its_own_words(fake_demo, monkeypatch, admin_client, cause, kind, words):
    if cause == "rate_limit":
        monkeypatch.setattr(FakeErpConnector, "approved_invoices", rate_limited)
    elif cause == "outage":
        monkeypatch.setattr(FakeErpConnector, "approved_invoices", down)
    if cause == "lock":
        # Another worker sending bills to the same AP account holds its lock for longer than this run waits.
        monkeypatch.setattr(steps_base, "TARGET_LOCK_WAIT", timedelta(milliseconds=50))
        with fake_demo.target.connector() as ap, held_elsewhere(f"{ap_account(fake_demo.target, ap)}:bills"):
            run = run_integration(fake_demo.pk)
    else:
        run = run_integration(fake_demo.pk)
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == RunStatus.DEFERRED and stored.deferral == kind, stored.error
    assert stored.get_status_display() == words
    page = admin_client.get(f"/admin/syncs/syncrun/{stored.pk}/change/").content.decode()
    assert words in page
    assert words in admin_client.get("/admin/syncs/syncrun/").content.decode()


def test_a_run_that_did_not_defer_has_no_deferral_kind(fake_demo):
    run = run_integration(fake_demo.pk)
    assert run.deferral == "" and run.get_status_display() == "Completed with failed records"
