"""Checking a connection: one real authenticated call, its outcome stored on the connection."""

from django.utils import timezone

from connectors.errors import AuthError, ConnectorError
from connectors.models import Connection
from portal import audit
from portal.fields import CredentialsUnreadable

# The first matching class decides what a failed check says about the connection.
HEALTH_BY_ERROR = [
    (CredentialsUnreadable, Connection.HEALTH_UNREADABLE),
    (AuthError, Connection.HEALTH_AUTH_FAILED),
    (NotImplementedError, Connection.HEALTH_UNKNOWN),
    (ConnectorError, Connection.HEALTH_FAILING),
]


def check_connection(connection, actor=None):
    """Run the connector's check(); record health, time and error. Returns (ok, message)."""
    try:
        message = connection.connector().check()
        ok, health, error = True, Connection.HEALTH_OK, ""
    except tuple(cls for cls, _ in HEALTH_BY_ERROR) as exc:
        health = next(h for cls, h in HEALTH_BY_ERROR if isinstance(exc, cls))
        ok, message = False, str(exc)
        error = message
    Connection.objects.filter(pk=connection.pk).update(health=health, last_checked_at=timezone.now(),
                                                       last_error=error)
    audit.record("connection.checked", actor=actor, tenant=connection.tenant, obj=connection,
                 message=message, details={"ok": ok, "health": health})
    return ok, message
