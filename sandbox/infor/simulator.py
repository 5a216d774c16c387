"""The Infor CloudSuite simulator: the ION API token endpoint and M3 MI programs over REST v2.

Follows Infor's ION API and M3 MI REST documentation: password grant at pu + ot (client credentials in
the body or as HTTP Basic), refresh tokens, revoke at pu + or, bearer tokens that expire on the
simulated clock, 20 service-account logins a minute, spike arrest with 429, company/division
checks, v2 response and error shapes, key-range paging with maxrecs, from/to keys and LMTS for incremental
reads (a page of a 50,000-invoice ledger costs its own rows, not the ledger's), returncols,
and the search and download of Infor Document Management (IDM) items as connectors/infor/idm.py has them.
Each tenant (the `tenant` control adds one) has its own data, credentials and limits.

The transactions it answers, and for each its input fields (which are required) and its output
fields with their types and lengths, are those in connectors/infor/m3.py: a call gets back exactly
the documented output fields of its transaction, every one of them, padded as M3 pads them (pad()),
and a call missing a required input is refused with an MI error (check_inputs()). Its data is kept
the way M3 keeps it: the supplier record (CRS620), the supplier's addresses (CRS622), each with its
own change stamp, and e-mail addresses in the e-mail repository (CRS111).
"""

import base64
import contextlib
import hashlib
import secrets
import threading
from bisect import bisect_left, bisect_right
from collections import deque
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from urllib.parse import unquote

from connectors import canonical
from connectors.infor import idm, m3
from sandbox.hub import BadRequest, Response, Simulator, public, route

TENANT = "MLC_TST"
CLIENT_ID = "MLC_TST~sandboxclient"
CLIENT_SECRET = "sandbox-client-secret"
SERVICE_ACCESS_KEY = "MLC_TST#sandbox-service-access"
SERVICE_SECRET_KEY = "sandbox-service-secret"
COMPANY = "100"
DIVISIONS = {"AAA", "BBB"}

TRANSACTIONS = {(t.program, t.name): t for t in m3.TRANSACTIONS}
# What the supplier record holds: every field a CRS620MI supplier transaction returns.
SUPPLIER_FIELDS = {f.name: f for t in (m3.SUPPLIERS, m3.SUPPLIER, m3.SUPPLIERS_BY_NUMBER) for f in t.outputs
                   if f.name != "CONO"}
ADDRESS_FIELDS = {f.name: f for f in m3.SUPPLIER_ADDRESSES.outputs if f.name not in ("CONO", "SUNO")}
# In a supplier given flat to the `seed` and `update-supplier` controls, these go to its postal address
# (ECAR and CSCD to both), and EMAL to the e-mail repository.
FLAT_ADDRESS_FIELDS = ("ADR1", "ADR2", "ADR3", "ADR4", "TOWN", "PONO")
SHARED_ADDRESS_FIELDS = ("ECAR", "CSCD")
EMAIL_FIELD = m3.EMAILS.output("EMAL")
INVOICE_FIELDS = {f.name: f for f in m3.APPROVED_INVOICES.outputs}
# An invoice as the AP ledger holds it: the custom lists' fields, the payee and whether it is approved. A seeded
# PAAM is what was paid in M3 itself before; PYST follows from it (recompute()).
INVOICE_HEADER_FIELDS = {**INVOICE_FIELDS, **{f.name: f for f in m3.OPEN_INVOICES.outputs},
                         **{f.name: f for f in m3.fields("SPYN A10 APRV N1")}}
ACCOUNT_FIELDS = {f.name: f for f in m3.GL_ACCOUNTS.outputs}


def client_id(tenant):
    return CLIENT_ID if tenant == TENANT else f"{tenant}~sandboxclient"


def service_access_key(tenant):
    return SERVICE_ACCESS_KEY if tenant == TENANT else f"{tenant}#sandbox-service-access"


def ionapi_for(base_url, tenant=TENANT):
    """The .ionapi file a tenant would download, pointing at a simulator served at base_url."""
    return {"ti": tenant, "cn": "ml-connector sandbox", "dt": "12", "ci": client_id(tenant), "cs": CLIENT_SECRET,
            "iu": f"{base_url}/infor", "pu": f"{base_url}/infor/{tenant}/as/", "oa": "authorization.oauth2",
            "ot": "token.oauth2", "or": "revoke_token.oauth2", "ev": "U0000000", "v": "1.0",
            "saak": service_access_key(tenant), "sask": SERVICE_SECRET_KEY}


