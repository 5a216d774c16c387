"""Acumatica's contract-based REST API: sign-in by OAuth 2.0 or by session cookie, sign-out, entity lists
paged by key, creates, actions that run in the background, and Acumatica's errors read in words.

Facts from Acumatica's Integration Development Guide (help.acumatica.com and its MYOB Advanced copy), the
OpenAPI definition of Default/24.200.001 (contract.py) and Acumatica's official REST client
(github.com/Acumatica/AcumaticaRESTAPIClientForCSharp). Plain values in, plain values out: every value
object is made and read by contract.wrap()/unwrap(), here and nowhere else in the connector.
"""

import logging
import threading
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

from django.utils import timezone

from connectors.acumatica import contract
from connectors.acumatica.system import SIGN_IN_OAUTH
from connectors.assumptions import contradicted, held, probe, unchecked
from connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    DataError,
    Deferred,
    NotFound,
    RateLimited,
    TransientError,
)
from connectors.http import HttpClient, default_classify, excerpt, retry_after_seconds
from connectors.odata import ACUMATICA, ODataPagingError, Query, and_, gt
from connectors.tokens import Token, TokenSession, refresh_leeway, token_from_response
from portal.redaction import register_secret

logger = logging.getLogger("connectors")

# $filter as the contract-based API documents it: DateTimeOffset literals written datetimeoffset'...', no `in`
# operator, and the functions substringof, startswith and endswith only.
DIALECT = ACUMATICA
PAGE_SIZE = 100
# Calls in flight to an instance whose licence sets no concurrent-requests limit (a trial licence's case): ours, so
# that a run's reads go side by side without one integration taking the instance from its people.
IN_FLIGHT_UNLIMITED_LICENCE = 4
# Scopes of the resource-owner grant: the API, and a refresh token (offline_access). api:concurrent_access
# is left out: it is reported to make token requests fail.
OAUTH_SCOPE = "api offline_access"
DEFAULT_LEEWAY = timedelta(minutes=1)
# An action answered 202 is asked again at its Location until it answers 204, this many times at most.
ACTION_POLLS = 120

NOT_FOUND_EXCEPTION = "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException"
ENTITY_ERRORS_EXCEPTION = "PX.Api.ContractBased.OutcomeEntityHasErrorsException"
# Acumatica's refusal of a sign-in while every API user slot of the licence is taken. UNCONFIRMED (docs
# AC8): its status; the official client maps it to 429, so it is read by its text whatever the status.
LOGIN_LIMIT = "api login limit"


def error_body(response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def entity_errors(payload, path=""):
    """The per-field errors of an entity Acumatica echoed back (HTTP 422), as "Field: message" texts."""
    errors = []
    if isinstance(payload, dict):
        if isinstance(payload.get("error"), str) and payload["error"]:
            errors.append(f"{path or 'record'}: {payload['error']}")
        for name, value in payload.items():
            if name in ("error", "_links", "custom"):
                continue
            errors += entity_errors(value, f"{path}, {name}" if path else name)
    elif isinstance(payload, list):
        for n, item in enumerate(payload, 1):
            errors += entity_errors(item, f"{path} line {n}")
    return errors


def error_text(body):
    """Acumatica's error in words: an OAuth error, an HttpError's messages, or an entity's field errors."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), str) and set(body) <= {"error", "error_description", "error_uri"}:
        return f"{body['error']}: {body.get('error_description') or 'no description'}"
    parts = [body[key] for key in ("exceptionMessage", "message", "messageDetail")
             if isinstance(body.get(key), str) and body[key].strip()]
    parts = parts[:1] if len(parts) > 1 and parts[1] == "An error has occurred." else parts[:2]
    for field, messages in (body.get("modelState") or {}).items():
        if isinstance(messages, list):
            parts.append(f"{field}: {'; '.join(str(m) for m in messages)}")
    parts += entity_errors(body)
    return "; ".join(part.strip().rstrip(".") for part in parts) or None


def classify(response):
    """Acumatica's own errors first (by exception type and text), the generic reading of the status after."""
    status = response.status_code
    if status < 400:
        return
    body = error_body(response)
    text = error_text(body) or excerpt(response)
    code = None
    if body:
        code = body.get("exceptionType") if isinstance(body.get("exceptionType"), str) else body.get("error")
    if LOGIN_LIMIT in text.lower():
        raise RateLimited(f"Acumatica: every API user slot of the licence is in use (API Login Limit): {text}",
                          status=status, code="API Login Limit", retry_after=retry_after_seconds(response))
    if code == NOT_FOUND_EXCEPTION:
        raise NotFound(f"Acumatica has no such record: {text}", status=status, code=code)
    if code == ENTITY_ERRORS_EXCEPTION or status == 422:
        raise DataError(f"Acumatica refused it: {text}", status=status, code=code)
    if status == 404:
        path = urlsplit(response.url).path
        raise ConfigurationError(f"Acumatica does not serve {path}. Check the connection's endpoint name and "
                                 "version: Test connection lists the ones this instance serves.", status=status)
    default_classify(response, "Acumatica", text, code)


def whole(options, name, default):
    value = options.get(name) or default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"The connection's option {name} is {value!r}, not a whole number.") from None


