"""BILL v3 API: session sign-in, BDC error codes, lists, vendors, bills, classifications, payments and
webhook subscriptions. Facts from BILL's v3 documentation at developer.bill.com and its OpenAPI
definition (each limit below names its page)."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from django.utils import timezone

from connectors.assumptions import contradicted, held, probe
from connectors.bill.system import SIGN_IN_SYNC_TOKEN
from connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    DataError,
    Deferred,
    RateLimited,
    TransientError,
)
from connectors.http import HttpClient, ReauthRequired, Unsafe, default_classify, excerpt, fan_out
from connectors.limits import take_rate_token
from connectors.tokens import Token, TokenSession
from portal.redaction import register_secret

# BILL's limits (https://developer.bill.com/docs/api-rate-limits):
# - 3 calls in flight per developer key and organization (BDC_1322). Our slots are per organization, which is
#   stricter when two developer keys reach one organization.
CONCURRENT_CALLS = 3
# - 20,000 calls per developer key per hour (BDC_1144), counted by BILL across every organization and tenant
#   that uses the key, and reset at the top of the hour. Every process takes a token per call (a retry is a
#   call) from one database counter per key, in windows aligned on the hour as BILL's are. We stop at 19,800:
#   the 1% left covers calls already in flight when our window turns over, and a few seconds of clock
#   difference between our hosts and BILL's at the most calls 3 in flight can make.
CALLS_PER_HOUR = 19_800
# - 200 logins (POST /v3/login) per developer key per hour (BDC_1144). Sessions are cached and shared
#   (connectors/tokens.py), so logins are rare; 195 leaves the same kind of margin at the hour's turn.
LOGINS_PER_HOUR = 195
# Sessions expire after 35 idle minutes (user sign-in) or 48 idle hours (sync token). We renew
# ahead of that instead of tracking idleness, which costs at most a few of the 200 logins/hour.
SESSION_LIFETIME = {"user": timedelta(minutes=30), SIGN_IN_SYNC_TOKEN: timedelta(hours=47)}
PAGE_MAX = 100
BULK_VENDORS = 20
BULK_BILLS = 100
# Vendor ids per `vendorId:in` filter: keeps the URL well under common 8 KB limits (ids are 20 chars).
VENDOR_IDS_PER_FILTER = 50

LOGIN_ERRORS = {
    "BDC_1101": "BILL rejected the user name or password (BDC_1101). For sync-token sign-in, the user name is "
                "the token's name and the password its value.",
    "BDC_1102": "BILL rejected the developer key (BDC_1102). Check the key and that it belongs to this "
                "environment (sandbox keys do not work in production).",
}


def bdc_errors(response):
    """BILL's error array: [{code, message, ...}], or [] when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return []
    if isinstance(body, dict):
        body = [body]
    return [e for e in body if isinstance(e, dict) and "code" in e] if isinstance(body, list) else []


def next_hour(now=None):
    now = now or timezone.now()
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def classify(response):
    """Read BILL's outcome by BDC code first, HTTP status second (the limit codes' status is UNCONFIRMED)."""
    if response.status_code < 400:
        return
    errors = bdc_errors(response)
    code = errors[0]["code"] if errors else None
    message = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or excerpt(response)
    status = response.status_code
    if code == "BDC_1109":
        raise ReauthRequired(f"BILL session invalid: {message}", status=status, code=code)
    if code == "BDC_1322":
        raise RateLimited(f"BILL concurrent-call limit: {message}", status=status, code=code)
    if code == "BDC_1144":
        until = next_hour()
        raise Deferred(f"BILL hourly request limit reached ({message}); resuming at {until:%H:00} UTC.",
                       until=until, status=status, code=code)
    if code == "BDC_1361":
        raise ConfigurationError(
            "BILL refused: untrusted session (BDC_1361). This operation needs an MFA-trusted session; "
            "sync-token and plain sign-ins cannot do it. This is a setup problem, not an expired session.",
            status=status, code=code)
    if code in LOGIN_ERRORS:
        raise AuthError(LOGIN_ERRORS[code], status=status, code=code)
    if code == "BDC_1121" or (status == 404 and code is None):
        raise ConfigurationError(f"BILL does not know this path ({message}). Check the connection's base URL "
                                 "(…/connect, not …/connect/v3).", status=status, code=code)
    default_classify(response, "BILL", message, code)


