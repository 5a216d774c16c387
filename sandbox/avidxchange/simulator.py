"""The AvidXchange simulator: the API under /avidxchange/v1, and AvidXchange's side of the file exchange.

AvidXchange publishes no API reference, so every path, field, status and limit here is the assumption
decided in connectors/avidxchange/client.py (and files.py for the file layouts), marked UNCONFIRMED there
and listed in docs/ASSUMPTIONS.md (X1-X12). What the simulator holds to is what is public, third-party:
- the company token and user token travel as request headers on every call (X1): a call missing either,
  or with one AvidXchange does not know, is refused;
- batch creates answer HTTP 200 with one Results[] entry per item, a refused item failing alone, and list
  reads come wrapped in Items with paging metadata (Flowgear's AvidPay node, https://help.flowgear.net/v2/
  nodes/avidpay);
- GL codes and dimensions are code lists the ERP pushes, read-only in AvidXchange: they are created and
  updated (deactivated with IsActive false), never deleted; a payee must exist, and be active, before
  invoices for it are taken (the ml-connector integration pages).
It is strict where the assumptions are: unknown query parameters, dates and times in another format,
pages out of range and wrong types are refused.

The file exchange: a folder registered with the `files` control stands for the customer's transfer
folder. What the connector writes to <folder>/outbound is imported (and taken away, as a transfer job
would) whenever a control looks at the company; each change of a payment's status is written to
<folder>/inbound as a payment file. Folders must lie under the system's temporary directory.
"""

import contextlib
import hashlib
import itertools
import re
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from connectors import canonical
from connectors.avidxchange import files
from connectors.avidxchange.client import (
    ATTACHMENT_TYPES,
    COMPANY_HEADER,
    CONCURRENT_CALLS,
    DATE_PATTERN,
    EXTERNAL_ID_LENGTH,
    IDS_PER_FILTER,
    LIST_TYPES,
    PAGE_MAX,
    PAYMENT_STATES,
    PREFIX,
    REFERENCE_FIELDS,
    RETURN_CODE_FIELD,
    RETURN_REASON_FIELD,
    TIME_PATTERN,
    USER_HEADER,
)
from connectors.avidxchange.system import DEFAULT_ATTACHMENT_MB
from connectors.reversals import RETURN_CODE
from connectors.values import CENT, decimal_value
from sandbox.hub import BadRequest, InFlight, Response, Simulator, route, stable_id

COMPANY_ID = "AVX-SANDBOX"
COMPANY_NAME = "Sandbox Manufacturing"
COMPANY_TOKEN = "sandbox-company-token"
USER_TOKEN = "sandbox-user-token"
USER_NAME = "ap-integration@sandbox.test"
ATTACHMENT_LIMIT = DEFAULT_ATTACHMENT_MB * 1024 * 1024
BATCH_LIMITS = {"Payees": 100, "Invoices": 100, "Codes": 500}
ID_PREFIXES = {"GlAccount": "GL", "Department": "DP", "Location": "LC", "Class": "CL", "Project": "PJ",
               "Subaccount": "SA"}
PAYEE_STATUSES = ("Active", "Inactive")
# Where a payment may go from each state: terminal states never change, an ACH payment can be returned and a
# check escheated (UNCONFIRMED, X6).
NEXT_STATES = {"Scheduled": {"Settled", "Voided"}, "Settled": {"Returned", "Voided", "Escheated"}}
METHOD_ONLY = {"Returned": "ACH", "Escheated": "Check"}
LIST_PARAMS = {"payees": {"ExternalIds"}, "invoices": {"ExternalIds"}, "codes": {"ListTypes"},
               "payments": {"ModifiedSince"}}
# Payee fields (UNCONFIRMED, X2): lengths from a public Avid Pay export layout (payee name and address lines of
# at most 40 characters).
NAME_LENGTH = 40


class Invalid(Exception):
    """A refused request: HTTP 400 with AvidXchange's error list."""

    def __init__(self, message, code="ValidationFailed", field=None, status=400):
        super().__init__(message)
        self.code, self.field, self.status = code, field, status


class Missing(Exception):
    """An object that is not there: HTTP 404."""


def avid_errors(status, code, message, field=None):
    error = {"Code": code, "Message": message}
    if field:
        error["Field"] = field
    return Response.json(status, {"Errors": [error]})


def text(value, field, *, required=False, length=None):
    if value is None or value == "":
        if required:
            raise Invalid(f"{field} is required.", field=field)
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text.", field=field)
    if length and len(value) > length:
        raise Invalid(f"{field} must be at most {length} characters.", field=field)
    return value


def amount(value, field):
    number = decimal_value(value)
    if number is None:
        raise Invalid(f"{field} must be a number.", field=field)
    if number != number.quantize(CENT):
        raise Invalid(f"{field} must be a number with at most two decimals.", field=field)
    return number.quantize(CENT)


def strict_date(value, field):
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
        raise Invalid(f"{field} must be a date in yyyy-MM-dd format.", field=field)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field} is not a real date.", field=field) from None
    return value


def currency(value, field="Currency"):
    value = text(value, field) or "USD"
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise Invalid(f"{field} must be a three-letter ISO 4217 code.", field=field)
    return value


def money(value):
    return float(value)


