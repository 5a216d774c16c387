"""A sign-in holds no database transaction while it waits on the remote system, and workers that need a token at
the same moment sign in once between them (connectors/tokens.py)."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from connectors import tokens
from connectors.models import Connection, ConnectionToken
from connectors.tokens import Token, TokenStore


@pytest.fixture
def expired(tenant):
    """A connection whose shared token has expired, so the next call signs in."""
    connection = Connection.objects.create(tenant=tenant, system="bill", name="BILL", base_url="https://x.test")
    ConnectionToken.objects.create(connection=connection, value=json.dumps({"value": "old-session", "extra": {}}),
                                   expires_at=timezone.now() - timedelta(minutes=5))
    return connection


def in_another_thread(work):
    """Run `work` on a database connection of its own; its exception, or None."""
    outcome = []

    def run():
        try:
            work()
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)
        finally:
            db.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    return outcome[0]


@pytest.mark.django_db(transaction=True)
def test_a_sign_in_holds_no_database_lock_while_it_waits(expired):
    """Before, the sign-in ran inside a transaction holding the token row (and, on SQLite, the database's one write
    lock): another tenant's sync and BILL's webhooks failed with "database is locked" while it waited."""
    seen = {}

    def login():
        seen["in a transaction"] = db.in_atomic_block

        def write_meanwhile():
            with transaction.atomic():
                list(ConnectionToken.objects.select_for_update(nowait=True).filter(connection=expired))
                ConnectionToken.objects.filter(connection=expired).update(refreshed_at=timezone.now())

        seen["other writer"] = in_another_thread(write_meanwhile)
        return Token("new-session", timezone.now() + timedelta(minutes=30))

    token = TokenStore(expired).obtain(login)
    assert token.value == "new-session"
    assert seen == {"in a transaction": False, "other writer": None}
    assert TokenStore(expired).current().value == "new-session"


@pytest.mark.django_db(transaction=True)
def test_two_workers_that_need_a_token_at_once_sign_in_once(expired, monkeypatch):
    """Two threads of one process: the second queues on the process's own lock, is woken when the first has signed
    in, and takes its token from memory, never polling the lock across processes (which a worker of another process
    does, as test_limits shows)."""
    signing_in, second_waits = threading.Event(), threading.Event()
    real_exclusive, real_current = tokens.exclusive, TokenStore.current
    across = []

    def exclusive(key, **kwargs):
        across.append(threading.current_thread().name)
        return real_exclusive(key, **kwargs)

    def current(self, *args, **kwargs):
        found = real_current(self, *args, **kwargs)
        if threading.current_thread().name == "second" and found is None:
            second_waits.set()  # found no token: on its way to the lock, before the first's sign-in ends
        return found

    monkeypatch.setattr(tokens, "exclusive", exclusive)
    monkeypatch.setattr(TokenStore, "current", current)
    logins = []

    def login():
        signing_in.set()
        # The second worker is on its way to the lock (or waiting on it) before this sign-in ends.
        assert second_waits.wait(timeout=30)
        logins.append(threading.current_thread().name)
        return Token(f"session-{len(logins)}", timezone.now() + timedelta(minutes=30))

    got, errors = {}, []

    def worker():
        try:
            got[threading.current_thread().name] = TokenStore(expired).obtain(login).value
        except Exception as exc:
            errors.append(exc)
        finally:
            db.close()

    first = threading.Thread(target=worker, name="first")
    first.start()
    assert signing_in.wait(timeout=30)
    second = threading.Thread(target=worker, name="second")
    second.start()
    first.join(timeout=60)
    second.join(timeout=60)
    assert not errors
    assert logins == ["first"]
    assert got == {"first": "session-1", "second": "session-1"}
    assert across == ["first"], "the second thread took the token from memory"


@pytest.mark.django_db
def test_a_refused_token_is_refreshed_rather_than_signed_in_again(expired):
    """A token refused before it expired (a session ended at the remote end) keeps its refresh token: the next
    worker refreshes, and spends none of the sign-ins the system allows (Infor: 20 a minute per tenant)."""
    store = TokenStore(expired)
    signed_in, refreshed = [], []

    def login():
        signed_in.append(True)
        return Token(f"session-{len(signed_in)}", timezone.now() + timedelta(minutes=30), {"refresh_token": "r1"})

    def refresh(old):
        refreshed.append(old.extra["refresh_token"])
        return Token("refreshed", timezone.now() + timedelta(minutes=30), {"refresh_token": "r2"})

    first = store.obtain(login, refresh=refresh)
    assert first.value == "session-1" and len(signed_in) == 1
    assert store.invalidate("session-1", keep_refresh=True) is False  # as TokenSession does after a 401
    assert store.current() is None
    assert store.obtain(login, refresh=refresh).value == "refreshed"
    assert refreshed == ["r1"] and len(signed_in) == 1
