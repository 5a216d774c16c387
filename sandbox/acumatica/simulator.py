"""The Acumatica simulator: one instance with one tenant, its contract-based REST API at Default/24.200.001.

What it follows, and where from (the checklist, tests/connectors/acumatica/test_acumatica_checklist.py, has
one test per behaviour, naming its source):
- Acumatica's OpenAPI definition of Default/24.200.001 (contract.py): every entity answered with every field
  of its schema, as value objects ({} when empty), detail collections and linked entities only when $expand
  names them; the query options $select, $filter, $expand, $custom, $skip and $top, and no others; bodies
  checked against the schema (a field not wrapped in {"value": ...}, or of the wrong type, is refused);
  actions answered 202 with a Location to poll until 204.
- The Integration Development Guide: sign-in at /entity/auth/login (name, password, tenant, branch, as JSON or
  as a form body; answered 204 with the session cookie) and sign-out at /entity/auth/logout; the endpoint's
  OpenAPI document at /entity/{name}/{version}/swagger.json (the contract-based API's schema; Acumatica's
  $metadata belongs to its OData interfaces, /odata and /odatav4, which the simulator does not serve);
  OAuth 2.0 at /identity/connect/token (password and refresh_token grants, client ids GUID@Tenant, refresh
  tokens only with offline_access); $filter with datetimeoffset'...' literals and on the fields of linked
  entities (MainContact/Email); a licence's Web Services API users: a sign-in while every slot is held is
  refused ("API Login Limit"), and calls over the request limits get 429.
- pass-culture's integration of an Acumatica-based ERP: a missing record is reported by its exception type
  (PX.Api.ContractBased.NoEntitySatisfiesTheConditionException).
Where those are silent, the choice is marked UNCONFIRMED here and listed in docs/ASSUMPTIONS.md (AC1-AC13).
The probed ones can be switched to the other way (VARIANTS, POST /_control/variant): AC1, AC3, AC4 and AC6.

State lives in memory; sessions time out on the hub's simulated clock.
"""

import contextlib
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from connectors import canonical
from connectors.acumatica import contract
from connectors.odata import ACUMATICA
from sandbox.hub import BadRequest, InFlight, Response, Simulator, public, route, stable_uuid
from sandbox.odata import ODataQueryError, apply_query

TENANT = "MLC"
USERNAME = "mlc-integration"
PASSWORD = "sandbox-password"
CLIENT_ID = "4f6a1c2e-8d3b-4e9a-9c1f-2b7d5e8a0c31@MLC"
CLIENT_SECRET = "sandbox-client-secret"
BRANCHES = ("HQ", "EAST")
ENDPOINTS = ((contract.ENDPOINT_NAME, contract.ENDPOINT_VERSION),)
# An instance that does not serve the connector's version (docs AC1's variant): one set up with other endpoints,
# or an upgrade that dropped an old one (UNCONFIRMED that upgrades drop any).
OTHER_ENDPOINTS = ((contract.ENDPOINT_NAME, "23.200.001"), (contract.ENDPOINT_NAME, "25.200.001"))
BUILD_VERSION = "24.200.0190"
# A trial licence's Web Services API users (License Restrictions for API Users).
API_USERS = 2
# UNCONFIRMED (docs AC7): an idle session ends after 20 minutes; an access token lives 3,600 seconds.
SESSION_IDLE_SECONDS = 20 * 60
TOKEN_LIFETIME = 3600
AUTH_COOKIE = ".ASPXAUTH"
QUERY_OPTIONS = {"$select", "$filter", "$expand", "$custom", "$skip", "$top"}
# $filter as IDG's $filter Parameter documents it: datetimeoffset'...' literals, the functions substringof,
# startswith and endswith, and paths into linked entities (filter_fields).
DIALECT = ACUMATICA
FILTER_TYPES = {"string": "string", "decimal": "decimal", "datetime": "datetimeoffset", "boolean": "bool",
                "int": "int", "guid": "guid"}
NOT_FOUND = "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException"
# Cash accounts and payment methods of the simulated company; a vendor pays from the account of its currency.
CASH_ACCOUNTS = {"10200": "USD", "10210": "CAD", "10250": "EUR"}
PAYMENT_METHODS = ("CHECK", "ACH", "WIRE")
PAYABLE_VENDOR_STATUSES = ("Active", "One-Time")
VENDOR_STATUSES = ("Active", "On Hold", "Hold Payments", "Inactive", "One-Time")
BILL_STATUSES = ("On Hold", "Balanced", "Open", "Closed")
PAYMENT_TYPE, VOID_TYPE = "Payment", "Voided Payment"


def http_error(status, message, exception_message=None, exception_type=None, model_state=None):
    """Acumatica's error body (the definition's HttpError)."""
    body = {"message": message}
    if exception_message is not None:
        body.update({"exceptionMessage": exception_message, "exceptionType": exception_type or "PX.Data.PXException",
                     "stackTrace": ""})
    if model_state:
        body["modelState"] = model_state
    return Response.json(status, body)


class Refused(Exception):
    """Refuse the call with this response."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


class Invalid(Exception):
    """A record Acumatica would echo back with errors on its fields (HTTP 422)."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors  # field name (or "Details[n].Field") -> message