def budget_key(kind, dev_key):
    """The rate-limit key of a developer key: its hash, never the key itself."""
    return f"bill-{kind}:{hashlib.sha256(str(dev_key).encode()).hexdigest()[:32]}"


class BillClient:
    def __init__(self, connection):
        self.connection = connection
        self.credentials = connection.credentials
        for key in ("password", "dev_key"):
            register_secret(self.credentials.get(key))
        self.base_url = connection.base_url.rstrip("/")
        self.events_base_url = connection.options.get("events_base_url") or self.base_url + "-events"
        auth = TokenSession(connection, login=self.login, leeway=timedelta(minutes=1),
                            render=lambda token: {"sessionId": token.value, "devKey": self.credentials["dev_key"]})
        # The limit is BILL's, per organization: every connection to the same organization shares it.
        # The hourly budget is per developer key, shared by every tenant and process using it.
        self.http = HttpClient(f"bill:{self.credentials.get('organization_id') or connection.pk}",
                               base_url=self.base_url, auth=auth, classify=classify, concurrency=CONCURRENT_CALLS,
                               rate=(CALLS_PER_HOUR, 3600),
                               rate_key=budget_key("calls", self.credentials.get("dev_key")))
        self.logins = 0
        self.page_size = PAGE_MAX

    # --- session --------------------------------------------------------------------------------------
    def login(self):
        """POST /v3/login. Counts against BILL's 200 logins per developer key per hour, so callers go through the
        token cache, and every process takes a login token first (a full hour defers the work)."""
        c = self.credentials
        take_rate_token(budget_key("logins", c.get("dev_key")), LOGINS_PER_HOUR, 3600,
                        max_wait=self.http.max_retry_after, sleep=self.http.sleep)
        body = {"username": c["username"], "password": c["password"], "organizationId": c["organization_id"],
                "devKey": c["dev_key"]}
        data = self.http.json("POST", "/v3/login", json=body, authenticate=False, idempotent=True)
        self.logins += 1
        if not isinstance(data, dict) or not data.get("sessionId"):
            raise TransientError("BILL login answered without a sessionId.")
        if data.get("organizationId") and data["organizationId"] != c["organization_id"]:
            raise ConfigurationError(f"BILL signed in to organization {data['organizationId']}, not the configured "
                                     f"{c['organization_id']}.")
        lifetime = SESSION_LIFETIME.get(c.get("sign_in") or "user", SESSION_LIFETIME["user"])
        return Token(data["sessionId"], timezone.now() + lifetime,
                     {"trusted": bool(data.get("trusted")), "userId": data.get("userId", "")})

    def session_info(self):
        return self.http.json("GET", "/v3/login/session")

    # --- lists ----------------------------------------------------------------------------------------
    def list(self, path, *, filters=(), sort=None, base=None):
        """Every result of a BILL list, following nextPage. `filters` are (field, op, value) triples."""
        params = {"max": self.page_size}
        if filters:
            params["filters"] = ",".join(f"{f}:{op}:{filter_value(v)}" for f, op, v in filters)
        if sort:
            params["sort"] = sort
        url = (base or self.base_url) + path
        seen_pages = set()
        while True:
            data = self.http.json("GET", url, params=params)
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise TransientError(f"BILL list {path} answered without a results array.")
            yield from data["results"]
            next_page = data.get("nextPage")
            if not next_page or next_page in seen_pages or not data["results"]:
                return
            seen_pages.add(next_page)
            params["page"] = next_page

    # --- vendors --------------------------------------------------------------------------------------
    def create_vendor(self, vendor):
        return self.http.json("POST", "/v3/vendors", json=vendor)

    def update_vendor(self, vendor_id, changes):
        return self.http.json("PATCH", f"/v3/vendors/{vendor_id}", json=changes)

    def get_vendor(self, vendor_id):
        return self.http.json("GET", f"/v3/vendors/{vendor_id}")

    def vendors(self, created_since=None):
        """Every active vendor, or those created since a moment (createdTime is a documented filter)."""
        filters = [("archived", "eq", False)]
        if created_since is not None:
            filters.append(("createdTime", "gte", bill_time(created_since)))
        return self.list("/v3/vendors", filters=filters)

    def vendors_updated(self, updated_since=None):
        """Vendors changed since a moment, oldest change first (updatedTime is a documented filter). UNCONFIRMED
        (docs/ASSUMPTIONS.md B20): that BILL sorts vendors by updatedTime; where the assumption check found it does not,
        the filtered vendors are read whole and put in that order here."""
        filters = [("updatedTime", "gte", bill_time(updated_since))] if updated_since else []
        if self.connection.assumption_contradicted("B20"):
            return changed_since(self.list("/v3/vendors", filters=filters), updated_since)
        return self.list("/v3/vendors", filters=filters, sort="updatedTime:asc")

    def create_vendors_bulk(self, vendors):
        return self._bulk("/v3/vendors", vendors, BULK_VENDORS, self.create_vendor)

    # --- bills ----------------------------------------------------------------------------------------
    def create_bill(self, bill):
        return self.http.json("POST", "/v3/bills", json=bill)

    def get_bill(self, bill_id):
        return self.http.json("GET", f"/v3/bills/{bill_id}")

    def archive_bill(self, bill_id):
        """POST /v3/bills/{billId}/archive: the bill, with archived true (https://developer.bill.com/reference/
        archivebill). "There is no change when you archive an archived bill", so a repeat after a lost answer is
        safe."""
        return self.http.json("POST", f"/v3/bills/{quote(bill_id, safe='')}/archive", idempotent=True)

    def bills_of_vendors(self, vendor_ids):
        """The active bills of these vendors: `vendorId:in` is a documented filter, invoice numbers are not,
        so candidates are listed by vendor and matched by the caller."""
        ids = sorted(set(vendor_ids))
        chunks = [",".join(ids[start:start + VENDOR_IDS_PER_FILTER]) for start in range(0, len(ids),
                                                                                        VENDOR_IDS_PER_FILTER)]
        # Up to BILL's calls in flight at once, a round of them held at a time.
        for at in range(0, len(chunks), CONCURRENT_CALLS):
            for bills in fan_out(lambda chunk: list(self.list("/v3/bills", filters=[
                    ("vendorId", "in", chunk), ("archived", "eq", False)])), chunks[at:at + CONCURRENT_CALLS],
                    CONCURRENT_CALLS):
                yield from bills

    def unpaid_bills(self):
        """Every active bill not paid in full (paymentStatus is a documented filter)."""
        return self.list("/v3/bills", filters=[("paymentStatus", "ne", "PAID"), ("archived", "eq", False)])

    def create_bills_bulk(self, bills):
        return self._bulk("/v3/bills", bills, BULK_BILLS, self.create_bill)

    def _bulk(self, path, items, limit, create_one):
        """Bulk creates, up to BILL's concurrency at a time. A bulk call is all-or-nothing, so a refused
        batch is sent again one by one to isolate the bad item. Returns, per item in order, the created
        object, the DataError that refused it, or the error of its call when that call failed (the other calls'
        objects were made all the same)."""

        def send(batch):
            try:
                created = self.http.json("POST", f"{path}/bulk", json=batch)
            except DataError:
                created = None  # refused whole: nothing was made, so each item can be sent on its own
            else:
                if isinstance(created, list) and len(created) == len(batch):
                    return created
                # Accepted, but the answer does not say what was made: sending again could duplicate it.
                # The next run looks the items up before creating anything.
                raise Unsafe(f"BILL answered {path}/bulk for {len(batch)} item(s) without one object per item.")
            results = []
            for item in batch:
                try:
                    results.append(create_one(item))
                except DataError as exc:
                    results.append(exc)
            return results

        batches = [items[start:start + limit] for start in range(0, len(items), limit)]
        done = fan_out(send, batches, CONCURRENT_CALLS, keep=ConnectorError)
        return [result for batch, answer in zip(batches, done, strict=True)
                for result in ([answer] * len(batch) if isinstance(answer, ConnectorError) else answer)]

    # --- classifications ------------------------------------------------------------------------------
    def chart_of_accounts(self):
        return list(self.list("/v3/classifications/chart-of-accounts"))

    def classifications(self, kind):
        """kind: accounting-classes, departments, locations."""
        return list(self.list(f"/v3/classifications/{kind}"))

    # --- payments -------------------------------------------------------------------------------------
    def payments(self, updated_since=None):
        """Payments changed since a moment, oldest change first. UNCONFIRMED (docs/ASSUMPTIONS.md B10): that GET
        /v3/payments filters on updatedTime and sorts by it; where the assumption check found it does not, every
        payment is read and the filter and the order are applied here (slower, the same payments)."""
        if self.connection.assumption_contradicted("B10"):
            return changed_since(self.list("/v3/payments"), updated_since)
        filters = [("updatedTime", "gte", bill_time(updated_since))] if updated_since else []
        return self.list("/v3/payments", filters=filters, sort="updatedTime:asc")

    def get_payment(self, payment_id):
        """GET /v3/payments/{paymentId}: the payment with billPayments[], each bill's share."""
        return self.http.json("GET", f"/v3/payments/{payment_id}")

    # --- webhook subscriptions (the /connect-events sibling base) -------------------------------------
    def events_catalog(self):
        """GET /v3/events/catalog: the events this organization and developer key can subscribe to
        (https://developer.bill.com/docs/working-with-bill-webhooks)."""
        return self.http.json("GET", self.events_base_url + "/v3/events/catalog")

    def subscriptions(self):
        """Every subscription of the organization: a paged {nextPage, results} list like the others
        (https://developer.bill.com/reference/getallsubscriptions)."""
        return list(self.list("/v3/subscriptions", base=self.events_base_url))

    def event_history(self, subscription_id):
        """The events BILL kept for a subscription, delivered or not (180 days: BILL's changelog
        2025-09-07), each {id, type, payload: the event body as text, createdTime, statusCode}. The item
        shape and its order are UNCONFIRMED (docs/ASSUMPTIONS.md B18); payload is read, and id names an item whose
        payload holds no event."""
        return self.list(f"/v3/events/subscription/{subscription_id}", base=self.events_base_url)

    def create_subscription(self, name, events, notification_url, idempotency_key=None):
        body = {"name": name, "status": {"enabled": True}, "notificationUrl": notification_url,
                "events": [{"type": e, "version": "1"} for e in events]}
        headers = {"X-Idempotent-Key": idempotency_key or str(uuid.uuid4())}
        # Safe to repeat: the idempotency key makes BILL answer a repeat with the same subscription.
        return self.http.json("POST", self.events_base_url + "/v3/subscriptions", json=body, headers=headers,
                              idempotent=True)

    def update_subscription(self, subscription_id, changes):
        return self.http.json("PATCH", f"{self.events_base_url}/v3/subscriptions/{subscription_id}", json=changes)

    def enable_subscription(self, subscription_id):
        return self.update_subscription(subscription_id, {"status": {"enabled": True}})

    def rotate_security_key(self, subscription_id, idempotency_key=None):
        headers = {"X-Idempotent-Key": idempotency_key or str(uuid.uuid4())}
        data = self.http.json("POST", f"{self.events_base_url}/v3/subscriptions/{subscription_id}/security_key",
                              headers=headers, idempotent=True)
        return data["securityKey"]


