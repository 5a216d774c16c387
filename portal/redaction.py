"""Keeping secrets out of logs, exception messages and audit entries.

Two nets: values of keys whose names say "secret" are masked wherever they appear in text
(JSON, form bodies, query strings, headers), and exact secret values registered at run time
(the credentials a connector is using) are masked wherever they appear at all.
"""

import logging
import re
import threading

MASK = "********"

# Key names (case-insensitive) whose values are secrets, across the six systems.
SECRET_KEY_NAMES = (
    "password", "passwd", "secret", "client_secret", "cs", "sask", "saak", "devkey", "dev_key",
    "sessionid", "session_id", "access_token", "refresh_token", "token", "securitykey",
    "security_key", "authorization", "operatorpassword", "companypassword", "api_key", "apikey",
    "userid", "companytoken", "usertoken",
)

_names = "|".join(sorted((re.escape(n) for n in SECRET_KEY_NAMES), key=len, reverse=True))
_PATTERNS = [
    # "key": "value"  /  'key': 'value'
    re.compile(r'(?i)(["\'](?:%s)["\']\s*:\s*["\'])([^"\']*)(["\'])' % _names),  # noqa: UP031
    # key=value in form bodies and query strings
    re.compile(r"(?i)(\b(?:%s)=)([^&\s\"']+)()" % _names),  # noqa: UP031
    # HTTP headers: "Authorization: Bearer xyz", "sessionId: abc"
    re.compile(r"(?i)(\b(?:%s):\s*(?:Bearer\s+|Basic\s+)?)([^\s,;\"']+)()" % _names),  # noqa: UP031
]

_SECRET_NAMES = frozenset(n.lower() for n in SECRET_KEY_NAMES)

_known = set()
_known_lock = threading.Lock()
# The live secrets longest first, so that one containing another is masked whole; replaced, never changed, so that
# redact() reads it without the lock (it runs for every value of every audit entry).
_known_longest_first = ()


def register_secret(value):
    """Remember a live secret so that it is masked wherever it shows up in text."""
    global _known_longest_first
    if isinstance(value, str) and len(value) >= 6:
        with _known_lock:
            if value not in _known:
                _known.add(value)
                _known_longest_first = tuple(sorted(_known, key=len, reverse=True))


def redact(text):
    if not isinstance(text, str) or not text:
        return text
    if ":" in text or "=" in text:  # every pattern needs one: most values (names, amounts, codes) have neither
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    for value in _known_longest_first:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_mapping(data, secret_fields=()):
    """A copy of a dict with secret values masked: named ones, and any key that looks secret."""
    lowered = _SECRET_NAMES | {f.lower() for f in secret_fields} if secret_fields else _SECRET_NAMES
    out = {}
    for key, value in (data or {}).items():
        if key.lower() in lowered:
            out[key] = MASK if value not in (None, "") else value
        elif isinstance(value, dict):
            out[key] = redact_mapping(value, secret_fields)
        elif isinstance(value, str):
            out[key] = redact(value)
        else:
            out[key] = value
    return out


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the whole formatted record. A filter sees the record before the formatter renders the
    traceback (exc_text is still empty then), so a secret quoted in an exception's text would pass a filter;
    the formatter's output is the last text before the log, so that is where the mask goes."""

    def format(self, record):
        return redact(super().format(record))
