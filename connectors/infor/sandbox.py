"""The Infor CloudSuite simulator: the ION API token endpoint and M3 MI programs over REST v2.

Follows shared/reference/erp-apis.md section 1: password grant at pu + ot (client credentials in
the body or as HTTP Basic), refresh tokens, revoke at pu + or, bearer tokens that expire on the
simulated clock, 20 service-account logins a minute, spike arrest with 429, company/division
checks, v2 response and error shapes, right-padded values, key-range paging with maxrecs and LMTS
for incremental reads. The transactions it answers are those chosen in connectors/infor/m3.py.
"""

import base64
import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote

from connectors import canonical
from connectors.infor import m3
from connectors.sandbox import BadRequest, Response, Simulator, public, route

TENANT = "MLC_TST"
CLIENT_ID = "MLC_TST~sandboxclient"
CLIENT_SECRET = "sandbox-client-secret"
SERVICE_ACCESS_KEY = "MLC_TST#sandbox-service-access"
SERVICE_SECRET_KEY = "sandbox-service-secret"
COMPANY = "100"
DIVISIONS = {"AAA", "BBB"}

PAD = {"SUNM": 36, "SUNO": 10, "TX40": 40, "AITM": 8, "SINO": 24, "CUCD": 3, "TINO": 16, "ADR1": 36,
       "TOWN": 20, "ECAR": 2, "PONO": 10, "CSCD": 3, "PUNO": 10, "LNDE": 30}


def ionapi_for(base_url):
    """The .ionapi file a tenant would download, pointing at a simulator served at base_url."""
    return {"ti": TENANT, "cn": "ml-connector sandbox", "dt": "12", "ci": CLIENT_ID, "cs": CLIENT_SECRET,
            "iu": f"{base_url}/infor", "pu": f"{base_url}/infor/{TENANT}/as/", "oa": "authorization.oauth2",
            "ot": "token.oauth2", "or": "revoke_token.oauth2", "ev": "U0000000", "v": "1.0",
            "saak": SERVICE_ACCESS_KEY, "sask": SERVICE_SECRET_KEY}


def mi_error(status, message, code="", field=""):
    return Response.json(status, {"errorMessage": message, "errorCode": code, "errorField": field,
                                  "errorType": "ServerReturnedNOK"})


class MIError(Exception):
    def __init__(self, message, code="", field=""):
        super().__init__(message)
        self.code, self.field = code, field


# The canonical seed (connectors/canonical.py) in M3's terms: its invoices are vouchers of division
# AAA in one journal, and a supplier that is not active is blocked (status 90).
CANONICAL_DIVISION = "AAA"
CANONICAL_JOURNAL = 7000
CANONICAL_SUPPLIER_FIELDS = {"name": "SUNM", "tax_id": "TINO", "currency": "CUCD", "email": "EMAL", "phone": "PHNO"}


def m3_status(active):
    return "20" if active else "90"


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
    accounts = [{"AITP": m3.ACCOUNT_DIMENSION, "AITM": a.code, "TX40": a.name, "LCCD": "0" if a.active else "1"}
                for a in canonical.GL_ACCOUNTS]
    accounts += [{"AITP": m3.DEPARTMENT_DIMENSION, "AITM": d.code, "TX40": d.name, "LCCD": "0" if d.active else "1"}
                 for d in canonical.DEPARTMENTS]
    invoices = [*canonical.INVOICES, *([canonical.UNREADABLE_INVOICE] if unreadable else [])]
    return {"suppliers": suppliers, "accounts": accounts, "invoices": [
        {"DIVI": CANONICAL_DIVISION, "YEA4": inv.invoice_date.year, "JRNO": CANONICAL_JOURNAL, "JSNO": number,
         "SPYN": "", "SUNO": inv.supplier_id, "SINO": inv.number,
         "IVDT": "20260231" if inv is canonical.UNREADABLE_INVOICE else m3_date_text(inv.invoice_date),
         "DUDT": m3_date_text(inv.due_date), "CUCD": inv.currency, "CUAM": str(inv.total),
         "APRV": "1" if inv.approved else "0",
         "lines": [{"LINO": n, "AIT1": line.gl_account, "AIT2": line.dimensions.get("department", ""),
                    "LNAM": str(line.amount), "LNDE": line.description, "PUNO": line.po_number}
                   for n, line in enumerate(inv.lines, 1)]}
        for number, inv in enumerate(invoices, 1)]}


def padded(record):
    return {k: (str(v).ljust(PAD[k]) if k in PAD else str(v)) for k, v in record.items()}