class Sessions:
    """The connection's shared session (TokenSession), remembering which sessions this client used so that
    it can sign every one of them out when its work is done: each holds an API user slot of the licence."""

    def __init__(self, connection, **kwargs):
        self.shared = TokenSession(connection, **kwargs)
        self.used = set()
        self.lock = threading.Lock()

    def headers(self):
        headers, value = self.shared.headers()
        with self.lock:
            self.used.add(value)
        return headers, value

    def invalidate(self, value):
        self.shared.invalidate(value)

    def take_used(self):
        with self.lock:
            used, self.used = self.used, set()
        return used


class AcumaticaClient:
    def __init__(self, connection):
        self.connection = connection
        self.credentials = connection.credentials
        options = connection.options or {}
        for key in ("password", "client_secret"):
            register_secret(self.credentials.get(key))
        self.sign_in = self.credentials.get("sign_in") or SIGN_IN_OAUTH
        self.instance = connection.base_url.rstrip("/")
        self.endpoint = (options.get("endpoint") or contract.ENDPOINT_NAME).strip("/")
        self.version = options.get("version") or contract.ENDPOINT_VERSION
        self.entity_url = f"{self.instance}/entity/{self.endpoint}/{self.version}"
        self.sessions = Sessions(connection, login=self.login, refresh=self.refresh, render=self.render,
                                 leeway=DEFAULT_LEEWAY)
        # The licence's concurrent API requests, per instance, across every worker and connection. Its API user
        # slots count sessions, not calls: a connection's workers share one session (Sessions).
        in_flight = whole(options, "concurrent_requests", 0) or IN_FLIGHT_UNLIMITED_LICENCE
        per_minute = whole(options, "requests_per_minute", 0)
        self.http = HttpClient(f"acumatica:{self.instance}", auth=self.sessions, classify=classify,
                               concurrency=in_flight, rate=(per_minute, 60) if per_minute else None,
                               rate_key=f"acumatica-rate:{self.instance}")
        self.page_size = PAGE_SIZE

    # --- sessions -------------------------------------------------------------------------------------
    def login(self):
        try:
            return self._oauth_login() if self.sign_in == SIGN_IN_OAUTH else self._cookie_login()
        except RateLimited as exc:
            if exc.code != "API Login Limit":
                raise
            until = timezone.now() + timedelta(minutes=5)
            raise Deferred(f"Acumatica refused to sign in: every API user slot of the licence is in use (API Login "
                           f"Limit). Another program or person holds them; trying again at {until:%H:%M} UTC.",
                           until=until, status=exc.status, code=exc.code) from None

    def _cookie_login(self):
        """POST /entity/auth/login: answered 204 with the session's cookies, which then go with every call."""
        c = self.credentials
        body = {"name": c.get("username", ""), "password": c.get("password", ""), "tenant": c.get("tenant", "")}
        if c.get("branch"):
            body["branch"] = c["branch"]
        try:
            response = self.http.request("POST", f"{self.instance}/entity/auth/login", json=body, authenticate=False,
                                         idempotent=True)
        except (AuthError, DataError) as exc:
            raise AuthError(f"Acumatica rejected the user name, password, tenant or branch of this connection. "
                            f"({exc})", status=exc.status) from None
        cookies = {cookie.name: cookie.value for cookie in response.cookies}
        for value in cookies.values():  # each one alone, as it may show in a Set-Cookie header or an error
            register_secret(value)
        # The value goes in our own Cookie header; the requests session must not send this session's cookies
        # with a later sign-in.
        self.http.session.cookies.clear()
        if not cookies:
            raise TransientError(f"Acumatica's sign-in answered HTTP {response.status_code} without a session "
                                 "cookie.")
        return Token("; ".join(f"{name}={value}" for name, value in cookies.items()), None, {})

    def _oauth_login(self):
        c = self.credentials
        client_id = c.get("client_id", "")
        if not client_id or not c.get("client_secret"):
            raise ConfigurationError("OAuth sign-in needs the connected application's client ID and secret.")
        tenant = client_id.partition("@")[2]
        if c.get("tenant") and tenant.lower() != c["tenant"].lower():
            raise ConfigurationError(f"The OAuth client ID signs in to tenant {tenant}, but the connection names "
                                     f"tenant {c['tenant']}. The part after the @ picks the tenant.")
        return self._token("password", username=c.get("username", ""), password=c.get("password", ""),
                           scope=OAUTH_SCOPE)

    def refresh(self, token):
        try:
            return self._token("refresh_token", refresh_token=token.extra["refresh_token"])
        except AuthError:
            return None  # expired or already used: sign in again

    def _token(self, grant, **form):
        c = self.credentials
        data = {"grant_type": grant, "client_id": c.get("client_id", ""), "client_secret": c.get("client_secret", ""),
                **form}
        try:
            response = self.http.request("POST", f"{self.instance}/identity/connect/token", data=data,
                                         authenticate=False, idempotent=True)
        except (AuthError, DataError) as exc:
            if exc.code == "invalid_client":
                raise AuthError("Acumatica rejected the OAuth client ID or secret (Connected Applications, SM303010)."
                                f" ({exc})", status=exc.status, code=exc.code) from None
            raise AuthError(f"Acumatica rejected the user name or password of this connection. ({exc})",
                            status=exc.status, code=exc.code) from None
        value, lifetime, extra = token_from_response(response, "Acumatica")
        # Stored as expiring early by the refresh leeway, so every worker renews it ahead of time.
        expires = timezone.now() + timedelta(seconds=lifetime) - refresh_leeway(lifetime) + DEFAULT_LEEWAY
        return Token(value, expires, extra)

    def render(self, token):
        return self.headers_for(token.value)

    def headers_for(self, value):
        return {"Authorization": f"Bearer {value}"} if self.sign_in == SIGN_IN_OAUTH else {"Cookie": value}

    def sign_out(self):
        """End every session this client used (each holds an API user slot of the licence). Never raises."""
        for value in self.sessions.take_used():
            self.end_session(value)

    def end_session(self, value):
        """POST /entity/auth/logout with the session, which frees its slot, then drop it from the shared cache
        so that no worker picks it up again. Never raises."""
        try:
            self.http.request("POST", f"{self.instance}/entity/auth/logout", headers=self.headers_for(value),
                              authenticate=False, idempotent=True)
        except ConnectorError as exc:
            # Refused (already signed out) or unreachable: Acumatica ends an idle session by itself.
            logger.warning("Signing out of Acumatica (connection %s) failed: %s.", self.connection.pk,
                           type(exc).__name__)
        try:
            self.sessions.shared.store.invalidate(value)  # signed out: its refresh token goes too
        except Exception as exc:  # a database in trouble must not stop the other sign-outs
            logger.warning("Dropping the Acumatica session of connection %s failed (%s).", self.connection.pk,
                           type(exc).__name__)

    # --- the endpoint ---------------------------------------------------------------------------------
    def endpoints(self):
        """[(name, version)] of the web service endpoints the instance serves (GET /entity)."""
        body = self.http.json("GET", f"{self.instance}/entity")
        listed = body.get("endpoints") if isinstance(body, dict) else None
        if not isinstance(listed, list):
            raise TransientError("Acumatica's list of endpoints (GET /entity) has no 'endpoints' array.")
        return [(e.get("name"), e.get("version")) for e in listed if isinstance(e, dict)]

    def entity(self, name):
        return f"{self.entity_url}/{name}"

    def records(self, entity, *, where=None, expand=(), select=(), page_key=None):
        """Every record of `entity` matching `where` (an odata expression), as plain dicts, or an Unparsable
        for a record holding a value that does not parse.

        Paged by key, as recommended for the contract API: each page asks for the records after the last key
        of the one before ($filter Key gt '...' with $top), which neither skips nor repeats a record when
        others change between pages, as $skip would. The contract API has no $orderby: records come in key
        order (UNCONFIRMED, docs AC6, probed by lists_come_in_key_order), compared by the database's collation,
        so the last key of a page is the one to go on from. A page repeating a key already read stops the read
        rather than loop. Where the last check found the lists in another order, a list is read whole in one
        call: Acumatica answers every record when $top is left out, or an error past a SQL Server Resource Governor
        limit (IDG $top Parameter)."""
        page_key = page_key or contract.KEYS[entity][-1]
        page_size = None if self.connection.assumption_contradicted("AC6") else self.page_size
        last, seen = None, set()
        while True:
            conditions = [c for c in (where, gt(page_key, last) if last is not None else None) if c is not None]
            query = Query(select=select, filter=and_(*conditions) if conditions else None, expand=expand,
                          top=page_size, dialect=DIALECT)
            page = self.http.json("GET", self.entity(entity), params=query.encode())
            if not isinstance(page, list):
                raise ODataPagingError(f"Acumatica's {entity} list answered with no list of records.")
            keys = [self.key_of(item, page_key) for item in page]
            if None in keys or seen.intersection(keys):
                raise ODataPagingError(f"Acumatica's {entity} list did not come in {page_key} order, or a record had "
                                       "no key; it cannot be paged safely.")
            seen.update(keys)
            for item, key in zip(page, keys, strict=True):
                try:
                    yield contract.unwrap(entity, item)
                except contract.Unparsable as exc:
                    exc.key, exc.raw = key, item
                    yield exc
            if page_size is None or len(page) < page_size:
                return
            last = keys[-1]

    def find(self, entity, where, *, expand=(), select=(), top=None):
        """The few records matching `where`, in one call (a look-up, not a read of a whole list)."""
        query = Query(filter=where, expand=expand, select=select, top=top, dialect=DIALECT)
        page = self.http.json("GET", self.entity(entity), params=query.encode() or None)
        if not isinstance(page, list):
            raise TransientError(f"Acumatica's {entity} list answered with no list of records.")
        try:
            return [contract.unwrap(entity, item) for item in page]
        except contract.Unparsable as exc:
            raise DataError(f"Acumatica sent a {entity} that cannot be read: {exc}") from None

    @staticmethod
    def key_of(item, name):
        value = item.get(name) if isinstance(item, dict) else None
        value = value.get("value") if isinstance(value, dict) else None
        return value if isinstance(value, str) else None

    def create(self, entity, record, *, expand=()):
        """PUT /{Entity} with If-None-Match: * (insert only: never overwrite a record with the same keys)."""
        query = Query(expand=expand, dialect=DIALECT).encode()
        body = self.http.json("PUT", self.entity(entity), params=query or None, json=contract.wrap(entity, record),
                              headers={"If-None-Match": "*"}, idempotent=False)
        try:
            made = contract.unwrap(entity, body)
        except contract.Unparsable as exc:
            made = None
            reason = str(exc)
        if not isinstance(made, dict) or not made.get("id"):
            # It may exist now: a passing error, and the next attempt looks it up by our reference first.
            raise TransientError(f"Acumatica created a {entity} but its answer does not say which "
                                 f"({reason if made is None else 'no id'}).")
        return made

    def delete(self, entity, record_id):
        self.http.request("DELETE", f"{self.entity(entity)}/{record_id}")

    def invoke(self, entity, action, record_id):
        """POST /{Entity}/{Action} on one record, then, if Acumatica answers 202 (running), GET its Location
        until it answers 204 (done)."""
        url = f"{self.entity(entity)}/{action}"
        response = self.http.request("POST", url, json={"entity": contract.wrap(entity, {"id": record_id})})
        polls = 0
        while response.status_code == 202:
            location = response.headers.get("Location")
            if not location:
                raise TransientError(f"Acumatica's {entity} {action} answered 202 without a Location to follow.")
            if polls >= ACTION_POLLS:
                raise TransientError(f"Acumatica's {entity} {action} was still running after {polls} checks; the "
                                     "next attempt finds out how it ended.")
            self.http.sleep(max(self.http.backoff_base, 0.001) * 2)
            url = urljoin(response.url, location)
            response = self.http.request("GET", url)
            polls += 1
        if response.status_code != 204:
            # Not an answer an action documents (InvokeAction_202/204): whether it ran is unknown, so the caller
            # looks the record up again on its next attempt.
            raise TransientError(f"Acumatica's {entity} {action} answered HTTP {response.status_code} instead of "
                                 "saying it was done.")
        return response