def now_stamp(clock):
    """A change time as Acumatica keeps it, to the millisecond."""
    moment = clock.now()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def as_day(value):
    """A calendar date as the instance holds it: midnight, in the instance's zone (UTC here)."""
    if isinstance(value, datetime):
        value = value.date()
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def plain(value):
    """State for /_control/state: JSON-ready."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def check_value(field, value, where):
    """A value object of a request body, as the plain value it holds; raises ValueError naming the problem.
    Decimal values may come as JSON numbers or numeric strings, as Acumatica's JSON reader takes both."""
    if not isinstance(value, dict) or set(value) - {"value", "error"}:
        raise ValueError(f"{where} must be a value object, {{\"value\": ...}}")
    raw = value.get("value")
    if raw is None:
        return None
    try:
        parsed = contract.parse(field.kind, raw, where)
    except contract.Unparsable as exc:
        raise ValueError(str(exc)) from None
    if field.kind == "datetime" and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def read_body(schema, body, where=None):
    """A request body as a plain record, checked against the definition: a field it does not define, a value
    not wrapped as a value object, or a value of the wrong type is refused (HTTP 400 with modelState).
    UNCONFIRMED (docs AC10): Acumatica's answer to an unknown field; it may ignore it."""
    where = where or schema
    if not isinstance(body, dict):
        raise ValueError(f"{where} must be an object")
    known = contract.fields(schema)
    record = {}
    for name, value in body.items():
        if name in ("id", "rowNumber", "note", "custom", "_links", "files", "error"):
            if name == "id":
                record["id"] = value
            continue
        field = known.get(name)
        if field is None:
            raise ValueError(f"{where}.{name} is not a field of {schema} in Default/{contract.ENDPOINT_VERSION}")
        if field.kind == "detail":
            if not isinstance(value, list):
                raise ValueError(f"{where}.{name} must be a list of {field.schema}")
            record[name] = [read_body(field.schema, item, f"{where}.{name}[{n}]") for n, item in enumerate(value)]
        elif field.kind == "linked":
            record[name] = read_body(field.schema, value, f"{where}.{name}")
        else:
            record[name] = check_value(field, value, f"{where}.{name}")
    return record


def expansion(schema, text):
    """$expand as {field: nested expansion}; every path must name detail or linked entities of the schema."""
    tree = {}
    for path in [p.strip() for p in (text or "").split(",") if p.strip()]:
        node, current = tree, schema
        for part in path.split("/"):
            field = contract.fields(current).get(part)
            if field is None or field.kind not in ("detail", "linked"):
                raise BadRequest(f"$expand: '{path}' does not name a detail or linked entity of {schema}.")
            node = node.setdefault(part, {})
            current = field.schema
    return tree


def filter_fields(entity):
    """The fields $filter takes on `entity`, by OData type: its own, and those of its linked entities by path
    (MainContact/Email, MainContact/Address/City), as IDG's $filter Parameter documents. Filtering on detail
    records is not supported there, so their fields are left out."""
    found = {}

    def add(schema, prefix, depth):
        for name, field in contract.fields(schema).items():
            if field.kind in FILTER_TYPES:
                found[prefix + name] = FILTER_TYPES[field.kind]
            elif field.kind == "linked" and depth < 2:
                add(field.schema, f"{prefix}{name}/", depth + 1)

    add(entity, "", 0)
    return found


# Where an instance answering change times without an offset (docs AC4's variant) keeps its clock: Sydney's
# standard time, as a MYOB Acumatica site might.
INSTANCE_ZONE = timezone(timedelta(hours=10))
CHANGE_TIMES = ("LastModifiedDateTime", "CreatedDateTime")


def spelt_otherwise(status):
    """A vendor status as an instance answering in other words would (docs AC3's variant)."""
    return status.upper().replace("-", " ")


