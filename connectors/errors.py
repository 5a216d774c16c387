"""Errors every connector raises, each with the class the sync engine files it under and its cause.

A failure is a typed error with a cause code (connectors.causes; each class has its default, a raise that knows
better names its own) and a subject, what a fix is made on (the ERP's supplier id, a code); its message is for a
person to act on, and never carries a secret (it passes through redact()).
"""

from django.db import models

from connectors.causes import registered
from portal.redaction import redact


class DeferralKind(models.TextChoices):
    """Why a run stopped to resume later, as a run keeps it (syncs.models.SyncRun.deferral): stable values, and the
    words a person reads after "Deferred"."""

    RATE_LIMIT = "rate_limit", "rate limit"
    OUTAGE = "outage", "a remote system is down"
    LOCK_WAIT = "lock_wait", "waiting for a lock held by another run"
    TAKEN_OVER = "taken_over", "another run took over"


class ConnectorError(Exception):
    error_class = "transient"
    cause = "no_answer"

    def __init__(self, message, *, status=None, code=None, cause=None, subject=""):
        super().__init__(redact(message))
        self.status = status
        self.code = code  # the remote system's own error code, if it gave one
        self.cause = registered(cause or type(self).cause)
        self.subject = subject


class AuthError(ConnectorError):
    """The remote system refused the credentials."""

    error_class = "auth"
    cause = "sign_in_refused"


class ConfigurationError(ConnectorError):
    """Something about the connection's setup is wrong (URL, permissions, untrusted session)."""

    error_class = "configuration"
    cause = "integration_setting"


class TransientError(ConnectorError):
    """Worth trying again later: 5xx, timeouts, connection errors, malformed responses."""

    error_class = "transient"


class RateLimited(TransientError):
    error_class = "rate_limit"
    cause = "rate_limited"

    def __init__(self, message, *, retry_after=None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Deferred(ConnectorError):
    """The run cannot go on for now: stop and resume at `until` (a datetime; None keeps the next run as scheduled).
    `kind` (a DeferralKind) says why: a remote system's rate limit unless the raise says otherwise."""

    error_class = "rate_limit"
    cause = "rate_limited"

    def __init__(self, message, *, until, kind=DeferralKind.RATE_LIMIT, **kwargs):
        super().__init__(message, **kwargs)
        self.until = until
        self.kind = DeferralKind(kind)


class RecordError(ConnectorError):
    """The remote system refused something about one record. The engine fails that record alone, with
    this reason, and goes on with the next."""

    error_class = "data"
    cause = "refused"
    # Whether the message already says who refused what, in words of its own (the ERP's supplier first, say): the
    # engine then keeps it as it is instead of leading it with "<system> refused it: ".
    in_full = False


class DataError(RecordError):
    """The record itself was refused (validation); retrying it unchanged will not help."""

    error_class = "data"

    def __init__(self, message, *, field=None, **kwargs):
        super().__init__(message, **kwargs)
        self.field = field


class NotFound(RecordError):
    """The object a record points at is not there (a vendor deleted in the AP platform, an invoice gone)."""

    error_class = "not_found"
    cause = "not_found"


class Conflict(RecordError):
    """The object changed underneath us (HTTP 409, or 412 on an If-Match): re-read, then try again."""

    error_class = "conflict"
    cause = "conflict"


class Locked(RecordError):
    """The object is locked by someone else for now (HTTP 423): try again on a later run."""

    error_class = "locked"
    cause = "locked"
