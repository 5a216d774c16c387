"""Infor ION API: OAuth2 password grant from the .ionapi file, and M3 MI transactions over REST v2.
Facts from Infor's ION API and M3 MI REST documentation."""

import threading
import time
from datetime import timedelta

import requests
from django.utils import timezone

from connectors.errors import AuthError, ConfigurationError, DataError, NotFound, TransientError
from connectors.http import HttpClient, default_classify
from connectors.infor import idm
from connectors.infor.reading import KeyRanges
from connectors.limits import take_rate_token
from connectors.tokens import Token, TokenSession, refresh_leeway, token_from_response
from portal.redaction import register_secret

# Service-account authentication is limited to 20 a minute per tenant (Infor OS usage limits).
LOGINS_PER_MINUTE = 20
# Tokens are refreshed this long before they expire (apps are configured for 1 to 24 hours).
DEFAULT_LEEWAY = timedelta(minutes=5)


def mi_error_text(body):
    """The MI error of a v2 response, at the top level or in results[0]; None when there is none."""
    if not isinstance(body, dict):
        return None
    candidates = [body] + [r for r in body.get("results") or [] if isinstance(r, dict)]
    for c in candidates:
        if c.get("errorMessage"):
            where = f" (field {c['errorField'].strip()})" if (c.get("errorField") or "").strip() else ""
            code = f" [{c['errorCode'].strip()}]" if (c.get("errorCode") or "").strip() else ""
            return f"{c['errorMessage'].strip()}{where}{code}", (c.get("errorField") or "").strip()
    if body.get("nrOfFailedTransactions"):
        return "M3 reported a failed transaction without a message", ""
    return None


def classify(response):
    """M3's own errors (an MI error in a 4xx body, an unknown program) first, the generic rest after."""
    status = response.status_code
    if status < 400:
        return
    if status == 404 and f"/{idm.API}/items/" in response.request.path_url and "/items/search" not in \
            response.request.path_url:
        raise NotFound(f"Infor Document Management has no such item ({response.request.path_url.split('?')[0]}); it "
                       "may have been deleted since it was found.", status=status)
    if status == 404:
        raise ConfigurationError(f"Infor answered 404 for {response.request.path_url.split('?')[0]}: the tenant, "
                                 "program or transaction does not exist here. Check the connection's .ionapi "
                                 "file, and ask the customer whether this transaction is built in their tenant, "
                                 "and under which name.", status=status)
    if status < 500 and status not in (401, 403, 429):
        try:
            error = mi_error_text(response.json())
        except ValueError:
            error = None
        if error:
            raise DataError(f"M3: {error[0]}", status=status, field=error[1] or None)
    default_classify(response, "Infor")


def trimmed(record):
    return {k: (v or "").strip() for k, v in record.items()}


