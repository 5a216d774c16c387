"""The one way to write an audit entry."""

import getpass
import json

from portal.models import AuditEntry
from portal.redaction import redact, redact_mapping


def actor_name(user_or_name):
    if user_or_name is None:
        return "system"
    if isinstance(user_or_name, str):
        return user_or_name
    return user_or_name.get_username()


def command_actor():
    """Who ran a command, for the audit trail: the operating-system user (a person at a shell or a cron job)."""
    try:
        return f"command:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid, as in some containers
        return "command:unknown user"


def record(action, **fields):
    """Append an AuditEntry. `details` is redacted: secret-looking keys and live secrets are masked."""
    entry = build(action, **fields)
    entry.save()
    return entry


def record_all(entries):
    """Append entries made by build() in one statement (the engine's batches)."""
    return AuditEntry.objects.bulk_create(entries)


def build(action, *, actor=None, tenant=None, obj=None, object_type="", object_id="", source_ref="",
          target_id="", message="", details=None, secret_fields=()):
    """The entry record() would write, not yet saved."""
    if obj is not None:
        object_type = object_type or obj._meta.label
        object_id = object_id or str(obj.pk)
        object_repr = str(obj)[:200]
    else:
        object_repr = ""
    return AuditEntry(
        action=action,
        actor=actor_name(actor)[:150],
        tenant=tenant,
        object_type=object_type,
        object_id=str(object_id)[:64],
        object_repr=object_repr,
        source_ref=str(source_ref)[:200],
        target_id=str(target_id)[:200],
        message=redact(message),
        # Dates and Decimals in a transformation are kept as their text.
        details=json.loads(json.dumps(redact_mapping(details or {}, secret_fields), default=str)),
    )