def public(obj):
    """An object as the API shows it: without the simulator's own bookkeeping (keys starting with _)."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


class AvidXchangeSimulator(Simulator):
    id = "avidxchange"
    # The assumption check's switches (docs/ASSUMPTIONS.md): X5 AvidXchange keeps every code list we publish to, or has
    # no Project and no Subaccount list (GET /codes refuses those names, PUT /codelists/<name>/codes is a 404); X4
    # lists come in pages of the PageSize asked, or of at most 50 whatever is asked (and say so in PageSize).
    VARIANTS = {"X5": ("every list", "no Project or Subaccount list"), "X4": ("as asked", "at most 50 a page")}

    def reset(self):
        self.companies = {}
        self.company_tokens = {}  # company token -> company id
        self.user_tokens = {}  # (company id, user token) -> user name
        self.folders = {}  # company id -> [folder]
        self.concurrency_limit = CONCURRENT_CALLS
        self.in_flight = InFlight()
        self.refused_tokens = 0
        self.calls = 0
        self.add_company(COMPANY_ID, COMPANY_NAME, COMPANY_TOKEN, USER_TOKEN, USER_NAME)

    def add_company(self, company_id, name, company_token, user_token, user_name):
        if company_id not in self.companies:
            self.companies[company_id] = {"id": company_id, "name": name, "payees": {}, "invoices": {},
                                          "codes": {t: {} for t in ID_PREFIXES}, "attachments": {}, "payments": {},
                                          "imported": set(), "import_errors": [], "_ids": itertools.count(1),
                                          "_checks": itertools.count(10001)}
        self.company_tokens[company_token] = company_id
        self.user_tokens[(company_id, user_token)] = user_name
        return self.companies[company_id]

    def now(self):
        moment = self.clock.now()
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    def new_id(self, company, prefix, taken, *key):
        """An id in AvidXchange's shape (a prefix and eight digits) named by the object's natural key, so the same
        data loaded after a restart gets the same ids (stable_id)."""
        return stable_id(prefix, (company["id"], prefix, *key), taken=taken, width=8, digits=True)

    # --- framework hooks --------------------------------------------------------------------------------
    def error_response(self, status, code, message):
        codes = {"not_found": "UnknownPath", "method_not_allowed": "MethodNotAllowed", "server_error": "ServerError",
                 "gateway_timeout": "GatewayTimeout", "bad_request": "ValidationFailed"}
        return avid_errors(status, codes.get(code, code), message)

    def rate_limited_response(self, request, context):
        return avid_errors(429, "TooManyRequests", "Too many requests for this company; slow down.")

    def authenticate(self, request, handler):
        company_token, user_token = request.header(COMPANY_HEADER), request.header(USER_HEADER)
        if not company_token or not user_token:
            self.refused_tokens += 1
            return avid_errors(401, "MissingToken", f"The {COMPANY_HEADER} and {USER_HEADER} headers are required.")
        company_id = self.company_tokens.get(company_token)
        if company_id is None:
            self.refused_tokens += 1
            return avid_errors(401, "InvalidCompanyToken", "The company token is not valid.")
        user = self.user_tokens.get((company_id, user_token))
        if user is None:
            self.refused_tokens += 1
            return avid_errors(401, "InvalidUserToken", "The user token is not valid for this company.")
        self.calls += 1
        return {"company": self.companies[company_id], "user": user}

    @contextlib.contextmanager
    def admission(self, request, context):
        if context is None:
            yield None
            return
        with self.in_flight.admit(context["company"]["id"], self.concurrency_limit) as admitted:
            yield None if admitted else self.rate_limited_response(request, context)

    def handle(self, request):
        try:
            return super().handle(request)
        except Invalid as exc:
            return avid_errors(exc.status, exc.code, str(exc), exc.field)
        except Missing as exc:
            return avid_errors(404, "NotFound", str(exc))

    # --- lists ------------------------------------------------------------------------------------------
    def page(self, request, items, kind):
        allowed = LIST_PARAMS[kind] | {"Page", "PageSize"}
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            raise Invalid(f"Unknown parameter(s) {', '.join(unknown)}; this list takes {', '.join(sorted(allowed))}.")
        try:
            number, size = int(request.arg("Page", "1")), int(request.arg("PageSize", str(PAGE_MAX)))
        except ValueError:
            raise Invalid("Page and PageSize must be whole numbers.") from None
        if number < 1 or not 1 <= size <= PAGE_MAX:
            raise Invalid(f"Page starts at 1 and PageSize is from 1 to {PAGE_MAX}.")
        if self.variant("X4") == "at most 50 a page":
            size = min(size, 50)
        start = (number - 1) * size
        return Response.json(200, {"Items": public(items[start:start + size]), "Page": number, "PageSize": size,
                                   "TotalCount": len(items)})

    @staticmethod
    def external_ids(request):
        given = request.arg("ExternalIds")
        if given is None:
            return None
        ids = [i for i in given.split(",") if i]
        if not ids or len(ids) > IDS_PER_FILTER:
            raise Invalid(f"ExternalIds takes 1 to {IDS_PER_FILTER} ids.", field="ExternalIds")
        return set(ids)

    # --- company ----------------------------------------------------------------------------------------
    @route("GET", f"{PREFIX}/company")
    def company(self, request, context):
        company = context["company"]
        return Response.json(200, {"CompanyId": company["id"], "CompanyName": company["name"],
                                   "UserName": context["user"]})

    # --- payees -----------------------------------------------------------------------------------------
    def build_payee(self, company, body, existing=None):
        if not isinstance(body, dict):
            raise Invalid("A payee must be an object.")
        external = text(body.get("ExternalId"), "ExternalId", required=True, length=EXTERNAL_ID_LENGTH)
        name = text(body.get("Name"), "Name", required=True, length=NAME_LENGTH)
        address = body.get("Address")
        if not isinstance(address, dict):
            raise Invalid("Address is required.", field="Address")
        fields = {key: text(address.get(key), f"Address.{key}", required=key in ("Line1", "City"),
                            length=NAME_LENGTH) for key in ("Line1", "Line2", "City", "State", "PostalCode", "Country")}
        if fields["Country"] and not re.fullmatch(r"[A-Z]{2}", fields["Country"]):
            raise Invalid("Address.Country must be a two-letter ISO 3166 code.", field="Address.Country")
        other = next((p for p in company["payees"].values() if p["ExternalId"] == external), None)
        if other is not None and other is not existing:
            raise Invalid(f"A payee with ExternalId {external} exists already ({other['Id']}).",
                          code="DuplicateExternalId", field="ExternalId")
        now = self.now()
        payee_id = (existing or {}).get("Id") or self.new_id(company, "PY", company["payees"], external)
        return {"Id": payee_id, "ExternalId": external, "Name": name,
                "TaxId": text(body.get("TaxId"), "TaxId", length=20), "Email": text(body.get("Email"), "Email"),
                "Phone": text(body.get("Phone"), "Phone", length=20), "Currency": currency(body.get("Currency")),
                "Address": fields, "Status": (existing or {}).get("Status", "Active"),
                "CreatedDate": (existing or {}).get("CreatedDate", now), "ModifiedDate": now}

    @route("GET", f"{PREFIX}/payees")
    def list_payees(self, request, context):
        wanted = self.external_ids(request)
        payees = [p for p in context["company"]["payees"].values() if wanted is None or p["ExternalId"] in wanted]
        return self.page(request, payees, "payees")

    @route("POST", f"{PREFIX}/payees/batch")
    def create_payees(self, request, context):
        company = context["company"]

        def create(body):
            payee = self.build_payee(company, body)
            company["payees"][payee["Id"]] = payee
            return payee["Id"]

        return self.batch(request, "Payees", create)

    def payee(self, company, payee_id):
        payee = company["payees"].get(payee_id)
        if payee is None:
            raise Missing(f"No payee {payee_id}.")
        return payee

    @route("GET", f"{PREFIX}/payees/(?P<payee_id>[^/]+)")
    def get_payee(self, request, context, payee_id):
        return Response.json(200, public(self.payee(context["company"], payee_id)))

    @route("PUT", f"{PREFIX}/payees/(?P<payee_id>[^/]+)")
    def update_payee(self, request, context, payee_id):
        company = context["company"]
        payee = self.payee(company, payee_id)
        payee.update(self.build_payee(company, request.json(), existing=payee))
        return Response.json(200, public(payee))

    def batch(self, request, key, create):
        """HTTP 200 with one Results[] entry per item, in order; an item refused fails alone."""
        body = request.json()
        items = body.get(key) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise Invalid(f"The body must be an object with a non-empty {key} list.", field=key)
        if len(items) > BATCH_LIMITS[key]:
            raise Invalid(f"At most {BATCH_LIMITS[key]} {key} per call.", field=key)
        results = []
        for index, item in enumerate(items):
            try:
                results.append({"Index": index, "Success": True, "Id": create(item), "Errors": []})
            except Invalid as exc:
                error = {"Code": exc.code, "Message": str(exc), **({"Field": exc.field} if exc.field else {})}
                results.append({"Index": index, "Success": False, "Id": None, "Errors": [error]})
        return Response.json(200, {"Results": results})

    # --- code lists -------------------------------------------------------------------------------------
    def list_types(self):
        """The code lists this AvidXchange keeps (X5)."""
        if self.variant("X5") == "no Project or Subaccount list":
            return [t for t in ID_PREFIXES if t not in ("Project", "Subaccount")]
        return list(ID_PREFIXES)

    def list_type(self, list_type):
        if list_type not in self.list_types():
            raise Missing(f"No code list {list_type}; lists: {', '.join(self.list_types())}.")
        return list_type

    def upsert_code(self, company, list_type, body, code_id=None):
        if not isinstance(body, dict):
            raise Invalid("A code must be an object.")
        code = text(body.get("Code"), "Code", required=True, length=files.CODE_LENGTH)
        name = text(body.get("Name"), "Name", length=100)
        active = body.get("IsActive", True)
        if not isinstance(active, bool):
            raise Invalid("IsActive must be true or false.", field="IsActive")
        codes = company["codes"][list_type]
        entry = next((c for c in codes.values() if c["Code"] == code), None)
        now = self.now()
        if entry is None:
            entry = {"Id": code_id or self.new_id(company, ID_PREFIXES[list_type], codes, list_type, code),
                     "Code": code, "CreatedDate": now}
            codes[entry["Id"]] = entry
        entry.update({"Name": name, "IsActive": active, "ModifiedDate": now})
        return entry["Id"]

    @route("GET", f"{PREFIX}/codes")
    def list_codes(self, request, context):
        """Every code of every list (or of the lists in ListTypes), each with its ListType, in list order."""
        wanted = [t for t in (request.arg("ListTypes") or "").split(",") if t] or self.list_types()
        if set(wanted) - set(self.list_types()):
            raise Invalid(f"ListTypes takes {', '.join(self.list_types())}.", field="ListTypes")
        codes = [{"ListType": list_type, **entry} for list_type in wanted
                 for entry in context["company"]["codes"][list_type].values()]
        return self.page(request, codes, "codes")

    @route("PUT", f"{PREFIX}/codelists/(?P<list_type>[A-Za-z]+)/codes")
    def put_codes(self, request, context, list_type):
        list_type = self.list_type(list_type)
        return self.batch(request, "Codes", lambda body: self.upsert_code(context["company"], list_type, body))

    @route("DELETE", f"{PREFIX}/codelists/(?P<list_type>[A-Za-z]+)/codes/(?P<code_id>[^/]+)")
    def delete_code(self, request, context, list_type, code_id):
        raise Invalid("Codes are never deleted: invoices may point at them. Set IsActive to false instead.",
                      code="CodeCannotBeDeleted", status=405)

    def active_code(self, company, list_type, code_id, where):
        entry = company["codes"][list_type].get(code_id)
        if entry is None or not entry["IsActive"]:
            raise Invalid(f"{where}: {code_id!r} is not an active code of the {list_type} list.", code="InvalidCode",
                          field=where)
        return entry["Code"]

    # --- invoices ---------------------------------------------------------------------------------------
    def payable(self, company, payee_id):
        """UNCONFIRMED (X11): an invoice for a payee that is missing, or that AvidXchange holds inactive (its vendor
        enrolment does that, not the ERP), is refused, item by item."""
        payee = company["payees"].get(payee_id)
        if payee is None:
            raise Invalid(f"Payee {payee_id} does not exist in AvidXchange.", code="PayeeNotFound", field="PayeeId")
        if payee["Status"] != "Active":
            raise Invalid(f"Payee {payee_id} ({payee['Name']}) is {payee['Status'].lower()} in AvidXchange: invoices "
                          "cannot be added for it until it is active again.", code="PayeeInactive", field="PayeeId")
        return payee

    def build_invoice(self, company, body, invoice_id=None, source="api"):
        if not isinstance(body, dict):
            raise Invalid("An invoice must be an object.")
        external = text(body.get("ExternalId"), "ExternalId", required=True, length=EXTERNAL_ID_LENGTH)
        payee = self.payable(company, text(body.get("PayeeId"), "PayeeId", required=True))
        number = text(body.get("InvoiceNumber"), "InvoiceNumber", required=True, length=50)
        total = amount(body.get("Amount"), "Amount")
        lines = body.get("Lines")
        if not isinstance(lines, list) or not lines:
            raise Invalid("Lines must list at least one line.", field="Lines")
        built, lines_total = [], Decimal("0.00")
        for n, line in enumerate(lines, 1):
            if not isinstance(line, dict):
                raise Invalid(f"Lines[{n}] must be an object.", field=f"Lines[{n}]")
            line_amount = amount(line.get("Amount"), f"Lines[{n}].Amount")
            gl_id = text(line.get("GlAccountId"), f"Lines[{n}].GlAccountId", required=True)
            coded = {"GlAccount": self.active_code(company, "GlAccount", gl_id, f"Lines[{n}].GlAccountId")}
            dimensions = line.get("Dimensions") or {}
            if not isinstance(dimensions, dict):
                raise Invalid(f"Lines[{n}].Dimensions must be an object.", field=f"Lines[{n}].Dimensions")
            for list_type, code_id in dimensions.items():
                if list_type == "GlAccount" or list_type not in ID_PREFIXES:
                    raise Invalid(f"Lines[{n}].Dimensions: no dimension list {list_type}.", field=f"Lines[{n}]")
                coded[list_type] = self.active_code(company, list_type, code_id, f"Lines[{n}].Dimensions.{list_type}")
            built.append({"LineNumber": n, "Amount": money(line_amount),
                          "Description": text(line.get("Description"), f"Lines[{n}].Description"),
                          "PurchaseOrderNumber": text(line.get("PurchaseOrderNumber"),
                                                      f"Lines[{n}].PurchaseOrderNumber"),
                          "GlAccountId": gl_id, "Dimensions": dict(dimensions), "_codes": coded})
            lines_total += line_amount
        if lines_total != total:
            raise Invalid(f"The lines add up to {lines_total}, not the invoice Amount {total}.", code="LinesDoNotAddUp",
                          field="Amount")
        for other in company["invoices"].values():
            if other["ExternalId"] == external:
                raise Invalid(f"An invoice with ExternalId {external} exists already ({other['Id']}).",
                              code="DuplicateExternalId", field="ExternalId")
            if other["PayeeId"] == payee["Id"] and other["InvoiceNumber"] == number:
                raise Invalid(f"Payee {payee['Id']} already has invoice {number} ({other['Id']}).",
                              code="DuplicateInvoice", field="InvoiceNumber")
        now = self.now()
        invoice_id = invoice_id or self.new_id(company, "IN", company["invoices"], external)
        return {"Id": invoice_id, "ExternalId": external, "PayeeId": payee["Id"],
                "InvoiceNumber": number, "InvoiceDate": strict_date(body.get("InvoiceDate"), "InvoiceDate"),
                "DueDate": strict_date(body.get("DueDate"), "DueDate"), "Amount": money(total),
                "Currency": currency(body.get("Currency")),
                "Description": text(body.get("Description"), "Description"),
                "PurchaseOrderNumber": text(body.get("PurchaseOrderNumber"), "PurchaseOrderNumber"),
                "Lines": built, "Status": "Approved", "AmountPaid": 0.0, "CreatedDate": now, "ModifiedDate": now,
                "_source": source}

    @route("GET", f"{PREFIX}/invoices")
    def list_invoices(self, request, context):
        wanted = self.external_ids(request)
        invoices = [i for i in context["company"]["invoices"].values() if wanted is None or i["ExternalId"] in wanted]
        return self.page(request, invoices, "invoices")

    @route("POST", f"{PREFIX}/invoices/batch")
    def create_invoices(self, request, context):
        company = context["company"]

        def create(body):
            invoice = self.build_invoice(company, body)
            company["invoices"][invoice["Id"]] = invoice
            return invoice["Id"]

        return self.batch(request, "Invoices", create)

    def invoice(self, company, invoice_id):
        invoice = company["invoices"].get(invoice_id)
        if invoice is None:
            raise Missing(f"No invoice {invoice_id}.")
        return invoice

    @route("GET", f"{PREFIX}/invoices/(?P<invoice_id>[^/]+)")
    def get_invoice(self, request, context, invoice_id):
        return Response.json(200, public(self.invoice(context["company"], invoice_id)))

    # --- attachments ------------------------------------------------------------------------------------
    @route("GET", f"{PREFIX}/invoices/(?P<invoice_id>[^/]+)/attachments")
    def list_attachments(self, request, context, invoice_id):
        self.invoice(context["company"], invoice_id)
        return Response.json(200, context["company"]["attachments"].get(invoice_id, []))

    @route("POST", f"{PREFIX}/invoices/(?P<invoice_id>[^/]+)/attachments")
    def add_attachment(self, request, context, invoice_id):
        """The image is the raw body (UNCONFIRMED, X7): its type in Content-Type, its name in Content-Disposition,
        at most 25 MB. Only its size and SHA-256 are kept."""
        company = context["company"]
        self.invoice(company, invoice_id)
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in ATTACHMENT_TYPES:
            raise Invalid(f"Attachments are {', '.join(sorted(ATTACHMENT_TYPES))}, not {content_type or 'untyped'}.",
                          code="UnsupportedMediaType", status=415)
        match = re.search(r'filename="([^"]+)"', request.header("Content-Disposition") or "")
        if not match:
            raise Invalid('Content-Disposition must name the file: attachment; filename="...".',
                          field="Content-Disposition")
        if len(request.body) > ATTACHMENT_LIMIT:
            raise Invalid(f"The attachment is {len(request.body)} bytes; the limit is {ATTACHMENT_LIMIT}.",
                          code="AttachmentTooLarge", status=413)
        if not request.body:
            raise Invalid("The attachment is empty.", field="body")
        return Response.json(201, self.attach(company, invoice_id, match[1], content_type, len(request.body),
                                              hashlib.sha256(request.body).hexdigest()))

    def attach(self, company, invoice_id, name, content_type, size, sha256):
        taken = {a["Id"] for attached in company["attachments"].values() for a in attached}
        attachment = {"Id": self.new_id(company, "AT", taken, invoice_id, name), "FileName": name,
                      "ContentType": content_type, "Size": size, "Sha256": sha256, "CreatedDate": self.now()}
        company["attachments"].setdefault(invoice_id, []).append(attachment)
        return attachment

    # --- payments ---------------------------------------------------------------------------------------
    @route("GET", f"{PREFIX}/payments")
    def list_payments(self, request, context):
        since = request.arg("ModifiedSince")
        if since is not None and not TIME_PATTERN.fullmatch(since):
            raise Invalid("ModifiedSince must be yyyy-MM-ddTHH:mm:ss.fffZ.", field="ModifiedSince")
        payments = sorted((p for p in context["company"]["payments"].values()
                           if since is None or p["ModifiedDate"] >= since), key=lambda p: (p["ModifiedDate"], p["Id"]))
        return self.page(request, payments, "payments")

    def pay(self, company, shares, method="ACH", status="Settled"):
        """One payment of invoices of one payee, each in full unless an amount is given."""
        if method not in REFERENCE_FIELDS or status not in ("Settled", "Scheduled"):
            raise Invalid(f"Method is one of {', '.join(REFERENCE_FIELDS)}; a new payment is Settled or Scheduled.")
        if not isinstance(shares, list) or not shares:
            raise Invalid("Name at least one invoice to pay.")
        allocations, payee = [], None
        for share in shares:
            invoice = self.invoice(company, (share or {}).get("InvoiceId"))
            if payee is not None and invoice["PayeeId"] != payee:
                raise Invalid("One payment pays invoices of one payee.")
            payee = invoice["PayeeId"]
            due = Decimal(str(invoice["Amount"])) - Decimal(str(invoice["AmountPaid"]))
            paid = amount(share["Amount"], "Amount") if share.get("Amount") is not None else due
            if not 0 < paid <= due:
                raise Invalid(f"Invoice {invoice['Id']}: pay more than 0 and at most the {due} still due.")
            allocations.append((invoice, paid))
        references = {"Check": str(next(company["_checks"])), "ACH": f"0210000{next(company['_ids']):08d}",
                      "VirtualCard": f"VC{next(company['_ids']):08d}"}
        payment_id = self.new_id(company, "PM", company["payments"], [invoice["Id"] for invoice, _ in allocations])
        payment = {"Id": payment_id, "PayeeId": payee, "Status": status, "Method": method,
                   "CheckNumber": "", "AchTraceNumber": "", "CardConfirmationNumber": "",
                   REFERENCE_FIELDS[method]: references[method],
                   "Amount": money(sum(paid for _, paid in allocations)), "Currency": allocations[0][0]["Currency"],
                   "SettlementDate": None, "ModifiedDate": "", RETURN_CODE_FIELD: None, RETURN_REASON_FIELD: None,
                   "Invoices": [{"InvoiceId": invoice["Id"], "Amount": money(paid)} for invoice, paid in allocations]}
        company["payments"][payment["Id"]] = payment
        self.set_payment_status(company, payment, status, new=True)
        return payment

    def set_payment_status(self, company, payment, status, new=False, code=None, reason=None):
        """Move a payment to `status`; a return may carry the bank's NACHA reason code and words for it (X17)."""
        if not new and status not in NEXT_STATES.get(payment["Status"], ()):
            raise Invalid(f"Payment {payment['Id']} is {payment['Status']}; it cannot become {status}.")
        if METHOD_ONLY.get(status, payment["Method"]) != payment["Method"]:
            raise Invalid(f"Only a {METHOD_ONLY[status]} payment can be {status.lower()}.")
        if (code or reason) and status != "Returned":
            raise Invalid(f"{RETURN_CODE_FIELD} and {RETURN_REASON_FIELD} go with status Returned only.")
        if code and (not isinstance(code, str) or not RETURN_CODE.fullmatch(code)):
            raise Invalid(f"{RETURN_CODE_FIELD} is a NACHA return reason code: R and two digits.",
                          field=RETURN_CODE_FIELD)
        if status == "Returned":
            payment.update({RETURN_CODE_FIELD: code or None,
                            RETURN_REASON_FIELD: text(reason, RETURN_REASON_FIELD, length=200) or None})
        payment["Status"] = status
        if status == "Settled":
            payment["SettlementDate"] = self.clock.now().date().isoformat()
        payment["ModifiedDate"] = self.now()
        for share in payment["Invoices"]:
            invoice = company["invoices"][share["InvoiceId"]]
            paid = sum(Decimal(str(s["Amount"])) for p in company["payments"].values() if PAYMENT_STATES[p["Status"]][0]
                       or p["Status"] == "Scheduled" for s in p["Invoices"] if s["InvoiceId"] == invoice["Id"])
            invoice["AmountPaid"] = money(paid)
            invoice["Status"] = ("Paid" if paid >= Decimal(str(invoice["Amount"])) else
                                 "PartiallyPaid" if paid else "Approved")
            invoice["ModifiedDate"] = payment["ModifiedDate"]
        self.write_payment_file(company, payment)

    # --- the file exchange ------------------------------------------------------------------------------
    def register_folder(self, company, folder):
        path = Path(str(folder or "")).resolve()
        root = Path(tempfile.gettempdir()).resolve()
        if root not in path.parents:
            raise Invalid(f"The simulator exchanges files only in folders under {root}.", field="folder")
        if not path.is_dir():
            raise Invalid(f"{path} is not a folder.", field="folder")
        self.folders.setdefault(company["id"], [])
        if path not in self.folders[company["id"]]:
            self.folders[company["id"]].append(path)
        return str(path)

    def transfer(self, company):
        """Import what the connector left in each outbound folder of the company, as AvidXchange's import does
        once the customer's transfer job has moved it, and take it away as that job would."""
        for folder in self.folders.get(company["id"], []):
            outbound = folder / files.OUTBOUND
            waiting = sorted((p for p in outbound.glob("*.csv") if p.is_file()),
                             key=lambda p: (files.IMPORT_ORDER.index(files.kind_of(p.name))
                                            if files.kind_of(p.name) in files.IMPORT_ORDER else 99, p.name))
            for path in waiting:
                if path.name not in company["imported"]:
                    self.import_file(company, folder, path)
                    company["imported"].add(path.name)
                path.unlink()

    def import_file(self, company, folder, path):
        kind = files.kind_of(path.name)
        try:
            rows = [row for _, row in files.read_rows(path, kind)]
        except Exception as exc:  # the import refuses the file whole, and says so
            company["import_errors"].append({"file": path.name, "error": str(exc)})
            return
        importers = {"codes": self.import_code, "payees": self.import_payee, "images": self.import_image}
        if kind == "invoices":
            grouped = {}
            for row in rows:
                grouped.setdefault((row["VendorID"], row["InvoiceNumber"]), []).append(row)
            work = [(lambda r=group: self.import_invoice(company, r)) for group in grouped.values()]
        elif kind in importers:
            work = [(lambda r=row, f=importers[kind]: f(company, r, folder)) for row in rows]
        else:
            company["import_errors"].append({"file": path.name, "error": f"no import for {kind} files"})
            return
        for job in work:
            try:
                job()
            except (Invalid, Missing) as exc:
                company["import_errors"].append({"file": path.name, "error": str(exc)})

    def import_code(self, company, row, folder):
        if row["ListType"] not in self.list_types():
            raise Invalid(f"No code list {row['ListType']}.")
        self.upsert_code(company, row["ListType"], {"Code": row["Code"], "Name": row["Name"],
                                                    "IsActive": row["Active"] == "Y"}, code_id=row["Code"])

    def import_payee(self, company, row, folder):
        body = {"ExternalId": row["VendorID"], "Name": row["VendorName"], "TaxId": row["TaxID"], "Email": row["Email"],
                "Phone": row["Phone"], "Currency": row["Currency"],
                "Address": {"Line1": row["AddressLine1"], "Line2": row["AddressLine2"], "City": row["City"],
                            "State": row["State"], "PostalCode": row["PostalCode"], "Country": row["Country"]}}
        existing = company["payees"].get(row["VendorID"])
        payee = self.build_payee(company, body, existing=existing)
        payee["Id"] = row["VendorID"]
        company["payees"][payee["Id"]] = {**(existing or {}), **payee}

    def import_invoice(self, company, rows):
        head = rows[0]
        invoice_id = files.bill_id(head["VendorID"], head["InvoiceNumber"])
        if invoice_id in company["invoices"]:
            if company["invoices"][invoice_id]["ExternalId"] == head["ExternalID"]:
                return  # the same file delivered again
            raise Invalid(f"Invoice {head['InvoiceNumber']} of {head['VendorID']} exists already.",
                          code="DuplicateInvoice")
        lines = []
        for row in rows:
            dimensions = {LIST_TYPES[kind]: row[column] for kind, column in files.DIMENSION_COLUMNS.items()
                          if row[column]}
            lines.append({"Amount": row["LineAmount"], "Description": row["LineDescription"],
                          "PurchaseOrderNumber": row["LinePONumber"], "GlAccountId": row["GLAccount"],
                          "Dimensions": dimensions})
        body = {"ExternalId": head["ExternalID"], "PayeeId": head["VendorID"], "InvoiceNumber": head["InvoiceNumber"],
                "InvoiceDate": head["InvoiceDate"], "DueDate": head["DueDate"], "Amount": head["InvoiceAmount"],
                "Currency": head["Currency"], "Description": head["Description"],
                "PurchaseOrderNumber": head["PONumber"], "Lines": lines}
        company["invoices"][invoice_id] = self.build_invoice(company, body, invoice_id=invoice_id, source="file")

    def import_image(self, company, row, folder):
        image = folder / files.OUTBOUND / files.IMAGES / row["FileName"]
        invoice_id = files.bill_id(row["VendorID"], row["InvoiceNumber"])
        self.invoice(company, invoice_id)
        content = image.read_bytes()
        image.unlink()
        self.attach(company, invoice_id, row["FileName"], row["ContentType"], len(content),
                    hashlib.sha256(content).hexdigest())

    def write_payment_file(self, company, payment):
        """A payment file with this change of the payment's status, one row per invoice it pays."""
        rows = []
        for share in payment["Invoices"]:
            invoice = company["invoices"][share["InvoiceId"]]
            if invoice["_source"] != "file":
                continue
            payee = company["payees"][invoice["PayeeId"]]
            rows.append({"PaymentID": payment["Id"], "Status": payment["Status"],
                         "StatusTime": payment["ModifiedDate"].replace("Z", "+00:00"), "Method": payment["Method"],
                         "CheckNumber": payment["CheckNumber"], "ACHTraceNumber": payment["AchTraceNumber"],
                         "CardConfirmationNumber": payment["CardConfirmationNumber"],
                         "SettlementDate": payment["SettlementDate"] or "", "PaymentAmount": f"{payment['Amount']:.2f}",
                         "Currency": payment["Currency"], "VendorID": payee["ExternalId"],
                         "InvoiceNumber": invoice["InvoiceNumber"], "AmountPaid": f"{share['Amount']:.2f}"})
        if not rows:
            return
        content = files.csv_text("payments", rows)
        for folder in self.folders.get(company["id"], []):
            files.publish(folder / files.INBOUND, files.file_name("payments"), lambda handle: handle.write(content))

    # --- controls ---------------------------------------------------------------------------------------
    def control(self, action, payload):
        with self.lock:
            try:
                return self.run_control(action, payload)
            except KeyError as exc:
                raise BadRequest(f"Missing {exc} in the control's body.") from None
            except (Invalid, Missing, TypeError, ValueError) as exc:
                raise BadRequest(str(exc)) from None

    def target(self, payload):
        company_id = payload.get("company", COMPANY_ID)
        if company_id not in self.companies:
            raise Invalid(f"No company {company_id!r}; companies: {', '.join(self.companies)}.")
        company = self.companies[company_id]
        self.transfer(company)
        return company

    def run_control(self, action, payload):
        if action == "account":
            if "concurrency_limit" in payload:
                self.concurrency_limit = int(payload["concurrency_limit"])
            if "company_token" in payload:
                company = self.add_company(payload["company_id"], payload.get("company_name", payload["company_id"]),
                                           payload["company_token"], payload["user_token"],
                                           payload.get("user_name", USER_NAME))
                return {"company": company["id"], "concurrency_limit": self.concurrency_limit}
            return {"concurrency_limit": self.concurrency_limit}
        company = self.target(payload)
        actions = {"seed": self.seed, "payee-status": self.payee_status, "pay": self.pay_control,
                   "payment-status": self.payment_status, "files": self.files_control,
                   "transfer": lambda c, p: {"imported": len(c["imported"]), "import_errors": c["import_errors"]},
                   "settle-open": self.settle_open, "return-latest": self.return_latest,
                   "seed-canonical": self.seed_canonical, "canonical-pay": self.canonical_pay,
                   "canonical-state": self.canonical_state}
        if action not in actions:
            raise Invalid(f"avidxchange has no control {action!r}; controls: account, {', '.join(actions)}")
        return actions[action](company, payload)

    def seed(self, company, payload):
        """{"codes": {ListType: [{"Code", "Name", "IsActive"?}]}, "payees": [payee body + "Status"?]}."""
        created = {"codes": {}, "payees": {}}
        for list_type, codes in (payload.get("codes") or {}).items():
            self.list_type(list_type)
            created["codes"][list_type] = {c["Code"]: self.upsert_code(company, list_type, c) for c in codes}
        for body in payload.get("payees") or []:
            payee = self.build_payee(company, body)
            if body.get("Status", "Active") not in PAYEE_STATUSES:
                raise Invalid(f"Status is one of {', '.join(PAYEE_STATUSES)}.")
            payee["Status"] = body.get("Status", "Active")
            company["payees"][payee["Id"]] = payee
            created["payees"][payee["ExternalId"]] = payee["Id"]
        return created

    def payee_status(self, company, payload):
        """Put a payee on hold or back (AvidXchange's vendor enrolment does this, not the ERP)."""
        payee = next((p for p in company["payees"].values()
                      if p["Id"] == payload.get("PayeeId") or p["ExternalId"] == payload.get("ExternalId")), None)
        if payee is None or payload.get("Status") not in PAYEE_STATUSES:
            raise Invalid(f"Name a payee (PayeeId or ExternalId) and a Status: {', '.join(PAYEE_STATUSES)}.")
        payee.update({"Status": payload["Status"], "ModifiedDate": self.now()})
        return public(payee)

    def pay_control(self, company, payload):
        return public(self.pay(company, payload.get("Invoices"), payload.get("Method", "ACH"),
                               payload.get("Status", "Settled")))

    def payment_status(self, company, payload):
        payment = company["payments"].get(payload.get("PaymentId"))
        if payment is None:
            raise Invalid(f"No payment {payload.get('PaymentId')!r}.")
        if payload.get("Status") not in PAYMENT_STATES:
            raise Invalid(f"Status is one of {', '.join(PAYMENT_STATES)}.")
        self.set_payment_status(company, payment, payload["Status"], code=payload.get(RETURN_CODE_FIELD),
                                reason=payload.get(RETURN_REASON_FIELD))
        return public(payment)

    def files_control(self, company, payload):
        return {"company": company["id"], "folder": self.register_folder(company, payload.get("folder"))}

    def settle_open(self, company, payload):
        """Pay, by ACH, the `count` oldest invoices not paid yet, one payment each (a person's payment run). With
        `return_one_after_seconds`, the bank returns the last of them that long after (on the simulator's clock,
        while it serves in the background: the demo's way to show a reversal without anyone acting), with the NACHA
        reason code `return_code` when one is given."""
        code = payload.get("return_code")
        if code is not None and (not isinstance(code, str) or not RETURN_CODE.fullmatch(code)):
            raise Invalid("return_code is a NACHA return reason code: R and two digits.")
        open_invoices = [i for i in company["invoices"].values() if i["Status"] == "Approved"]
        paid = [self.pay(company, [{"InvoiceId": i["Id"]}]) for i in open_invoices[:int(payload.get("count", 5))]]
        if paid and payload.get("return_one_after_seconds") is not None:
            paid[-1]["_return_at"] = self.clock.time() + float(payload["return_one_after_seconds"])
            paid[-1]["_return_code"] = code
        return {"payments": [p["Id"] for p in paid]}

    def tick(self):
        """Payments due to be returned by the bank (settle-open's return_one_after_seconds) are returned."""
        with self.lock:
            now = self.clock.time()
            for company in self.companies.values():
                for payment in company["payments"].values():
                    if payment.get("_return_at", now + 1) <= now and payment["Status"] == "Settled":
                        payment.pop("_return_at")
                        self.set_payment_status(company, payment, "Returned", code=payment.pop("_return_code", None))

    def return_latest(self, company, payload):
        """The bank returns the latest settled ACH payment (an ACH return after settlement)."""
        settled = [p for p in company["payments"].values() if p["Status"] == "Settled" and p["Method"] == "ACH"]
        if not settled:
            raise Invalid("No settled ACH payment to return.")
        payment = max(settled, key=lambda p: (p["ModifiedDate"], p["Id"]))
        self.set_payment_status(company, payment, "Returned", code=payload.get(RETURN_CODE_FIELD),
                                reason=payload.get(RETURN_REASON_FIELD))
        return public(payment)

    # --- canonical controls ------------------------------------------------------------------------------
    def seed_canonical(self, company, payload):
        """The canonical GL accounts and departments as published code lists, answered with their ids."""
        accounts = {a.code: self.upsert_code(company, "GlAccount", {"Code": a.code, "Name": a.name,
                                                                    "IsActive": a.active})
                    for a in canonical.GL_ACCOUNTS}
        departments = {d.code: self.upsert_code(company, "Department", {"Code": d.code, "Name": d.name,
                                                                        "IsActive": d.active})
                       for d in canonical.DEPARTMENTS}
        return {"gl_accounts": accounts, "dimensions": {"department": departments}}

    def canonical_pay(self, company, payload):
        share = {"InvoiceId": payload.get("bill_id"), "Amount": payload.get("amount")}
        return {"payment_id": self.pay(company, [share])["Id"]}

    def canonical_state(self, company, payload):
        def line(item):
            return {"amount": canonical.amount_text(item["Amount"]), "gl_account": item["_codes"]["GlAccount"],
                    "department": item["_codes"].get("Department", "")}

        return {"vendors": [{"id": p["Id"], "name": p["Name"], "tax_id": p["TaxId"]}
                            for p in company["payees"].values()],
                "bills": [{"id": i["Id"], "vendor_id": i["PayeeId"], "invoice_number": i["InvoiceNumber"],
                           "invoice_date": i["InvoiceDate"], "due_date": i["DueDate"],
                           "amount": canonical.amount_text(i["Amount"]), "lines": [line(x) for x in i["Lines"]]}
                          for i in company["invoices"].values()]}

    def state(self):
        return {"companies": {company_id: {"name": c["name"], "payees": public(list(c["payees"].values())),
                                           "codes": {t: public(list(v.values())) for t, v in c["codes"].items()},
                                           "invoices": public(list(c["invoices"].values())),
                                           "attachments": c["attachments"],
                                           "payments": public(list(c["payments"].values())),
                                           "import_errors": c["import_errors"]}
                              for company_id, c in self.companies.items()},
                "folders": {company_id: [str(f) for f in folders] for company_id, folders in self.folders.items()},
                "calls": self.calls, "refused_tokens": self.refused_tokens, "max_in_flight": self.in_flight.peak,
                "rejected_concurrent": self.in_flight.refused, "concurrency_limit": self.concurrency_limit}