# The tenant's peak, 3,000 API executions a minute (Infor OS usage entitlements,
# docs.infor.com/inforos/12.0.x/en-us/usagelimits-igs/uup1651243668177.html), counted across every process and
# connection to the same tenant. The limiter counts a call when it is sent and Infor when it arrives, so a call sent
# in the last moment of a minute is Infor's next minute's: the budget keeps a twentieth back for those.
CALLS_PER_MINUTE = 3000
RATE = (CALLS_PER_MINUTE * 19 // 20, 60)
DOWNLOAD_CHUNK = 64 * 1024


class Pacer:
    """A client's calls to its tenant, held to the minute as the limiter (connectors.limits.take_rate_token) and, we
    assume, Infor count it: a fixed minute. The minute's budget, less a twentieth, goes at once, as fast as the calls
    go; the rest waits for the minute's last `hold` seconds. The limiter holds a call that finds the minute's budget
    spent until the next minute, and defers the run when that is longer than a call waits (`hold`:
    CONNECTOR_MAX_RETRY_AFTER): held back so, this client's calls never spend the budget before then, so that wait
    is never longer. The twentieth is left for other processes of the tenant until then; they and this one share
    the limiter's count. UNCONFIRMED (docs/ASSUMPTIONS.md I19): Infor counts the minute as a whole, so a
    minute's budget at once is allowed."""

    def __init__(self, calls, period, hold):
        self.period, self.hold = period, hold
        self.early = calls - max(1, calls // 20)
        self.count = 0
        self.window = None
        self.lock = threading.Lock()

    def wait(self, sleep, clock=time.time):
        while True:
            with self.lock:
                now = clock()
                window = now // self.period * self.period
                if window != self.window:
                    self.window, self.count = window, 0
                later = window + max(0, self.period - self.hold)
                if self.count < self.early or now >= later:
                    self.count += 1
                    return
            sleep(later - now)


class InforClient:
    def __init__(self, connection):
        self.connection = connection
        self.ionapi = connection.credentials
        for key in ("cs", "saak", "sask"):
            register_secret(self.ionapi.get(key))
        self.company = str(connection.options.get("company", ""))
        self.division = connection.options.get("division", "")
        self.m3_base = f"{self.ionapi['iu'].rstrip('/')}/{self.ionapi['ti']}/M3/m3api-rest/v2/execute"
        self.idm_base = f"{self.ionapi['iu'].rstrip('/')}/{self.ionapi['ti']}/{idm.API}"
        self.token_url = self.ionapi["pu"] + self.ionapi["ot"]
        self.revoke_url = self.ionapi["pu"] + self.ionapi.get("or", "revoke_token.oauth2")
        auth = TokenSession(connection, login=self.login, refresh=self.refresh, leeway=DEFAULT_LEEWAY,
                            render=lambda token: {"Authorization": f"Bearer {token.value}"})
        self.http = HttpClient(f"infor:{self.ionapi['ti']}", auth=auth, classify=classify, rate=RATE)
        # One a client, shared by its threads: a run's large read is spread; the limiter still holds every process.
        self.pacer = Pacer(*RATE, hold=self.http.max_retry_after)

    # --- tokens ---------------------------------------------------------------------------------------
    def login(self):
        # The service-account login limit is the tenant's, whichever connection logs in.
        take_rate_token(f"infor-login:{self.ionapi['ti']}", LOGINS_PER_MINUTE, 60, sleep=self.http.sleep)
        try:
            response = self.http.request("POST", self.token_url, authenticate=False, idempotent=True,
                                         data={"grant_type": "password", "username": self.ionapi["saak"],
                                               "password": self.ionapi["sask"], "client_id": self.ionapi["ci"],
                                               "client_secret": self.ionapi["cs"]})
        except DataError as exc:
            raise AuthError("Infor rejected the service account keys (saak/sask in the .ionapi file): the "
                            "service account may have been deleted or its keys regenerated. Download the "
                            f"credentials again. ({exc})", status=exc.status) from None
        except AuthError as exc:
            raise AuthError("Infor rejected the client id/secret (ci/cs in the .ionapi file): the authorized "
                            f"app may have been deleted or its secret changed. ({exc})", status=exc.status) from None
        return self._token(response)

    def refresh(self, token):
        try:
            response = self.http.request("POST", self.token_url, authenticate=False, idempotent=True,
                                         data={"grant_type": "refresh_token",
                                               "refresh_token": token.extra["refresh_token"],
                                               "client_id": self.ionapi["ci"], "client_secret": self.ionapi["cs"]})
        except (DataError, AuthError):
            return None  # an expired or revoked refresh token: log in again
        return self._token(response)

    def _token(self, response):
        value, lifetime, extra = token_from_response(response, "Infor")
        # Stored as expiring early by the refresh leeway, so every worker renews it ahead of time.
        expires = timezone.now() + timedelta(seconds=lifetime) - refresh_leeway(lifetime) + DEFAULT_LEEWAY
        return Token(value, expires, extra)

    def revoke(self, token):
        """Revoke a token at pu + or (when credentials change); best effort."""
        for value, hint in ((token.value, "access_token"), ((token.extra or {}).get("refresh_token"), "refresh_token")):
            if value:
                self.http.request("POST", self.revoke_url, authenticate=False, idempotent=True,
                                  data={"token": value, "token_type_hint": hint},
                                  auth=(self.ionapi["ci"], self.ionapi["cs"]))

    # --- M3 -------------------------------------------------------------------------------------------
    def execute(self, transaction, inputs=None, maxrecs=100, columns=None):
        """Run one MI transaction (an m3.Transaction); return its records with padding trimmed, only the
        output fields `columns` when given (the `returncols` matrix parameter, REF 1.4).

        The company goes on every call as the `cono` matrix parameter (the session company), and also
        as the CONO input of the transactions that document one, so no call depends on the service
        account's default company."""
        program, name = transaction
        if not self.company:
            raise ConfigurationError("The Infor connection has no company (CONO) set.")
        inputs = dict(inputs or {})
        if "CONO" in getattr(transaction, "input_names", ()):
            inputs.setdefault("CONO", self.company)
        matrix = f";maxrecs={maxrecs};cono={self.company}" + (f";divi={self.division}" if self.division else "") \
            + (f";returncols={','.join(columns)}" if columns else "")
        self.pacer.wait(self.http.sleep)
        body = self.http.json("GET", f"{self.m3_base}/{program}/{name}{matrix}", params=inputs)
        error = mi_error_text(body)
        if error:
            raise DataError(f"M3 {program}/{name}: {error[0]}", field=error[1] or None)
        try:
            records = body["results"][0]["records"]
        except (KeyError, IndexError, TypeError):
            raise TransientError(f"M3 {program}/{name} answered without results[0].records.") from None
        # M3 answers every field as text (an empty one as "" or not at all): anything else is a broken answer, whose
        # records cannot be told apart to fail one alone.
        if not isinstance(records, list) or not all(
                isinstance(r, dict) and all(isinstance(v, str | None) for v in r.values()) for r in records):
            raise TransientError(f"M3 {program}/{name} answered records that are not fields of text.")
        return [trimmed(r) for r in records]

    def pages(self, transaction, inputs, key, start_field, end_field, page_size, columns=None):
        """Every record of a list transaction once, a page at a time, read as key ranges side by side
        (reading.KeyRanges: M3 has no offsets, a page starts at a key)."""
        return KeyRanges(self, transaction, inputs, key, start_field, end_field, page_size, columns).pages()

    # --- Infor Document Management ----------------------------------------------------------------------
    def idm_items(self, query):
        """Every item an IDM XQuery selects (idm.py), idm.SEARCH_LIMIT a call: an invoice scanned a page an item
        has as many items as pages, and none is left behind."""
        items, offset = [], 0
        while True:
            page = idm.items_of(self.http.json("GET", f"{self.idm_base}/items/search", params={
                "$query": query, "$offset": offset, "$limit": idm.SEARCH_LIMIT}))
            items += page
            if len(page) < idm.SEARCH_LIMIT:
                return items
            offset += len(page)

    def idm_content(self, pid, what):
        """The content of an item's file, a piece at a time, never whole in memory (UNCONFIRMED, I14: GET
        items/{pid}/resource). A download that breaks off is a TransientError: the image is fetched again on
        the next run."""
        response = self.http.request("GET", f"{self.idm_base}/items/{pid}/resource", stream=True)
        try:
            yield from response.iter_content(DOWNLOAD_CHUNK)
        except requests.RequestException as exc:
            raise TransientError(f"Infor Document Management: the download of {what} broke off "
                                 f"({type(exc).__name__}).") from None
        finally:
            response.close()
