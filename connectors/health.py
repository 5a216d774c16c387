"""Checking a connection: one real authenticated call, its outcome stored on the connection.

A person waits for the answer ("Test connection"), so a check gets a short connect timeout and no retries, and a
system it could not reach is reported with the reason in words (refused, no answer, unknown name).
"""

import logging
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.db.models import F, Q
from django.utils import timezone
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from connectors.errors import AuthError, ConnectorError
from connectors.models import Connection
from connectors.registry import SYSTEMS
from portal import audit
from portal.fields import CredentialsUnreadable

logger = logging.getLogger("connectors.health")
# How often the periodic task checks each connection: often enough that "Not checked" or a stale "OK" never
# stands for long, rarely enough to cost nothing against the systems' rate limits.
CHECK_EVERY = timedelta(minutes=15)
# A system that has not taken the connection within a few seconds will not take it; a check is not retried in place
# (the next one is a click, or the periodic task, away), nor does it wait for a rate window to open.
CHECK_CONNECT_TIMEOUT = 3.0
# Room for a slow sign-in (an ERP's logon can take several seconds) while the person is still looking.
CHECK_READ_TIMEOUT = 10.0
CHECK_ATTEMPTS = 1

# The first matching class decides what a failed check says about the connection. A connector that
# cannot be loaded or cannot check (a system not built yet) says nothing about the remote system, so
# its health stays unknown; the message says why.
HEALTH_BY_ERROR = [
    (CredentialsUnreadable, Connection.HEALTH_UNREADABLE),
    (AuthError, Connection.HEALTH_AUTH_FAILED),
    (NotImplementedError, Connection.HEALTH_UNKNOWN),
    (ImportError, Connection.HEALTH_UNKNOWN),
    (ConnectorError, Connection.HEALTH_FAILING),
    (Exception, Connection.HEALTH_FAILING),
]


# What a check is expected to fail with; anything else is a bug, or stored credentials the connector cannot
# use, and goes to the log with its traceback.
EXPECTED = (CredentialsUnreadable, ConnectorError, NotImplementedError, ImportError)


def chain(exc):
    """The exception and everything behind it: causes, contexts, and what requests and urllib3 wrap."""
    found, waiting = [], [exc]
    while waiting:
        current = waiting.pop()
        if not isinstance(current, BaseException) or any(current is seen for seen in found):
            continue
        found.append(current)
        waiting += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return found


def unreachable_in_words(label, exc):
    """Why a check never got an answer from the system, in words, or None when it did get one (then the error
    says what the system answered). Only the host and port are named: a URL's path or query may carry a secret."""
    found = chain(exc)
    request = next((e.request for e in found if isinstance(e, requests.RequestException) and e.request), None)
    if request is None:
        return None
    parts = urlsplit(request.url)
    where = f"{parts.hostname}:{parts.port or {'https': 443, 'http': 80}.get(parts.scheme, '')}"

    def any_of(*kinds):
        return any(isinstance(e, kinds) for e in found)

    if any_of(requests.ReadTimeout):
        return (f"{where} took the connection but answered nothing within {CHECK_READ_TIMEOUT:g} s: {label} may be "
                "down or overloaded. Try again in a while.")
    if any_of(requests.exceptions.SSLError):
        return (f"Could not talk to {where} securely: its certificate could not be verified, so nothing was sent. "
                f"Check the connection's URL; a proxy in between that shows its own certificate does this too.")
    if any_of(NameResolutionError, socket.gaierror):
        return f"Could not find {parts.hostname}: the name does not resolve. Check the connection's URL."
    if any_of(ConnectionRefusedError) or any("connection refused" in str(e).lower() for e in found):
        return (f"Could not reach {where}: the connection was refused, so nothing is listening at that address and "
                f"port. Check the connection's URL, and that {label} is running there.")
    # urllib3 files every failure to connect under ConnectTimeoutError; only those left here are timeouts.
    if any_of(requests.ConnectTimeout, socket.timeout) or any(
            isinstance(e, ConnectTimeoutError) and not isinstance(e, NewConnectionError) for e in found):
        return (f"Could not reach {where}: nothing answered the connection within {CHECK_CONNECT_TIMEOUT:g} s. "
                f"Check the connection's URL; a firewall in between, or {label} being down, does this too.")
    return None


def in_words(connection, exc):
    """What a failed check tells the person who asked for it."""
    label = connection.get_system_display()
    unreachable = unreachable_in_words(connection.spec.label, exc)
    if unreachable:
        return unreachable
    if isinstance(exc, ImportError):
        return f"The {label} connector could not be loaded ({exc})."
    if isinstance(exc, NotImplementedError) and not isinstance(exc, ConnectorError):
        return str(exc) or f"The {label} connector cannot check a connection yet."
    if isinstance(exc, EXPECTED):
        return str(exc)
    # The exception's own text may quote the credentials: the log has it, the message only its type.
    return f"The check failed with an internal error ({type(exc).__name__}); the server log has the details."


def check_connection(connection, actor=None, audit_unchanged=True):
    """Run the connector's check(); record health, time and error. Returns (ok, message). A failed check
    never raises: the admin shows every outcome as a message. The periodic check (check_due) audits only a
    change of health, so the trail holds when a connection broke and came back, not one entry per check."""
    try:
        with connection.connector() as connector:
            for client in connector.http_clients():
                client.timeout = (CHECK_CONNECT_TIMEOUT, CHECK_READ_TIMEOUT)
                client.max_attempts = CHECK_ATTEMPTS
                client.max_retry_after = 0
            message = connector.check()
        ok, health, error = True, Connection.HEALTH_OK, ""
    except Exception as exc:
        if not isinstance(exc, EXPECTED):
            logger.exception("Checking connection %s (%s) failed unexpectedly", connection.pk, connection.system)
        health = next(h for cls, h in HEALTH_BY_ERROR if isinstance(exc, cls))
        ok, message = False, in_words(connection, exc)
        error = message
    changed = health != connection.health
    connection.health, connection.last_checked_at, connection.last_error = health, timezone.now(), error
    Connection.objects.filter(pk=connection.pk).update(health=health, last_checked_at=connection.last_checked_at,
                                                       last_error=error)
    if not (audit_unchanged or changed):
        return ok, message
    audit.record("connection.checked", actor=actor, tenant=connection.tenant, obj=connection,
                 message=message, details={"ok": ok, "health": health})
    return ok, message


def check_due(every=CHECK_EVERY, limit=200):
    """The periodic check: every connection to a built system not checked for `every`, oldest first.
    Returns {connection id: health}."""
    cutoff = timezone.now() - every
    due = (Connection.objects.filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=cutoff))
           .filter(system__in=[s.id for s in SYSTEMS.values() if s.built])
           .select_related("tenant").order_by(F("last_checked_at").asc(nulls_first=True))[:limit])
    results = {}
    for connection in due:
        check_connection(connection, actor="system:health", audit_unchanged=False)
        results[connection.pk] = connection.health
    return results
