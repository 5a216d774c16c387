"""The per-connection token cache: one token shared by every worker, refreshed by one at a time.

The token row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions
serialise writers) while a worker logs in, so the others wait and then reuse what it obtained.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from connectors.models import ConnectionToken
from portal.fields import Undecryptable
from portal.redaction import register_secret


@dataclass
class Token:
    value: str
    expires_at: datetime | None = None
    extra: dict | None = None

    def fresh(self, now, leeway):
        return self.expires_at is None or self.expires_at - leeway > now


def refresh_leeway(lifetime_seconds):
    """Refresh ahead of expiry: a tenth of the lifetime, at least a minute, at most ten."""
    return timedelta(seconds=min(600, max(60, lifetime_seconds / 10)))


class TokenStore:
    def __init__(self, connection, *, now=timezone.now):
        self.connection = connection
        self.now = now

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
        """The cached token if it is still fresh, without taking any lock."""
        row = ConnectionToken.objects.filter(connection=self.connection).first()
        token = self._read(row)
        return token if token and token.fresh(self.now(), leeway) else None

    def obtain(self, login, *, leeway=timedelta(0), refresh=None):
        """A fresh token: the cached one, or one from `login()` (or `refresh(old)`), under the row lock."""
        token = self.current(leeway)
        if token:
            return token
        with transaction.atomic():
            row, _ = ConnectionToken.objects.select_for_update().get_or_create(connection=self.connection)
            token = self._read(row)
            if token and token.fresh(self.now(), leeway):
                return token  # another worker refreshed it while we waited for the lock
            new = None
            if refresh and token and (token.extra or {}).get("refresh_token"):
                new = refresh(token)
            if new is None:
                new = login()
            self._store(row, new)
            return new

    def _store(self, row, token):
        register_secret(token.value)
        row.value = json.dumps({"value": token.value, "extra": token.extra or {}})
        row.expires_at = token.expires_at
        row.refreshed_at = self.now()
        row.generation += 1
        row.save()

    def invalidate(self, rejected_value):
        """After an auth error: forget the token only if it is still the one that was rejected.

        Returns True when a different (newer) token is already cached, so the caller just retries."""
        with transaction.atomic():
            row = ConnectionToken.objects.select_for_update().filter(connection=self.connection).first()
            token = self._read(row)
            if token is None:
                return False
            if token.value != rejected_value:
                return True
            row.value = None
            row.expires_at = None
            row.save()
            return False

    def clear(self):
        ConnectionToken.objects.filter(connection=self.connection).update(value=None, expires_at=None)
