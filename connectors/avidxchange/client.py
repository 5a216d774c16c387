"""The AvidXchange API (AvidConnect): token headers, paths, shapes, error codes and limits.

AvidXchange publishes no open API reference: partners receive one at onboarding. What is public, all of
it third-party (docs/ASSUMPTIONS.md X1-X12):
- customers authenticate with a company token and a user token generated in AvidSuite and sent as request
  headers, not OAuth (https://www.ml-connector.com/integrations/acumatica/avidxchange and sibling pages);
- AvidXchange's partner APIs answer batch creates with HTTP 200 and one entry per item in Results[], an item
  refused inside the batch coming back as a failure there, and wrap list reads in Items with paging metadata
  (the revision history of Flowgear's AvidPay node, https://help.flowgear.net/v2/nodes/avidpay);
- vendors, GL codes and accounting dimensions (read-only code lists pushed from the ERP), invoices with
  line coding and images, and settled payments with check number or ACH trace are what an integration
  moves; a vendor must exist before it can be paid (the ml-connector pages above).

Everything else here (paths, header and field names, statuses, page and batch sizes, the concurrency
limit) is our assumption, marked UNCONFIRMED, decided in this module for the connector and the simulator
alike. Field names are PascalCase like the public AvidPay payment-batch model (Id, ExternalId, Payee, ...).
"""

import hashlib
import re
from datetime import UTC, date, datetime
from decimal import Decimal

from connectors import capabilities as can
from connectors import values
from connectors.assumptions import contradicted, held, probe, unchecked
from connectors.errors import AuthError, ConfigurationError, ConnectorError, DataError, NotFound, TransientError
from connectors.http import HttpClient, Unsafe, default_classify, excerpt, fan_out
from connectors.records import OpenItem, Payment
from connectors.reversals import return_code
from connectors.values import CENT, amount_value
from portal.redaction import register_secret

# UNCONFIRMED (X1): the header names. The ml-connector pages say only "a Company Token and a User Token ...
# passed as request headers".
COMPANY_HEADER = "CompanyToken"
USER_HEADER = "UserToken"
# UNCONFIRMED (X2): the version prefix of every path.
PREFIX = "/v1"
# UNCONFIRMED (X3): calls in flight per company. Nothing public; 4 is what we allow ourselves, across every
# process, and what the simulator enforces (HTTP 429 beyond).
CONCURRENT_CALLS = 4
# UNCONFIRMED (X4): list pages (Page from 1, PageSize 1-100) and batch sizes (100 payees or invoices, 500
# codes a call).
PAGE_MAX = 100
BATCH_PAYEES = 100
BATCH_INVOICES = 100
BATCH_CODES = 500
# UNCONFIRMED (X2): an ExternalId (our supplier key on a payee, our invoice id on an invoice) holds at most 100
# characters.
EXTERNAL_ID_LENGTH = 100
# Ids per ExternalIds filter: keeps a URL well under common 8 KB limits with ids of up to 100 characters.
IDS_PER_FILTER = 50
# UNCONFIRMED (X5): the code lists AvidXchange keeps, by our dimension kinds.
LIST_TYPES = {"gl_account": "GlAccount", "department": "Department", "location": "Location", "class": "Class",
              "project": "Project", "subaccount": "Subaccount"}
KINDS_BY_LIST = {v: k for k, v in LIST_TYPES.items()}
DIMENSION_LISTS = {kind: name for kind, name in LIST_TYPES.items() if kind != "gl_account"}