def bill_time(moment):
    """A moment as BILL's documented filter format yyyy-MM-dd'T'HH:mm:ss.SSSZ, in UTC. Milliseconds are
    cut, not rounded, so a `gte` filter never starts after the moment asked for."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.astimezone(UTC).microsecond // 1000:03d}Z"


def updated_moment(item):
    """An object's updatedTime as an aware UTC datetime; None when it has none that reads."""
    try:
        return parse_bill_time(item.get("updatedTime")) if isinstance(item, dict) else None
    except DataError:
        return None


def changed_since(items, since=None):
    """The objects changed at or after `since` (to the millisecond, as BILL's gte filter takes it), oldest change
    first: BILL's filter and sort done here. One whose updatedTime does not read is kept, first, so the connector
    files it as unreadable rather than losing it."""
    floor = parse_bill_time(bill_time(since)) if since else None
    dated = [(updated_moment(item), item) for item in items]
    kept = [(moment, item) for moment, item in dated if moment is None or floor is None or moment >= floor]
    kept.sort(key=lambda pair: (pair[0] is not None, pair[0] or datetime.min.replace(tzinfo=UTC)))
    return [item for _, item in kept]


def filter_value(value):
    """A filter value as BILL's examples write them: text and times quoted, booleans bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return f'"{value}"'


def parse_bill_time(value):
    """BILL timestamps: 2025-09-01T00:00:00.000+00:00 or …Z. BILL's times are UTC, so one without a zone
    is read as UTC rather than as this server's local time."""
    if not value:
        return None
    if not isinstance(value, str):
        raise DataError(f"BILL sent a timestamp that is not text: {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"BILL sent an unreadable timestamp {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)



# --- assumption probes (connectors.assumptions): reads only -------------------------------------------------
# The oldest updatedTime a probe asks for when it only needs the list's order, not a recent window.
PROBE_SINCE = datetime(2000, 1, 1, tzinfo=UTC)
PROBE_PAGE = 20


def probe_page(client, path, *, since=None, size=PROBE_PAGE):
    """One page of `path` sorted updatedTime:asc, filtered updatedTime:gte `since` when given, as BillClient sends
    them. Answers (the results, None), or (None, the refusal in words) when BILL refuses the request as malformed."""
    params = {"max": size, "sort": "updatedTime:asc"}
    if since is not None:
        params["filters"] = f"updatedTime:gte:{filter_value(bill_time(since))}"
    try:
        data = client.http.json("GET", path, params=params)
    except DataError as exc:
        return None, str(exc)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise TransientError(f"BILL answered GET {path} without a results array.")
    return results, None


def out_of_order(results):
    """The first pair of results whose updatedTime goes backwards, in words; "" when they are in order."""
    dated = [(updated_moment(r), r) for r in results]
    dated = [(moment, r) for moment, r in dated if moment is not None]
    for (before, first), (after, second) in zip(dated, dated[1:], strict=False):
        if after < before:
            return (f"{second.get('id')!r} (updated {after:%Y-%m-%d %H:%M:%S}) came after {first.get('id')!r} "
                    f"(updated {before:%Y-%m-%d %H:%M:%S})")
    return ""


@probe("B10", "bill", fallback="every payment is read on each poll, and those changed since the last poll are kept, "
                               "oldest change first, here rather than by BILL")
def payments_filter_and_sort(connector):
    """GET /v3/payments filtered updatedTime:gte now and sorted updatedTime:asc (max 1) must be accepted and must not
    answer a payment changed before now; then the same sort over every payment must come back in order."""
    client, path = connector.client, "/v3/payments"
    now = timezone.now()
    recent, refusal = probe_page(client, path, since=now, size=1)
    if refusal:
        return contradicted(f"BILL refused GET {path} with filters=updatedTime:gte and sort=updatedTime:asc: "
                            f"{refusal}")
    floor = parse_bill_time(bill_time(now))
    early = [r for r in recent if updated_moment(r) is not None and updated_moment(r) < floor]
    if early:
        return contradicted(f"BILL ignored the updatedTime filter on GET {path}: asked for payments changed since "
                            f"{floor:%Y-%m-%d %H:%M:%S} UTC, it answered {early[0].get('id')!r}, changed "
                            f"{updated_moment(early[0]):%Y-%m-%d %H:%M:%S}.")
    listed, refusal = probe_page(client, path, since=PROBE_SINCE)
    if refusal:
        return contradicted(f"BILL refused GET {path} sorted updatedTime:asc: {refusal}")
    backwards = out_of_order(listed)
    if backwards:
        return contradicted(f"BILL ignored sort=updatedTime:asc on GET {path}: payment {backwards}.")
    order = (f"the first {len(listed)} payments sorted by updatedTime came back in that order" if len(listed) > 1
             else f"{len(listed)} payment(s) in the organization, too few to see the order")
    return held(f"BILL accepted GET {path} with filters=updatedTime:gte and sort=updatedTime:asc, answered no "
                f"payment changed before the filter's time, and {order}.")


@probe("B20", "bill", fallback="vendor edits are read with the updatedTime filter but unsorted, and put in order of "
                               "their change here")
def vendors_sort(connector):
    """GET /v3/vendors sorted updatedTime:asc must be accepted, and what it answers must be in that order."""
    path = "/v3/vendors"
    listed, refusal = probe_page(connector.client, path, since=PROBE_SINCE)
    if refusal:
        return contradicted(f"BILL refused GET {path} with sort=updatedTime:asc: {refusal}")
    backwards = out_of_order(listed)
    if backwards:
        return contradicted(f"BILL ignored sort=updatedTime:asc on GET {path}: vendor {backwards}.")
    if len(listed) < 2:
        return held(f"BILL accepted GET {path} with filters=updatedTime:gte and sort=updatedTime:asc ({len(listed)} "
                    "vendor(s) in the organization, too few to see the order).")
    return held(f"BILL accepted GET {path} with filters=updatedTime:gte and sort=updatedTime:asc; the first "
                f"{len(listed)} vendors came back oldest change first.")
