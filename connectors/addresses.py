"""Where credentials may go: outside the sandbox only to https URLs with a public DNS name, and only over
sockets to public addresses (the HTTP client checks each socket's address with `address_problem`).

Kept apart from the HTTP client so a system's declaration (connectors/spec.py) can check its addresses
without importing the client, its limits and their models."""

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from portal.redaction import MASK

# The simulators listen here while SANDBOX_ENABLED is on (the demo and the tests), over plain HTTP.
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# Names that never resolve on the public internet (RFC 6761, RFC 8375, RFC 7686, ICANN's .internal).
PRIVATE_NAME_SUFFIXES = ("localhost", "local", "internal", "test", "example", "invalid", "home.arpa", "onion")
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
KEPT_TO_PUBLIC = "ml-connector sends credentials only to public https:// addresses"


def url_problem(url):
    """Why credentials may not be sent to `url`, in words; None when they may.

    Outside the sandbox: https, to a public DNS name (no IP address, no private or reserved name). With
    SANDBOX_ENABLED on: any https URL, and plain http to this machine's loopback, where the simulators are.
    A user name or password inside the URL is refused either way: it would be stored and shown in clear."""
    try:
        parsed = urlsplit(url or "")
        host = parsed.hostname
        parsed.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError as exc:
        return f"The URL is not valid ({exc})."
    if parsed.username is not None or parsed.password is not None:
        return (f"{shown_url(url)!r} carries a user name or password: enter credentials in their own fields, "
                "where they are stored encrypted.")
    if settings.SANDBOX_ENABLED:
        if (parsed.scheme == "https" and host) or (parsed.scheme == "http" and host in LOOPBACK_HOSTS):
            return None
        return f"{url!r} is not an https:// URL."
    if parsed.scheme != "https" or not host:
        return f"{url!r} is not an https:// URL."
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"{url!r} names its host by IP address ({host}): give the system's DNS name; {KEPT_TO_PUBLIC}."
    try:
        name = host.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return f"{host} is not a valid DNS name."
    labels = name.split(".")
    # A last label of digits is an IP address in another spelling (127.1, 0x7f.1), which resolvers accept.
    if len(labels) < 2 or not all(DNS_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        return f"{host} is not a public DNS name (like erp.example.com); {KEPT_TO_PUBLIC}."
    if any(name == suffix or name.endswith("." + suffix) for suffix in PRIVATE_NAME_SUFFIXES):
        return f"{host} is a name reserved for private networks and tests, not a public one; {KEPT_TO_PUBLIC}."
    return None


def shown_url(url):
    """A URL as it may be shown or audited: a user name or password inside it masked."""
    try:
        parsed = urlsplit(url or "")
    except ValueError:
        return MASK
    if "@" not in parsed.netloc:
        return url or ""
    return urlunsplit(parsed._replace(netloc=f"{MASK}@{parsed.netloc.rpartition('@')[2]}"))


def address_problem(address):
    """What kind of non-public address `address` (an IP address as text) is, or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, test in (("an unspecified address", ip.is_unspecified), ("a loopback address", ip.is_loopback),
                       ("a link-local address", ip.is_link_local), ("a multicast address", ip.is_multicast),
                       ("a reserved address", ip.is_reserved), ("a private address", ip.is_private),
                       ("not a public address", not ip.is_global)):
        if test:
            return kind
    return None
