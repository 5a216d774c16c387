"""The embedded default under write contention: a busy SQLite database is a wait, never "database is locked"
(settings.DATABASES and portal/sqlite/base.py). Each test opens its own file database under tmp_path with the
configured backend and options, its busy timeout cut short so that a round of waiting ends while the lock is held."""

import logging
import threading

import pytest
from django.db import connections
from django.db.utils import load_backend

pytestmark = pytest.mark.skipif(connections["default"].vendor != "sqlite",
                                reason="the embedded default's own busy handling; PostgreSQL waits on its row locks")


def open_database(path, timeout=0.05):
    settings_dict = {**connections["default"].settings_dict, "NAME": str(path)}
    settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], "timeout": timeout}
    return load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias=f"busy-{path.stem}")


class Waits(logging.Handler):
    """Which threads have been told the database is busy (the backend says so each time it waits on)."""

    def __init__(self):
        super().__init__()
        self.threads = set()
        self.changed = threading.Condition()

    def emit(self, record):
        with self.changed:
            self.threads.add(record.threadName)
            self.changed.notify_all()


@pytest.fixture(autouse=True)
def own_databases(django_db_blocker):
    """These tests open file databases of their own, never the test database."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def waits():
    handler = Waits()
    logger = logging.getLogger("portal.sqlite")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_writers_wait_for_a_write_transaction_instead_of_failing(tmp_path, waits):
    path = tmp_path / "busy.sqlite3"
    setup = open_database(path)
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE beat (id INTEGER PRIMARY KEY, who TEXT)")
    setup.close()

    holder = open_database(path)
    holder_cursor = holder.cursor()
    holder_cursor.execute("BEGIN IMMEDIATE")
    holder_cursor.execute("INSERT INTO beat (who) VALUES ('holder')")

    errors, finished = {}, set()

    def write(name):
        database = open_database(path)
        try:
            with database.cursor() as cursor:  # a statement on its own, like the heartbeat's UPDATE
                cursor.execute("INSERT INTO beat (who) VALUES (%s)", [name])
            database.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)  # as atomic() does
            with database.cursor() as cursor:
                cursor.execute("INSERT INTO beat (who) VALUES (%s)", [name])
            database.commit()
            database.set_autocommit(True)
        except Exception as exc:
            errors[name] = exc
        finally:
            database.close()
            with waits.changed:
                finished.add(name)
                waits.changed.notify_all()

    writers = [threading.Thread(target=write, args=(name,), name=name) for name in ("heartbeat", "ledger")]
    for thread in writers:
        thread.start()
    with waits.changed:
        # Held until both writers have met the lock (or given up, as they did before WAL and the waiting backend).
        assert waits.changed.wait_for(lambda: waits.threads | finished >= {"heartbeat", "ledger"}, timeout=60)
    holder_cursor.execute("COMMIT")
    holder.close()
    for thread in writers:
        thread.join(timeout=60)

    assert not errors, f"a writer failed instead of waiting: {errors}"
    check = open_database(path)
    with check.cursor() as cursor:
        cursor.execute("SELECT who, COUNT(*) FROM beat GROUP BY who ORDER BY who")
        assert cursor.fetchall() == [("heartbeat", 2), ("holder", 1), ("ledger", 2)]
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone() == ("wal",)
    check.close()


def test_a_statement_inside_a_transaction_is_not_tried_again(tmp_path):
    """Only a statement that ran on its own changed nothing when it met a busy database; inside a transaction,
    what ran before it would not run again, so the error goes up to whoever runs the transaction."""
    from django.db import OperationalError

    path = tmp_path / "deferred.sqlite3"
    holder = open_database(path)
    with holder.cursor() as cursor:
        cursor.execute("CREATE TABLE beat (id INTEGER PRIMARY KEY, who TEXT)")
    held = holder.cursor()
    held.execute("BEGIN IMMEDIATE")
    held.execute("INSERT INTO beat (who) VALUES ('holder')")

    other = open_database(path, timeout=0)
    with other.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")  # takes no lock yet
        cursor.execute("SELECT COUNT(*) FROM beat")
        with pytest.raises(OperationalError, match="locked"):
            cursor.execute("INSERT INTO beat (who) VALUES ('other')")
        cursor.execute("ROLLBACK")
    other.close()
    held.execute("COMMIT")
    holder.close()