class InforSimulator(Simulator):
    id = "infor"

    def reset(self):
        self.token_lifetime = 7200
        self.issue_refresh_tokens = True
        self.login_limit = 20
        self.spike_limit = 3000
        self.access_tokens = {}
        self.refresh_tokens = {}
        self.login_times = []
        self.minute_calls = {}
        self.suppliers = {}
        self.accounts = {}
        self.invoices = {}
        self.payments = {}
        self.last_lmts = 0
        self.counts = {"logins": 0, "refreshes": 0, "calls": 0, "revoked": 0}

    def lmts(self):
        """M3's change stamp (yyyyMMddHHmmssfff), strictly increasing."""
        value = int(self.clock.now().strftime("%Y%m%d%H%M%S%f")[:17])
        self.last_lmts = max(value, self.last_lmts + 1)
        return str(self.last_lmts)

    # --- framework hooks --------------------------------------------------------------------------------
    def error_response(self, status, code, message):
        if status == 401:
            return Response.json(401, {"error": "invalid_token", "error_description": message})
        return mi_error(status, message, code)

    def rate_limited_response(self, request, context):
        return Response.json(429, {"error": "Too Many Requests", "message": "Spike arrest violation"})

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
        self.counts["calls"] += 1
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
        client_id, client_secret = self.client_credentials(request, form)
        if ti != TENANT or client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return Response.json(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        now = self.clock.time()
        grant = form.get("grant_type")
        if grant == "password":
            self.login_times = [t for t in self.login_times if now - t < 60]
            if len(self.login_times) >= self.login_limit:
                return Response.json(429, {"error": "Too Many Requests",
                                           "message": "Service account authentication limit: 20 per minute"})
            self.login_times.append(now)
            if form.get("username") != SERVICE_ACCESS_KEY or form.get("password") != SERVICE_SECRET_KEY:
                return Response.json(400, {"error": "invalid_grant",
                                           "error_description": "Invalid service account credentials"})
            self.counts["logins"] += 1
        elif grant == "refresh_token":
            if self.refresh_tokens.pop(form.get("refresh_token", ""), None) is None:
                return Response.json(400, {"error": "invalid_grant", "error_description": "Refresh token is invalid"})
            self.counts["refreshes"] += 1
        else:
            return Response.json(400, {"error": "unsupported_grant_type"})
        access = secrets.token_urlsafe(32)
        self.access_tokens[access] = {"expires": now + self.token_lifetime, "client": client_id}
        body = {"access_token": access, "token_type": "Bearer", "expires_in": self.token_lifetime}
        if self.issue_refresh_tokens:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = {"client": client_id}
            body["refresh_token"] = refresh
        return Response.json(200, body)

    @route("POST", "/(?P<ti>[A-Za-z0-9_]+)/as/revoke_token.oauth2")
    @public
    def revoke(self, request, _, ti):
        token = request.form().get("token") or request.arg("token", "")
        found = self.access_tokens.pop(token, None) or self.refresh_tokens.pop(token, None)
        self.counts["revoked"] += 1 if found else 0
        return Response(200)

    @route("GET", "/(?P<ti>[A-Za-z0-9_]+)/as/revoke_token.oauth2")
    @public
    def revoke_get(self, request, _, ti):
        return self.revoke(request, _, ti)

    # --- M3 -----------------------------------------------------------------------------------------------
    @route("GET", r"/(?P<ti>[A-Za-z0-9_]+)/M3/m3api-rest/v2/execute/(?P<program>[A-Z0-9]+)/"
                  r"(?P<transaction>[A-Za-z0-9_]+)(?P<matrix>(;[^/]*)?)")
    def execute(self, request, info, ti, program, transaction, matrix):
        if ti != TENANT:
            return Response.json(404, {"error": "not_found", "message": f"Unknown tenant {ti}"})
        options = dict(p.split("=", 1) for p in unquote(matrix).split(";") if "=" in p)
        inputs = {k.upper(): v for k, v in ((k, v[0]) for k, v in request.query.items()) if not k.startswith("_")}
        try:
            maxrecs = int(options.get("maxrecs", "100"))
        except ValueError:
            return mi_error(400, "maxrecs must be a number", "", "maxrecs")
        company = inputs.pop("CONO", options.get("cono", ""))
        division = inputs.pop("DIVI", options.get("divi", ""))
        try:
            if not company:
                raise MIError("Company must be entered", "WCO0102", "CONO")
            if company != COMPANY:
                raise MIError(f"Not authorized for company {company}", "XAU0008", "CONO")
            if division and division not in DIVISIONS:
                raise MIError(f"Division {division} does not exist", "WDI0103", "DIVI")
            handler = self.transactions().get((program, transaction))
            if handler is None:
                return Response.json(404, {"error": "not_found",
                                           "message": f"Program {program} or transaction {transaction} does not exist"})
            records = handler(inputs, division)
        except MIError as exc:
            return mi_error(400, str(exc), exc.code, exc.field)
        if maxrecs:
            records = records[:maxrecs]
        return Response.json(200, {"results": [{"transaction": transaction, "records": [padded(r) for r in records]}],
                                   "wasTerminated": False, "nrOfSuccessfullTransactions": 1,
                                   "nrOfFailedTransactions": 0})

    def transactions(self):
        return {m3.SUPPLIERS: self.list_suppliers, m3.SUPPLIER: self.get_supplier,
                m3.GL_ACCOUNTS: self.list_accounts, m3.APPROVED_INVOICES: self.list_approved_invoices,
                m3.GET_PAYMENT: self.get_payment, m3.ADD_PAYMENT: self.add_payment,
                m3.UPDATE_PAYMENT: self.update_payment}

    def list_suppliers(self, inputs, division):
        since, start, end = inputs.get("LMTS", ""), inputs.get("FRSU", ""), inputs.get("TOSU", "")
        rows = [s for k, s in sorted(self.suppliers.items())
                if k >= start and (not end or k <= end) and (not since or s["LMTS"] > since)]
        return [{"CONO": COMPANY, **s} for s in rows]

    def get_supplier(self, inputs, division):
        supplier = self.suppliers.get(inputs.get("SUNO", ""))
        if supplier is None:
            raise MIError(f"Supplier {inputs.get('SUNO', '')} does not exist", "WSU0103", "SUNO")
        return [{"CONO": COMPANY, **supplier}]

    def list_accounts(self, inputs, division):
        aitp = inputs.get("AITP", "")
        if not aitp:
            raise MIError("Accounting dimension must be entered", "WAI0102", "AITP")
        return [{"CONO": COMPANY, "AITP": aitp, **a} for (dim, _), a in sorted(self.accounts.items()) if dim == aitp]

    def list_approved_invoices(self, inputs, division):
        since, start = inputs.get("F_LMTS", ""), inputs.get("F_KEY", "")
        rows = []
        for key, inv in sorted(self.invoices.items()):
            if key < start or inv["APRV"] != "1" or (since and inv["LMTS"] <= since):
                continue
            if division and inv["DIVI"] != division:
                continue
            header = {k: v for k, v in inv.items() if k != "lines"}
            for line in inv["lines"]:
                rows.append({"KEY": key, **header, **line})
        return rows

    def payment_key(self, inputs):
        pyid = inputs.get("PYID", "")
        if not pyid:
            raise MIError("Payment id must be entered", "WPY0102", "PYID")
        return pyid

    def get_payment(self, inputs, division):
        payment = self.payments.get(self.payment_key(inputs))
        if payment is None:
            raise MIError("Record does not exist", "WPY0103", "PYID")
        return [payment]

    def invoice_for(self, inputs, division):
        key = "|".join([division or inputs.get("DIVI", ""), inputs.get("YEA4", ""), inputs.get("JRNO", ""),
                        inputs.get("JSNO", "")])
        invoice = self.invoices.get(key)
        if invoice is None:
            raise MIError(f"Invoice {key} does not exist", "WIN0103", "JRNO")
        return key, invoice

    def read_payment(self, inputs):
        try:
            amount = Decimal(inputs.get("PYAM", ""))
        except InvalidOperation:
            raise MIError("Payment amount is invalid", "WPY0201", "PYAM") from None
        date = inputs.get("PYDT", "")
        try:
            datetime.strptime(date, "%Y%m%d")
        except ValueError:
            raise MIError(f"Payment date {date} is invalid", "WPY0202", "PYDT") from None
        status = inputs.get("PYST", "")
        if status not in ("PAID", "VOIDED"):
            raise MIError("Payment status must be PAID or VOIDED", "WPY0203", "PYST")
        return amount, date, status

    def add_payment(self, inputs, division):
        pyid = self.payment_key(inputs)
        if pyid in self.payments:
            raise MIError("Record already exists", "WPY0104", "PYID")
        key, invoice = self.invoice_for(inputs, division)
        amount, date, status = self.read_payment(inputs)
        self.payments[pyid] = {"PYID": pyid, "KEY": key, "PYAM": str(amount), "PYDT": date, "PYST": status,
                               "REFE": inputs.get("REFE", ""), "LMTS": self.lmts()}
        self.recompute(key, invoice)
        return []

    def update_payment(self, inputs, division):
        pyid = self.payment_key(inputs)
        payment = self.payments.get(pyid)
        if payment is None:
            raise MIError("Record does not exist", "WPY0103", "PYID")
        amount, date, status = self.read_payment(inputs)
        payment.update({"PYAM": str(amount), "PYDT": date, "PYST": status, "LMTS": self.lmts()})
        self.recompute(payment["KEY"], self.invoices[payment["KEY"]])
        return []

    def recompute(self, key, invoice):
        paid = sum(Decimal(p["PYAM"]) for p in self.payments.values() if p["KEY"] == key and p["PYST"] == "PAID")
        invoice["PAAM"] = str(paid)
        invoice["PYST"] = "PAID" if paid >= Decimal(invoice["CUAM"]) else ("PARTIAL" if paid else "OPEN")

    # --- controls and state -----------------------------------------------------------------------------
    def control(self, action, payload):
        with self.lock:
            if action == "account":
                for key in ("token_lifetime", "login_limit", "spike_limit"):
                    if key in payload:
                        setattr(self, key, int(payload[key]))
                if "issue_refresh_tokens" in payload:
                    self.issue_refresh_tokens = bool(payload["issue_refresh_tokens"])
                return {"token_lifetime": self.token_lifetime, "login_limit": self.login_limit,
                        "spike_limit": self.spike_limit}
            if action == "seed":
                return self.seed(payload)
            if action == "update-supplier":
                supplier = self.suppliers.get(payload.get("SUNO", ""))
                if supplier is None:
                    raise BadRequest(f"No supplier {payload.get('SUNO')!r}")
                supplier.update({k: str(v) for k, v in payload.items() if k != "SUNO"})
                supplier["LMTS"] = self.lmts()
                return supplier
            if action == "seed-canonical":
                return self.seed(canonical_seed(unreadable=bool(payload.get("unreadable"))))
            if action == "canonical-supplier":
                return self.change_canonical_supplier(payload)
            if action == "canonical-state":
                return {"payments": [{"payment_id": p["PYID"], "invoice_number": self.invoices[p["KEY"]]["SINO"],
                                      "supplier_id": self.invoices[p["KEY"]]["SUNO"],
                                      "amount": canonical.amount_text(p["PYAM"]), "status": p["PYST"]}
                                     for p in self.payments.values()]}
        raise BadRequest(f"infor has no control {action!r}; controls: account, seed, update-supplier, "
                         "seed-canonical, canonical-supplier, canonical-state")

    def change_canonical_supplier(self, payload):
        supplier = self.suppliers.get(payload.get("source_id", ""))
        if supplier is None:
            raise BadRequest(f"No supplier {payload.get('source_id')!r}")
        changes = {k: v for k, v in payload.items() if k != "source_id"}
        unknown = set(changes) - set(CANONICAL_SUPPLIER_FIELDS) - {"active"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}; fields: "
                             f"{', '.join([*CANONICAL_SUPPLIER_FIELDS, 'active'])}")
        supplier.update({CANONICAL_SUPPLIER_FIELDS[k]: str(v) for k, v in changes.items() if k != "active"})
        if "active" in changes:
            supplier["STAT"] = m3_status(changes["active"])
        supplier["LMTS"] = self.lmts()
        return {"source_id": supplier["SUNO"]}

    def seed(self, payload):
        counts = {}
        for s in payload.get("suppliers", []):
            if not s.get("SUNO"):
                raise BadRequest("Every supplier needs SUNO")
            self.suppliers[s["SUNO"]] = {**{k: str(v) for k, v in s.items()}, "LMTS": self.lmts()}
        counts["suppliers"] = len(payload.get("suppliers", []))
        for a in payload.get("accounts", []):
            dim = str(a.get("AITP", m3.ACCOUNT_DIMENSION))
            self.accounts[(dim, a["AITM"])] = {"AITM": a["AITM"], "TX40": a.get("TX40", ""),
                                               "TX15": a.get("TX40", "")[:15], "LCCD": str(a.get("LCCD", "0")),
                                               "LMTS": self.lmts()}
        counts["accounts"] = len(payload.get("accounts", []))
        for inv in payload.get("invoices", []):
            key = "|".join([inv["DIVI"], str(inv["YEA4"]), str(inv["JRNO"]), str(inv["JSNO"])])
            header = {k: str(v) for k, v in inv.items() if k != "lines"}
            header.setdefault("APRV", "1")
            header.update({"PYST": "OPEN", "PAAM": "0", "LMTS": self.lmts()})
            lines = [{k: str(v) for k, v in line.items()} for line in inv.get("lines", [])]
            self.invoices[key] = {**header, "lines": lines}
        counts["invoices"] = len(payload.get("invoices", []))
        return counts

    def state(self):
        return {"suppliers": list(self.suppliers.values()),
                "accounts": [{"AITP": k[0], **v} for k, v in self.accounts.items()],
                "invoices": [{"KEY": k, **v} for k, v in self.invoices.items()],
                "payments": list(self.payments.values()),
                "logins": self.counts["logins"], "refreshes": self.counts["refreshes"],
                "calls": self.counts["calls"], "revoked": self.counts["revoked"]}
