"""The one HTTP client every connector uses.

It owns timeouts, retries (exponential backoff with jitter for connection errors, 5xx and rate
limits), Retry-After (honoured up to a cap; a longer wait defers the work), re-authentication once
on an auth error, the per-connection concurrency and rate limits, secret redaction, and a count of
calls. Each system supplies how to authenticate and how to read its errors (`classify`).

It opens sockets only to public addresses outside the sandbox (connectors/addresses.py says where
credentials may go), checked on the address each socket is actually opened to, and follows no redirect
to another origin.
"""

import logging
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone
from requests.adapters import HTTPAdapter
from tenacity import Retrying, retry_if_exception, stop_after_attempt
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from connectors.addresses import KEPT_TO_PUBLIC, address_problem, url_problem
from connectors.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    DataError,
    Deferred,
    Locked,
    NotFound,
    RateLimited,
    TransientError,
)
from connectors.limits import concurrency_slot, take_rate_token
from portal.redaction import redact

logger = logging.getLogger("connectors.http")

IDEMPOTENT_METHODS = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
BODY_EXCERPT = 500


class GuardedConnectionMixin:
    """Opens the socket only to public addresses outside the sandbox.

    The name is resolved here, every address it resolves to is checked, and the socket is opened to those
    very addresses, so a DNS answer that changes between the check and the connection (rebinding) cannot
    slip a private address through. TLS still verifies the certificate against the name. Through a forward
    proxy (HTTPS_PROXY), requests opens its own pools to the proxy the deployment chose, and the proxy resolves
    the name: only the URL rules apply there."""

    def _new_conn(self):
        if settings.SANDBOX_ENABLED:
            return super()._new_conn()
        host = self._dns_host.strip("[]")
        try:
            found = socket.getaddrinfo(host, self.port, urllib3_connection.allowed_gai_family(),
                                       socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        for *_, sockaddr in found:
            kind = address_problem(sockaddr[0])
            if kind:
                raise ConfigurationError(f"{self.host} resolves to {sockaddr[0]}, {kind}: {KEPT_TO_PUBLIC}, so "
                                         f"nothing was sent. Check the connection's URL and the DNS record of "
                                         f"{self.host}.")
        error = None
        for address in dict.fromkeys(sockaddr[0] for *_, sockaddr in found):
            try:
                # An address, not a name: nothing is looked up again between the check and the connection.
                return urllib3_connection.create_connection((address, self.port), self.timeout,
                                                            source_address=self.source_address,
                                                            socket_options=self.socket_options)
            except OSError as exc:
                error = exc
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class GuardedHTTPConnection(GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """The requests adapter every HttpClient session uses: its pools open guarded connections only."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool,
                                                   "https": GuardedHTTPSConnectionPool}


class SameOriginSession(requests.Session):
    """Follows a redirect only within the address it was sent to. requests drops Authorization when a redirect
    changes host, but keeps every other header: BILL's sessionId and devKey, AvidXchange's tokens. A redirect to
    another origin is refused before anything is sent there."""

    def get_redirect_target(self, response):
        target = super().get_redirect_target(response)
        if target is None:
            return None
        sent_to, going_to = urlsplit(response.url), urlsplit(requests.compat.urljoin(response.url, target))
        if (going_to.scheme, going_to.netloc) != (sent_to.scheme, sent_to.netloc):
            raise ConfigurationError(f"{sent_to.netloc} answered with a redirect to {going_to.netloc or target}; "
                                     "the request and its credentials are not sent to another address.")
        return target


class ReauthRequired(AuthError):
    """The token or session was refused: authenticate again and repeat the call once."""


class Unsafe(TransientError):
    """A failure after which repeating the call could duplicate what it did."""


def retry_after_seconds(response):
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def excerpt(response):
    return redact(response.text[:BODY_EXCERPT])


def default_classify(response, system="", detail=None, code=None):
    """The generic reading of HTTP statuses. Each system reads its own error codes first, then hands
    the rest here with its name and its own rendering of the error (`detail`)."""
    status = response.status_code
    if status < 400:
        return
    prefix = f"{system} HTTP {status}" if system else f"HTTP {status}"
    text = f"{prefix}: {detail if detail is not None else excerpt(response)}"
    if status == 401:
        raise ReauthRequired(text, status=status, code=code)
    if status == 403:
        raise ConfigurationError(f"{text} (not permitted)", status=status, code=code)
    if status == 404:
        raise NotFound(text, status=status, code=code)
    if status in (409, 412):
        raise Conflict(text, status=status, code=code)
    if status == 423:
        raise Locked(text, status=status, code=code)
    retry_after = retry_after_seconds(response)
    # A 503 that says when to come back (maintenance, a deployment) was not acted on: wait like a 429.
    if status == 429 or (status == 503 and retry_after is not None):
        raise RateLimited(text, status=status, code=code, retry_after=retry_after)
    if status >= 500:
        raise TransientError(text, status=status, code=code)
    raise DataError(text, status=status, code=code)


def threads_allowed():
    """Whether work may go to other threads: each has a database connection of its own, which could neither see nor
    wait out the caller's uncommitted rows (inside its transaction), nor share an in-memory SQLite database (the test
    suite's), which refuses a second writer at once instead of waiting for it."""
    in_memory = db_connection.vendor == "sqlite" and db_connection.is_in_memory_db()
    return not (db_connection.in_atomic_block or in_memory)


def begin(work):
    """`work()` begun on a thread of its own: a future of what it returns (or raises), or None where threads are not
    allowed (threads_allowed), the caller then doing the work itself when it needs it."""
    if not threads_allowed():
        return None

    def in_thread():
        try:
            return work()
        finally:
            db_connection.close()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="begun")
    try:
        return pool.submit(in_thread)
    finally:
        pool.shutdown(wait=False)  # its one thread ends with the work


def fan_out(work, chunks, workers, keep=()):
    """`work(chunk)` for every chunk, up to `workers` at a time; results in the order of the chunks. A chunk whose
    work raised one of the exception classes `keep` has that error for its result, so the calls that went through
    keep theirs (a bulk create's objects are made whatever befell the other calls); any other error is raised.

    The limiter still caps the calls in flight across processes; this only lets one process reach
    that cap. Where threads are not allowed (threads_allowed) it runs one chunk after another."""
    chunks = list(chunks)

    def attempt(chunk):
        try:
            return work(chunk)
        except keep as exc:  # keep=(): nothing is caught
            return exc

    if workers <= 1 or len(chunks) <= 1 or not threads_allowed():
        return [attempt(chunk) for chunk in chunks]

    def in_thread(chunk):
        try:
            return attempt(chunk)
        finally:
            db_connection.close()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fan-out") as pool:
        return list(pool.map(in_thread, chunks))


class HttpClient:
    def __init__(self, name, *, base_url="", auth=None, classify=default_classify, concurrency=None, rate=None,
                 rate_key=None, connect_timeout=5.0, read_timeout=30.0, max_attempts=None, sleep=time.sleep):
        """`name` keys the limits (whatever the remote system counts them by); `concurrency` is a slot
        count; `rate` is (calls, period_seconds), counted under `rate_key` when the system counts calls by
        something else than the concurrency (BILL: per developer key, not per organization); `auth` has
        headers() -> (dict, token) and invalidate(token)."""
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.classify = classify
        self.concurrency = concurrency
        self.rate = rate
        self.rate_key = rate_key or f"rate:{name}"
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max_attempts or settings.CONNECTOR_MAX_ATTEMPTS
        self.backoff_base = settings.CONNECTOR_BACKOFF_BASE
        self.backoff_max = settings.CONNECTOR_BACKOFF_MAX
        self.max_retry_after = settings.CONNECTOR_MAX_RETRY_AFTER
        self.sleep = sleep
        self.calls = 0
        self.retries = 0
        # fan_out() calls from several threads: a requests.Session each, and a counted total.
        self._local = threading.local()
        self._count_lock = threading.Lock()

    def url(self, path):
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method, path, *, idempotent=None, authenticate=True, **kwargs):
        """Send a request with retries; return the successful requests.Response or raise a ConnectorError."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.url(path)
        problem = url_problem(url)
        if problem:
            raise ConfigurationError(f"{self.name}: {problem}")

        def should_retry(exc):
            if isinstance(exc, Unsafe) or not isinstance(exc, TransientError):
                return False
            return True

        retrying = Retrying(stop=stop_after_attempt(self.max_attempts), wait=self._wait,
                            retry=retry_if_exception(should_retry), sleep=self._sleep_before_retry, reraise=True)
        for attempt in retrying:
            with attempt:
                return self._send_authenticated(method, url, idempotent, authenticate, kwargs)

    def json(self, method, path, **kwargs):
        """request(), then the body parsed as JSON (a malformed body is a clear TransientError)."""
        response = self.request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(f"{self.name}: {method} {path} answered HTTP {response.status_code} with a body "
                                 f"that is not JSON: {excerpt(response)!r}") from None

    # --- internals ----------------------------------------------------------------------------------
    def _wait(self, retry_state):
        exc = retry_state.outcome.exception()
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return retry_after
        n = retry_state.attempt_number
        return min(self.backoff_max, self.backoff_base * 2 ** (n - 1)) + random.random() * self.backoff_base

    def _sleep_before_retry(self, seconds):
        with self._count_lock:
            self.retries += 1
        self.sleep(seconds)

    def _send_authenticated(self, method, url, idempotent, authenticate, kwargs):
        reauthenticated = False
        while True:
            headers = dict(kwargs.get("headers") or {})
            token = None
            if authenticate and self.auth is not None:
                auth_headers, token = self.auth.headers()
                headers.update(auth_headers)
            try:
                return self._send(method, url, idempotent, {**kwargs, "headers": headers})
            except ReauthRequired as exc:
                if not authenticate or self.auth is None:
                    raise AuthError(str(exc), status=exc.status, code=exc.code) from None
                if reauthenticated:
                    # Good credentials gave a session that was refused at once: odd, not fatal. Back off
                    # and try the call again; bad credentials fail at login with an AuthError instead.
                    raise TransientError(f"{self.name}: a fresh session was refused too: {exc}",
                                         status=exc.status, code=exc.code) from None
                self.auth.invalidate(token)
                reauthenticated = True

    def _send(self, method, url, idempotent, kwargs):
        if self.rate:
            take_rate_token(self.rate_key, *self.rate, max_wait=self.max_retry_after, sleep=self.sleep)
        if self.concurrency:
            with concurrency_slot(f"slots:{self.name}", self.concurrency, sleep=self.sleep):
                response = self._transmit(method, url, idempotent, kwargs)
        else:
            response = self._transmit(method, url, idempotent, kwargs)
        logger.debug("%s %s -> %s", method, url, response.status_code)
        try:
            self.classify(response)
        except RateLimited as exc:
            if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                until = timezone.now() + timedelta(seconds=exc.retry_after)
                raise Deferred(f"{self.name}: rate limited, asked to wait {exc.retry_after:.0f} s; resuming at "
                               f"{until:%H:%M:%S}.", until=until, status=exc.status, code=exc.code) from None
            raise
        except TransientError as exc:
            if not idempotent and not isinstance(exc, RateLimited) and (exc.status or 0) >= 500:
                # The server may have acted before failing: repeating could duplicate the object.
                raise Unsafe(str(exc), status=exc.status, code=exc.code) from None
            raise
        return response

    @property
    def session(self):
        if not hasattr(self._local, "session"):
            session = SameOriginSession()
            adapter = GuardedAdapter()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._local.session = session
        return self._local.session

    def _transmit(self, method, url, idempotent, kwargs):
        with self._count_lock:
            self.calls += 1
        try:
            return self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectTimeout:
            raise TransientError(f"{self.name}: could not connect to {redact(url)} (timed out)") from None
        except requests.ReadTimeout:
            message = f"{self.name}: {method} {redact(url)} got no answer within {self.timeout[1]:g} s"
            raise (TransientError(message) if idempotent else Unsafe(message)) from None
        except requests.exceptions.SSLError:
            # Before anything was sent: a wrong address, an expired certificate, or a proxy presenting its own.
            raise TransientError(f"{self.name}: the certificate of {urlsplit(url).hostname} could not be verified, so "
                                 "nothing was sent there") from None
        except requests.ConnectionError as exc:
            # Refused or reset before any answer: the request may still have arrived if it was reset.
            reason = type(exc).__name__
            message = f"{self.name}: connection to {redact(url)} failed ({reason})"
            raise (TransientError(message) if idempotent or "refused" in str(exc).lower() else Unsafe(message)) \
                from None
        except requests.RequestException as exc:
            raise ConfigurationError(f"{self.name}: cannot send {method} {redact(url)}: {type(exc).__name__}") \
                from None