@probe("X5", "avidxchange", stops=(can.ACCEPTS_REFERENCE_DATA, can.CREATES_BILLS))
def code_lists_exist(connector):
    """Each code list we publish to must be one AvidXchange keeps: GET /codes?ListTypes=<list> (one page of one code)
    for each, read-only. A list it does not know has no safe alternative: its codes could not be published and invoice
    lines coded to it would be refused or coded wrong, so publishing codes and creating invoices stop."""
    if connector.client is None:
        return unchecked("The connection exchanges files: there is no API to ask which code lists AvidXchange keeps; "
                         "its import answers that only after the files are delivered.")
    refused, counts = {}, {}
    for list_type in LIST_TYPES.values():
        try:
            data = connector.client.http.json("GET", "/codes", params={"ListTypes": list_type, "Page": 1,
                                                                       "PageSize": 1})
        except (DataError, NotFound) as exc:
            refused[list_type] = str(exc)
            continue
        total = data.get("TotalCount") if isinstance(data, dict) else None
        counts[list_type] = total if isinstance(total, int) and not isinstance(total, bool) else "?"
    if refused:
        return contradicted("AvidXchange does not know the code list(s) " + "; ".join(
            f"{list_type} (GET /codes?ListTypes={list_type}: {why})" for list_type, why in refused.items()) + ".")
    listed = ", ".join(f"{list_type} ({count} code(s))" for list_type, count in counts.items())
    return held(f"AvidXchange answered GET /codes for each code list we publish: {listed}. An empty list is weaker "
                "proof: an API answering any list name with no codes would look the same.")


# UNCONFIRMED (X6): payment states and what they mean for the ERP. Settled: the money reached the supplier
# (a check cashed, an ACH credit settled). Returned (an ACH return), Voided and Escheated (an uncashed check
# turned over to the state) undo a payment the ERP may already show as paid; Scheduled is in flight.
PAYMENT_STATES = {"Scheduled": (False, False), "Settled": (True, False), "Returned": (False, True),
                  "Voided": (False, True), "Escheated": (False, True)}
# UNCONFIRMED (X14): what is still to pay on an invoice is its Amount less its AmountPaid, and AmountPaid counts
# the payments in these states (in flight or settled), not those returned, voided or escheated. The invoice's
# Status is not read: only Approved, PartiallyPaid and Paid are known, and an amount says more than a state.
COUNTED_AS_PAID = frozenset({"Scheduled", "Settled"})
# The reference a person finds the payment by, per method.
REFERENCE_FIELDS = {"Check": "CheckNumber", "ACH": "AchTraceNumber", "VirtualCard": "CardConfirmationNumber"}
# UNCONFIRMED (X17): why a payment was returned, as the payment says: the NACHA return reason code the bank gave
# (ReturnCode, "R01") and AvidXchange's words for it (ReturnReason), either missing or null when it gives none. Read
# only here (payment_from_avid).
RETURN_CODE_FIELD = "ReturnCode"
RETURN_REASON_FIELD = "ReturnReason"
# UNCONFIRMED (X7): what AvidXchange takes as invoice images.
ATTACHMENT_TYPES = frozenset({"application/pdf", "image/tiff", "image/png", "image/jpeg"})
# UNCONFIRMED (X2): times are ISO 8601 in UTC with milliseconds and Z, dates yyyy-MM-dd.
TIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")

AUTH_ERRORS = {
    "MissingToken": "AvidXchange needs both the company token and the user token on every call.",
    "InvalidCompanyToken": "AvidXchange refused the company token: it may have been revoked or mistyped. Make a "
                           "new one in AvidSuite and enter it again.",
    "InvalidUserToken": "AvidXchange refused the user token: it may have been revoked, belong to another company, "
                        "or its user may be disabled. Make a new one in AvidSuite and enter it again.",
}


def avid_time(moment):
    """A moment as the API's filters take it (UNCONFIRMED, X2): UTC, milliseconds cut, not rounded, so a
    ModifiedSince filter never starts after the moment asked for."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def errors_of(response):
    """AvidXchange's error list, [{Code, Message, Field}] (UNCONFIRMED, X8), or [] when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("Errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def in_words(errors):
    return "; ".join(str(e.get("Message") or e.get("Code") or "no message") for e in errors)


