"""Checking a connection: one real authenticated call, its outcome stored on the connection."""

from django.utils import timezone

from connectors.errors import AuthError, ConnectorError
from connectors.models import Connection
from portal import audit
from portal.fields import CredentialsUnreadable


def check_connection(connection, actor=None):
    """Run the connector's check(); record health, time and error. Returns (ok, message)."""
    try:
        message = connection.connector().check()
        ok, health, error = True, Connection.HEALTH_OK, ""
    except CredentialsUnreadable as exc:
        ok, health, message = False, Connection.HEALTH_UNREADABLE, str(exc)
        error = message
    except AuthError as exc:
        ok, health, message = False, Connection.HEALTH_AUTH_FAILED, str(exc)
        error = message
    except NotImplementedError as exc:
        ok, health, message = False, Connection.HEALTH_UNKNOWN, str(exc)
        error = message
    except ConnectorError as exc:
        ok, health, message = False, Connection.HEALTH_FAILING, str(exc)
        error = message
    Connection.objects.filter(pk=connection.pk).update(health=health, last_checked_at=timezone.now(),
                                                       last_error=error)
    audit.record("connection.checked", actor=actor, tenant=connection.tenant, obj=connection,
                 message=message, details={"ok": ok, "health": health})
    return ok, message
