"""The BILL simulator: v3 AP/AR under /bill/connect, webhooks under /bill/connect-events.

It is strict where BILL's published documentation is: it refuses what the real service documents as
refused, and answers with the status codes, envelopes and field types of BILL's v3 OpenAPI definition
(https://developer.bill.com/openapi/bill-v3-api.json) and its docs pages. Each rule below names its
source; a rule the documentation does not settle is marked UNCONFIRMED here, where it is decided, and
listed in docs/ASSUMPTIONS.md. tests/connectors/bill/test_bill_checklist.py holds one test per rule.

- Sessions: POST /v3/login, 35-minute idle sessions (48 hours for sync tokens), sessionId + devKey headers.
- Limits (https://developer.bill.com/docs/api-rate-limits): 20,000 calls per developer key per clock hour
  across every organization (BDC_1144), 200 logins per developer key per clock hour (BDC_1144), and 3
  calls in flight per developer key and organization (BDC_1322).
- Lists (https://developer.bill.com/docs/search-op-with-lists, /docs/filterable-fields): max 1-100
  (default 20), opaque page cursors, {nextPage, prevPage, results}; only documented fields and operators
  filter, and createdTime/updatedTime take only the five documented date formats.
- Errors: an array of {timestamp, code, severity, category, message}
  (https://developer.bill.com/docs/common-api-error-codes).
- Creates answer 201 (vendors, bills, their bulk forms, classifications, payments); webhook API calls
  answer 200 (https://developer.bill.com/docs/webhook-api-error-responses).
- Payments: billPayments[] carries each bill's share of a payment; payment.updated events carry the
  fields of https://developer.bill.com/docs/payment-webhook-notification-payloads.
- Bills are archived and restored (/v3/bills/{billId}/archive, /restore) only while nothing is paid or being paid
  on them, and an archived bill cannot be paid.
No duplicate detection on vendors or bills: BILL documents none.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlparse

import requests

from connectors import canonical
from sandbox.hub import BadRequest, InFlight, Response, Simulator, public, route, stable_id

DEV_KEY = "sandbox-dev-key"
ORG_ID = "00801SANDBOXORG01"
USERNAME = "ap-clerk@sandbox.test"
PASSWORD = "sandbox-password"
SYNC_TOKEN_NAME = "ml-connector-sync"
SYNC_TOKEN_VALUE = "sandbox-sync-token-value"
REMEMBER_ME_ID = "sandbox-mfa-remember-me"

SESSION_IDLE_SECONDS = {"user": 35 * 60, "sync_token": 48 * 3600}
# https://developer.bill.com/docs/api-rate-limits
HOURLY_LIMIT = 20000
LOGIN_LIMIT = 200
CONCURRENT_LIMIT = 3
# UNCONFIRMED (docs/ASSUMPTIONS.md B1): the HTTP status of BDC_1144/BDC_1322 on the AP/AR API. The rate-limit
# page shows only the body; clients must read the code, so any 4xx does. The webhook API's is documented: 429
# (https://developer.bill.com/docs/webhook-api-error-responses).
LIMIT_STATUS = 400
EVENTS_LIMIT_STATUS = 429
# UNCONFIRMED (B11): the code BILL gives a request it refuses as malformed (a filter on a field that does not
# filter, an operator the field does not take, an undocumented date format, max out of range, a bad page
# cursor, a missing auth header). BDC_1002 is the documented "unknown or misspelt parameter, or request
# object not in the correct format" (https://developer.bill.com/docs/common-api-error-codes).
REQUEST_ERROR = "BDC_1002"
# A delivery not answered 200 is sent again with exponential backoff; once BILL gives up it disables the subscription
# (https://developer.bill.com/docs/working-with-bill-webhooks). How many tries, how far apart: not published
# (UNCONFIRMED (B23)); these only pick values to simulate (tests/connectors/bill/test_bill.py,
# tests/webhooks/test_web_killed.py).
MAX_DELIVERY_ATTEMPTS = 5
DELIVERY_BACKOFF_SECONDS = 60
EVENT_TYPES = ["vendor.created", "vendor.updated", "vendor.archived", "vendor.restored", "bill.created",
               "bill.updated", "bill.archived", "bill.restored", "payment.updated", "payment.failed",
               "mass-payment.updated", "autopay.failed"]
CLASSIFICATIONS = {"chart-of-accounts": "0ca", "accounting-classes": "cls", "departments": "0de",
                   "locations": "loc"}
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
FILTER_OPS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "sw"}

# --- filterable fields: https://developer.bill.com/docs/filterable-fields -------------------------------------
RANGE = frozenset({"gt", "gte", "lt", "lte"})
EQ_NE = frozenset({"eq", "ne"})
EQ_NE_IN = frozenset({"eq", "ne", "in"})
EQ_NE_IN_NIN = frozenset({"eq", "ne", "in", "nin"})
FILTERABLE = {
    # "Vendors and Customers". shortName, accountNumber, email and taxId are not filterable.
    "vendors": {"id": EQ_NE_IN, "archived": EQ_NE, "name": frozenset({"eq", "sw"}), "accountType": EQ_NE_IN_NIN,
                "address.country": EQ_NE, "billCurrency": EQ_NE_IN_NIN, "paymentStatus": EQ_NE_IN_NIN,
                "createdTime": RANGE, "updatedTime": RANGE},
    # "Bills and Invoices", with the classification ids of changelog 2025-02-18. invoice.invoiceNumber is not
    # filterable.
    "bills": {"id": EQ_NE_IN, "archived": EQ_NE, "vendorId": frozenset({"eq", "in"}), "dueDate": RANGE,
              "paymentStatus": EQ_NE_IN, "createdTime": RANGE, "updatedTime": RANGE,
              "payFromChartOfAccountId": EQ_NE_IN, "classifications.chartOfAccountId": EQ_NE_IN,
              "classifications.accountingClassId": EQ_NE_IN, "classifications.departmentId": EQ_NE_IN,
              "classifications.locationId": EQ_NE_IN},
    # "Payments": id and vendorId (eq, ne, in) are read from the page; transactionNumber is filterable per the
    # changelog ("You can now filter payments by the transactionNumber field"), with eq. UNCONFIRMED (B10): the
    # copy of the page we could read stops after vendorId, so updatedTime and createdTime (the ranges every
    # other list documents, and which the page's own note on date formats names) are assumed to filter here too.
    "payments": {"id": EQ_NE_IN, "vendorId": EQ_NE_IN, "transactionNumber": frozenset({"eq"}),
                 "createdTime": RANGE, "updatedTime": RANGE},
    # UNCONFIRMED (B10): the classification lists' filters; the client sends none.
    "classifications": {"id": EQ_NE_IN, "archived": EQ_NE},
}
TIME_FIELDS = {"createdTime", "updatedTime"}
DATE_FIELDS = {"dueDate"}
BOOLEAN_FIELDS = {"archived"}
# The five formats createdTime/updatedTime filters accept: yyyy-MM-dd'T'HH:mm:ss.SSSX, yyyy-MM-dd'T'HH:mm:ss.SSS,
# yyyy-MM-dd'T'HH:mm:ss, yyyy-MM-dd'T'HH:mm and yyyy-MM-dd. UNCONFIRMED (B12): which offsets X stands for (we take
# Java's: Z, +HH, +HHMM, +HH:MM) and that a value without an offset is UTC.
FILTER_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(?::(\d{2})(?:\.(\d{3})(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?")
# UNCONFIRMED (B12): dueDate is a date (yyyy-MM-dd) in BILL's objects; we take only that format in its filter.
FILTER_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Lists: "By default, you get 20 results on one page of results. Set max in your request to get up to 100 results"
# (reference/listvendors, reference/getallsubscriptions; OpenAPI: max int32, 1 to 100). UNCONFIRMED (B13): that a
# max outside 1-100 is refused rather than capped.
DEFAULT_PAGE, MAX_PAGE = 20, 100
# Payment states that no longer count against a bill's due amount.
VOIDING_STATES = {"VOIDED", "CANCELED", "FUNDING_FAILED_VOIDED"}


def bdc(status, code, message, category="REQUEST"):
    """BILL's error body (https://developer.bill.com/docs/common-api-error-codes): an array of
    {timestamp, code, severity, category, message}."""
    return Response.json(status, [{"timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                                   "code": code, "severity": "ERROR", "category": category, "message": message}])


# Each collection's id prefix, and what names one of its objects (stable_id): an account by its number, a
# vendor by the short name ml-connector gives it, a bill by its vendor and invoice number, a payment by its bills.
COLLECTIONS = {
    "vendors": ("009", lambda vendor: (vendor["shortName"], vendor["name"])),
    "bills": ("00n", lambda bill: (bill["vendorId"], bill["invoice"]["invoiceNumber"])),
    "payments": ("stp", lambda payment: [share["billId"] for share in payment["billPayments"]]),
    **{kind: (prefix, lambda obj: (obj.get("account", {}).get("number", ""), obj["name"]))
       for kind, prefix in CLASSIFICATIONS.items()},
}


def line_id(prefix, parent_id, n):
    """A line's id: the n-th line of its bill or payment, whose id is unique already."""
    return stable_id(prefix, (parent_id, n), width=17 - len(prefix))