def classify(response):
    """AvidXchange's own codes first (tokens, unknown paths, attachments), then the generic statuses."""
    status = response.status_code
    if status < 400:
        return
    errors = errors_of(response)
    code = str(errors[0].get("Code", "")) if errors else None
    message = in_words(errors) or excerpt(response)
    if status == 401:
        # There is no session to renew: the tokens are the credentials, so a refusal is final.
        raise AuthError(AUTH_ERRORS.get(code, f"AvidXchange refused the tokens ({message})."), status=status, code=code)
    if status == 404 and code == "UnknownPath":
        raise ConfigurationError(f"AvidXchange does not know this path ({message}). Check the connection's base URL: "
                                 "it is the API base given at onboarding, without /v1.", status=status, code=code)
    if status == 404:
        raise NotFound(f"AvidXchange: {message}", status=status, code=code)
    if status in (400, 413, 415, 422):
        field = errors[0].get("Field") if errors else None
        raise DataError(f"AvidXchange refused it: {message}", status=status, code=code, field=field or None)
    default_classify(response, "AvidXchange", message, code)


class TokenHeaders:
    """The HTTP client's auth hook for static tokens: the same two headers on every call. Nothing is signed in,
    kept or renewed, so there is no token session to share (connectors/tokens.py is for systems that have one)."""

    def __init__(self, company_token, user_token):
        self._headers = {COMPANY_HEADER: company_token, USER_HEADER: user_token}

    def headers(self):
        return dict(self._headers), None

    def invalidate(self, token_value):
        """A refusal is final (classify raises AuthError for a 401): nothing to drop."""


def account_key(company_token):
    """What names the AvidXchange company in lock and slot keys: a hash of its token, never the token."""
    return hashlib.sha256(str(company_token).encode()).hexdigest()[:24]


