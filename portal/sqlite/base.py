"""The SQLite database backend of the embedded default: Django's, with a busy database waited out.

The web process, the task workers and `manage.py` share one SQLite file, which takes one writer at a time.
Every transaction begins IMMEDIATE (settings.py), so a writer waits for the write lock at BEGIN, before its
block has run, and the journal is WAL, so readers never wait for a writer nor a writer for readers. SQLite's own
busy timeout (OPTIONS "timeout") is one round of waiting; when a round ends with the lock still held, the
statement is tried again rather than failing a run with "database is locked", for up to BUSY_PATIENCE.

Only a statement that runs on its own is tried again: a BEGIN, or a statement outside any transaction. One that
fails busy changed nothing, so trying it again does nothing twice. A statement inside a transaction is never
tried again here (what ran before it in the transaction would not be), nor is executemany() outside one, whose
rows before the busy one may have been written already.
"""

import logging
import sqlite3
import time

from django.db.backends.sqlite3 import base

logger = logging.getLogger("portal.sqlite")

# How long a statement waits, in all, for another process to let go of the write lock. A write transaction here
# lasts milliseconds; minutes of waiting mean a process stuck inside one, and failing then says so.
BUSY_PATIENCE = 600.0


def is_busy(exc):
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF == sqlite3.SQLITE_BUSY


class BusyWaitingCursor(base.SQLiteCursorWrapper):
    def execute(self, query, params=None):
        started = time.monotonic()
        while True:
            on_its_own = not self.connection.in_transaction
            try:
                return super().execute(query, params)
            except sqlite3.OperationalError as exc:
                waited = time.monotonic() - started
                if not (on_its_own and is_busy(exc)) or waited >= BUSY_PATIENCE:
                    raise
                logger.warning("The database is busy: another connection has held its write lock for %.1f s; "
                               "waiting on.", waited)


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name=None):
        return self.connection.cursor(factory=BusyWaitingCursor)