def strict_date(value, field):
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise Invalid(f"{field} must be a date in yyyy-MM-dd format")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field} is not a valid date: {value}") from None
    return value


def amount_of(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Invalid(f"{field} must be a number")
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise Invalid(f"{field} must be a number") from None


class Invalid(Exception):
    """A refused request, answered as BILL's 400 error array with `code`."""

    def __init__(self, message, code="BDC_1001"):
        super().__init__(message)
        self.code = code


def malformed(message):
    return Invalid(message, REQUEST_ERROR)


def split_outside_quotes(text, sep=","):
    parts, current, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p]


def filter_time(text, field):
    """A createdTime/updatedTime filter value in one of the documented formats, as an aware datetime."""
    m = FILTER_TIME.fullmatch(text)
    if not m:
        raise malformed(f"Invalid value {text!r} for {field}: use yyyy-MM-dd'T'HH:mm:ss.SSSX, "
                        "yyyy-MM-dd'T'HH:mm:ss.SSS, yyyy-MM-dd'T'HH:mm:ss, yyyy-MM-dd'T'HH:mm or yyyy-MM-dd")
    day, hm, ss, ms, offset = m.groups()
    iso = f"{day}T{hm or '00:00'}:{ss or '00'}.{ms or '000'}"
    if offset and offset != "Z":
        offset = offset if len(offset) != 3 else offset + ":00"
        offset = offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"
    try:
        moment = datetime.fromisoformat(iso + (offset if offset and offset != "Z" else "+00:00"))
    except ValueError:
        raise malformed(f"Invalid value {text!r} for {field}: not a real date and time") from None
    return moment


def object_time(value):
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def parse_filters(text, kind):
    """[(field, op, value)] of a `filters` parameter, refusing what /docs/filterable-fields does not list."""
    allowed = FILTERABLE.get(kind, {})
    filters = []
    for part in split_outside_quotes(text or ""):
        pieces = part.split(":", 2)
        if len(pieces) != 3 or pieces[1] not in FILTER_OPS:
            raise malformed(f"Invalid filter {part!r}: use field:op:value with op one of {sorted(FILTER_OPS)}")
        field, op, value = pieces
        if field not in allowed:
            raise malformed(f"Invalid filter {part!r}: {field} is not a filterable field of {kind}")
        if op not in allowed[field]:
            raise malformed(f"Invalid filter {part!r}: {field} takes {', '.join(sorted(allowed[field]))}, not {op}")
        value = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
        if field in TIME_FIELDS:
            wanted = filter_time(value, field)
        elif field in DATE_FIELDS:
            if not FILTER_DATE.fullmatch(value):
                raise malformed(f"Invalid value {value!r} for {field}: use yyyy-MM-dd")
            wanted = strict_date(value, field)
        elif field in BOOLEAN_FIELDS:
            if value not in ("true", "false"):
                raise malformed(f"Invalid value {value!r} for {field}: use true or false")
            wanted = value == "true"
        elif op in ("in", "nin"):
            wanted = [w.strip() for w in value.split(",") if w.strip()]
        else:
            wanted = value
        filters.append((field, op, wanted))
    return filters


def field_value(obj, path):
    for key in path.split("."):
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def matches(obj, field, op, wanted):
    actual = field_value(obj, field)
    if field in TIME_FIELDS:
        actual = object_time(actual)
    elif field in BOOLEAN_FIELDS:
        actual = bool(actual)
    elif actual is not None:
        actual = str(actual)
    if op == "in":
        return actual in wanted
    if op == "nin":
        return actual not in wanted
    if op == "eq":
        return actual == wanted
    if op == "ne":
        return actual != wanted
    if op == "sw":
        return actual is not None and actual.startswith(wanted)
    if actual is None:
        return False
    return {"gt": actual > wanted, "gte": actual >= wanted, "lt": actual < wanted, "lte": actual <= wanted}[op]


def page_size(request):
    try:
        size = int(request.arg("max", str(DEFAULT_PAGE)))
    except ValueError:
        raise malformed(f"max must be a number from 1 to {MAX_PAGE}") from None
    if not 1 <= size <= MAX_PAGE:
        raise malformed(f"max must be a number from 1 to {MAX_PAGE}")
    return size


def cursor(offset):
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def page_offset(request):
    if not request.arg("page"):
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(request.arg("page").encode()))["o"])
    except (ValueError, KeyError, TypeError):
        raise malformed("Invalid page cursor") from None
    if offset < 0:
        raise malformed("Invalid page cursor")
    return offset


def refuse_updated_time(request, kind, *, filters):
    """The refusal of a variant BILL that neither sorts `kind` by updatedTime nor (with `filters`) filters on it."""
    sort = request.arg("sort") or ""
    if sort.partition(":")[0] == "updatedTime":
        raise malformed(f"Invalid sort {sort!r}: {kind} do not sort by updatedTime")
    given = request.arg("filters") or ""
    if filters and any(part.split(":", 1)[0] == "updatedTime" for part in split_outside_quotes(given)):
        raise malformed(f"Invalid filter {given!r}: updatedTime is not a filterable field of {kind}")