class AvidClient:
    def __init__(self, connection):
        credentials = connection.credentials
        self.company_token = credentials.get("company_token") or ""
        user_token = credentials.get("user_token") or ""
        missing = [label for label, value in (("company token", self.company_token), ("user token", user_token))
                   if not value]
        if missing:
            raise ConfigurationError(f"The AvidXchange connection is in API mode but has no {' or '.join(missing)}. "
                                     "Enter them, or switch the connection to file mode.")
        if not connection.base_url:
            raise ConfigurationError("The AvidXchange connection is in API mode but has no base URL. Enter the API "
                                     "base given at onboarding, or switch the connection to file mode.")
        register_secret(self.company_token)
        register_secret(user_token)
        self.account = account_key(self.company_token)
        self.http = HttpClient(f"avidxchange:{self.account}", base_url=connection.base_url.rstrip("/") + PREFIX,
                               auth=TokenHeaders(self.company_token, user_token), classify=classify,
                               concurrency=CONCURRENT_CALLS)
        self.page_size = PAGE_MAX
        # X4 contradicted: AvidXchange pages by a size of its own, so how far a list goes is counted from its answers.
        self.pages_by_answer = connection.assumption_contradicted("X4")

    # --- reads ----------------------------------------------------------------------------------------
    def company(self):
        return self.http.json("GET", "/company")

    def read_page(self, path, params, page):
        """One page of a list (UNCONFIRMED, X4): {Items, Page, PageSize, TotalCount}, Page from 1. Answers (its
        items, whether more follow)."""
        data = self.http.json("GET", path, params={**params, "Page": page, "PageSize": self.page_size})
        items = data.get("Items") if isinstance(data, dict) else None
        total = data.get("TotalCount") if isinstance(data, dict) else None
        if not isinstance(items, list) or isinstance(total, bool) or not isinstance(total, int):
            raise TransientError(f"AvidXchange list {path} answered without Items and TotalCount.")
        if self.pages_by_answer:
            answered = data.get("PageSize")
            size = answered if isinstance(answered, int) and not isinstance(answered, bool) and answered > 0 \
                else len(items)
            return items, bool(items) and (page - 1) * size + len(items) < total
        return items, bool(items) and page * self.page_size < total

    def list(self, path, params=None):
        """Every item of a paged list, page by page."""
        page = 1
        while True:
            items, more = self.read_page(path, params or {}, page)
            yield from items
            if not more:
                return
            page += 1

    def by_external_ids(self, path, external_ids):
        ids = sorted(set(external_ids))
        for start in range(0, len(ids), IDS_PER_FILTER):
            yield from self.list(path, {"ExternalIds": ",".join(ids[start:start + IDS_PER_FILTER])})

    def payees(self, external_ids):
        return self.by_external_ids("/payees", external_ids)

    def all_payees(self):
        """Every payee of the company."""
        return self.list("/payees")

    def invoices(self, external_ids):
        return self.by_external_ids("/invoices", external_ids)

    def all_invoices(self):
        """Every invoice of the company, paid or not: the list has no filter on what is paid (X4, X14)."""
        return self.list("/invoices")

    def codes(self):
        """Every code of every list, each naming its ListType: one paged read for all of them."""
        return self.list("/codes")

    def payments(self, modified_since=None):
        """Payments changed since a moment, oldest change first (UNCONFIRMED, X6), each change once.

        Read by keyset, not by page number: a payment on a page already read that changes meanwhile moves to the end
        of the order, and every later one moves up a place, so the next page number would skip one payment, for good
        (its change is older than the cursor the run keeps). Each page asks instead for the changes since the last
        one read, and drops what this read has yielded already. UNCONFIRMED (X4, X6): ModifiedSince is inclusive
        (>=) and the order is (ModifiedDate, Id); were it exclusive, payments changed in the same millisecond as the
        last one of a page would be skipped. More changes in one millisecond than a page holds cannot be stepped
        past by ModifiedSince, so those are read by page number under the same ModifiedSince."""
        since = avid_time(modified_since) if modified_since else None
        page, seen = 1, {}  # change key -> its ModifiedDate, for the changes yielded at or after `since`
        while True:
            items, more = self.read_page("/payments", {"ModifiedSince": since} if since else {}, page)
            for item in items:
                key, changed = change_of(item)
                if key not in seen:
                    seen[key] = changed
                    yield item
            if not more:
                return
            last = change_of(items[-1])[1]
            if last and (since is None or last > since):
                since, page = last, 1
                seen = {key: changed for key, changed in seen.items() if not changed or changed >= since}
            else:
                page += 1

    def attachments(self, invoice_id):
        return self.http.json("GET", f"/invoices/{invoice_id}/attachments")

    # --- writes ---------------------------------------------------------------------------------------
    def create_payees(self, bodies):
        return self._batches("/payees/batch", "Payees", bodies, BATCH_PAYEES)

    def update_payee(self, payee_id, body):
        return self.http.json("PUT", f"/payees/{payee_id}", json=body)

    def create_invoices(self, bodies):
        return self._batches("/invoices/batch", "Invoices", bodies, BATCH_INVOICES)

    def upsert_codes(self, list_type, bodies):
        """PUT is an upsert by Code (UNCONFIRMED, X5): repeating it changes nothing, so it is safe to retry."""
        return self._batches(f"/codelists/{list_type}/codes", "Codes", bodies, BATCH_CODES, method="PUT")

    def add_attachment(self, invoice_id, name, content_type, body, length):
        """POST the image as the raw request body with its length, streamed from `body` (an iterable that can
        be iterated again, so a retried call sends it whole again). One image a call (UNCONFIRMED, X7: no bulk
        upload is known)."""
        headers = {"Content-Type": content_type, "Content-Length": str(length),
                   "Content-Disposition": f'attachment; filename="{quoted(name)}"'}
        return self.http.json("POST", f"/invoices/{invoice_id}/attachments", data=body, headers=headers)

    def _batches(self, path, key, bodies, limit, method="POST"):
        """Batch calls, up to CONCURRENT_CALLS at a time. Per item, in order: the new id, the DataError that
        refused it inside its batch (HTTP 200 with a failure in Results[]), or the error of its call when that call
        failed (the other calls' items were made all the same)."""

        def send(batch):
            data = self.http.json(method, path, json={key: batch})
            results = data.get("Results") if isinstance(data, dict) else None
            if not isinstance(results, list) or len(results) != len(batch):
                # Accepted, but the answer does not say what became of each item: sending again could duplicate
                # them. The next run looks them up first.
                raise Unsafe(f"AvidXchange answered {path} for {len(batch)} item(s) without one result per item.")
            by_index = {}
            for position, result in enumerate(results):
                index = result.get("Index", position) if isinstance(result, dict) else position
                by_index[index if isinstance(index, int) and not isinstance(index, bool) else position] = result
            return [item_result(by_index.get(n), what=key[:-1].lower()) for n in range(len(batch))]

        batches = [bodies[start:start + limit] for start in range(0, len(bodies), limit)]
        done = fan_out(send, batches, CONCURRENT_CALLS, keep=ConnectorError)
        return [result for batch, answer in zip(batches, done, strict=True)
                for result in ([answer] * len(batch) if isinstance(answer, ConnectorError) else answer)]


