"""Errors every connector raises, each with the class the sync engine files it under.

Messages are written for a person to act on, and never carry a secret (they pass through redact()).
"""

from portal.redaction import redact


class ConnectorError(Exception):
    error_class = "transient"

    def __init__(self, message, *, status=None, code=None):
        super().__init__(redact(message))
        self.status = status
        self.code = code


class AuthError(ConnectorError):
    """The remote system refused the credentials."""

    error_class = "auth"


class ConfigurationError(ConnectorError):
    """Something about the connection's setup is wrong (URL, permissions, untrusted session)."""

    error_class = "configuration"


class TransientError(ConnectorError):
    """Worth trying again later: 5xx, timeouts, connection errors, malformed responses."""

    error_class = "transient"


class RateLimited(TransientError):
    error_class = "rate_limit"

    def __init__(self, message, *, retry_after=None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Deferred(ConnectorError):
    """The remote system will not take more work until `until` (a datetime): stop and resume then."""

    error_class = "rate_limit"

    def __init__(self, message, *, until, **kwargs):
        super().__init__(message, **kwargs)
        self.until = until


class RecordError(ConnectorError):
    """The remote system refused something about one record. The engine fails that record alone, with
    this reason, and goes on with the next."""

    error_class = "data"


class DataError(RecordError):
    """The record itself was refused (validation); retrying it unchanged will not help."""

    error_class = "data"

    def __init__(self, message, *, field=None, **kwargs):
        super().__init__(message, **kwargs)
        self.field = field


class NotFound(RecordError):
    """The object a record points at is not there (a vendor deleted in the AP platform, an invoice gone)."""

    error_class = "not_found"


class Conflict(RecordError):
    """The object changed underneath us (HTTP 409, or 412 on an If-Match): re-read, then try again."""

    error_class = "conflict"


class Locked(RecordError):
    """The object is locked by someone else for now (HTTP 423): try again on a later run."""

    error_class = "locked"
