"""The one token-session implementation: one token or session per connection, shared by every worker,
obtained by one at a time, kept in process memory between calls.

One worker at a time signs in per connection, under a lock that holds no database transaction
(limits.exclusive: an advisory lock on PostgreSQL, a file lock on SQLite); the others wait for it, then reuse what
it obtained. Threads of one process queue first on a lock of the process's own, woken the moment the sign-in ends
(the lock across processes is polled), and take the token from memory. The sign-in itself, with its retries and
rate waits, runs outside any transaction: on SQLite a transaction held across it would be the database's one write
lock. The token is then stored in a short one.
Each process also keeps the token it last used in memory, so a call neither reads the database nor
decrypts anything; a refusal (401) drops it and re-reads the shared row before logging in again.
"""

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from connectors.errors import TransientError
from connectors.limits import exclusive
from connectors.models import ConnectionToken
from portal.fields import CredentialsUnreadable, Undecryptable
from portal.redaction import register_secret


@dataclass
class Token:
    value: str
    expires_at: datetime | None = None
    extra: dict | None = None

    def fresh(self, now, leeway):
        return self.expires_at is None or self.expires_at - leeway > now


class Granted(NamedTuple):
    """What an OAuth 2.0 token endpoint granted: the access token, its lifetime in seconds, and what a later
    sign-in may use (the refresh token, when one came)."""

    value: str
    lifetime: int
    extra: dict


def token_from_response(response, system):
    """The grant in a token endpoint's successful answer (RFC 6749 section 5.1), for every system that signs in
    with OAuth. An answer without a usable token is the endpoint's fault, not the credentials': a TransientError,
    named by `system` ("Infor"), that never quotes the answer (it may hold a token)."""
    try:
        body = response.json()
        value, lifetime = body["access_token"], int(body["expires_in"])
    except (ValueError, KeyError, TypeError):
        value, lifetime = None, 0
    if not isinstance(value, str) or not value or lifetime <= 0:
        raise TransientError(f"{system}'s token endpoint answered without a usable access token (a non-empty "
                             "access_token and a positive expires_in).")
    refresh = body.get("refresh_token")
    return Granted(value, lifetime, {"refresh_token": refresh} if refresh else {})


def refresh_leeway(lifetime_seconds):
    """Refresh ahead of expiry: a tenth of the lifetime, at least a minute, at most ten."""
    return timedelta(seconds=min(600, max(60, lifetime_seconds / 10)))


# How long a worker waits for another one's sign-in: longer than a sign-in with all its retries and rate waits.
SIGN_IN_WAIT = 300

# (connection pk, credentials fingerprint) -> Token, for this process only. The fingerprint makes a
# token obtained with old credentials unreachable as soon as a connector is built with new ones, in
# whichever process the credentials were changed.
_memory = {}
_memory_lock = threading.Lock()
# (connection pk, credentials fingerprint) -> a lock the threads of this process wanting a token for it queue on:
# woken as soon as the one signing in is done (the lock across processes is polled), they take its token from memory.
_signing_in = {}