@probe("X4", "avidxchange", fallback="lists are read on, page after page, until as many items as their TotalCount "
                                      "have come, counting each page by the size AvidXchange answers rather than the "
                                      "100 asked")
def page_size_honoured(connector):
    """GET /codes?Page=1&PageSize=100 must answer {Items, Page, PageSize, TotalCount} with pages of the 100 asked: a
    list paged by a smaller size of AvidXchange's own, silently, would end after its second page and lose the rest."""
    if connector.client is None:
        return unchecked("The connection exchanges files: there is no API list to read.")
    data = connector.client.http.json("GET", "/codes", params={"Page": 1, "PageSize": PAGE_MAX})
    items = data.get("Items") if isinstance(data, dict) else None
    total = data.get("TotalCount") if isinstance(data, dict) else None
    if not isinstance(items, list) or isinstance(total, bool) or not isinstance(total, int):
        return unchecked("GET /codes answered without Items and TotalCount, so its paging cannot be read; every list "
                         "read fails in words until the envelope is known.")
    answered = data.get("PageSize")
    if isinstance(answered, int) and not isinstance(answered, bool) and answered != PAGE_MAX:
        return contradicted(f"Asked for {PAGE_MAX} codes a page, AvidXchange answered PageSize {answered} "
                            f"({len(items)} of {total} code(s) on the first page).")
    if len(items) < min(PAGE_MAX, total):
        return contradicted(f"Asked for {PAGE_MAX} codes a page, AvidXchange answered {len(items)} of {total} on the "
                            "first page.")
    if answered is None:
        return held(f"GET /codes?Page=1&PageSize={PAGE_MAX} answered {len(items)} of {total} code(s) on the first "
                    "page without saying its page size" + ("; with no more codes than that, a smaller cap would not "
                                                           "show yet." if total <= len(items) else "."))
    return held(f"GET /codes?Page=1&PageSize={PAGE_MAX} answered PageSize {answered}, {len(items)} of {total} code(s) "
                "on the first page.")


def change_of(payment):
    """(what names this change of a payment, its ModifiedDate when that is a time the API's filter takes, else "").
    A payment that is not an object is named by itself, so it is still yielded (and reported unreadable) once."""
    if not isinstance(payment, dict):
        return repr(payment), ""
    changed = payment.get("ModifiedDate")
    changed = changed if isinstance(changed, str) and TIME_PATTERN.fullmatch(changed) else ""
    return repr((payment.get("Id"), payment.get("ModifiedDate"))), changed