class TenantData:
    """One tenant's M3 company and document store, and what its calls cost."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.suppliers = {}  # SUNO -> the supplier record (CRS620), with its LMTS
        self.addresses = {}  # SUNO -> [address (CRS622), with its own LMTS]
        self.emails = {}  # (EMTP, EMKY) -> EMAL (CRS111)
        self.accounts = {}
        self.invoices = {}
        self.payments = {}
        self.documents = {}  # IDM pid -> {entityName, attrs {name: value}, filename, mimetype, content}
        self.last_lmts = 0
        self.seeding = ""  # the one stamp of what the seed under way loads
        self.login_times = []
        self.counts = {"logins": 0, "refreshes": 0, "calls": 0, "revoked": 0, "idm_calls": 0, "max_in_flight": 0,
                       "peak_calls_per_minute": 0}
        self.transaction_calls = {}
        # Not M3's: when each of the last calls arrived (clock time), and how many are under way, for the tests.
        self.arrivals = deque(maxlen=20000)
        self.in_flight = 0
        self._sorted = {}

    def keys(self, name):
        """The keys of the suppliers or invoices in order, kept between calls: a list read in pages of a
        50,000-invoice ledger must not sort it for every page. Made again when keys were added or removed."""
        table = getattr(self, name)
        known = self._sorted.get(name)
        if known is None or len(known) != len(table):
            known = self._sorted[name] = sorted(table)
        return known

    def between(self, name, start="", end=""):
        """The keys from `start` to `end`, both included (`end` blank: to the last)."""
        keys = self.keys(name)
        return islice(keys, bisect_left(keys, start), bisect_right(keys, end) if end else len(keys))


def mi_error(status, message, code="", field=""):
    return Response.json(status, {"errorMessage": message, "errorCode": code, "errorField": field,
                                  "errorType": "ServerReturnedNOK"})


class MIError(Exception):
    def __init__(self, message, code="", field=""):
        super().__init__(message)
        self.code, self.field = code, field


def pad(field, value):
    """A value as M3 returns it: text, right-padded with blanks to the field's length (M3 returns
    every value as a string and clients trim the blanks: Odin's parseResponse trimEnd()s each value,
    infor-cloud/m3-odin). UNCONFIRMED: that numeric (N) and date (D) fields are padded
    the same way as alphanumeric ones, rather than returned as they are; the connector trims every
    value, so either reads the same (docs/ASSUMPTIONS.md I10)."""
    return str(value).ljust(field.length)


def padded(fields, record):
    """Exactly the transaction's documented output fields (or those of them asked for, returncols), each padded; a
    field it has no value for comes back blank."""
    return {f.name: pad(f, record.get(f.name, "")) for f in fields}


def checked(fields, record, what):
    """A record for the `seed` controls, as M3 would hold it: known fields, each within its length."""
    record = {k: "" if v is None else str(v) for k, v in record.items()}
    unknown = sorted(set(record) - set(fields))
    if unknown:
        raise BadRequest(f"{what}: M3 has no field {', '.join(unknown)} here")
    too_long = sorted(k for k, v in record.items() if len(v) > fields[k].length)
    if too_long:
        raise BadRequest(f"{what}: {', '.join(too_long)} longer than M3 holds "
                         f"({', '.join(f'{k} {fields[k].type}{fields[k].length}' for k in too_long)})")
    return record


def is_number(text):
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def is_date(text):
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return True


# The canonical seed (connectors/canonical.py) in M3's terms: its invoices are vouchers of division
# AAA in one journal, and a supplier that is not active is blocked.
CANONICAL_DIVISION = "AAA"
CANONICAL_JOURNAL = 7000
CANONICAL_SUPPLIER_FIELDS = {"name": "SUNM", "tax_id": "TINO", "currency": "CUCD", "email": "EMAL", "phone": "PHNO"}


def m3_status(active):
    return sorted(m3.ACTIVE_SUPPLIER_STATUSES)[0] if active else m3.BLOCKED_SUPPLIER_STATUS


def m3_date_text(value):
    return value.strftime("%Y%m%d")


def canonical_seed(unreadable=False):
    """The payload of the `seed` control that loads the canonical seed. An unreadable invoice is held
    with an invoice date that does not exist, as a hand-edited M3 row can be."""
    suppliers = [{"SUNO": s.source_id,
                  **{column: getattr(s, field) for field, column in CANONICAL_SUPPLIER_FIELDS.items()},
                  "STAT": m3_status(s.active), "ADR1": s.address.line1, "ADR2": s.address.line2,
                  "TOWN": s.address.city, "ECAR": s.address.region, "PONO": s.address.postal_code,
                  "CSCD": s.address.country} for s in canonical.SUPPLIERS]
    accounts = [{"AITP": m3.ACCOUNT_DIMENSION, "AITM": a.code, "TX40": a.name,
                 "LCCD": "0" if a.active else m3.BLOCKED_ACCOUNT} for a in canonical.GL_ACCOUNTS]
    accounts += [{"AITP": m3.DEPARTMENT_DIMENSION, "AITM": d.code, "TX40": d.name,
                  "LCCD": "0" if d.active else m3.BLOCKED_ACCOUNT} for d in canonical.DEPARTMENTS]
    invoices = [*canonical.INVOICES, *([canonical.UNREADABLE_INVOICE] if unreadable else [])]
    return {"suppliers": suppliers, "accounts": accounts, "invoices": [
        {"DIVI": CANONICAL_DIVISION, "YEA4": inv.invoice_date.year, "JRNO": CANONICAL_JOURNAL, "JSNO": number,
         "SUNO": inv.supplier_id, "SINO": inv.number,
         "IVDT": "20260231" if inv is canonical.UNREADABLE_INVOICE else m3_date_text(inv.invoice_date),
         "DUDT": m3_date_text(inv.due_date), "CUCD": inv.currency, "CUAM": str(inv.total),
         "APRV": "1" if inv.approved else "0",
         "lines": [{"LINO": n, m3.ACCOUNT_FIELD: line.gl_account,
                    m3.DEPARTMENT_FIELD: line.dimensions.get("department", ""),
                    "LNAM": str(line.amount), "LNDE": line.description, "PUNO": line.po_number}
                   for n, line in enumerate(inv.lines, 1)]}
        for number, inv in enumerate(invoices, 1)]}


def generated(size):
    """`size` bytes of a stand-in invoice image, the same for the same size."""
    seed = hashlib.sha256(str(size).encode()).digest()
    return (b"%PDF-1.4\n" + seed * (size // len(seed) + 1))[:size]


class InforSimulator(Simulator):
    id = "infor"
    # How the tenant behaves on the assumptions the check probes (docs/ASSUMPTIONS.md): the default as the connector
    # assumes, then the other ways. I1, I15, I3: the custom lists and the payments extension are there or not (a
    # 404); I4: the extension says "not found" in English or in the user's Swedish; I5, I2: LstSuppliers' LMTS and
    # the approved invoices list's F_LMTS select changes after the value, at or after it, or are ignored; I8: the
    # e-mail type supplier addresses are kept under; I9: the status a supplier that may be paid has.
    VARIANTS = {"I1": ("present", "missing"), "I2": ("after", "at_or_after", "ignored"),
                "I15": ("present", "missing"), "I3": ("present", "missing"), "I4": ("English", "Swedish"),
                "I5": ("after", "at_or_after", "ignored"), "I8": ("04", "02"), "I9": ("20", "30")}

    def reset(self):
        self.token_lifetime = 7200
        self.issue_refresh_tokens = True
        self.login_limit = 20
        self.spike_limit = 3000
        self.access_tokens = {}  # token -> {expires, client, tenant}
        self.refresh_tokens = {}
        self.minute_calls = {}
        self.tenants = {TENANT: TenantData(TENANT)}
        self.flight_lock = threading.Lock()
        # The tenant a call or control is about; set under the simulator's lock before any of it is touched.
        self.data = self.tenants[TENANT]

    # What the tests look at without naming a tenant: the default tenant's.
    suppliers = property(lambda self: self.tenants[TENANT].suppliers)
    invoices = property(lambda self: self.tenants[TENANT].invoices)
    payments = property(lambda self: self.tenants[TENANT].payments)
    transaction_calls = property(lambda self: self.tenants[TENANT].transaction_calls)

    def tenant(self, ti):
        if ti not in self.tenants:
            raise BadRequest(f"No tenant {ti!r}; tenants: {', '.join(self.tenants)} (the tenant control adds one).")
        self.data = self.tenants[ti]
        return self.data

    def lmts(self):
        """M3's change stamp (yyyyMMddHHmmssfff), strictly increasing; one for everything a seed loads: stamps a
        millisecond apart each would run ahead of the clock over thousands of records, and a read begun just after
        the seed would find them changed after it."""
        if self.data.seeding:
            return self.data.seeding
        value = int(self.clock.now().strftime("%Y%m%d%H%M%S%f")[:17])
        self.data.last_lmts = max(value, self.data.last_lmts + 1)
        return str(self.data.last_lmts)

    # --- framework hooks --------------------------------------------------------------------------------
    def error_response(self, status, code, message):
        if status == 401:
            return Response.json(401, {"error": "invalid_token", "error_description": message})
        return mi_error(status, message, code)

    def rate_limited_response(self, request, context):
        return Response.json(429, {"error": "Too Many Requests", "message": "Spike arrest violation"})

    @contextlib.contextmanager
    def admission(self, request, context):
        """Not a limit of M3's (it documents none on calls in flight): the calls under way are counted, for the
        tests."""
        data = self.tenants.get(context["tenant"]) if isinstance(context, dict) and "tenant" in context else None
        if data is None:
            yield None
            return
        with self.flight_lock:
            data.in_flight += 1
            data.counts["max_in_flight"] = max(data.counts["max_in_flight"], data.in_flight)
        try:
            yield None
        finally:
            with self.flight_lock:
                data.in_flight -= 1

    def expire_session(self, request):
        token = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        self.access_tokens.pop(token, None)

    def authenticate(self, request, handler):
        header = request.header("Authorization") or ""
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        info = self.access_tokens.get(token)
        now = self.clock.time()
        if info is None or info["expires"] <= now:
            self.access_tokens.pop(token, None)
            return Response.json(401, {"error": "invalid_token", "error_description": "Access token is not valid"})
        minute = int(now // 60)
        count = self.minute_calls.get((info["client"], minute), 0) + 1
        self.minute_calls = {k: v for k, v in self.minute_calls.items() if k[1] >= minute - 1}
        self.minute_calls[(info["client"], minute)] = count
        if count > self.spike_limit:
            return self.rate_limited_response(request, info)
        data = self.tenants[info["tenant"]]
        data.counts["calls"] += 1
        data.counts["peak_calls_per_minute"] = max(data.counts["peak_calls_per_minute"], count)
        data.arrivals.append(now)
        return info

    # --- OAuth ------------------------------------------------------------------------------------------
    def client_credentials(self, request, form):
        header = request.header("Authorization") or ""
        if header.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
                return client_id, client_secret
            except (ValueError, UnicodeDecodeError):
                return "", ""
        return form.get("client_id", ""), form.get("client_secret", "")

    @route("POST", "/(?P<ti>[A-Za-z0-9_]+)/as/token.oauth2")
    @public
    def token(self, request, _, ti):
        form = request.form()
        client, client_secret = self.client_credentials(request, form)
        if ti not in self.tenants or client != client_id(ti) or client_secret != CLIENT_SECRET:
            return Response.json(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        data = self.tenant(ti)
        now = self.clock.time()
        grant = form.get("grant_type")
        if grant == "password":
            data.login_times = [t for t in data.login_times if now - t < 60]
            if len(data.login_times) >= self.login_limit:
                return Response.json(429, {"error": "Too Many Requests",
                                           "message": "Service account authentication limit: 20 per minute"})
            data.login_times.append(now)
            if form.get("username") != service_access_key(ti) or form.get("password") != SERVICE_SECRET_KEY:
                return Response.json(400, {"error": "invalid_grant",
                                           "error_description": "Invalid service account credentials"})
            data.counts["logins"] += 1
        elif grant == "refresh_token":
            held = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if held is None or held["tenant"] != ti:
                return Response.json(400, {"error": "invalid_grant", "error_description": "Refresh token is invalid"})
            data.counts["refreshes"] += 1
        else:
            return Response.json(400, {"error": "unsupported_grant_type"})
        access = secrets.token_urlsafe(32)
        self.access_tokens[access] = {"expires": now + self.token_lifetime, "client": client, "tenant": ti}
        body = {"access_token": access, "token_type": "Bearer", "expires_in": self.token_lifetime}
        if self.issue_refresh_tokens:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = {"client": client, "tenant": ti}
            body["refresh_token"] = refresh
        return Response.json(200, body)

    @route("POST", "/(?P<ti>[A-Za-z0-9_]+)/as/revoke_token.oauth2")
    @public
    def revoke(self, request, _, ti):
        token = request.form().get("token") or request.arg("token", "")
        found = self.access_tokens.pop(token, None) or self.refresh_tokens.pop(token, None)
        if found and found["tenant"] in self.tenants:
            self.tenants[found["tenant"]].counts["revoked"] += 1
        return Response(200)

    @route("GET", "/(?P<ti>[A-Za-z0-9_]+)/as/revoke_token.oauth2")
    @public
    def revoke_get(self, request, _, ti):
        return self.revoke(request, _, ti)

    def other_tenant(self, info, ti):
        """Refuse a call to a tenant the token was not issued for; otherwise make it the tenant of the call."""
        if ti not in self.tenants:
            return Response.json(404, {"error": "not_found", "message": f"Unknown tenant {ti}"})
        if info["tenant"] != ti:
            return Response.json(401, {"error": "invalid_token",
                                       "error_description": "Token not valid for this tenant"})
        self.data = self.tenants[ti]
        return None

    # --- Infor Document Management (connectors/infor/idm.py) ---------------------------------------------
    @route("GET", f"/(?P<ti>[A-Za-z0-9_]+)/{idm.API}/items/search")
    def idm_search(self, request, info, ti):
        """UNCONFIRMED (I12-I14): $query in the one shape idm.py writes, $offset from 0, $limit from 1 to 1,000;
        a single hit is answered as one object, as IDM's XML-to-JSON conversion does."""
        refused = self.other_tenant(info, ti)
        if refused:
            return refused
        self.data.counts["idm_calls"] += 1
        unknown = sorted(set(request.query) - {"$query", "$offset", "$limit"})
        parsed = idm.parse_query(request.arg("$query"))
        try:
            offset, limit = int(request.arg("$offset", "0")), int(request.arg("$limit", "20"))
        except ValueError:
            offset = limit = -1
        if unknown or parsed is None or offset < 0 or not 1 <= limit <= 1000:
            return Response.json(400, {"error": {"code": "BadRequest", "message": "Give $query as /Type[@Attr = "
                                                 "\"value\" AND ...], $offset from 0 and $limit from 1 to 1000"
                                                 + (f"; unknown: {', '.join(unknown)}" if unknown else "")}})
        document_type, conditions = parsed
        hits = [{"pid": pid, "entityName": doc["entityName"],
                 "attrs": {"attr": [{"name": k, "type": "1", "value": v} for k, v in doc["attrs"].items()]},
                 "resrs": {"res": [{"name": "", "filename": doc["filename"], "mimetype": doc["mimetype"],
                                    "size": str(len(doc["content"]))},
                                   {"name": "Thumbnail", "filename": "thumbnail.png", "mimetype": "image/png",
                                    "size": "0"}]}}
                for pid, doc in sorted(self.data.documents.items())
                if doc["entityName"] == document_type and all(doc["attrs"].get(k) == v for k, v in conditions.items())]
        hits = hits[offset:offset + limit]
        if not hits:
            return Response.json(200, {"items": ""})
        return Response.json(200, {"items": {"item": hits[0] if len(hits) == 1 else hits}})

    @route("GET", f"/(?P<ti>[A-Za-z0-9_]+)/{idm.API}/items/(?P<pid>[A-Za-z0-9_-]+)/resource")
    def idm_resource(self, request, info, ti, pid):
        refused = self.other_tenant(info, ti)
        if refused:
            return refused
        self.data.counts["idm_calls"] += 1
        doc = self.data.documents.get(pid)
        if doc is None:
            return Response.json(404, {"error": {"code": "NotFound", "message": f"No item {pid}"}})
        return Response(200, doc["content"], {"Content-Type": doc["mimetype"],
                                              "Content-Disposition": f'attachment; filename="{doc["filename"]}"'})

    # --- M3 -----------------------------------------------------------------------------------------------
    @route("GET", r"/(?P<ti>[A-Za-z0-9_]+)/M3/m3api-rest/v2/execute/(?P<program>[A-Z0-9]+)/"
                  r"(?P<transaction>[A-Za-z0-9_]+)(?P<matrix>(;[^/]*)?)")
    def execute(self, request, info, ti, program, transaction, matrix):
        refused = self.other_tenant(info, ti)
        if refused:
            return refused
        options = dict(p.split("=", 1) for p in unquote(matrix).split(";") if "=" in p)
        inputs = {k.upper(): v for k, v in ((k, v[0]) for k, v in request.query.items()) if not k.startswith("_")}
        try:
            maxrecs = int(options.get("maxrecs", "100"))
        except ValueError:
            return mi_error(400, "maxrecs must be a number", "", "maxrecs")
        spec = TRANSACTIONS.get((program, transaction))
        if spec is None or self.not_built(spec):
            return Response.json(404, {"error": "not_found",
                                       "message": f"Program {program} or transaction {transaction} does not exist"})
        columns = [c for c in options.get("returncols", "").split(",") if c]
        unknown = [c for c in columns if c not in spec.output_names]
        if unknown:
            # UNCONFIRMED (docs/ASSUMPTIONS.md I10): how M3 answers a column its transaction does not return.
            return mi_error(400, f"{unknown[0]} is not an output field of {spec}", "XOU0001", unknown[0])
        key = f"{program}/{transaction}"
        self.data.transaction_calls[key] = self.data.transaction_calls.get(key, 0) + 1
        try:
            division = self.check_context(spec, inputs, options)
            self.check_inputs(spec, inputs, division)
            records = self.handlers()[key](inputs, division)
            # Handlers go through their records lazily: a page of 500 of 50,000 costs 500.
            records = list(islice(records, maxrecs) if maxrecs else records)
        except MIError as exc:
            return mi_error(400, str(exc), exc.code, exc.field)
        shown = [f for f in spec.outputs if f.name in columns] if columns else spec.outputs
        return Response.json(200, {"results": [{"transaction": transaction,
                                                "records": [padded(shown, r) for r in records]}],
                                   "wasTerminated": False, "nrOfSuccessfullTransactions": 1,
                                   "nrOfFailedTransactions": 0})

    def not_built(self, spec):
        """Whether the tenant lacks this custom list or extension (the I1, I15 and I3 variants)."""
        return (self.variant("I1") == "missing" and spec == m3.APPROVED_INVOICES
                or self.variant("I15") == "missing" and spec == m3.OPEN_INVOICES
                or self.variant("I3") == "missing" and spec.program == m3.GET_PAYMENT.program)

    def check_context(self, spec, inputs, options):
        """The company and division of a call: the CONO and DIVI inputs where the transaction has them,
        else the session's (the cono and divi matrix parameters). Answers the division."""
        for name in ("CONO", "DIVI"):
            if name in inputs and name not in spec.input_names:
                raise MIError(f"{name} is not an input field of {spec}", "XIN0001", name)
        company = inputs.get("CONO") or options.get("cono", "")
        if not company:
            raise MIError("Company must be entered", "WCO0102", "CONO")
        if company != COMPANY:
            raise MIError(f"Not authorized for company {company}", "XAU0008", "CONO")
        division = inputs.get("DIVI") or options.get("divi", "")
        if division and division not in DIVISIONS:
            raise MIError(f"Division {division} does not exist", "WDI0103", "DIVI")
        return division

    @staticmethod
    def check_inputs(spec, inputs, division):
        """Refuse what M3 refuses: a required input left out, and (stricter than M3 may be, so the
        connector sends only documented inputs, in their format) an input the transaction does not
        have, one longer than its field, or a number or date that is not one. UNCONFIRMED: the
        wording of these messages; M3 names the field in errorField, which the connector reports."""
        for name, value in inputs.items():
            if name not in spec.input_names:
                raise MIError(f"{name} is not an input field of {spec}", "XIN0001", name)
            field = spec.input(name)
            if len(value) > field.length:
                raise MIError(f"{spec.description(name)} {value} is too long, at most {field.length}",
                              f"W{name[:2]}0105", name)
            if value and field.type == "N" and not is_number(value):
                raise MIError(f"{spec.description(name)} {value} is not numeric", f"W{name[:2]}0201", name)
            if value and field.type == "D" and not is_date(value):
                raise MIError(f"{spec.description(name)} {value} is not a valid date", f"W{name[:2]}0202", name)
        for name in sorted(spec.required):
            value = division if name == "DIVI" else inputs.get(name, "")
            if not value.strip():
                raise MIError(f"{spec.description(name)} must be entered", f"W{name[:2]}0102", name)

    def handlers(self):
        return {"CRS620MI/LstSuppliers": self.list_suppliers, "CRS620MI/GetBasicData": self.get_supplier,
                "CRS620MI/LstByNumber": self.suppliers_by_number, "CRS620MI/LstAddresses": self.supplier_addresses,
                "CRS111MI/List": self.list_emails, f"{m3.EXPORT}": self.export,
                "CRS630MI/LstAccountID": self.list_accounts,
                f"{m3.APPROVED_INVOICES}": self.list_approved_invoices, f"{m3.OPEN_INVOICES}": self.list_open_invoices,
                f"{m3.GET_PAYMENT}": self.get_payment,
                f"{m3.ADD_PAYMENT}": self.add_payment, f"{m3.UPDATE_PAYMENT}": self.update_payment}

    def supplier(self, suno):
        supplier = self.data.suppliers.get(suno)
        if supplier is None:
            raise MIError(f"Supplier number {suno} does not exist", "WSU0103", "SUNO")
        return supplier

    def list_suppliers(self, inputs, division):
        """In supplier number order from FRSU to TOSU (both included; UNCONFIRMED, docs/ASSUMPTIONS.md I17: in
        code-point order). UNCONFIRMED (docs/ASSUMPTIONS.md I5): LMTS selects the suppliers whose supplier record
        changed strictly after it; a change to an address or e-mail address alone does not count."""
        since, selects = inputs.get("LMTS", ""), self.variant("I5")
        for suno in self.data.between("suppliers", inputs.get("FRSU", ""), inputs.get("TOSU", "")):
            supplier = self.data.suppliers[suno]
            if not since or selects == "ignored" or supplier["LMTS"] > since \
                    or (selects == "at_or_after" and supplier["LMTS"] == since):
                yield {"CONO": COMPANY, **supplier}

    def with_status(self, supplier):
        """The supplier record as the status transactions answer it: a supplier that may be paid has the status of
        the I9 variant."""
        active = supplier.get("STAT") in m3.ACTIVE_SUPPLIER_STATUSES
        return {"CONO": COMPANY, **supplier, **({"STAT": self.variant("I9")} if active else {})}

    def get_supplier(self, inputs, division):
        return [self.with_status(self.supplier(inputs["SUNO"]))]

    def suppliers_by_number(self, inputs, division):
        """Every supplier in number order, from SUNO on (SUNO included)."""
        return (self.with_status(self.data.suppliers[k]) for k in self.data.between("suppliers", inputs["SUNO"]))

    def supplier_addresses(self, inputs, division):
        supplier = self.supplier(inputs["SUNO"])
        return [{"CONO": COMPANY, "SUNO": supplier["SUNO"], **a}
                for a in sorted(self.data.addresses.get(supplier["SUNO"], []),
                                key=lambda a: (int(a["ADTE"] or 0), a["ADID"], a["STDT"]))]

    def list_emails(self, inputs, division):
        """The e-mail addresses of one e-mail type, in key order (from EMKY on, when given)."""
        start, asked = inputs.get("EMKY", ""), inputs["EMTP"]
        # The addresses are kept under m3.SUPPLIER_EMAIL_TYPE; the I8 variant answers them under its own type.
        kept = self.variant("I8")
        stored = m3.SUPPLIER_EMAIL_TYPE if asked == kept else (None if asked == m3.SUPPLIER_EMAIL_TYPE else asked)
        return [{"EMTP": asked, "EMKY": emky, "EMAL": emal} for (emtp, emky), emal in sorted(self.data.emails.items())
                if emtp == stored and emky >= start]

    def export(self, inputs, division):
        """EXPORTMI/Select, for the one query the assumption check sends (m3.supplier_stamps_query): each supplier's
        number and change stamp, in number order. The simulator is no SQL engine: any other query is refused."""
        if inputs["QERY"].strip() != m3.supplier_stamps_query(COMPANY):
            raise MIError(f"The simulator answers only {m3.supplier_stamps_query(COMPANY)!r}", "XQE0001", "QERY")
        separator = inputs.get("SEPC") or m3.EXPORT_SEPARATOR
        return ({"REPL": separator.join((suno, self.data.suppliers[suno]["LMTS"]))}
                for suno in self.data.between("suppliers"))

    def list_accounts(self, inputs, division):
        aitp, start = inputs["AITP"], inputs.get("AITM", "")
        return [{"CONO": COMPANY, "AITP": aitp, **a} for (dim, code), a in sorted(self.data.accounts.items())
                if dim == aitp and code >= start]

    def list_approved_invoices(self, inputs, division):
        """UNCONFIRMED (docs/ASSUMPTIONS.md I2): a row per line of the approved invoices changed after F_LMTS, in KEY
        order from F_KEY to T_KEY (both included)."""
        since, selects = inputs.get("F_LMTS", ""), self.variant("I2")
        for key in self.data.between("invoices", inputs.get("F_KEY", ""), inputs.get("T_KEY", "")):
            inv = self.data.invoices[key]
            changed = not since or selects == "ignored" or inv["LMTS"] > since \
                or (selects == "at_or_after" and inv["LMTS"] == since)
            if inv["APRV"] != "1" or not changed or (division and inv["DIVI"] != division):
                continue
            header = {k: v for k, v in inv.items() if k != "lines"}
            for line in inv["lines"]:
                yield {"KEY": key, **header, **line}

    def list_open_invoices(self, inputs, division):
        """UNCONFIRMED (docs/ASSUMPTIONS.md I15): the approved invoices not fully paid, one row each, in KEY order
        from F_KEY to T_KEY (both included)."""
        for key in self.data.between("invoices", inputs.get("F_KEY", ""), inputs.get("T_KEY", "")):
            inv = self.data.invoices[key]
            if inv["APRV"] == "1" and inv["PYST"] != m3.INVOICE_PAID and (not division or inv["DIVI"] == division):
                yield {"KEY": key, **{k: v for k, v in inv.items() if k != "lines"}}

    def payment_key(self, inputs, division):
        return m3.invoice_key(division, inputs["YEA4"], inputs["JRNO"], inputs["JSNO"]), inputs["PYID"]

    def get_payment(self, inputs, division):
        payment = self.data.payments.get(self.payment_key(inputs, division))
        if payment is None:
            # The I4 variant: the service account's M3 user set to Swedish.
            raise MIError("Posten finns inte" if self.variant("I4") == "Swedish" else f"Record {m3.DOES_NOT_EXIST}",
                          "WPY0103", "PYID")
        return [payment]

    def invoice_for(self, inputs, division):
        key = m3.invoice_key(division, inputs["YEA4"], inputs["JRNO"], inputs["JSNO"])
        invoice = self.data.invoices.get(key)
        if invoice is None:
            raise MIError(f"Invoice {key} {m3.DOES_NOT_EXIST}", "WIN0103", "JRNO")
        return key, invoice

    @staticmethod
    def payment_status(inputs):
        status = inputs["PYST"]
        if status not in m3.PAYMENT_STATUSES:
            raise MIError(f"Payment status must be {' or '.join(m3.PAYMENT_STATUSES)}", "WPY0203", "PYST")
        return status

    def add_payment(self, inputs, division):
        pyid = inputs["PYID"]
        if self.payment_key(inputs, division) in self.data.payments:
            raise MIError(f"Record {m3.ALREADY_EXISTS}", "WPY0104", "PYID")
        key, invoice = self.invoice_for(inputs, division)
        status = self.payment_status(inputs)
        payment = {"PYID": pyid, "KEY": key, **{k: invoice[k] for k in m3.INVOICE_KEY_FIELDS},
                   "PYAM": str(Decimal(inputs["PYAM"])), "PYDT": inputs["PYDT"], "PYST": status,
                   "REFE": inputs.get("REFE", ""), "RVTX": inputs.get("RVTX", ""), "LMTS": self.lmts(), "history": []}
        self.data.payments[(key, pyid)] = payment
        self.written(payment)
        self.recompute(key, invoice)
        return []

    @staticmethod
    def written(payment):
        """Not M3's: every write to a payment row, in order, so the tests can count them."""
        payment["history"].append({k: payment[k] for k in ("PYAM", "PYDT", "PYST", "RVTX")})

    def update_payment(self, inputs, division):
        payment = self.data.payments.get(self.payment_key(inputs, division))
        if payment is None:
            raise MIError(f"Record {m3.DOES_NOT_EXIST}", "WPY0103", "PYID")
        status = self.payment_status(inputs)
        payment.update({"PYAM": str(Decimal(inputs["PYAM"])), "PYDT": inputs["PYDT"], "PYST": status,
                        "RVTX": inputs.get("RVTX", ""), "LMTS": self.lmts()})
        self.written(payment)
        self.recompute(payment["KEY"], self.data.invoices[payment["KEY"]])
        return []

    def recompute(self, key, invoice):
        """The invoice's payment state: what was paid in M3 itself and the payments recorded through the
        extension. A row seeded with an amount that is not one (a hand-edited row) keeps what it was given."""
        try:
            paid = Decimal(invoice["_paid_in_m3"]) + sum(Decimal(p["PYAM"]) for p in self.data.payments.values()
                                                         if p["KEY"] == key and p["PYST"] == m3.PAYMENT_PAID)
            total = Decimal(invoice["CUAM"])
        except InvalidOperation:
            return
        invoice["PAAM"] = str(paid)
        invoice["PYST"] = m3.INVOICE_PAID if paid >= total else (m3.INVOICE_PARTIAL if paid else m3.INVOICE_OPEN)

    def pay_in_m3(self, payload):
        """A person pays an invoice in M3 itself (not through the AP platform): {"SUNO", "SINO", "amount"?, the
        rest of it if not given}. The AP ledger shows it paid; the extension has no row of it."""
        key, invoice = next(((k, i) for k, i in self.data.invoices.items()
                             if (i["SUNO"], i["SINO"]) == (payload.get("SUNO"), payload.get("SINO"))), (None, None))
        if invoice is None:
            raise BadRequest(f"No invoice {payload.get('SINO')!r} of supplier {payload.get('SUNO')!r}")
        rest = Decimal(invoice["CUAM"]) - Decimal(invoice["PAAM"])
        try:
            amount = Decimal(str(payload.get("amount", rest)))
        except InvalidOperation:
            raise BadRequest(f"amount {payload['amount']!r} is not an amount") from None
        if not 0 < amount <= rest:
            raise BadRequest(f"Pay more than 0 and at most the {rest} still open")
        invoice["_paid_in_m3"] = str(Decimal(invoice["_paid_in_m3"]) + amount)
        self.recompute(key, invoice)
        return {"KEY": key, "PAAM": invoice["PAAM"], "PYST": invoice["PYST"]}

    # --- controls and state -----------------------------------------------------------------------------
    def control(self, action, payload):
        """Every control but account and tenant is about one tenant: payload "tenant", the default one if not
        given."""
        with self.lock:
            payload = dict(payload)
            ti = str(payload.pop("tenant", TENANT))
            if action == "account":
                for key in ("token_lifetime", "login_limit", "spike_limit"):
                    if key in payload:
                        setattr(self, key, int(payload[key]))
                if "issue_refresh_tokens" in payload:
                    self.issue_refresh_tokens = bool(payload["issue_refresh_tokens"])
                return {"token_lifetime": self.token_lifetime, "login_limit": self.login_limit,
                        "spike_limit": self.spike_limit}
            if action == "tenant":
                if not ti.replace("_", "").isalnum():
                    raise BadRequest("A tenant id is letters, digits and underscores.")
                self.tenants.setdefault(ti, TenantData(ti))
                return {"tenant": ti, "tenants": list(self.tenants)}
            self.tenant(ti)
            if action == "seed":
                return self.seed(payload)
            if action == "update-supplier":
                self.change_supplier(payload.get("SUNO", ""), {k: v for k, v in payload.items() if k != "SUNO"})
                return self.data.suppliers[payload["SUNO"]]
            if action == "tenant-state":
                return self.state(self.data)
            if action == "seed-canonical":
                return self.seed(canonical_seed(unreadable=bool(payload.get("unreadable"))))
            if action == "pay-in-erp":
                return self.pay_in_m3(payload)
            if action == "canonical-supplier":
                return self.change_canonical_supplier(payload)
            if action == "canonical-invoice":
                return self.change_canonical_invoice(payload)
            if action == "canonical-state":
                return {"payments": [{"payment_id": p["PYID"], "invoice_number": self.data.invoices[p["KEY"]]["SINO"],
                                      "supplier_id": self.data.invoices[p["KEY"]]["SUNO"],
                                      "amount": canonical.amount_text(p["PYAM"]), "status": p["PYST"]}
                                     for p in self.data.payments.values()]}
        raise BadRequest(f"infor has no control {action!r}; controls: account, tenant, seed, update-supplier, "
                         "tenant-state, pay-in-erp, seed-canonical, canonical-supplier, canonical-invoice, "
                         "canonical-state")

    def change_canonical_invoice(self, payload):
        """Approve an invoice (APRV 1), or stop or release its payment (IVBL 1 or 0) as AP would in M3; it reads as
        changed (LMTS)."""
        unknown = set(payload) - {"supplier_id", "number", "approved", "held"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}; fields: approved, held")
        invoice = next((i for i in self.data.invoices.values()
                        if (i["SUNO"], i["SINO"]) == (payload.get("supplier_id"), payload.get("number"))), None)
        if invoice is None:
            raise BadRequest(f"No invoice {payload.get('number')!r} of supplier {payload.get('supplier_id')!r}")
        if "approved" in payload:
            invoice["APRV"] = "1" if payload["approved"] else "0"
        if "held" in payload:
            invoice["IVBL"] = "1" if payload["held"] else m3.NO_PAYMENT_STOP
        invoice["LMTS"] = self.lmts()
        return {"supplier_id": invoice["SUNO"], "number": invoice["SINO"]}

    def change_canonical_supplier(self, payload):
        changes = {k: v for k, v in payload.items() if k != "source_id"}
        unknown = set(changes) - set(CANONICAL_SUPPLIER_FIELDS) - {"active"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}; fields: "
                             f"{', '.join([*CANONICAL_SUPPLIER_FIELDS, 'active'])}")
        m3_changes = {CANONICAL_SUPPLIER_FIELDS[k]: v for k, v in changes.items() if k != "active"}
        if "active" in changes:
            m3_changes["STAT"] = m3_status(changes["active"])
        self.change_supplier(payload.get("source_id", ""), m3_changes)
        return {"source_id": payload["source_id"]}

    def change_supplier(self, suno, changes):
        """Change a supplier as a person would in M3 (M3 field names; address fields change its postal
        address, EMAL its e-mail address), and stamp its supplier record as changed. A person changing
        only an address or e-mail address in M3 would not touch the supplier record; the controls do, so
        that what they change reads as changed (docs/SANDBOX.md)."""
        supplier = self.data.suppliers.get(suno)
        if supplier is None:
            raise BadRequest(f"No supplier {suno!r}")
        changes = dict(changes)
        email = changes.pop("EMAL", None)
        address = {k: changes.pop(k) for k in FLAT_ADDRESS_FIELDS if k in changes}
        address.update({k: changes[k] for k in SHARED_ADDRESS_FIELDS if k in changes})
        supplier.update(checked(SUPPLIER_FIELDS, changes, f"Supplier {suno}"))
        if address:
            self.set_postal_address(suno, address)
        if email is not None:
            self.set_email(suno, email)
        supplier["LMTS"] = self.lmts()

    def set_postal_address(self, suno, fields):
        fields = checked(ADDRESS_FIELDS, fields, f"Address of supplier {suno}")
        addresses = self.data.addresses.setdefault(suno, [])
        postal = next((a for a in addresses if int(a["ADTE"] or 0) == m3.POSTAL_ADDRESS_TYPE), None)
        if postal is None:
            postal = {"ADTE": str(m3.POSTAL_ADDRESS_TYPE), "ADID": "", "STDT": self.clock.now().strftime("%Y%m%d"),
                      "SUNM": self.data.suppliers[suno].get("SUNM", "")}
            addresses.append(postal)
        postal.update({**fields, "LMTS": self.lmts()})

    def set_email(self, suno, email):
        email = "" if email is None else str(email)
        if len(email) > EMAIL_FIELD.length:
            raise BadRequest(f"E-mail address of supplier {suno} longer than M3 holds (EMAL A{EMAIL_FIELD.length})")
        key = (m3.SUPPLIER_EMAIL_TYPE, suno)
        if email:
            self.data.emails[key] = email
        else:
            self.data.emails.pop(key, None)

    def seed(self, payload):
        """Suppliers flat (M3 names: supplier record fields, address lines ADR1-ADR4, TOWN, PONO for its
        postal address, EMAL for its e-mail address) or with explicit "addresses"; accounts; invoices."""
        self.data.seeding = self.lmts()
        try:
            return self.load(payload)
        finally:
            self.data.seeding = ""

    def load(self, payload):
        counts = {}
        for given in payload.get("suppliers", []):
            given = dict(given)
            suno = str(given.get("SUNO") or "")
            if not suno:
                raise BadRequest("Every supplier needs SUNO")
            addresses = given.pop("addresses", None)
            email = given.pop("EMAL", None)
            flat = {k: given.pop(k) for k in FLAT_ADDRESS_FIELDS if k in given}
            flat.update({k: given[k] for k in SHARED_ADDRESS_FIELDS if k in given})
            self.data.suppliers[suno] = {**checked(SUPPLIER_FIELDS, given, f"Supplier {suno}"), "LMTS": self.lmts()}
            self.data.addresses[suno] = []
            for address in addresses or []:
                address = checked(ADDRESS_FIELDS, address, f"Address of supplier {suno}")
                self.data.addresses[suno].append({"ADTE": str(m3.POSTAL_ADDRESS_TYPE), "ADID": "",
                                             "STDT": self.clock.now().strftime("%Y%m%d"), **address,
                                             "LMTS": self.lmts()})
            if addresses is None and any(flat.get(k) for k in FLAT_ADDRESS_FIELDS):
                self.set_postal_address(suno, flat)
            self.set_email(suno, email)
        counts["suppliers"] = len(payload.get("suppliers", []))
        for a in payload.get("accounts", []):
            dim = str(a.get("AITP", m3.ACCOUNT_DIMENSION))
            account = checked(ACCOUNT_FIELDS, {k: v for k, v in a.items() if k != "AITP"}, f"Account {a.get('AITM')}")
            self.data.accounts[(dim, account["AITM"])] = {"TX15": account.get("TX40", "")[:15], "LCCD": "0", **account,
                                                     "LMTS": self.lmts()}
        counts["accounts"] = len(payload.get("accounts", []))
        for inv in payload.get("invoices", []):
            key = m3.invoice_key(*(inv[k] for k in m3.INVOICE_KEY_FIELDS))
            header = {k: "" if v is None else str(v) for k, v in inv.items() if k != "lines"}
            header.setdefault("APRV", "1")
            header.setdefault("IVBL", m3.NO_PAYMENT_STOP)
            checked(INVOICE_HEADER_FIELDS, header, f"Invoice {key}")
            header.setdefault("PAAM", "0")
            header.setdefault("PYST", m3.INVOICE_OPEN)
            header.update({"_paid_in_m3": header["PAAM"], "LMTS": self.lmts()})
            lines = [checked(INVOICE_FIELDS, line, f"Line of invoice {key}") for line in inv.get("lines", [])]
            self.data.invoices[key] = {**header, "lines": lines}
            self.recompute(key, self.data.invoices[key])
        counts["invoices"] = len(payload.get("invoices", []))
        for doc in payload.get("documents", []):
            self.add_document(doc)
        counts["documents"] = len(payload.get("documents", []))
        return counts

    def add_document(self, doc):
        """An invoice image in IDM: {"SUNO", "SINO", "DIVI"?, "filename", "mimetype", and "content_base64", or
        "size" for that many bytes of generated content}. Its attributes name the invoice (idm.ATTRIBUTES)."""
        try:
            content = (base64.b64decode(doc["content_base64"]) if "content_base64" in doc
                       else generated(int(doc["size"])))
            values = {"CONO": COMPANY, "DIVI": doc.get("DIVI", CANONICAL_DIVISION), "SUNO": doc["SUNO"],
                      "SINO": doc["SINO"]}
            name, mimetype = str(doc["filename"]), str(doc.get("mimetype", "application/pdf"))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"A document needs SUNO, SINO, filename and content_base64 or size ({exc}).") from None
        document_type = doc.get("document_type", idm.DOCUMENT_TYPE)
        pid = f"{document_type}-{len(self.data.documents) + 1}-1-LATEST"
        self.data.documents[pid] = {"entityName": document_type, "filename": name, "mimetype": mimetype,
                                    "content": content,
                                    "attrs": {idm.ATTRIBUTES[k]: str(v) for k, v in values.items()}}
        return pid

    def state(self, data=None):
        """A tenant's data and counts: the default tenant's unless told (the tenant-state control)."""
        saved, self.data = self.data, data or self.tenants[TENANT]
        try:
            return self.tenant_state()
        finally:
            self.data = saved

    def tenant_state(self):
        return {"tenant": self.data.tenant, "tenants": list(self.tenants),
                "suppliers": list(self.data.suppliers.values()),
                "supplier_addresses": {k: list(v) for k, v in self.data.addresses.items()},
                "emails": [{"EMTP": t, "EMKY": k, "EMAL": e} for (t, k), e in self.data.emails.items()],
                "accounts": [{"AITP": k[0], **v} for k, v in self.data.accounts.items()],
                "invoices": [{"KEY": k, **v} for k, v in self.data.invoices.items()],
                "payments": list(self.data.payments.values()),
                "transaction_calls": dict(self.data.transaction_calls),
                "documents": [{"pid": pid, "filename": d["filename"], "mimetype": d["mimetype"],
                               "size": len(d["content"]), "sha256": hashlib.sha256(d["content"]).hexdigest(),
                               "attrs": d["attrs"]} for pid, d in self.data.documents.items()],
                **self.data.counts}