def credentials_fingerprint(connection):
    try:
        credentials = connection.credentials
    except CredentialsUnreadable:
        credentials = None  # nothing can log in with these; the key only has to be stable
    material = json.dumps([connection.base_url, credentials], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


class TokenStore:
    def __init__(self, connection, *, now=timezone.now):
        self.connection = connection
        self.now = now
        self.key = (connection.pk, credentials_fingerprint(connection))

    def _remember(self, token):
        with _memory_lock:
            if token is None:
                _memory.pop(self.key, None)
            else:
                _memory[self.key] = token
        return token

    def _read(self, row):
        if row is None or not row.value or isinstance(row.value, Undecryptable):
            return None
        data = json.loads(row.value)
        token = Token(data["value"], row.expires_at, data.get("extra") or {})
        register_secret(token.value)
        for v in token.extra.values():
            register_secret(v)
        return token

    def current(self, leeway=timedelta(0)):
        """The cached token if it is still fresh, without taking any lock: from memory, else the row."""
        token = _memory.get(self.key)
        if token and token.fresh(self.now(), leeway):
            return token
        row = ConnectionToken.objects.filter(connection=self.connection).first()
        token = self._read(row)
        return self._remember(token) if token and token.fresh(self.now(), leeway) else None

    def obtain(self, login, *, leeway=timedelta(0), refresh=None):
        """A fresh token: the cached one, or one from `login()` (or `refresh(old)`), one worker at a time."""
        token = self.current(leeway)
        if token:
            return token
        with _memory_lock:
            local = _signing_in.setdefault(self.key, threading.Lock())
        if not local.acquire(timeout=SIGN_IN_WAIT):
            raise TransientError(f"Waited {SIGN_IN_WAIT} s for another sign-in to {self.connection.name} in this "
                                 "process; the work resumes at its next turn.")
        try:
            return self.current(leeway) or self._obtain(login, leeway, refresh)
        finally:
            local.release()

    def _obtain(self, login, leeway, refresh):
        with exclusive(f"token:{self.connection.pk}", wait_seconds=SIGN_IN_WAIT):
            row = ConnectionToken.objects.filter(connection=self.connection).first()
            token = self._read(row)
            if token and token.fresh(self.now(), leeway):
                return self._remember(token)  # another worker signed in while we waited for the lock
            new = None
            if refresh and token and (token.extra or {}).get("refresh_token"):
                new = refresh(token)
            if new is None:
                new = login()
            self._store(new)
            return self._remember(new)

    def _store(self, token):
        register_secret(token.value)
        for v in (token.extra or {}).values():
            register_secret(v)
        with transaction.atomic():
            row, _ = ConnectionToken.objects.select_for_update().get_or_create(connection=self.connection)
            row.value = json.dumps({"value": token.value, "extra": token.extra or {}})
            row.expires_at = token.expires_at
            row.refreshed_at = self.now()
            row.generation += 1
            row.save()

    def invalidate(self, rejected_value, *, keep_refresh=False):
        """Forget the token only if it is still the one that was rejected (or signed out). With `keep_refresh`
        (after a refusal), its refresh token, if it came with one, is kept and the token marked expired, so the
        next worker refreshes it instead of signing in again: sign-ins are what the systems limit (Infor: 20 a
        minute per tenant); a refresh token refused too is answered by a sign-in (refresh() returns None).

        Returns True when a different (newer) token is already cached, so the caller just retries."""
        with _memory_lock:
            if getattr(_memory.get(self.key), "value", None) == rejected_value:
                _memory.pop(self.key, None)
        with transaction.atomic():
            row = ConnectionToken.objects.select_for_update().filter(connection=self.connection).first()
            token = self._read(row)
            if token is None:
                return False
            if token.value != rejected_value:
                return True
            if keep_refresh and (token.extra or {}).get("refresh_token"):
                row.expires_at = self.now()
            else:
                row.value = None
                row.expires_at = None
            row.save()
            return False

    def clear(self):
        self._remember(None)
        ConnectionToken.objects.filter(connection=self.connection).update(value=None, expires_at=None)


class TokenSession:
    """The auth hook the HTTP client calls: a token from the store, rendered as the system's headers.

    `login()` and `refresh(old)` return a Token; `render(token)` returns the request headers."""

    def __init__(self, connection, *, login, render, refresh=None, leeway=timedelta(minutes=1)):
        self.store = TokenStore(connection)
        self.login = login
        self.render = render
        self.refresh = refresh
        self.leeway = leeway

    def headers(self):
        token = self.store.obtain(self.login, refresh=self.refresh, leeway=self.leeway)
        return self.render(token), token.value

    def invalidate(self, token_value):
        """The HTTP client's answer to a refusal (401): the next sign-in refreshes where it can."""
        self.store.invalidate(token_value, keep_refresh=True)