# UNCONFIRMED (X11): the code AvidXchange gives an invoice refused because its payee is inactive. The fix is in
# AvidXchange (vendor enrolment): its own cause (connectors.causes), whatever AvidXchange's message is.
PAYEE_INACTIVE = "PayeeInactive"


def item_result(result, what):
    """One Results[] entry as the new id, or the DataError in words that refused it."""
    if not isinstance(result, dict):
        return DataError(f"AvidXchange answered the {what} without a result for it.")
    if result.get("Success") is True and isinstance(result.get("Id"), str) and result["Id"]:
        return result["Id"]
    errors = [e for e in result.get("Errors") or [] if isinstance(e, dict)]
    if result.get("Success") is True:
        return DataError(f"AvidXchange answered the {what} without an id.")
    code = str(errors[0].get("Code", "")) if errors else None
    said = in_words(errors) or f"AvidXchange refused the {what} without saying why."
    return DataError(said, code=code, field=(errors[0].get("Field") if errors else None) or None,
                     cause="payee_inactive" if code == PAYEE_INACTIVE else None)


def quoted(name):
    """A file name as a quoted-string header parameter: no quotes, backslashes or line breaks."""
    return re.sub(r'["\\\r\n]', "_", name)


# --- request bodies (UNCONFIRMED field names, X2) ----------------------------------------------------------
def money(amount):
    return float(Decimal(amount).quantize(CENT))


def payee_body(supplier, external_id):
    a = supplier.address
    return {"ExternalId": external_id, "Name": supplier.name, "TaxId": supplier.tax_id,
            "Email": supplier.email, "Phone": supplier.phone, "Currency": supplier.currency or "USD",
            "Address": {"Line1": a.line1, "Line2": a.line2, "City": a.city, "State": a.region,
                        "PostalCode": a.postal_code, "Country": a.country}}


def invoice_body(payee_id, invoice, coding, external_id):
    lines = []
    for index, line in enumerate(invoice.lines):
        target = coding.get(index, {})
        body = {"LineNumber": index + 1, "Amount": money(line.amount), "Description": line.description,
                "PurchaseOrderNumber": line.po_number, "GlAccountId": target.get("gl_account", "")}
        dimensions = {DIMENSION_LISTS[kind]: value for kind, value in target.items() if kind in DIMENSION_LISTS}
        if dimensions:
            body["Dimensions"] = dimensions
        lines.append(body)
    return {"ExternalId": external_id, "PayeeId": payee_id, "InvoiceNumber": invoice.invoice_number,
            "InvoiceDate": invoice.invoice_date.isoformat(), "DueDate": invoice.due_date.isoformat(),
            "Amount": money(invoice.total), "Currency": invoice.currency, "Description": invoice.description,
            "PurchaseOrderNumber": invoice.po_number, "Lines": lines}


def code_body(code):
    return {"Code": code.code, "Name": code.name, "IsActive": bool(code.active)}


# --- reading what comes back: every field by type, a bad one a DataError on its record ---------------------
def shown(value):
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def text_of(obj, field, where, *, required=False):
    value = obj.get(field)
    if value is None or value == "":
        if required:
            raise DataError(f"{where}: {field} is missing.", field=field)
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: {field} should be text, got {shown(value)}.", field=field)
    return value


def amount_of(obj, field, where):
    value = obj.get(field)
    return amount_value(value, lambda: DataError(f"{where}: {field} should be an amount, got {shown(value)}.",
                                                 field=field))


def time_of(obj, field, where):
    value = text_of(obj, field, where, required=True)
    if not TIME_PATTERN.fullmatch(value):
        raise DataError(f"{where}: {field} {shown(value)} is not a time (yyyy-MM-ddTHH:mm:ss.fffZ).", field=field)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"{where}: {field} {shown(value)} is not a real time.", field=field) from None