class BillSimulator(Simulator):
    id = "bill"
    # The assumption check's switches (docs/ASSUMPTIONS.md): B10 GET /v3/payments filters on updatedTime and sorts by
    # it, or refuses both as malformed; B20 GET /v3/vendors sorts by updatedTime, or refuses that sort; B7 the events
    # catalog offers this organization payment.updated and payment.failed, or neither (and subscribing to them fails).
    VARIANTS = {"B10": ("honoured", "refused"), "B20": ("honoured", "refused"), "B7": ("listed", "unlisted")}

    def reset(self):
        self.accounts = [
            {"devKey": DEV_KEY, "organizationId": ORG_ID, "username": USERNAME, "password": PASSWORD,
             "kind": "user", "userId": "00601SANDBOXUSER1"},
            {"devKey": DEV_KEY, "organizationId": ORG_ID, "username": SYNC_TOKEN_NAME,
             "password": SYNC_TOKEN_VALUE, "kind": "sync_token", "userId": "00601SANDBOXUSER2"},
        ]
        self.login_limit = LOGIN_LIMIT
        self.hourly_limit = HOURLY_LIMIT
        self.sessions = {}
        self.logins_per_hour = {}  # dev key -> (clock hour, logins)
        self.hourly = {}  # dev key -> (clock hour, calls)
        self.in_flight = InFlight()
        self.rejected_hourly = 0
        self.rejected_logins = 0
        self.orgs = {}
        self.subscriptions = {}
        self.idempotency = {}
        self.events = []
        self.deliveries = []
        self.counts = {"logins": 0, "calls": 0}

    def org(self, org_id):
        if org_id not in self.orgs:
            self.orgs[org_id] = {"vendors": {}, "bills": {}, "payments": {},
                                 **{kind: {} for kind in CLASSIFICATIONS}}
        return self.orgs[org_id]

    def add(self, org_id, collection, obj):
        """Keep a new object under its id (stable_id: the same data loaded again after a restart gets the same
        ids), its lines' ids with it; return it."""
        prefix, natural_key = COLLECTIONS[collection]
        store = self.org(org_id)[collection]
        obj["id"] = stable_id(prefix, (org_id, collection, natural_key(obj)), taken=store, width=17 - len(prefix))
        for n, line in enumerate(obj.get("billLineItems") or obj.get("billPayments") or []):
            line["id"] = line_id("bli" if collection == "bills" else "blp", obj["id"], n)
        store[obj["id"]] = obj
        return obj

    def now_iso(self):
        return self.clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def hour(self):
        """BILL's limits run per clock hour: "All subsequent API requests must wait until the beginning of the
        next hour" (https://developer.bill.com/docs/api-rate-limits)."""
        return int(self.clock.time() // 3600)

    @staticmethod
    def limit_status(request):
        return EVENTS_LIMIT_STATUS if request.path.startswith("/connect-events/") else LIMIT_STATUS

    # --- framework hooks ----------------------------------------------------------------------------------
    def error_response(self, status, code, message):
        codes = {"not_found": ("BDC_1121", "API not supported."), "method_not_allowed": ("BDC_1121", message),
                 "server_error": ("BDC_1001", "System error occurred."), "gateway_timeout": ("BDC_1001", message),
                 "bad_request": (REQUEST_ERROR, message)}
        bdc_code, text = codes.get(code, (code, message))
        return bdc(status, bdc_code, text, "SERVER" if status >= 500 else "REQUEST")

    def rate_limited_response(self, request, context):
        return bdc(self.limit_status(request), "BDC_1322",
                   "Max number of concurrent requests per organization reached.", "DOWNSTREAM")

    def expire_session(self, request):
        self.sessions.pop(request.header("sessionId"), None)

    def authenticate(self, request, handler):
        session_id, dev_key = request.header("sessionId"), request.header("devKey")
        if not session_id or not dev_key:
            # 400 for missing auth headers, 401 for invalid ones: documented for the webhook API
            # (https://developer.bill.com/docs/webhook-api-error-responses). UNCONFIRMED (B11): that the AP/AR API
            # answers the same, and the code.
            return bdc(400, REQUEST_ERROR, "The sessionId and devKey headers are required.")
        session = self.sessions.get(session_id)
        now = self.clock.time()
        if session and now - session["last_used"] > SESSION_IDLE_SECONDS[session["kind"]]:
            del self.sessions[session_id]
            session = None
        if session is None:
            return bdc(401, "BDC_1109", "Session is invalid.  Please log in.", "DOWNSTREAM")
        if dev_key != session["devKey"]:
            return bdc(401, "BDC_1102", "Developer key is invalid.", "DOWNSTREAM")
        # 20,000 calls per developer key per hour, whichever organization they are for.
        hour = self.hour()
        start, count = self.hourly.get(dev_key, (hour, 0))
        if start != hour:
            count = 0
        if count >= self.hourly_limit:
            self.rejected_hourly += 1
            return bdc(self.limit_status(request), "BDC_1144",
                       f"Max number of allowed requests per hour reached: {self.hourly_limit}.", "DOWNSTREAM")
        self.hourly[dev_key] = (hour, count + 1)
        session["last_used"] = now
        self.counts["calls"] += 1
        return session

    @contextlib.contextmanager
    def admission(self, request, session):
        if session is None:
            yield None
            return
        with self.in_flight.admit((session["devKey"], session["organizationId"]), CONCURRENT_LIMIT) as admitted:
            yield None if admitted else self.rate_limited_response(request, session)

    def handle(self, request):
        try:
            return super().handle(request)
        except Invalid as exc:
            return bdc(400, exc.code, str(exc))
        except NotFoundError as exc:
            return bdc(404, "BDC_1001", str(exc))

    # --- session ------------------------------------------------------------------------------------------
    @route("POST", "/connect/v3/login")
    @public
    def login(self, request, _):
        body = request.json()
        if not isinstance(body, dict):
            raise Invalid("The request body must be a JSON object")
        missing = [k for k in ("username", "password", "organizationId", "devKey") if not body.get(k)]
        if missing:
            raise Invalid(f"Missing required field(s): {', '.join(missing)}")
        dev_key = body["devKey"]
        now = self.clock.time()
        # 200 logins per developer key per hour (https://developer.bill.com/docs/api-rate-limits), counted per
        # clock hour like the call limit; refused and failed logins count too (UNCONFIRMED, B1).
        hour = self.hour()
        start, count = self.logins_per_hour.get(dev_key, (hour, 0))
        if start != hour:
            count = 0
        if count >= self.login_limit:
            self.rejected_logins += 1
            return bdc(LIMIT_STATUS, "BDC_1144", f"Max number of allowed logins per hour reached: {self.login_limit}.",
                       "DOWNSTREAM")
        self.logins_per_hour[dev_key] = (hour, count + 1)
        if not any(a["devKey"] == dev_key for a in self.accounts):
            return bdc(400, "BDC_1102", "Developer key is invalid.")
        account = next((a for a in self.accounts if a["devKey"] == dev_key and a["username"] == body["username"]
                        and a["password"] == body["password"] and a["organizationId"] == body["organizationId"]),
                       None)
        if account is None:
            return bdc(400, "BDC_1101", "User name and/or password do not match our records.")
        trusted = (account["kind"] == "user" and body.get("rememberMeId") == REMEMBER_ME_ID
                   and bool(body.get("device")))
        session_id = secrets.token_urlsafe(24)
        self.sessions[session_id] = {"devKey": dev_key, "organizationId": account["organizationId"],
                                     "userId": account["userId"], "kind": account["kind"], "trusted": trusted,
                                     "last_used": now}
        self.counts["logins"] += 1
        return Response.json(200, {"organizationId": account["organizationId"], "sessionId": session_id,
                                   "trusted": trusted, "userId": account["userId"]})

    @route("POST", "/connect/v3/logout")
    def logout(self, request, session):
        self.sessions.pop(request.header("sessionId"), None)
        return Response(200)

    @route("GET", "/connect/v3/login/session")
    def session_info(self, request, session):
        return Response.json(200, {"organizationId": session["organizationId"], "userId": session["userId"],
                                   "mfaStatus": "TRUSTED" if session["trusted"] else "DISABLED", "mfaBypass": False})

    # --- lists --------------------------------------------------------------------------------------------
    def list_response(self, request, items, kind):
        """A list page: {nextPage, prevPage, results} (https://developer.bill.com/docs/search-op-with-lists).
        UNCONFIRMED (B13): nextPage/prevPage are left out, not null, when there is no such page; the default
        order (createdTime ascending) and which fields sort."""
        size = page_size(request)
        filters = parse_filters(request.arg("filters"), kind)
        sort = request.arg("sort") or "createdTime:asc"
        sort_field, _, direction = sort.partition(":")
        if direction not in ("asc", "desc"):
            raise malformed(f"Invalid sort {sort!r}: use field:asc or field:desc")
        offset = page_offset(request)
        rows = [o for o in items if all(matches(o, f, op, v) for f, op, v in filters)]
        rows.sort(key=lambda o: (str(field_value(o, sort_field) or ""), o["id"]), reverse=direction == "desc")
        body = {"results": rows[offset:offset + size]}
        if offset + size < len(rows):
            body["nextPage"] = cursor(offset + size)
        if offset > 0:
            body["prevPage"] = cursor(max(0, offset - size))
        return Response.json(200, body)

    def one_way_list(self, request, items):
        """Webhook API lists: "pagination is available only in one direction. The nextPage value is available
        ... you cannot retrieve the previous page" (reference/getallsubscriptions, geteventsforsubscription)."""
        size = page_size(request)
        offset = page_offset(request)
        body = {"results": items[offset:offset + size]}
        if offset + size < len(items):
            body["nextPage"] = cursor(offset + size)
        return Response.json(200, body)

    # --- vendors ------------------------------------------------------------------------------------------
    def build_vendor(self, body, *, api=True):
        """A vendor from a create body. Over the API (not the seed control), the OpenAPI's constraints on POST
        /v3/vendors hold (https://developer.bill.com/reference/createvendor): name of 1 to 100 characters,
        shortName of at most 40, an address object."""
        if not isinstance(body, dict):
            raise Invalid("A vendor must be a JSON object")
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            raise Invalid("name is required")
        if api and len(body["name"]) > 100:
            raise Invalid("name must be at most 100 characters")
        if api and len(str(body.get("shortName") or "")) > 40:
            raise Invalid("shortName must be at most 40 characters")
        if api and not isinstance(body.get("address"), dict):
            raise Invalid("address is required")
        if body.get("accountType", "BUSINESS") not in ("BUSINESS", "PERSON", "NONE"):
            raise Invalid("accountType must be BUSINESS, PERSON or NONE")
        address = body.get("address") or {}
        if not isinstance(address, dict):
            raise Invalid("address must be an object")
        if address.get("country") and not re.fullmatch(r"[A-Z]{2}", address["country"]):
            raise Invalid("address.country must be an ISO-3166 two-letter code")
        info = body.get("additionalInfo") or {}
        if info.get("taxIdType") and info["taxIdType"] not in ("EIN", "SSN", "UNDEFINED"):
            raise Invalid("additionalInfo.taxIdType must be EIN or SSN")
        now = self.now_iso()
        return {"id": None, "archived": False, "name": body["name"], "shortName": body.get("shortName", ""),
                "accountNumber": body.get("accountNumber", ""), "accountType": body.get("accountType", "BUSINESS"),
                "email": body.get("email", ""), "phone": body.get("phone", ""), "address": address,
                "additionalInfo": info, "billCurrency": body.get("billCurrency", "USD"),
                "paymentInformation": {"payeeName": body["name"], "payByType": "OFFLINE"},
                "networkStatus": "NOT_CONNECTED", "createdTime": now, "updatedTime": now}

    @route("GET", "/connect/v3/vendors")
    def list_vendors(self, request, session):
        if self.variant("B20") == "refused":
            refuse_updated_time(request, "vendors", filters=False)
        return self.list_response(request, self.org(session["organizationId"])["vendors"].values(), "vendors")

    @route("POST", "/connect/v3/vendors")
    def create_vendor(self, request, session):
        vendor = self.add(session["organizationId"], "vendors", self.build_vendor(request.json()))
        self.emit(session["organizationId"], "vendor.created", "vendor", vendor)
        return Response.json(201, vendor)

    @route("POST", "/connect/v3/vendors/bulk")
    def create_vendors_bulk(self, request, session):
        return self.bulk(request, session, "vendors", 20, self.build_vendor, "vendor")

    @route("GET", "/connect/v3/vendors/(?P<vendor_id>009[0-9A-Za-z]+)")
    def get_vendor(self, request, session, vendor_id):
        return Response.json(200, self.find(session, "vendors", vendor_id))

    @route("PATCH", "/connect/v3/vendors/(?P<vendor_id>009[0-9A-Za-z]+)")
    def update_vendor(self, request, session, vendor_id):
        vendor = self.find(session, "vendors", vendor_id)
        body = request.json()
        if not isinstance(body, dict):
            raise Invalid("The request body must be a JSON object")
        merged = self.build_vendor({**vendor, **body}, api=False)
        for key in ("name", "shortName", "accountNumber", "accountType", "email", "phone", "address",
                    "additionalInfo", "billCurrency"):
            vendor[key] = merged[key]
        vendor["updatedTime"] = self.now_iso()
        self.emit(session["organizationId"], "vendor.updated", "vendor", vendor)
        return Response.json(200, vendor)

    def find(self, session, collection, object_id):
        obj = self.org(session["organizationId"])[collection].get(object_id)
        if obj is None:
            raise NotFoundError(f"No {collection[:-1]} with id {object_id}")
        return obj

    def bulk(self, request, session, collection, limit, build, entity):
        items = request.json()
        if not isinstance(items, list) or not items:
            raise Invalid("The request body must be a non-empty JSON array")
        if len(items) > limit:
            raise Invalid(f"At most {limit} {collection} per bulk request")
        built = []
        for index, item in enumerate(items):
            try:
                built.append(build(item, session) if collection == "bills" else build(item))
            except Invalid as exc:
                raise Invalid(f"Item {index}: {exc}. Nothing was created.") from None
        for obj in built:
            self.add(session["organizationId"], collection, obj)
            self.emit(session["organizationId"], f"{entity}.created", entity, obj)
        # 201 with the created objects in order: "Create multiple bills response" in BILL's v3 API collection
        # (generated from the OpenAPI definition). UNCONFIRMED (B14): vendors/bulk is taken to answer the same.
        return Response.json(201, built)

    # --- bills --------------------------------------------------------------------------------------------
    def build_bill(self, body, session):
        if not isinstance(body, dict):
            raise Invalid("A bill must be a JSON object")
        org = self.org(session["organizationId"])
        vendor = org["vendors"].get(body.get("vendorId"))
        if vendor is None or vendor["archived"]:
            raise Invalid(f"vendorId {body.get('vendorId')!r} is not an active vendor")
        strict_date(body.get("dueDate"), "dueDate")
        invoice = body.get("invoice") or {}
        if not isinstance(invoice, dict) or not str(invoice.get("invoiceNumber") or "").strip():
            raise Invalid("invoice.invoiceNumber is required")
        strict_date(invoice.get("invoiceDate"), "invoice.invoiceDate")
        lines = body.get("billLineItems")
        if not isinstance(lines, list) or not lines:
            raise Invalid("billLineItems must list at least one line")
        built_lines, total = [], Decimal("0.00")
        for n, line in enumerate(lines):
            if not isinstance(line, dict):
                raise Invalid(f"billLineItems[{n}] must be an object")
            if "amount" in line:
                amount = amount_of(line["amount"], f"billLineItems[{n}].amount")
            elif "quantity" in line and "price" in line:
                amount = (amount_of(line["quantity"], "quantity") * amount_of(line["price"], "price")).quantize(
                    Decimal("0.01"))
            else:
                raise Invalid(f"billLineItems[{n}].amount is required")
            classifications = line.get("classifications") or {}
            self.check_classifications(org, classifications, f"billLineItems[{n}]")
            built_lines.append({"id": None, "amount": float(amount),
                                "description": line.get("description", ""), "classifications": classifications})
            total += amount
        self.check_classifications(org, body.get("classifications") or {}, "bill")
        now = self.now_iso()
        return {"id": None, "archived": False, "vendorId": vendor["id"], "vendorName": vendor["name"],
                "amount": float(total), "paidAmount": 0.0, "dueAmount": float(total), "scheduledAmount": 0.0,
                "dueDate": body["dueDate"], "description": body.get("description", ""),
                "invoice": {"invoiceNumber": str(invoice["invoiceNumber"]), "invoiceDate": invoice["invoiceDate"]},
                "billLineItems": built_lines, "classifications": body.get("classifications") or {},
                "purchaseOrderNumber": body.get("purchaseOrderNumber", ""), "paymentStatus": "UNPAID",
                "approvalStatus": "UNASSIGNED", "createdTime": now, "updatedTime": now}

    def check_classifications(self, org, classifications, where):
        fields = {"chartOfAccountId": "chart-of-accounts", "accountingClassId": "accounting-classes",
                  "departmentId": "departments", "locationId": "locations"}
        for field, kind in fields.items():
            value = classifications.get(field)
            if value and (value not in org[kind] or org[kind][value]["archived"]):
                raise Invalid(f"{where}.classifications.{field} {value!r} does not exist or is archived")

    @route("GET", "/connect/v3/bills")
    def list_bills(self, request, session):
        return self.list_response(request, self.org(session["organizationId"])["bills"].values(), "bills")

    @route("POST", "/connect/v3/bills")
    def create_bill(self, request, session):
        bill = self.add(session["organizationId"], "bills", self.build_bill(request.json(), session))
        self.emit(session["organizationId"], "bill.created", "bill", bill)
        return Response.json(201, bill)

    @route("POST", "/connect/v3/bills/bulk")
    def create_bills_bulk(self, request, session):
        return self.bulk(request, session, "bills", 100, self.build_bill, "bill")

    @route("GET", "/connect/v3/bills/(?P<bill_id>00n[0-9A-Za-z]+)")
    def get_bill(self, request, session, bill_id):
        return Response.json(200, self.find(session, "bills", bill_id))

    # Archiving and restoring a bill (https://developer.bill.com/reference/archivebill, /reference/restorebill):
    # the bill comes back with archived true (false), and "there is no change when you archive an archived bill"
    # (restore a restored one). BILL's help pages set the limits: a bill can be archived (deactivated) only while
    # it is completely unpaid, "a paid bill cannot be deactivated", and a pending payment must be cancelled or
    # voided first (https://help.bill.com/hc/en-us/articles/11669448168589-Delete-a-bill,
    # https://support.bill.com/hc/en-us/articles/210744806-Deleting-a-bill-or-document); an archived bill cannot
    # be paid until it is restored. UNCONFIRMED (docs/ASSUMPTIONS.md B22): the status (200) of both answers, and
    # the status and code (400, BDC_1001) of the refusal.
    @route("POST", "/connect/v3/bills/(?P<bill_id>00n[0-9A-Za-z]+)/archive")
    def archive_bill(self, request, session, bill_id):
        return Response.json(200, self.set_archived(session, bill_id, True))

    @route("POST", "/connect/v3/bills/(?P<bill_id>00n[0-9A-Za-z]+)/restore")
    def restore_bill(self, request, session, bill_id):
        return Response.json(200, self.set_archived(session, bill_id, False))

    def set_archived(self, session, bill_id, archived):
        bill = self.find(session, "bills", bill_id)
        if bill["archived"] == archived:
            return bill
        payments = [p for p in self.org(session["organizationId"])["payments"].values()
                    if p["singleStatus"] not in VOIDING_STATES
                    and any(share["billId"] == bill_id for share in p["billPayments"])]
        if archived and any(p["singleStatus"] != "CLEARED" for p in payments):
            raise Invalid(f"Bill {bill_id} has a payment in process: cancel or void it before archiving the bill.")
        if archived and payments:
            raise Invalid(f"Bill {bill_id} is paid, in full or in part: a paid bill cannot be archived.")
        bill["archived"] = archived
        bill["updatedTime"] = self.now_iso()
        self.emit(session["organizationId"], "bill.archived" if archived else "bill.restored", "bill", bill)
        return bill

    # --- classifications ----------------------------------------------------------------------------------
    @route("GET", "/connect/v3/classifications/(?P<kind>chart-of-accounts|accounting-classes|departments|locations)")
    def list_classifications(self, request, session, kind):
        return self.list_response(request, self.org(session["organizationId"])[kind].values(), "classifications")

    @route("POST", "/connect/v3/classifications/(?P<kind>chart-of-accounts|accounting-classes|departments|locations)")
    def create_classification(self, request, session, kind):
        obj = self.add(session["organizationId"], kind, self.build_classification(kind, request.json()))
        return Response.json(201, obj)

    def build_classification(self, kind, body):
        if not isinstance(body, dict) or not str(body.get("name") or "").strip():
            raise Invalid("name is required")
        now = self.now_iso()
        obj = {"id": None, "archived": bool(body.get("archived", False)),
               "name": body["name"], "description": body.get("description", ""), "parentId": body.get("parentId"),
               "createdTime": now, "updatedTime": now}
        if kind == "chart-of-accounts":
            account = body.get("account") or {}
            obj["account"] = {"type": account.get("type", "EXPENSE"), "number": str(account.get("number", ""))}
        return obj

    # --- payments -----------------------------------------------------------------------------------------
    @route("GET", "/connect/v3/payments")
    def list_payments(self, request, session):
        if self.variant("B10") == "refused":
            refuse_updated_time(request, "payments", filters=True)
        return self.list_response(request, self.org(session["organizationId"])["payments"].values(), "payments")

    @route("GET", "/connect/v3/payments/(?P<payment_id>stp[0-9A-Za-z]+)")
    def get_payment(self, request, session, payment_id):
        return Response.json(200, self.find(session, "payments", payment_id))

    @route("POST", "/connect/v3/payments")
    def create_payment(self, request, session):
        """POST /v3/payments: an MFA-trusted session (BDC_1361, 403 otherwise), one bill, 201."""
        if not session["trusted"]:
            return bdc(403, "BDC_1361", "Untrusted session.", "DOWNSTREAM")
        body = request.json() or {}
        if not isinstance(body, dict):
            raise Invalid("The request body must be a JSON object")
        payment = self.pay(session["organizationId"], [{"billId": body.get("billId"), "amount": body.get("amount")}],
                           body.get("processDate"), "SCHEDULED")
        return Response.json(201, payment)

    def pay(self, org_id, shares, process_date=None, single_status="CLEARED"):
        """One payment of one or more bills of one vendor: [{"billId", "amount"?}], each in full unless an amount
        is given. The API pays one bill a payment ("you cannot combine payments made to the same vendor" yet,
        https://developer.bill.com/v3/docs/v3-payments-changes); BILL's web app combines a vendor's bills into one
        payment, and GET /v3/payments then names each bill and its amount in billPayments[] (BILL's v3 API
        collection, payment response schema). UNCONFIRMED (B15): billId of such a payment is its first bill."""
        org = self.org(org_id)
        if not isinstance(shares, list) or not shares:
            raise Invalid("Name at least one bill to pay")
        allocations, vendor = [], None
        for share in shares:
            bill = org["bills"].get((share or {}).get("billId"))
            if bill is None:
                raise Invalid(f"billId {(share or {}).get('billId')!r} does not exist")
            if bill["archived"]:
                raise Invalid(f"Bill {bill['id']} is archived: restore it before paying it")
            if vendor is not None and bill["vendorId"] != vendor:
                raise Invalid("One payment pays bills of one vendor")
            vendor = bill["vendorId"]
            due = Decimal(str(bill["dueAmount"]))
            amount = amount_of(share.get("amount") if share.get("amount") is not None else str(due), "amount")
            if amount <= 0 or amount > due:
                raise Invalid(f"amount must be more than 0 and at most the amount due ({bill['dueAmount']})")
            allocations.append((bill, amount))
        process_date = strict_date(process_date or self.clock.now().date().isoformat(), "processDate")
        now = self.now_iso()
        first = allocations[0][0]
        total = sum(amount for _, amount in allocations)
        payment = {"id": None, "vendorId": first["vendorId"], "vendorName": first["vendorName"],
                   "billId": first["id"],
                   "billPayments": [{"id": None, "billId": bill["id"], "amount": float(amount)}
                                    for bill, amount in allocations],
                   "amount": float(total), "processDate": process_date,
                   "transactionNumber": "TXN" + secrets.token_hex(4).upper(),
                   "confirmationNumber": "P" + secrets.token_hex(5).upper(), "status": "SCHEDULED",
                   "singleStatus": single_status, "createdTime": now, "updatedTime": now,
                   "createdBy": "00601SANDBOXUSER1",
                   "fundingAccount": {"type": "BANK_ACCOUNT", "id": "bac01SANDBOX"}}
        self.add(org_id, "payments", payment)
        self.apply_payment_status(org, payment, single_status)
        return payment

    def apply_payment_status(self, org, payment, single_status):
        payment["singleStatus"] = single_status
        # status is the older field (SCHEDULED, PAID, VOID, CANCELLED, ...; BILL's v3 API collection samples);
        # singleStatus is the one https://developer.bill.com/docs/single-status-payment-values lists.
        payment["status"] = {"CLEARED": "PAID", "VOIDED": "VOID", "FUNDING_FAILED_VOIDED": "VOID",
                             "CANCELED": "CANCELLED"}.get(single_status, "SCHEDULED")
        payment["updatedTime"] = self.now_iso()
        for share in payment["billPayments"]:
            bill = org["bills"][share["billId"]]
            paid = sum(Decimal(str(s["amount"])) for p in org["payments"].values()
                       if p["singleStatus"] not in VOIDING_STATES
                       for s in p["billPayments"] if s["billId"] == bill["id"])
            bill["paidAmount"] = float(paid)
            bill["dueAmount"] = float(Decimal(str(bill["amount"])) - paid)
            bill["paymentStatus"] = "PAID" if bill["dueAmount"] <= 0 else ("PARTIAL" if paid else "UNPAID")
            bill["updatedTime"] = payment["updatedTime"]
        self.emit(self.org_of(org), "payment.updated", "payment", self.payment_event(payment))

    @staticmethod
    def payment_event(payment):
        """The payment of a payment.updated notification: the fields of
        https://developer.bill.com/docs/payment-webhook-notification-payloads, with status in the singleStatus
        vocabulary and billIds but no per-bill amounts. UNCONFIRMED (B16): funding carries the total as
        funding.amount/currency (the docs name only the funding account fields)."""
        return {"id": payment["id"], "billIds": [s["billId"] for s in payment["billPayments"]],
                "transactionNumber": payment["transactionNumber"], "status": payment["singleStatus"],
                "createdBy": payment["createdBy"], "createdTime": payment["createdTime"],
                "updatedTime": payment["updatedTime"], "processDate": payment["processDate"],
                "funding": {"amount": payment["amount"], "currency": "USD",
                            "fundingAccount": {"id": payment["fundingAccount"]["id"], "type": "BANK_ACCOUNT",
                                               "name": "Sandbox checking", "accountNumber": "xxxxxx6789"}},
                "disbursement": {}, "vendor": {"id": payment["vendorId"], "name": payment["vendorName"]},
                "billingType": "BDC"}

    def org_of(self, org):
        return next(k for k, v in self.orgs.items() if v is org)

    # --- webhooks -----------------------------------------------------------------------------------------
    @route("GET", "/connect-events/v3/events/catalog")
    def events_catalog(self, request, session):
        return Response.json(200, [{"type": t, "versions": ["1"]} for t in self.event_types()])

    def event_types(self):
        """What this organization may subscribe to: every event, or (B7 unlisted) none of the payment events, which
        one version of BILL's docs keeps for selected partners."""
        if self.variant("B7") == "unlisted":
            return [t for t in EVENT_TYPES if t not in ("payment.updated", "payment.failed")]
        return EVENT_TYPES

    def public_subscription(self, sub):
        return {k: v for k, v in sub.items() if k != "securityKey"}

    @route("GET", "/connect-events/v3/subscriptions")
    def list_subscriptions(self, request, session):
        """A paged list like the others, max 1-100 (default 20), nextPage only (reference/getallsubscriptions)."""
        subs = [self.public_subscription(s) for s in self.subscriptions.values()
                if s["organizationId"] == session["organizationId"]]
        return self.one_way_list(request, subs)

    def idempotent(self, request, session):
        key = request.header("X-Idempotent-Key")
        try:
            if not key or uuid.UUID(key).version != 4:
                raise ValueError
        except ValueError:
            raise Invalid("X-Idempotent-Key header must be a UUID4") from None
        return (session["organizationId"], request.path, key)

    @route("POST", "/connect-events/v3/subscriptions")
    def create_subscription(self, request, session):
        key = self.idempotent(request, session)
        if key in self.idempotency:
            return Response.json(200, self.idempotency[key])
        body = request.json()
        sub = self.validate_subscription(body, session)
        mine = [s for s in self.subscriptions.values() if s["organizationId"] == session["organizationId"]]
        if len(mine) >= 10:
            raise Invalid("An organization can have at most 10 webhook subscriptions")
        for other in mine:
            if other["notificationUrl"] == sub["notificationUrl"] and \
                    {e["type"] for e in other["events"]} == {e["type"] for e in sub["events"]}:
                raise Invalid(f"A subscription with the same events and notificationUrl exists: {other['id']}")
        sub["securityKey"] = secrets.token_urlsafe(32)
        self.subscriptions[sub["id"]] = sub
        self.idempotency[key] = sub
        return Response.json(200, sub)

    def validate_subscription(self, body, session, existing=None):
        if not isinstance(body, dict):
            raise Invalid("The request body must be a JSON object")
        merged = {**(existing or {}), **body}
        for field in ("name", "status", "events", "notificationUrl"):
            if field not in merged:
                raise Invalid(f"{field} is required")
        if not isinstance(merged["status"], dict) or not isinstance(merged["status"].get("enabled"), bool):
            raise Invalid("status.enabled must be true or false")
        events = merged["events"]
        if not isinstance(events, list) or not events:
            raise Invalid("events must list at least one event")
        for e in events:
            if not isinstance(e, dict) or e.get("type") not in self.event_types():
                raise Invalid(f"Unknown event type {e.get('type') if isinstance(e, dict) else e!r}")
            if e.get("version") != "1":
                raise Invalid(f"Event {e['type']}: version must be the string \"1\"")
        url = urlparse(str(merged["notificationUrl"]))
        # BILL requires HTTPS. The simulator also accepts plain HTTP to loopback, where the tests and
        # the demo's portal listen: its one deliberate difference.
        if not (url.scheme == "https" or (url.scheme == "http" and url.hostname in LOOPBACK)) or not url.hostname:
            raise Invalid("notificationUrl must be an https URL")
        now = self.now_iso()
        # Random, unlike the objects' ids: a restart forgets the subscription and its key, and the portal finds
        # that out by its id being gone, then subscribes again with a new key.
        return {"id": (existing or {}).get("id") or "sub" + uuid.uuid4().hex[:16],
                "name": merged["name"], "organizationId": session["organizationId"], "status": merged["status"],
                "events": events, "notificationUrl": merged["notificationUrl"],
                "createdTime": (existing or {}).get("createdTime", now), "updatedTime": now}

    def subscription(self, session, subscription_id):
        sub = self.subscriptions.get(subscription_id)
        if sub is None or sub["organizationId"] != session["organizationId"]:
            raise NotFoundError(f"No subscription {subscription_id}")
        return sub

    @route("GET", "/connect-events/v3/subscriptions/(?P<subscription_id>sub[0-9a-f]+)")
    def get_subscription(self, request, session, subscription_id):
        return Response.json(200, self.public_subscription(self.subscription(session, subscription_id)))

    @route("PATCH", "/connect-events/v3/subscriptions/(?P<subscription_id>sub[0-9a-f]+)")
    def update_subscription(self, request, session, subscription_id):
        sub = self.subscription(session, subscription_id)
        updated = self.validate_subscription(request.json(), session, existing=sub)
        was_enabled = sub["status"]["enabled"]
        sub.update(updated)
        if sub["status"]["enabled"] and not was_enabled:
            sub["failures"] = 0
        return Response.json(200, self.public_subscription(sub))

    @route("DELETE", "/connect-events/v3/subscriptions/(?P<subscription_id>sub[0-9a-f]+)")
    def delete_subscription(self, request, session, subscription_id):
        self.subscription(session, subscription_id)
        del self.subscriptions[subscription_id]
        return Response(200)

    @route("POST", "/connect-events/v3/subscriptions/(?P<subscription_id>sub[0-9a-f]+)/security_key")
    def rotate_key(self, request, session, subscription_id):
        key = self.idempotent(request, session)
        if key in self.idempotency:
            return Response.json(200, self.idempotency[key])
        sub = self.subscription(session, subscription_id)
        sub["securityKey"] = secrets.token_urlsafe(32)
        self.idempotency[key] = {"securityKey": sub["securityKey"]}
        return Response.json(200, {"securityKey": sub["securityKey"]})

    @route("GET", "/connect-events/v3/events/subscription/(?P<subscription_id>sub[0-9a-f]+)")
    def event_history(self, request, session, subscription_id):
        self.subscription(session, subscription_id)
        history = [{"id": e["eventId"], "type": e["eventType"], "version": "1", "subscriptionId": subscription_id,
                    "payload": e["body"].decode(), "createdTime": e["createdTime"], "statusCode": e["statusCode"]}
                   for e in self.deliveries if e["subscriptionId"] == subscription_id]
        if request.arg("entityId"):
            history = [h for h in history if request.arg("entityId") in h["payload"]]
        return self.one_way_list(request, history)

    def emit(self, org_id, event_type, entity_key, entity):
        for sub in self.subscriptions.values():
            if sub["organizationId"] != org_id or not sub["status"]["enabled"]:
                continue
            if event_type not in {e["type"] for e in sub["events"]}:
                continue
            event_id = str(uuid.uuid4())
            body = json.dumps({"metadata": {"eventId": event_id, "subscriptionId": sub["id"], "organizationId": org_id,
                                            "eventType": event_type, "version": "1"}, entity_key: entity},
                              separators=(",", ":")).encode()
            self.deliveries.append({"eventId": event_id, "eventType": event_type, "subscriptionId": sub["id"],
                                    "body": body, "attempts": 0, "next_at": self.clock.time(), "status": "pending",
                                    "statusCode": None, "createdTime": self.now_iso()})

    def sign(self, security_key, body):
        return base64.b64encode(hmac.new(security_key.encode(), body, hashlib.sha256).digest()).decode()

    def deliver_due(self, *, repeat=1, reverse=False):
        """Post every due event to its subscriber; failures back off and eventually disable the subscription."""
        with self.lock:
            now = self.clock.time()
            due = [d for d in self.deliveries if d["status"] == "pending" and d["next_at"] <= now
                   and self.subscriptions.get(d["subscriptionId"], {}).get("status", {}).get("enabled")]
            jobs = [(d, self.subscriptions[d["subscriptionId"]]) for d in due]
        if reverse:
            jobs.reverse()
        outcome = {"delivered": 0, "failed": 0}
        for d, sub in jobs * repeat:
            signature = self.sign(sub["securityKey"], d["body"])
            try:
                response = requests.post(sub["notificationUrl"], data=d["body"], timeout=10,
                                         headers={"Content-Type": "application/json",
                                                  "x-bill-sha-signature": signature})
                status = response.status_code
            except requests.RequestException:
                status = None
            with self.lock:
                d["statusCode"] = status
                if d["status"] == "delivered":
                    continue
                if status == 200:
                    d["status"] = "delivered"
                    outcome["delivered"] += 1
                    continue
                d["attempts"] += 1
                outcome["failed"] += 1
                if d["attempts"] >= MAX_DELIVERY_ATTEMPTS:
                    d["status"] = "failed"
                    sub["status"] = {**sub["status"], "enabled": False}
                    for other in self.deliveries:
                        if other["subscriptionId"] == sub["id"] and other["status"] == "pending":
                            other["status"] = "dropped"
                else:
                    d["next_at"] = self.clock.time() + DELIVERY_BACKOFF_SECONDS * 2 ** (d["attempts"] - 1)
        with self.lock:
            outcome["pending"] = sum(1 for d in self.deliveries if d["status"] == "pending")
        return outcome

    def tick(self):
        self.deliver_due()

    # --- controls and state -------------------------------------------------------------------------------
    def control(self, action, payload):
        org_id = payload.get("organizationId", ORG_ID)
        try:
            if action == "account":
                for key in ("login_limit", "hourly_limit"):
                    if key in payload:
                        setattr(self, key, int(payload[key]))
                if "username" in payload:
                    with self.lock:
                        self.accounts.append({"devKey": payload.get("devKey", DEV_KEY), "organizationId": org_id,
                                              "username": payload["username"], "password": payload["password"],
                                              "kind": payload.get("kind", "user"),
                                              "userId": "006" + secrets.token_hex(6).upper()})
                return {"login_limit": self.login_limit, "hourly_limit": self.hourly_limit}
            if action == "seed":
                with self.lock:
                    return self.seed(org_id, payload)
            if action == "pay":
                with self.lock:
                    shares = payload.get("bills") or [{"billId": payload.get("billId"),
                                                       "amount": payload.get("amount")}]
                    return self.pay(org_id, shares, payload.get("processDate"), payload.get("singleStatus", "CLEARED"))
            if action == "payment-status":
                with self.lock:
                    org = self.org(org_id)
                    payment = org["payments"].get(payload.get("paymentId"))
                    if payment is None:
                        raise Invalid(f"No payment {payload.get('paymentId')!r}")
                    if payload.get("voidReason") is not None and payload["singleStatus"] in VOIDING_STATES:
                        # A void request as GET /v3/payments lists it (BILL's v3 API collection: voidInfo[]).
                        payment.setdefault("voidInfo", []).append({
                            "id": f"vdr{len(payment.get('voidInfo', [])) + 1:03d}{payment['id'][3:]}",
                            "requestedBy": payment["createdBy"], "type": "VOID_ONLY",
                            "reason": payload["voidReason"], "createdTime": self.now_iso(),
                            "updatedTime": self.now_iso()})
                    self.apply_payment_status(org, payment, payload["singleStatus"])
                    return payment
            if action == "fail-payment":
                with self.lock:
                    bill = self.org(org_id)["bills"].get(payload.get("billId"))
                    if bill is None:
                        raise Invalid(f"No bill {payload.get('billId')!r}")
                    self.emit(org_id, "payment.failed", "payment",
                              {"bills": [{"id": bill["id"], "amount": bill["dueAmount"]}],
                               "vendor": {"id": bill["vendorId"], "name": bill["vendorName"]},
                               "createdTime": self.now_iso(), "updatedTime": self.now_iso()})
                    return {"emitted": "payment.failed"}
            if action == "deliver":
                return self.deliver_due(repeat=int(payload.get("repeat", 1)), reverse=bool(payload.get("reverse")))
            if action == "expire-sessions":
                with self.lock:
                    count = len(self.sessions)
                    self.sessions.clear()
                return {"expired": count}
            if action == "disable-subscription":
                with self.lock:
                    sub = self.subscriptions[payload["id"]]
                    sub["status"] = {**sub["status"], "enabled": False}
                return self.public_subscription(sub)
            if action == "edit-vendor":
                # A person editing a vendor in BILL's web app: found by the short name we give it.
                with self.lock:
                    vendor = next((v for v in self.org(org_id)["vendors"].values()
                                   if v.get("shortName") == payload.get("shortName")), None)
                    if vendor is None:
                        raise Invalid(f"No vendor with shortName {payload.get('shortName')!r}")
                    changes = payload.get("changes") or {}
                    merged = self.build_vendor({**vendor, **changes}, api=False)
                    for key in changes:
                        vendor[key] = merged[key]
                    vendor["updatedTime"] = self.now_iso()
                    self.emit(org_id, "vendor.updated", "vendor", vendor)
                    return vendor
            if action == "seed-canonical":
                with self.lock:
                    return self.seed_canonical(org_id)
            if action == "canonical-pay":
                with self.lock:
                    shares = [{"billId": payload.get("bill_id"), "amount": payload.get("amount")}]
                    return {"payment_id": self.pay(org_id, shares)["id"]}
            if action == "canonical-state":
                with self.lock:
                    return self.canonical_state(org_id)
        except (Invalid, NotFoundError, KeyError) as exc:
            raise BadRequest(str(exc)) from None
        raise BadRequest(f"bill has no control {action!r}; controls: account, seed, pay, payment-status, edit-vendor, "
                         "fail-payment, deliver, expire-sessions, disable-subscription, seed-canonical, "
                         "canonical-pay, canonical-state")

    def seed_canonical(self, org_id):
        """The canonical chart of accounts, numbered by GL code, and its departments, which BILL knows by
        name only."""
        created = self.seed(org_id, {
            "chart_of_accounts": [{"name": a.name, "account": {"type": "EXPENSE", "number": a.code},
                                   "archived": not a.active} for a in canonical.GL_ACCOUNTS],
            "departments": [{"name": d.name, "archived": not d.active} for d in canonical.DEPARTMENTS]})
        codes = {d.name: d.code for d in canonical.DEPARTMENTS}
        return {"gl_accounts": {a["account"]["number"]: a["id"] for a in created["chart-of-accounts"]},
                "dimensions": {"department": {codes[d["name"]]: d["id"] for d in created["departments"]}}}

    def canonical_state(self, org_id):
        org = self.org(org_id)
        accounts = {a["id"]: a["account"]["number"] for a in org["chart-of-accounts"].values()}
        codes = {d.name: d.code for d in canonical.DEPARTMENTS}
        departments = {d["id"]: codes.get(d["name"], "") for d in org["departments"].values()}

        def line(item):
            classifications = item.get("classifications") or {}
            return {"amount": canonical.amount_text(item["amount"]),
                    "gl_account": accounts.get(classifications.get("chartOfAccountId"), ""),
                    "department": departments.get(classifications.get("departmentId"), "")}

        return {"vendors": [{"id": v["id"], "name": v["name"], "tax_id": v["additionalInfo"].get("taxId", "")}
                            for v in org["vendors"].values()],
                "bills": [{"id": b["id"], "vendor_id": b["vendorId"], "invoice_number": b["invoice"]["invoiceNumber"],
                           "invoice_date": b["invoice"]["invoiceDate"], "due_date": b["dueDate"],
                           "amount": canonical.amount_text(b["amount"]), "lines": [line(i) for i in b["billLineItems"]]}
                          for b in org["bills"].values()]}

    def seed(self, org_id, payload):
        created = {}
        for kind in CLASSIFICATIONS:
            for body in payload.get(kind.replace("-", "_"), []):
                obj = self.add(org_id, kind, self.build_classification(kind, body))
                created.setdefault(kind, []).append(obj)
        for body in payload.get("vendors", []):
            vendor = self.add(org_id, "vendors", self.build_vendor(body, api=False))
            created.setdefault("vendors", []).append(vendor)
        return created

    def state(self):
        return {
            "organizations": {org_id: {k: list(v.values()) for k, v in data.items()}
                              for org_id, data in self.orgs.items()},
            "subscriptions": list(self.subscriptions.values()),
            "deliveries": [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in d.items()}
                           for d in self.deliveries],
            "sessions": len(self.sessions),
            "logins": self.counts["logins"],
            "calls": self.counts["calls"],
            "max_in_flight": self.in_flight.peak,
            "rejected_concurrent": self.in_flight.refused,
            "rejected_hourly": self.rejected_hourly,
            "rejected_logins": self.rejected_logins,
            "calls_this_hour": {k: n for k, (h, n) in self.hourly.items() if h == self.hour()},
            "limits": {"login_limit": self.login_limit, "hourly_limit": self.hourly_limit},
        }


class NotFoundError(Exception):
    """An object id that does not exist in the organization: BILL answers 404."""
