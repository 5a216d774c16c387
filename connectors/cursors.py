"""Typed cursors: where each stream of an integration has read up to, compared by type, never as text.

A connector declares each stream's cursor type in `cursor_types` (the default is a timestamp). The
value is stored as text without loss (ISO 8601 with its offset, a decimal integer, or the token as
given) and parsed back by its type before any comparison.
"""

from datetime import datetime, timedelta


class CursorTypeError(ValueError):
    pass


class Timestamp:
    """A change time with its zone. Re-read from `overlap` before it: clocks and commits are not
    ordered exactly, and the ledger drops what was already synced."""

    name = "timestamp"
    overlap = timedelta(minutes=10)

    @staticmethod
    def parse(text):
        if isinstance(text, datetime):
            value = text
        else:
            try:
                value = datetime.fromisoformat(str(text))
            except ValueError:
                raise CursorTypeError(f"{text!r} is not a timestamp") from None
        if value.tzinfo is None:
            raise CursorTypeError(f"{text!r} has no time zone")
        return value

    @staticmethod
    def render(value):
        return value.isoformat()

    def start(self, value):
        return value - self.overlap

    @staticmethod
    def just_before(value):
        return value - timedelta(microseconds=1)


class RowVersion:
    """A row version that grows on every write (SQL Server rowversion, SYSPRO's TimeStamp). Versions are
    handed out at write time, not commit time, so a slow transaction can commit a lower one after a
    higher one was read: re-read `overlap` versions back (UNCONFIRMED width; 1000 covers a busy
    minute of writes on a mid-size SYSPRO company)."""

    name = "rowversion"
    overlap = 1000

    @staticmethod
    def parse(text):
        try:
            value = int(text, 0) if isinstance(text, str) and text.lower().startswith("0x") else int(text)
        except (TypeError, ValueError):
            raise CursorTypeError(f"{text!r} is not a row version") from None
        if value < 0:
            raise CursorTypeError(f"{text!r} is not a row version")
        return value

    @staticmethod
    def render(value):
        return str(value)

    def start(self, value):
        return max(0, value - self.overlap)

    @staticmethod
    def just_before(value):
        return max(0, value - 1)


class Token:
    """An opaque continuation token (a delta link): only the system knows its order, so the newest one
    handed out is the one kept, and there is no overlap."""

    name = "token"
    overlap = None

    @staticmethod
    def parse(text):
        if not isinstance(text, str) or not text:
            raise CursorTypeError(f"{text!r} is not a continuation token")
        return text

    @staticmethod
    def render(value):
        return value

    @staticmethod
    def start(value):
        return value

    @staticmethod
    def just_before(value):
        return value


TIMESTAMP, ROWVERSION, TOKEN = Timestamp(), RowVersion(), Token()


def newer(kind, current, candidate):
    """The later of two values of one type; a token stream keeps the last one given."""
    if current is None:
        return candidate
    if candidate is None:
        return current
    if kind is TOKEN:
        return candidate
    return max(current, candidate)


def earlier(kind, current, candidate):
    if current is None or kind is TOKEN:
        return candidate if current is None else current
    return min(current, candidate)