def date_of(obj, field, where):
    value = text_of(obj, field, where)
    if not value:
        return None
    if not DATE_PATTERN.fullmatch(value):
        raise DataError(f"{where}: {field} {shown(value)} is not a date (yyyy-MM-dd).", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DataError(f"{where}: {field} {shown(value)} is not a real date.", field=field) from None


def object_of(value, what):
    if not isinstance(value, dict):
        raise DataError(f"AvidXchange sent a {what} that is not an object ({shown(value)}).")
    return value


def open_item(bill_id, number, payee_id, total, paid, currency, where):
    """What is still to pay on an invoice as a records.OpenItem, None when nothing is; a DataError naming the
    invoice when more is paid than it is for."""
    if paid > total:
        # values.money, as finance reads money: this module's own money() is for request bodies.
        raise DataError(f"{where}: {values.money(paid, currency)} is paid on an invoice of "
                        f"{values.money(total, currency)}, so what is still to pay is not known.")
    if paid == total:
        return None
    return OpenItem(source_id=bill_id, number=number, supplier_id=payee_id, amount=total - paid, currency=currency,
                    total=total)


def open_bill(obj):
    """An invoice object as a records.OpenItem, or None when it is paid (UNCONFIRMED, X14). A field that does not
    parse is a DataError naming the invoice: a tie-out total that left it out would mislead."""
    obj = object_of(obj, "invoice")
    invoice_id = text_of(obj, "Id", "AvidXchange invoice", required=True)
    where = f"AvidXchange invoice {invoice_id}"
    number = text_of(obj, "InvoiceNumber", where, required=True)
    where = f"{where} ({number})"
    return open_item(invoice_id, number, text_of(obj, "PayeeId", where, required=True),
                     amount_of(obj, "Amount", where), amount_of(obj, "AmountPaid", where),
                     text_of(obj, "Currency", where) or "USD", where)


def payment_from_avid(obj, updated_at=None):
    """A payment object (UNCONFIRMED, X6) as a records.Payment: one share per invoice it pays. `updated_at`:
    when its status last changed, where it does not say so itself (payment files)."""
    obj = object_of(obj, "payment")
    payment_id = text_of(obj, "Id", "AvidXchange payment", required=True)
    where = f"AvidXchange payment {payment_id}"
    status = text_of(obj, "Status", where, required=True)
    if status not in PAYMENT_STATES:
        raise DataError(f"{where}: Status {shown(status)} is not one of {', '.join(PAYMENT_STATES)}.", field="Status")
    paid, reversed_ = PAYMENT_STATES[status]
    method = text_of(obj, "Method", where)
    shares = obj.get("Invoices")
    if not isinstance(shares, list) or not shares:
        raise DataError(f"{where}: Invoices should list the invoices it pays.", field="Invoices")
    allocations = []
    for n, share in enumerate(shares):
        share = object_of(share, f"share {n + 1} of {where}")
        allocations.append((text_of(share, "InvoiceId", f"{where}, share {n + 1}", required=True),
                            amount_of(share, "Amount", f"{where}, share {n + 1}")))
    updated_at = updated_at or time_of(obj, "ModifiedDate", where).isoformat()
    return Payment(payment_id=payment_id, bill_ids=tuple(bill for bill, _ in allocations),
                   amount=amount_of(obj, "Amount", where), currency=text_of(obj, "Currency", where) or "USD",
                   status=status.upper(), paid=paid, reversed=reversed_,
                   process_date=date_of(obj, "SettlementDate", where),
                   reference=text_of(obj, REFERENCE_FIELDS[method], where) if method in REFERENCE_FIELDS else "",
                   updated_at=updated_at, allocations=tuple(allocations),
                   return_code=return_code(obj.get(RETURN_CODE_FIELD), where, RETURN_CODE_FIELD),
                   return_reason=text_of(obj, RETURN_REASON_FIELD, where),
                   # Returned, Voided and Escheated are final (X6): the status's change is the last, so it dates the
                   # reversal.
                   undone_on=datetime.fromisoformat(updated_at).date() if reversed_ else None)