# How many vendors the order probe reads: one page, as the first page of a key-paged read asks for.
ORDER_PROBE_SIZE = PAGE_SIZE


@probe("AC6", "acumatica", fallback="reads each list whole, in one call without $top, instead of page by page "
                                    "after the last key read: nothing can be skipped, but a very large list is slow "
                                    "and fails where the site's SQL Server Resource Governor sets a lower limit")
def lists_come_in_key_order(connector):
    """The first page of vendors asked for with no order, as records() asks: its VendorIDs must come in key
    order. The database's collation is not known here, so an order that holds either by character code or
    ignoring case holds."""
    client = connector.client
    query = Query(select=("VendorID",), top=ORDER_PROBE_SIZE, dialect=DIALECT)
    page = client.http.json("GET", client.entity("Vendor"), params=query.encode())
    keys = [client.key_of(item, "VendorID") for item in page] if isinstance(page, list) else []
    keys = [key for key in keys if key is not None]
    if len(keys) < 2:
        return unchecked("Acumatica has fewer than two vendors, so the order of a list cannot be seen yet.")
    if keys == sorted(keys) or keys == sorted(keys, key=str.casefold):
        return held(f"The first {len(keys)} vendors, asked for with no order, came in VendorID order "
                    f"({keys[0]} to {keys[-1]}).")
    # Not in order ignoring case (a stable sort would have left them as they are): a pair goes backwards.
    n = next(n for n in range(1, len(keys)) if keys[n].casefold() < keys[n - 1].casefold())
    return contradicted(f"The first {len(keys)} vendors, asked for with no order, did not come in VendorID order: "
                        f"{keys[n - 1]} came before {keys[n]} (vendors {n} and {n + 1}).")
