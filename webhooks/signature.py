"""BILL's webhook signature: x-bill-sha-signature = base64(HMAC-SHA256(securityKey, body))."""

import base64
import hashlib
import hmac
import json

HEADER = "x-bill-sha-signature"


def sign(security_key, body):
    return base64.b64encode(hmac.new(security_key.encode(), body, hashlib.sha256).digest()).decode()


def minified(body):
    """The body re-serialised without whitespace, or None when it is not JSON."""
    try:
        return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    except (UnicodeDecodeError, ValueError):
        return None


def verify(security_key, body, signature):
    """True when the signature matches the raw body, or (UNCONFIRMED which BILL signs) its minified form."""
    if not security_key or not signature:
        return False
    if hmac.compare_digest(sign(security_key, body), signature):
        return True
    compact = minified(body)
    return compact is not None and compact != body and hmac.compare_digest(sign(security_key, compact), signature)