class AcumaticaSimulator(Simulator):
    id = "acumatica"
    VARIANTS = {
        "AC1": ("serves Default/24.200.001", "serves other versions only"),
        "AC3": ("statuses as we know them", "statuses spelt otherwise"),
        "AC4": ("change times with a UTC offset", "change times in local time without an offset"),
        "AC6": ("key order", "reverse key order"),
    }

    def reset(self):
        self.api_users = API_USERS
        self.session_idle_seconds = SESSION_IDLE_SECONDS
        self.token_lifetime = TOKEN_LIFETIME
        self.requests_per_minute = 0  # 0: the licence sets no limit (a trial licence's case)
        self.max_concurrent_requests = 0
        self.sessions = {}  # cookie value or access token -> session
        self.refresh_tokens = {}
        self.vendors, self.accounts, self.subaccounts, self.bills, self.checks = {}, {}, {}, {}, {}
        self.operations = {}  # action status id -> polls still answered 202
        self.minute_calls = (0, 0)
        self.in_flight = InFlight()
        self.counts = {"logins": 0, "refreshes": 0, "logouts": 0, "calls": 0, "rejected_logins": 0,
                       "rate_limited": 0, "max_open_sessions": 0}
        self.numbers = {"bill": 0, "check": 0, "account": 0, "subaccount": 0}

    # --- framework hooks ----------------------------------------------------------------------------------
    def error_response(self, status, code, message):
        if status == 404:
            return http_error(404, f"No HTTP resource was found that matches the request URI. {message}")
        if status == 405:
            return http_error(405, f"The requested resource does not support this HTTP method. {message}")
        if status == 401:
            return http_error(401, message)
        if status >= 500:
            return http_error(status, "An error has occurred.", message, "System.Exception")
        return http_error(status, message)

    def rate_limited_response(self, request, context):
        # UNCONFIRMED (docs AC8): the body of a throttled call; Acumatica documents only the 429.
        self.counts["rate_limited"] += 1
        return http_error(429, "The number of API requests exceeds the limit of the license.")

    def handle(self, request):
        try:
            return super().handle(request)
        except Refused as exc:
            return exc.response

    def session_key(self, request):
        header = request.header("Authorization") or ""
        if header.startswith("Bearer "):
            return header[7:].strip()
        for part in (request.header("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == AUTH_COOKIE:
                return value
        return None

    def expire_session(self, request):
        self.sessions.pop(self.session_key(request), None)

    def purge(self):
        """End the sessions idle too long, and those whose access token expired."""
        now = self.clock.time()
        for key, session in list(self.sessions.items()):
            if now - session["last_used"] > self.session_idle_seconds or now >= session.get("expires", now + 1):
                del self.sessions[key]

    def authenticate(self, request, handler):
        self.purge()
        session = self.sessions.get(self.session_key(request) or "")
        if session is None:
            return http_error(401, "You are not logged in.")
        now = self.clock.time()
        session["last_used"] = now
        if self.requests_per_minute:
            minute, count = self.minute_calls
            count = count + 1 if minute == int(now // 60) else 1
            self.minute_calls = (int(now // 60), count)
            if count > self.requests_per_minute:
                return self.rate_limited_response(request, session)
        self.counts["calls"] += 1
        return session

    @contextlib.contextmanager
    def admission(self, request, context):
        """The licence's concurrent API requests, when it sets a number: more are refused with 429. Calls in
        flight are counted either way, for the state's max_in_flight."""
        if context is None:
            yield None
            return
        with self.in_flight.admit("instance", self.max_concurrent_requests or float("inf")) as admitted:
            yield None if admitted else self.rate_limited_response(request, context)

    # --- sessions -----------------------------------------------------------------------------------------
    def open_session(self, kind, user, branch, key, expires=None):
        """A new session, if the licence has a free API user slot."""
        self.purge()
        if len(self.sessions) >= self.api_users:
            self.counts["rejected_logins"] += 1
            # UNCONFIRMED (docs AC8): the status and wording; Acumatica's official client maps it to 429.
            raise Refused(http_error(429, "API Login Limit", "API Login Limit: the number of concurrent API "
                                     f"sessions has reached the license limit ({self.api_users}).",
                                     "PX.Data.PXException"))
        now = self.clock.time()
        self.sessions[key] = {"kind": kind, "user": user, "branch": branch, "created": now, "last_used": now,
                              **({"expires": expires} if expires else {})}
        self.counts["max_open_sessions"] = max(self.counts["max_open_sessions"], len(self.sessions))

    @route("POST", "/entity/auth/login")
    @public
    def login(self, request, _):
        # IDG Login: the body may be JSON or a form (Content-Type application/x-www-form-urlencoded).
        form = (request.header("Content-Type") or "").split(";")[0].strip().lower() == \
            "application/x-www-form-urlencoded"
        body = request.form() if form else request.json()
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object with name, password and tenant.")
        if body.get("company") is not None and body.get("tenant") is not None:
            # Acumatica's official client refuses both as well (Credentials.cs): the one is an alias of the other.
            raise BadRequest("Specify either tenant or company, not both.")
        tenant = body.get("tenant") if body.get("tenant") is not None else body.get("company")
        if body.get("name") != USERNAME or body.get("password") != PASSWORD or \
                str(tenant or "").lower() != TENANT.lower():
            # UNCONFIRMED (docs AC7): the status and wording of a refused sign-in.
            return http_error(401, "Invalid credentials. Please try again.")
        branch = body.get("branch") or BRANCHES[0]
        if branch not in BRANCHES:
            return http_error(401, f"Branch {branch} is not a branch this user can sign in to.")
        cookie = secrets.token_hex(48).upper()
        self.open_session("cookie", USERNAME, branch, cookie)
        self.counts["logins"] += 1
        return Response(204, b"", {"Set-Cookie": f"{AUTH_COOKIE}={cookie}; path=/; HttpOnly"})

    @route("POST", "/entity/auth/logout")
    @public
    def logout(self, request, _):
        # UNCONFIRMED (docs AC7): a sign-out of a session already ended answers 204 as well.
        if self.sessions.pop(self.session_key(request) or "", None) is not None:
            self.counts["logouts"] += 1
        return Response(204)

    @route("POST", "/identity/connect/token")
    @public
    def token(self, request, _):
        form = request.form()
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if client_id.lower() != CLIENT_ID.lower() or client_secret != CLIENT_SECRET:
            # RFC 6749 5.2; IdentityServer answers an unknown client with 400.
            return Response.json(400, {"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "password":
            scopes = set(form.get("scope", "").split())
            if "api" not in scopes:
                return Response.json(400, {"error": "invalid_scope"})
            if form.get("username") != USERNAME or form.get("password") != PASSWORD:
                return Response.json(400, {"error": "invalid_grant",
                                           "error_description": "invalid_username_or_password"})
            return self.issue_token(scopes, replacing=None)
        if grant == "refresh_token":
            grant_info = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if grant_info is None:
                return Response.json(400, {"error": "invalid_grant"})
            self.counts["refreshes"] += 1
            return self.issue_token(grant_info["scopes"], replacing=grant_info["access"])
        return Response.json(400, {"error": "unsupported_grant_type"})

    def issue_token(self, scopes, replacing):
        """An access token, and a session for it. UNCONFIRMED (docs AC8): an OAuth session takes its API user
        slot when the token is issued; a refreshed token takes over its predecessor's session."""
        self.sessions.pop(replacing, None)
        access = secrets.token_urlsafe(32)
        self.open_session("oauth", USERNAME, BRANCHES[0], access, expires=self.clock.time() + self.token_lifetime)
        if replacing is None:
            self.counts["logins"] += 1
        body = {"access_token": access, "expires_in": self.token_lifetime, "token_type": "Bearer",
                "scope": " ".join(sorted(scopes))}
        if "offline_access" in scopes:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = {"scopes": scopes, "access": access}
            body["refresh_token"] = refresh
        return Response.json(200, body)

    # --- endpoints ----------------------------------------------------------------------------------------
    @route("GET", "/entity")
    def list_endpoints(self, request, session):
        # UNCONFIRMED (docs AC1): the document's shape beyond endpoints[].name and .version, which
        # Easy-Acumatica's client reads.
        endpoints = [{"name": name, "version": version, "href": f"/entity/{name}/{version}/"}
                     for name, version in self.endpoints()]
        return Response.json(200, {"version": {"acumaticaBuildVersion": BUILD_VERSION,
                                               "databaseVersion": BUILD_VERSION}, "endpoints": endpoints})

    def endpoints(self):
        return ENDPOINTS if self.variant("AC1") == self.VARIANTS["AC1"][0] else OTHER_ENDPOINTS

    def served(self, endpoint, version, entity):
        """The entity's store, or a 404 when the instance does not serve this endpoint version or entity.
        UNCONFIRMED (docs AC1): the body of that 404."""
        if (endpoint, version) not in self.endpoints() or entity not in contract.ENTITIES:
            raise Refused(http_error(404, f"No HTTP resource was found that matches the request URI "
                                          f"'/entity/{endpoint}/{version}/{entity}'."))
        return {"Bill": self.bills, "Check": self.checks, "Vendor": self.vendors, "Account": self.accounts,
                "Subaccount": self.subaccounts}[entity]

    ENDPOINT = r"/entity/(?P<endpoint>[A-Za-z0-9_]+)/(?P<version>\d+\.\d+\.\d+)"
    ENTITY = ENDPOINT + r"/(?P<entity>[A-Za-z]+)"
    GUID = r"(?P<record_id>[0-9a-fA-F-]{36})"

    @route("GET", ENDPOINT + r"/swagger\.json")
    def openapi(self, request, session, endpoint, version):
        """The endpoint's OpenAPI document (IDG "OpenAPI 3.0": <endpoint URL>/swagger.json?company=<tenant>,
        the signed-in tenant's when company is left out): the definition the simulator serves, its five entities.
        UNCONFIRMED: the answer for a company the user cannot sign in to; the simulator has one tenant."""
        if (endpoint, version) not in self.endpoints():
            raise Refused(http_error(404, f"No HTTP resource was found that matches the request URI "
                                          f"'/entity/{endpoint}/{version}/swagger.json'."))
        return Response.json(200, contract.definition())

    def options(self, request):
        unknown = sorted(k for k in request.query if k.startswith("$") and k not in QUERY_OPTIONS)
        if unknown:
            raise BadRequest(f"The query parameter '{unknown[0]}' is not supported.")
        return {k: v for k, v in request.query.items() if k in ("$filter", "$top", "$skip")}

    def selection(self, schema, text):
        if not text:
            return None
        names = [n.strip() for n in text.split(",") if n.strip()]
        scalars = contract.scalar_fields(schema)
        wrong = [n for n in names if n not in scalars]
        if wrong:
            raise BadRequest(f"$select: {schema} has no field '{wrong[0]}'.")
        return set(names)

    @route("GET", ENTITY)
    def list_records(self, request, session, endpoint, version, entity):
        store = self.served(endpoint, version, entity)
        options = self.options(request)
        expand = expansion(entity, request.arg("$expand"))
        select = self.selection(entity, request.arg("$select"))
        fields = filter_fields(entity)
        if self.variant("AC6") != self.VARIANTS["AC6"][0]:
            options["$orderby"] = ",".join(f"{key} desc" for key in contract.KEYS[entity])
        try:
            rows = apply_query(list(store.values()), options, fields, contract.KEYS[entity], max_top=10 ** 9,
                               entity_set=entity, dialect=DIALECT)["value"]
        except ODataQueryError as exc:
            raise BadRequest(str(exc)) from None
        return Response.json(200, [self.present(entity, store[self.key(entity, row)], expand, select, n,
                                                (endpoint, version))
                                   for n, row in enumerate(rows, 1)])

    @staticmethod
    def key(entity, row):
        keys = contract.KEYS[entity]
        return row[keys[0]] if len(keys) == 1 else tuple(row[k] for k in keys)

    def by_id(self, store, record_id):
        record = next((r for r in store.values() if r["id"] == record_id), None)
        if record is None:
            # The definition documents no 404 for a read by id: a missing record is a 500 naming the
            # exception, as pass-culture's client reads it.
            raise Refused(http_error(500, "An error has occurred.", "No entity satisfies the condition.", NOT_FOUND))
        return record

    @route("GET", ENTITY + "/" + GUID)
    def get_record(self, request, session, endpoint, version, entity, record_id):
        store = self.served(endpoint, version, entity)
        self.options(request)
        record = self.by_id(store, record_id)
        return Response.json(200, self.present(entity, record, expansion(entity, request.arg("$expand")),
                                               self.selection(entity, request.arg("$select")), 1, (endpoint, version)))

    def present(self, schema, record, expand, select, row_number, endpoint=None):
        """A record as Acumatica answers it: every field of the schema a value object ({} when empty), details
        and linked entities only when expanded, the Entity base's keys, and _links on a top-level record."""
        body = {"id": record.get("id") or str(uuid.uuid4()), "rowNumber": row_number,
                "note": {"value": record.get("note") or ""}, "custom": {}}
        for name, field in contract.fields(schema).items():
            value = record.get(name)
            if field.kind == "detail":
                if name in expand:
                    body[name] = [self.present(field.schema, child, expand[name], None, n)
                                  for n, child in enumerate(value or [], 1)]
            elif field.kind == "linked":
                if name in expand:
                    body[name] = self.present(field.schema, value or {}, expand[name], None, 1)
            elif select is None or name in select:
                if (schema, name) == ("Vendor", "Status") and value and \
                        self.variant("AC3") != self.VARIANTS["AC3"][0]:
                    value = spelt_otherwise(value)
                if name in CHANGE_TIMES and value and self.variant("AC4") != self.VARIANTS["AC4"][0]:
                    value = value.astimezone(INSTANCE_ZONE).replace(tzinfo=None)
                body[name] = {} if value is None else {"value": contract.render(field.kind, value)}
        if endpoint:
            base = f"/entity/{endpoint[0]}/{endpoint[1]}/{schema}/{record['id']}"
            body["_links"] = {"self": base, "files:put": base + "/files/{filename}"}
        return body

    # --- writes -------------------------------------------------------------------------------------------
    def body_of(self, schema, request):
        try:
            return read_body(schema, request.json())
        except ValueError as exc:
            raise Refused(http_error(400, "The request is invalid.", model_state={schema: [str(exc)]})) from None

    def invalid(self, schema, record, errors):
        """HTTP 422: the record echoed back, with each field's error on its value object."""
        body = self.present(schema, {"id": str(uuid.uuid4()), **record}, {"Details": {}}, None, 1)
        for name, message in errors.items():
            if name.startswith("Details["):
                index, field = int(name[8:name.index("]")]), name[name.index(".") + 1:]
                body["Details"][index].setdefault(field, {})["error"] = message
            else:
                body.setdefault(name, {})["error"] = message
        return Response.json(422, body)

    @route("PUT", ENTITY)
    def put_record(self, request, session, endpoint, version, entity):
        store = self.served(endpoint, version, entity)
        self.options(request)
        if entity != "Check":
            raise BadRequest(f"The simulator takes no PUT for {entity}; load it with the seed control.")
        record = self.body_of(entity, request)
        record.setdefault("Type", PAYMENT_TYPE)
        existing = store.get((record["Type"], record.get("ReferenceNbr")))
        if request.header("If-None-Match") == "*" and existing is not None:
            return http_error(412, "The record already exists.")
        if request.header("If-Match") == "*" and existing is None:
            return http_error(412, "The record does not exist.")
        if existing is not None:
            raise BadRequest("The simulator adds payments; it does not change them.")
        try:
            check = self.new_payment(record)
        except Invalid as exc:
            return self.invalid(entity, record, exc.errors)
        store[(check["Type"], check["ReferenceNbr"])] = check
        return Response.json(200, self.present(entity, check, expansion(entity, request.arg("$expand")),
                                               self.selection(entity, request.arg("$select")), 1, (endpoint, version)))

    def new_payment(self, record):
        """An AP payment as Acumatica checks one on save: a payable vendor, a cash account and payment method
        (the vendor's by default), one currency, and applications to released bills of that vendor within
        their balances and the payment's amount."""
        errors = {}
        if record["Type"] != PAYMENT_TYPE:
            errors["Type"] = f"The simulator records payments of type {PAYMENT_TYPE} only."
        vendor = self.vendors.get(record.get("Vendor") or "")
        if vendor is None:
            raise Invalid({"Vendor": f"'Vendor' cannot be found in the system: {record.get('Vendor')!r}."})
        if vendor["Status"] not in PAYABLE_VENDOR_STATUSES:
            errors["Vendor"] = f"The vendor status is '{vendor['Status']}'."
        cash_account = record.get("CashAccount") or vendor.get("CashAccount")
        if cash_account not in CASH_ACCOUNTS:
            errors["CashAccount"] = f"'Cash Account' cannot be found in the system: {cash_account!r}."
        method = record.get("PaymentMethod") or vendor.get("PaymentMethod")
        if method not in PAYMENT_METHODS:
            errors["PaymentMethod"] = f"'Payment Method' cannot be found in the system: {method!r}."
        currency = CASH_ACCOUNTS.get(cash_account)
        if record.get("CurrencyID") and currency and record["CurrencyID"] != currency:
            errors["CurrencyID"] = f"The currency of cash account {cash_account} is {currency}."
        details = record.get("Details") or []
        applied = Decimal(0)
        for n, detail in enumerate(details):
            bill = self.bills.get((detail.get("DocType"), detail.get("ReferenceNbr")))
            paid = detail.get("AmountPaid") or Decimal(0)
            if bill is None or bill["Vendor"] != vendor["VendorID"]:
                errors[f"Details[{n}].ReferenceNbr"] = "The document cannot be found among the vendor's open documents."
            elif bill["Status"] != "Open":
                errors[f"Details[{n}].ReferenceNbr"] = f"Bill {bill['ReferenceNbr']} is {bill['Status']}, not open."
            elif currency and bill["CurrencyID"] != currency:
                errors[f"Details[{n}].ReferenceNbr"] = f"Bill {bill['ReferenceNbr']} is in {bill['CurrencyID']}."
            elif not 0 < paid <= bill["Balance"]:
                errors[f"Details[{n}].AmountPaid"] = f"The amount paid must be more than 0 and at most the bill's " \
                                                     f"balance, {bill['Balance']}."
            applied += paid
        amount = record.get("PaymentAmount")
        amount = applied if amount is None else amount
        if amount < applied:
            errors["PaymentAmount"] = "The applications exceed the payment amount."
        if errors:
            raise Invalid(errors)
        hold = record.get("Hold") is not False  # Hold Documents on Entry, as most AP preferences have it
        self.numbers["check"] += 1
        number = f"{self.numbers['check']:06d}"
        return {**record, "id": stable_uuid("Check", PAYMENT_TYPE, number), "ReferenceNbr": number,
                "CashAccount": cash_account, "PaymentMethod": method, "CurrencyID": currency, "Hold": hold,
                "Status": "On Hold" if hold else "Balanced", "PaymentAmount": amount,
                "UnappliedBalance": amount - applied,
                "ApplicationDate": record.get("ApplicationDate") or as_day(self.clock.now()),
                "LastModifiedDateTime": now_stamp(self.clock), "History": [],
                "Details": [{**d, "id": stable_uuid("Check", PAYMENT_TYPE, number, n),
                             "Balance": self.bills[(d["DocType"], d["ReferenceNbr"])]["Balance"],
                             "CashDiscountBalance": Decimal(0)} for n, d in enumerate(details)]}

    @route("DELETE", ENTITY + "/" + GUID)
    def delete_record(self, request, session, endpoint, version, entity, record_id):
        store = self.served(endpoint, version, entity)
        if entity != "Check":
            raise BadRequest(f"The simulator deletes no {entity}.")
        check = self.by_id(store, record_id)
        if check["Status"] not in ("On Hold", "Balanced"):
            return http_error(500, "An error has occurred.", "A released document cannot be deleted.")
        del store[(check["Type"], check["ReferenceNbr"])]
        return Response(204)

    # --- actions ------------------------------------------------------------------------------------------
    @route("POST", ENTITY + r"/(?P<action>[A-Za-z]+)")
    def invoke(self, request, session, endpoint, version, entity, action):
        store = self.served(endpoint, version, entity)
        actions = {("Check", "ReleaseCheck"): self.release_payment, ("Check", "VoidCheck"): self.void_payment}
        if (entity, action) not in actions:
            return http_error(404, f"No HTTP resource was found that matches the request URI: {entity}/{action}.")
        payload = request.json()
        if not isinstance(payload, dict) or "entity" not in payload:
            return http_error(400, "The request is invalid.", model_state={"invocation": ["'entity' is required."]})
        try:
            given = read_body(entity, payload["entity"])
        except ValueError as exc:
            return http_error(400, "The request is invalid.", model_state={"entity": [str(exc)]})
        record = self.by_id(store, given["id"]) if "id" in given else store.get(
            tuple(given.get(k) for k in contract.KEYS[entity]))
        if record is None:
            return http_error(500, "An error has occurred.", "No entity satisfies the condition.", NOT_FOUND)
        try:
            actions[(entity, action)](record)
        except Invalid as exc:
            return self.invalid(entity, record, exc.errors)
        operation = uuid.uuid4().hex
        self.operations[operation] = 1
        # Relative to the action's URL, so that it resolves wherever the simulator is mounted. UNCONFIRMED
        # (docs AC11): the form of Acumatica's Location.
        return Response(202, b"", {"Location": f"{action}/status/{operation}"})

    @route("GET", ENTITY + r"/(?P<action>[A-Za-z]+)/status/(?P<operation>[0-9a-f]{32})")
    def action_status(self, request, session, endpoint, version, entity, action, operation):
        self.served(endpoint, version, entity)
        if operation not in self.operations:
            return http_error(404, "No such operation.")
        if self.operations[operation]:
            self.operations[operation] -= 1
            return Response(202, b"", {"Location": f"{operation}"})
        del self.operations[operation]
        return Response(204)

    def release_payment(self, check):
        if check["Hold"]:
            raise Invalid({"Hold": "The document is on hold and cannot be released."})
        if check["Status"] != "Balanced":
            raise Invalid({"Status": f"The document is {check['Status']}; only a balanced document is released."})
        now = now_stamp(self.clock)
        if check["Type"] == VOID_TYPE:
            original = self.checks[(PAYMENT_TYPE, check["ReferenceNbr"])]
            for detail in original["Details"]:
                bill = self.bills[(detail["DocType"], detail["ReferenceNbr"])]
                bill["Balance"] += detail["AmountPaid"]
                bill["Applications"] = [a for a in bill["Applications"] if a["ReferenceNbr"] != check["ReferenceNbr"]]
                bill.update(Status="Open", LastModifiedDateTime=now)
            original.update(Status="Voided", LastModifiedDateTime=now)
            check.update(Status="Closed", LastModifiedDateTime=now)
            return
        errors = {}
        for n, detail in enumerate(check["Details"]):
            bill = self.bills[(detail["DocType"], detail["ReferenceNbr"])]
            if bill["Status"] != "Open" or detail["AmountPaid"] > bill["Balance"]:
                errors[f"Details[{n}].AmountPaid"] = f"The amount paid exceeds the balance of bill " \
                                                     f"{bill['ReferenceNbr']}, {bill['Balance']}."
        if errors:
            raise Invalid(errors)
        for detail in check["Details"]:
            bill = self.bills[(detail["DocType"], detail["ReferenceNbr"])]
            bill["Balance"] -= detail["AmountPaid"]
            application = stable_uuid("Application", bill["Type"], bill["ReferenceNbr"], check["ReferenceNbr"])
            bill["Applications"].append({"id": application, "DocType": PAYMENT_TYPE,
                                         "ReferenceNbr": check["ReferenceNbr"], "AmountPaid": detail["AmountPaid"],
                                         "Balance": bill["Balance"], "Status": "Closed"})
            bill.update(Status="Closed" if bill["Balance"] == 0 else "Open", LastModifiedDateTime=now)
            detail["Balance"] = bill["Balance"]
        check.update(Status="Open" if check["UnappliedBalance"] else "Closed", LastModifiedDateTime=now)

    def void_payment(self, check):
        """UNCONFIRMED (docs AC9): voiding a released payment adds a Voided Payment document with its reference
        number, balanced, which undoes the payment once released."""
        if check["Type"] != PAYMENT_TYPE or check["Status"] not in ("Open", "Closed"):
            raise Invalid({"Status": f"A {check['Type']} that is {check['Status']} cannot be voided."})
        if (VOID_TYPE, check["ReferenceNbr"]) in self.checks:
            raise Invalid({"ReferenceNbr": f"Payment {check['ReferenceNbr']} is already being voided."})
        now = now_stamp(self.clock)
        self.checks[(VOID_TYPE, check["ReferenceNbr"])] = {
            **{k: check[k] for k in ("Vendor", "PaymentRef", "CashAccount", "PaymentMethod", "CurrencyID",
                                     "PaymentAmount", "ReferenceNbr")},
            "id": stable_uuid("Check", VOID_TYPE, check["ReferenceNbr"]), "Type": VOID_TYPE, "Hold": False,
            "Status": "Balanced", "UnappliedBalance": 0,
            "Description": f"Void of payment {check['ReferenceNbr']}", "ApplicationDate": as_day(self.clock.now()),
            "LastModifiedDateTime": now, "History": [],
            "Details": [{**d, "id": stable_uuid("Check", VOID_TYPE, check["ReferenceNbr"], n)}
                        for n, d in enumerate(check["Details"])]}
        check["LastModifiedDateTime"] = now

    # --- controls -----------------------------------------------------------------------------------------
    def control(self, action, payload):
        with self.lock:
            if action == "account":
                for key in ("api_users", "session_idle_seconds", "token_lifetime", "requests_per_minute",
                            "max_concurrent_requests"):
                    if key in payload:
                        setattr(self, key, int(payload[key]))
                return {key: getattr(self, key) for key in ("api_users", "session_idle_seconds", "token_lifetime",
                                                             "requests_per_minute", "max_concurrent_requests")}
            if action == "seed":
                return self.seed(payload)
            if action == "sessions":
                self.purge()
                now = self.clock.time()
                return {"open": len(self.sessions), "api_users": self.api_users,
                        "sessions": [{"kind": s["kind"], "user": s["user"], "branch": s["branch"],
                                      "idle_seconds": round(now - s["last_used"])} for s in self.sessions.values()]}
            if action == "update-vendor":
                return plain(self.change_vendor(payload.get("VendorID", ""), payload))
            if action == "seed-canonical":
                if payload.get("unreadable"):
                    raise BadRequest("Acumatica answers every value in its declared type; the simulator holds no "
                                     "value the connector cannot read.")
                return self.seed(canonical_seed())
            if action == "canonical-supplier":
                return self.change_canonical_supplier(payload)
            if action == "canonical-invoice":
                return self.change_canonical_invoice(payload)
            if action == "canonical-state":
                return {"payments": [
                    {"payment_id": c["PaymentRef"], "invoice_number": self.bills[(d["DocType"], d["ReferenceNbr"])][
                        "VendorRef"], "supplier_id": c["Vendor"], "amount": canonical.amount_text(d["AmountPaid"]),
                     "status": "VOIDED" if c["Status"] == "Voided" else "PAID"}
                    for c in self.checks.values() if c["Type"] == PAYMENT_TYPE for d in c["Details"]]}
        raise BadRequest(f"acumatica has no control {action!r}; controls: account, seed, sessions, update-vendor, "
                         "seed-canonical, canonical-supplier, canonical-invoice, canonical-state")

    def typed(self, schema, given, what):
        """A record given to the seed controls (plain JSON values), typed by the definition; a field the
        entity does not have is refused."""
        known = contract.fields(schema)
        record = {}
        for name, value in given.items():
            field = known.get(name)
            if field is None:
                raise BadRequest(f"{what}: {schema} has no field {name!r}")
            if field.kind == "detail":
                record[name] = [self.typed(field.schema, item, f"{what} {name}") for item in value or []]
            elif field.kind == "linked":
                record[name] = self.typed(field.schema, value or {}, f"{what} {name}")
            else:
                try:
                    record[name] = check_value(field, {"value": value}, f"{what} {name}")
                except ValueError as exc:
                    raise BadRequest(str(exc)) from None
        return record

    def seed(self, payload):
        """Vendors, GL accounts, subaccounts and bills, in the definition's field names with plain values. A bill
        takes Status On Hold, Balanced or Open (released); its Balance is its Amount unless given."""
        now = now_stamp(self.clock)
        for given in payload.get("vendors", []):
            vendor = self.typed("Vendor", given, f"Vendor {given.get('VendorID')}")
            if not vendor.get("VendorID"):
                raise BadRequest("Every vendor needs a VendorID")
            status = vendor.setdefault("Status", "Active")
            if status not in VENDOR_STATUSES:
                raise BadRequest(f"Vendor status {status!r} is not one of {', '.join(VENDOR_STATUSES)}")
            currency = vendor.setdefault("CurrencyID", "USD")
            vendor.setdefault("CashAccount", next((a for a, c in CASH_ACCOUNTS.items() if c == currency), None))
            vendor.setdefault("PaymentMethod", PAYMENT_METHODS[0])
            contact = vendor.setdefault("MainContact", {})
            contact.setdefault("Address", {}).setdefault("id", stable_uuid("Vendor", vendor["VendorID"], "Address"))
            contact.setdefault("id", stable_uuid("Vendor", vendor["VendorID"], "Contact"))
            self.vendors[vendor["VendorID"]] = {"id": stable_uuid("Vendor", vendor["VendorID"]), "CreatedDateTime": now,
                                                **vendor,
                                                "LastModifiedDateTime": now}
        for given in payload.get("accounts", []):
            account = self.typed("Account", given, f"Account {given.get('AccountCD')}")
            self.numbers["account"] += 1
            self.accounts[account["AccountCD"]] = {"id": stable_uuid("Account", account["AccountCD"]),
                                                   "AccountID": self.numbers["account"],
                                                   "Active": True, "Type": "Expense", "CreatedDateTime": now,
                                                   **account, "LastModifiedDateTime": now}
        for given in payload.get("subaccounts", []):
            sub = self.typed("Subaccount", given, f"Subaccount {given.get('SubaccountCD')}")
            self.numbers["subaccount"] += 1
            self.subaccounts[sub["SubaccountCD"]] = {"id": stable_uuid("Subaccount", sub["SubaccountCD"]),
                                                     "Active": True, "SubaccountID": self.numbers["subaccount"], **sub}
        for given in payload.get("bills", []):
            bill = self.typed("Bill", given, f"Bill {given.get('VendorRef')}")
            self.add_bill(bill, now)
        return {"vendors": len(self.vendors), "accounts": len(self.accounts), "subaccounts": len(self.subaccounts),
                "bills": len(self.bills)}

    def add_bill(self, bill, now):
        if bill.get("Vendor") not in self.vendors:
            raise BadRequest(f"Bill {bill.get('VendorRef')}: no vendor {bill.get('Vendor')!r}")
        status = bill.setdefault("Status", "Open")
        if status not in BILL_STATUSES:
            raise BadRequest(f"Bill status {status!r} is not one of {', '.join(BILL_STATUSES)}")
        for line in bill.get("Details", []):
            if line.get("Account") not in self.accounts:
                raise BadRequest(f"Bill {bill.get('VendorRef')}: no GL account {line.get('Account')!r}")
            if line.get("Subaccount") and line["Subaccount"] not in self.subaccounts:
                raise BadRequest(f"Bill {bill.get('VendorRef')}: no subaccount {line['Subaccount']!r}")
            line.update(ExtendedCost=line.get("Amount"), Qty=line.get("Qty", Decimal(1)),
                        UnitCost=line.get("UnitCost", line.get("Amount")))
        self.numbers["bill"] += 1
        bill.setdefault("Type", "Bill")
        bill.setdefault("ReferenceNbr", f"{self.numbers['bill']:06d}")
        bill.setdefault("Balance", bill.get("Amount"))
        for n, line in enumerate(bill.get("Details", [])):
            line["id"] = stable_uuid("Bill", bill["Type"], bill["ReferenceNbr"], n)
        bill.update(id=stable_uuid("Bill", bill["Type"], bill["ReferenceNbr"]), Hold=status == "On Hold",
                    Applications=[], TaxTotal=Decimal(0),
                    LastModifiedDateTime=now)
        self.bills[(bill["Type"], bill["ReferenceNbr"])] = bill

    def change_vendor(self, vendor_id, changes):
        """Change a vendor as a person would on the Vendors screen: it reads as changed since then."""
        vendor = self.vendors.get(vendor_id)
        if vendor is None:
            raise BadRequest(f"No vendor {vendor_id!r}")
        typed = self.typed("Vendor", {k: v for k, v in changes.items() if k != "MainContact"}, f"Vendor {vendor_id}")
        contact = self.typed("Contact", changes.get("MainContact") or {}, f"Vendor {vendor_id}")
        address = contact.pop("Address", {})
        vendor.update(typed)
        vendor["MainContact"].update(contact)
        vendor["MainContact"]["Address"].update(address)
        vendor["LastModifiedDateTime"] = now_stamp(self.clock)
        return vendor

    def change_canonical_supplier(self, payload):
        changes = {k: v for k, v in payload.items() if k != "source_id"}
        unknown = set(changes) - set(CANONICAL_VENDOR_FIELDS) - {"active", "email", "phone"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}")
        vendor = {CANONICAL_VENDOR_FIELDS[k]: v or None for k, v in changes.items() if k in CANONICAL_VENDOR_FIELDS}
        if "active" in changes:
            vendor["Status"] = "Active" if changes["active"] else "Inactive"
        contact = {name: changes[key] or None for key, name in (("email", "Email"), ("phone", "Phone1"))
                   if key in changes}
        self.change_vendor(payload.get("source_id", ""), {**vendor, "MainContact": contact})
        return {"source_id": payload["source_id"]}

    def change_canonical_invoice(self, payload):
        """Approve (release), hold or release a hold on a bill, found by vendor and vendor reference: On Hold while
        it is held back from payment, Open otherwise."""
        unknown = set(payload) - {"supplier_id", "number", "approved", "held"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}; fields: approved, held")
        bill = next((b for b in self.bills.values() if b["Type"] == "Bill" and (b["Vendor"], b.get("VendorRef")) ==
                     (payload.get("supplier_id"), payload.get("number"))), None)
        if bill is None:
            raise BadRequest(f"No bill {payload.get('number')!r} of vendor {payload.get('supplier_id')!r}")
        if "approved" in payload or "held" in payload:
            held = payload.get("held", False) or not payload.get("approved", True)
            bill.update(Status="On Hold" if held else "Open", Hold=held, LastModifiedDateTime=now_stamp(self.clock))
        return {"supplier_id": bill["Vendor"], "number": bill["VendorRef"]}

    def state(self):
        self.purge()
        return {"vendors": plain(list(self.vendors.values())), "accounts": plain(list(self.accounts.values())),
                "subaccounts": plain(list(self.subaccounts.values())), "bills": plain(list(self.bills.values())),
                "checks": plain(list(self.checks.values())), "open_sessions": len(self.sessions),
                "api_users": self.api_users, **self.counts, "max_in_flight": self.in_flight.peak}


# The canonical seed (connectors/canonical.py) as Acumatica data: suppliers are vendors, departments are
# subaccounts, approved invoices released bills (Open) and the one not approved a bill on hold.
CANONICAL_VENDOR_FIELDS = {"name": "VendorName", "tax_id": "TaxRegistrationID", "currency": "CurrencyID"}


def canonical_seed():
    vendors = [{"VendorID": s.source_id, "VendorName": s.name, "TaxRegistrationID": s.tax_id or None,
                "CurrencyID": s.currency, "Status": "Active" if s.active else "Inactive", "VendorClass": "DEFAULT",
                "Terms": "30D", "MainContact": {
                    "Email": s.email or None, "Phone1": s.phone or None,
                    "Address": {"AddressLine1": s.address.line1 or None, "AddressLine2": s.address.line2 or None,
                                "City": s.address.city, "State": s.address.region, "PostalCode": s.address.postal_code,
                                "Country": s.address.country}}} for s in canonical.SUPPLIERS]
    accounts = [{"AccountCD": a.code, "Description": a.name, "Active": a.active} for a in canonical.GL_ACCOUNTS]
    subaccounts = [{"SubaccountCD": d.code, "Description": d.name, "Active": d.active} for d in canonical.DEPARTMENTS]
    bills = [{"Vendor": inv.supplier_id, "VendorRef": inv.number, "Date": inv.invoice_date.isoformat(),
              "DueDate": inv.due_date.isoformat(), "Amount": str(inv.total), "CurrencyID": inv.currency,
              "Description": f"Invoice {inv.number}", "Status": "Open" if inv.approved else "On Hold",
              "BranchID": BRANCHES[0], "LocationID": "MAIN", "Terms": "30D",
              "PostPeriod": inv.invoice_date.strftime("%m%Y"),
              "Details": [{"Account": line.gl_account, "Subaccount": line.dimensions.get("department"),
                           "Amount": str(line.amount), "TransactionDescription": line.description,
                           **({"POOrderNbr": line.po_number} if line.po_number else {})} for line in inv.lines]}
             for inv in canonical.INVOICES]
    return {"vendors": vendors, "accounts": accounts, "subaccounts": subaccounts, "bills": bills}
