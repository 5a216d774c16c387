"""BILL as an AP platform: canonical records in, BILL vendors and bills out, payments back."""

import re
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from connectors.base import ApConnector
from connectors.bill.client import BULK_BILLS, CONCURRENT_CALLS, BillClient, parse_bill_time
from connectors.errors import ConnectorError, DataError
from connectors.http import begin, fan_out
from connectors.records import Address, Dimension, GlAccount, OpenItem, Payment, Unreadable, VendorEdit
from connectors.values import decimal_value

# BILL has no external id. A vendor carries the ERP supplier id in shortName (40 characters at most,
# UNCONFIRMED), after the integration's vendor key prefix, so a retry after a crash finds the vendor it made
# and two integrations' suppliers with one id stay two vendors. shortName is not one of BILL's filterable
# fields, so vendors are listed and matched here (find_vendors).
VENDOR_KEY_FIELD = "shortName"
VENDOR_KEY_LENGTH = 40
# Vendors created this long before the newest one seen are listed again: BILL's createdTime is set when
# the create starts, so one created by a slow concurrent call can appear with an earlier time.
VENDOR_LIST_MARGIN = timedelta(minutes=5)

# Which BILL payment states mean the supplier has been paid, and which undo that: read from singleStatus, or
# from status where singleStatus is missing (a payment.updated event's status uses singleStatus's values,
# https://developer.bill.com/docs/payment-webhook-notification-payloads). The values are BILL's list,
# https://developer.bill.com/docs/single-status-payment-values: CLEARED is "successfully settled by the vendor
# bank account"; there is no PAID. VOIDED, CANCELED and FUNDING_FAILED_VOIDED end a payment; both
# DISBURSEMENT_FAILED_* states are a payment "returned, but not voided as yet", which BILL can reach after
# CLEARED (an ACH return), so the ERP must stop showing it paid. Everything else is in flight.
# UNCONFIRMED (docs/ASSUMPTIONS.md B4): that the older status field never says PAID where singleStatus is missing
# (we then treat the payment as in flight), and whether the customer wants the ERP paid before CLEARED.
PAID_STATES = {"CLEARED"}
UNDONE_STATES = {"VOIDED", "CANCELED", "FUNDING_FAILED_VOIDED", "DISBURSEMENT_FAILED_ACTION_NEEDED",
                 "DISBURSEMENT_FAILED_VENDOR_BANK_REJECTED"}

# processDate is yyyy-MM-dd in BILL's API; the webhook samples show the same.
BILL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

DIMENSION_KINDS = {"class": "accounting-classes", "department": "departments", "location": "locations"}
DIMENSION_FIELDS = {"class": "accountingClassId", "department": "departmentId", "location": "locationId"}


def money(amount):
    return float(Decimal(amount).quantize(Decimal("0.01")))


def created_id(result, what):
    """The id of a created object, the error that refused it (or failed its call), or a DataError when the answer
    names no id (the record then fails with that reason, and the next run looks it up before creating)."""
    if isinstance(result, ConnectorError):
        return result
    if isinstance(result, dict) and isinstance(result.get("id"), str) and result["id"]:
        return result["id"]
    return DataError(f"BILL answered the {what} create without an id ({type_name(result)}).")


def contains(whole, part):
    """Whether every field of `part` has the same value in `whole` (recursively for objects)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(contains(whole.get(key), value) for key, value in part.items())
    return whole == part or (part in ("", None) and whole in ("", None))


def vendor_key(supplier_id, prefix=""):
    """What a supplier's vendor is found by: the integration's prefix and the supplier id, cut to fit shortName."""
    return f"{prefix}{supplier_id}"[:VENDOR_KEY_LENGTH]


class BillConnector(ApConnector):
    # Records handed over per batch: three bulk calls of 100 bills, one per concurrent call BILL allows.
    batch_size = BULK_BILLS * CONCURRENT_CALLS

    def __init__(self, connection):
        super().__init__(connection)
        self.client = BillClient(connection)
        self.http = self.client.http
        self._vendor_index = None  # vendor key -> id, as listed in this run
        self._vendor_listing = None  # future of the vendor list, begun ahead of find_vendors (begin_vendor_lookup)
        self._vendor_index_since = None
        self._listed_vendors = {}  # id -> the vendor as listed in this run
        self._bill_index = {}  # (vendor id, invoice number) -> bill id, as listed or created in this run
        self._bills_listed_for = set()  # vendor ids whose bills are in the index

    @property
    def lock_scope(self):
        """BILL's limits and objects belong to the organization, whichever connection reaches it."""
        return self.client.credentials.get("organization_id") or f"connection-{self.connection.pk}"

    @property
    def account_label(self):
        """The account in words, for reasons naming whose vendor it is."""
        organization = self.client.credentials.get("organization_id")
        return f"BILL organization {organization}" if organization else f"the BILL account of {self.connection.name}"

    @classmethod
    def vendor_key_limit(cls, connection):
        """How long a vendor key may be, and where BILL keeps it (for the integration form's words)."""
        return VENDOR_KEY_LENGTH, "the vendor's Short name"

    def vendor_key(self, supplier_id):
        return vendor_key(supplier_id, self.vendor_key_prefix)

    def check(self):
        info = self.client.session_info()
        return f"Signed in to BILL organization {info.get('organizationId')} as user {info.get('userId')}."

    # --- reference data -------------------------------------------------------------------------------
    def gl_accounts(self):
        out = []
        for a in self.client.chart_of_accounts():
            where = "BILL chart of accounts entry"
            a = bill_object(a, "chart of accounts entry", where)
            account = bill_object(a.get("account"), "account", where)
            out.append(GlAccount(code=bill_text(account.get("number"), "account.number", where, numbers=True),
                                 name=bill_text(a.get("name"), "name", where), id=required_id(a, where),
                                 active=not bill_flag(a.get("archived"), "archived", where)))
        return out

    def dimensions(self):
        out = []
        # The lists read at once: the client's limiter holds them to BILL's calls in flight.
        lists = fan_out(lambda path: list(self.client.classifications(path)), DIMENSION_KINDS.values(),
                        CONCURRENT_CALLS)
        for (kind, path), entries in zip(DIMENSION_KINDS.items(), lists, strict=True):
            for d in entries:
                where = f"BILL {path} entry"
                d = bill_object(d, "entry", where)
                name = bill_text(d.get("name"), "name", where)
                out.append(Dimension(kind=kind, code=name, name=name, id=required_id(d, where),
                                     active=not bill_flag(d.get("archived"), "archived", where)))
        return out

    # --- vendors --------------------------------------------------------------------------------------
    def vendor_payload(self, supplier):
        a = supplier.address
        payload = {
            "name": supplier.name,
            VENDOR_KEY_FIELD: self.vendor_key(supplier.source_id),
            "accountType": "BUSINESS",
            "billCurrency": supplier.currency or "USD",
            "address": {"line1": a.line1, "line2": a.line2, "city": a.city, "stateOrProvince": a.region,
                        "zipOrPostalCode": a.postal_code, "country": a.country},
        }
        if supplier.email:
            payload["email"] = supplier.email
        if supplier.phone:
            payload["phone"] = supplier.phone
        if supplier.tax_id:
            payload["additionalInfo"] = {"taxId": supplier.tax_id, "taxIdType": "EIN"}
        return payload

    def begin_vendor_lookup(self):
        """Begin listing the organization's vendors, which find_vendors needs, on a thread of its own: called under
        the vendors lock by a read that will make many vendors (a first one), so that the list is read while the ERP's
        suppliers are. find_vendors takes it, or raises what the listing met."""
        if self._vendor_index is None and self._vendor_listing is None:
            self._vendor_listing = begin(lambda: list(self.client.vendors()))

    def find_vendors(self, suppliers):
        """{supplier id: vendor id} for the suppliers that already have a vendor. The key (shortName) is
        not a documented filter, so vendors are listed and matched here: the whole list once per run,
        then only the vendors created since the newest one seen (createdTime is filterable)."""
        if self._vendor_index is None:
            listing, self._vendor_listing = self._vendor_listing, None
            listed = listing.result() if listing is not None else self.client.vendors()
            self._vendor_index = {}
        else:
            listed = self.client.vendors(created_since=self._vendor_index_since - VENDOR_LIST_MARGIN)
        for vendor in listed:
            vendor = bill_object(vendor, "vendor", "BILL vendor list")
            where = f"BILL vendor {vendor.get('id')!r}"
            key = bill_text(vendor.get(VENDOR_KEY_FIELD), VENDOR_KEY_FIELD, where)
            if key:
                vendor_id = required_id(vendor, where)
                self._vendor_index.setdefault(key, vendor_id)
                self._listed_vendors[vendor_id] = vendor
            created = bill_time(vendor.get("createdTime"), "createdTime", where)
            if created and (self._vendor_index_since is None or created > self._vendor_index_since):
                self._vendor_index_since = created
        if self._vendor_index_since is None:
            self._vendor_index_since = timezone.now()
        return {s.source_id: self._vendor_index[self.vendor_key(s.source_id)] for s in suppliers
                if self.vendor_key(s.source_id) in self._vendor_index}

    def create_vendors(self, suppliers):
        """{supplier id: new vendor id, or the DataError that refused it}, BILL_VENDORS at a time."""
        results = self.client.create_vendors_bulk([self.vendor_payload(s) for s in suppliers])
        out = {}
        for supplier, result in zip(suppliers, results, strict=True):
            result = created_id(result, "vendor")
            if isinstance(result, str):
                if self._vendor_index is not None:
                    self._vendor_index[self.vendor_key(supplier.source_id)] = result
                # A vendor made this moment has no bills: find_bills need not list them (a round trip saved on a
                # first run). Its id was ours alone until now, and the bills lock keeps our other runs out.
                self._bills_listed_for.add(result)
            out[supplier.source_id] = result
        return out

    def update_vendor(self, vendor_id, supplier):
        """PATCH the vendor, unless the copy listed in this run already says all of it (a vendor matched
        after a crash)."""
        payload = self.vendor_payload(supplier)
        if not contains(self._listed_vendors.get(vendor_id), payload):
            self.client.update_vendor(vendor_id, payload)
        return vendor_id

    # --- bills ----------------------------------------------------------------------------------------
    def bill_payload(self, vendor_id, invoice, coding):
        lines = []
        for index, line in enumerate(invoice.lines):
            target = coding.get(index, {})
            classifications = {"chartOfAccountId": target["gl_account"]} if target.get("gl_account") else {}
            for kind, field in DIMENSION_FIELDS.items():
                if target.get(kind):
                    classifications[field] = target[kind]
            item = {"amount": money(line.amount), "description": line.description or f"Line {index + 1}"}
            if classifications:
                item["classifications"] = classifications
            lines.append(item)
        payload = {
            "vendorId": vendor_id,
            "dueDate": invoice.due_date.isoformat(),
            "invoice": {"invoiceNumber": invoice.invoice_number, "invoiceDate": invoice.invoice_date.isoformat()},
            "billLineItems": lines,
        }
        if invoice.description:
            payload["description"] = invoice.description
        if invoice.po_number:
            payload["purchaseOrderNumber"] = invoice.po_number
        return payload

    def find_bills(self, items):
        """{invoice id: bill id} for the (vendor id, invoice) pairs whose bill already exists, matched on
        vendor and invoice number. Each vendor's bills are listed once per run: the engine holds the
        organization's lock for the whole stream, so no other worker adds bills meanwhile, and the bills
        this connector creates are added to the same index."""
        unlisted = {vendor_id for vendor_id, _ in items} - self._bills_listed_for
        for bill in self.client.bills_of_vendors(unlisted):
            bill = bill_object(bill, "bill", "BILL bill list")
            where = f"BILL bill {bill.get('id')!r}"
            invoice = bill_object(bill.get("invoice"), "invoice", where)
            invoice_number = bill_text(invoice.get("invoiceNumber"), "invoice.invoiceNumber", where, numbers=True)
            self._bill_index.setdefault((bill_text(bill.get("vendorId"), "vendorId", where), invoice_number),
                                        required_id(bill, where))
        self._bills_listed_for |= unlisted
        return {invoice.source_id: self._bill_index[(vendor_id, invoice.invoice_number)]
                for vendor_id, invoice in items if (vendor_id, invoice.invoice_number) in self._bill_index}

    def create_bills(self, items):
        """{invoice id: new bill id, or the DataError that refused it}, 100 to a bulk call."""
        try:
            results = self.client.create_bills_bulk([self.bill_payload(v, i, c) for v, i, c in items])
        except Exception:
            self._bills_listed_for.difference_update(vendor_id for vendor_id, _, _ in items)  # some may be made
            raise
        out = {}
        for (vendor_id, invoice, _), result in zip(items, results, strict=True):
            result = created_id(result, "bill")
            if isinstance(result, str):
                self._bill_index[(vendor_id, invoice.invoice_number)] = result
            else:  # a bill not answered with its id may be there all the same: its vendor's bills are listed again
                self._bills_listed_for.discard(vendor_id)
            out[invoice.source_id] = result
        return out

    def open_bills(self):
        """Bills not paid in full, each for what is still due (dueAmount)."""
        for bill in self.client.unpaid_bills():
            bill = bill_object(bill, "bill", "BILL bill list")
            where = f"BILL bill {bill.get('id')!r}"
            invoice = bill_object(bill.get("invoice"), "invoice", where)
            yield OpenItem(source_id=required_id(bill, where),
                           number=bill_text(invoice.get("invoiceNumber"), "invoice.invoiceNumber", where, numbers=True),
                           supplier_id=bill_text(bill.get("vendorId"), "vendorId", where),
                           amount=bill_amount(bill.get("dueAmount"), "dueAmount", where),
                           # A BILL bill carries no currency of its own (its vendor's billCurrency decides).
                           currency="", total=bill_amount(bill.get("amount"), "amount", where))

    def archive_bill(self, bill_id):
        where = f"BILL's answer to archiving bill {bill_id}"
        bill = bill_object(self.client.archive_bill(bill_id), "bill", where)
        if required_id(bill, where) != bill_id or bill_flag(bill.get("archived"), "archived", where) is not True:
            raise DataError(f"BILL answered the archiving of bill {bill_id} without that bill archived.")
        return f"Bill {bill_id} archived in BILL: it cannot be paid there unless someone restores it."

    def payable_currencies(self):
        """UNCONFIRMED (B19): which currencies an organization can pay bills in is an account setting
        (international payments) that the v3 API does not show; the connection says it, USD by default."""
        listed = self.connection.options.get("currencies") or "USD"
        return frozenset(code.strip().upper() for code in listed.split(",") if code.strip())

    # --- vendor edits ---------------------------------------------------------------------------------
    def vendor_edits(self, since=None):
        """Vendors as BILL holds them now, oldest change first; one that does not parse is Unreadable."""
        for vendor in self.client.vendors_updated(since):
            vendor_id = vendor.get("id") if isinstance(vendor, dict) and isinstance(vendor.get("id"), str) else "?"
            try:
                yield vendor_edit(vendor)
            except DataError as exc:
                updated = vendor.get("updatedTime") if isinstance(vendor, dict) else ""
                yield Unreadable("vendor_edit", vendor_id, f"BILL vendor {vendor_id}", str(exc),
                                 updated if isinstance(updated, str) else "")

    # --- payments -------------------------------------------------------------------------------------
    def payment(self, payment_id):
        """One payment read again from BILL (GET /v3/payments/{paymentId}), with each bill's share: a
        payment.updated event names its bills but not their amounts."""
        return payment_from_bill(self.client.get_payment(payment_id))

    def payments(self, since=None):
        """Each payment as a records.Payment, or as records.Unreadable when a field does not parse: one bad
        payment is a failed record, never the end of the stream (the cursor must move past it)."""
        for p in self.client.payments(since):
            try:
                yield payment_from_bill(p)
            except DataError as exc:
                payment_id = p.get("id") if isinstance(p, dict) and isinstance(p.get("id"), str) else "?"
                updated = p.get("updatedTime") if isinstance(p, dict) and isinstance(p.get("updatedTime"), str) else ""
                yield Unreadable("payment", payment_id, f"BILL payment {payment_id}", str(exc), updated,
                                 bill_ids=bills_named(p))


def bills_named(p):
    """The bill ids a payment names, as far as they can be read: an unreadable payment is filed under them."""
    p = p if isinstance(p, dict) else {}
    shares = p.get("billPayments") if isinstance(p.get("billPayments"), list) else []
    named = [p.get("billId"), *(p.get("billIds") if isinstance(p.get("billIds"), list) else []),
             *(share.get("billId") for share in shares if isinstance(share, dict))]
    return tuple(dict.fromkeys(bill_id for bill_id in named if isinstance(bill_id, str) and bill_id))


def shown(value):
    """A value quoted in a message, cut short: it comes from outside and may be anything."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def type_name(value):
    """A JSON value's type as a message says it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def bill_object(value, field, where):
    """An object field; missing or null reads as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(f"{where}: {field} should be an object, got {type_name(value)}.", field=field)
    return value


def bill_list(value, field, where):
    """A list field; missing or null reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(f"{where}: {field} should be a list, got {type_name(value)}.", field=field)
    return value


def bill_text(value, field, where, *, numbers=False):
    """A string field ("" when missing). With numbers=True a whole number is taken as its digits: BILL's
    samples send checkNumber as a number, and a reference is text to us."""
    if value is None or isinstance(value, str):
        return value or ""
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    expected = "a string or a whole number" if numbers else "a string"
    raise DataError(f"{where}: {field} should be {expected}, got {type_name(value)} {shown(value)}.", field=field)


def bill_flag(value, field, where):
    """A boolean field (false when missing)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    raise DataError(f"{where}: {field} should be true or false, got {type_name(value)} {shown(value)}.", field=field)


def required_id(obj, where):
    """The object's BILL id, a non-empty string."""
    value = bill_text(obj.get("id"), "id", where)
    if not value:
        raise DataError(f"{where} has no id.", field="id")
    return value


def bill_amount(value, field, where):
    """An amount BILL sends as a JSON number (a numeric string is read too), as an exact Decimal."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DataError(f"{where}: {field} should be a number, got {type_name(value)}.", field=field)
    amount = decimal_value(value)
    if amount is None:
        raise DataError(f"{where}: {field} {shown(value)} is not a number.", field=field)
    return amount


def bill_date(value, field, where):
    """A BILL date, yyyy-MM-dd; a full timestamp is read for the date it names, as written."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and BILL_DATE.match(value):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    raise DataError(f"{where}: {field} {shown(value)} is not a date in BILL's format (yyyy-MM-dd).", field=field)


def bill_time(value, field, where):
    """A BILL timestamp (2025-09-01T00:00:00.000Z) as an aware UTC datetime, or None when missing."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return parse_bill_time(value)
        except DataError:
            pass
    raise DataError(f"{where}: {field} {shown(value)} is not a timestamp in BILL's format "
                    "(2025-09-01T00:00:00.000Z).", field=field)


def vendor_edit(v):
    """A BILL vendor's contact fields as a records.VendorEdit, each read by its type."""
    where = "BILL vendor"
    v = bill_object(v, "vendor", where)
    vendor_id = required_id(v, where)
    where = f"BILL vendor {vendor_id}"
    a = bill_object(v.get("address"), "address", where)
    address = Address(line1=bill_text(a.get("line1"), "address.line1", where, numbers=True),
                      line2=bill_text(a.get("line2"), "address.line2", where, numbers=True),
                      city=bill_text(a.get("city"), "address.city", where),
                      region=bill_text(a.get("stateOrProvince"), "address.stateOrProvince", where),
                      postal_code=bill_text(a.get("zipOrPostalCode"), "address.zipOrPostalCode", where, numbers=True),
                      country=bill_text(a.get("country"), "address.country", where))
    updated = bill_time(v.get("updatedTime"), "updatedTime", where)
    return VendorEdit(vendor_id=vendor_id, email=bill_text(v.get("email"), "email", where),
                      phone=bill_text(v.get("phone"), "phone", where, numbers=True), address=address,
                      updated_at=updated.isoformat() if updated else "")


def payment_from_bill(p):
    """A BILL payment object (list/get, or the `payment` of a webhook event) as a records.Payment.

    Each field is read by its type; a value that does not parse raises DataError naming the field, so a
    malformed payment is filed with a reason instead of breaking whatever reads it."""
    if not isinstance(p, dict):
        raise DataError(f"A BILL payment should be an object, got {type_name(p)}.", field="payment")
    payment_id = bill_text(p.get("id"), "id", "BILL payment")
    if not payment_id:
        raise DataError("A BILL payment has no id.", field="id")
    where = f"BILL payment {payment_id}"
    state = bill_text(p.get("singleStatus"), "singleStatus", where) or bill_text(p.get("status"), "status", where)
    bill_ids = [bill_text(bill_id, f"billIds[{n}]", where)
                for n, bill_id in enumerate(bill_list(p.get("billIds"), "billIds", where))]
    bill_ids.append(bill_text(p.get("billId"), "billId", where))
    # Each bill's share is billPayments[].amount (GET /v3/payments: billPayments[{id, billId, amount}], BILL's v3
    # API collection); a bill paid twice within one payment is added up.
    shares = {}
    for n, item in enumerate(bill_list(p.get("billPayments"), "billPayments", where)):
        item = bill_object(item, f"billPayments[{n}]", where)
        bill_id = bill_text(item.get("billId"), f"billPayments[{n}].billId", where)
        bill_ids.append(bill_id)
        if bill_id and item.get("amount") is not None:
            share = bill_amount(item["amount"], f"billPayments[{n}].amount", where)
            shares[bill_id] = shares.get(bill_id, Decimal("0")) + share
    funding = bill_object(p.get("funding"), "funding", where)
    if p.get("amount") is not None:
        amount = bill_amount(p["amount"], "amount", where)
    elif funding.get("amount") is not None:
        amount = bill_amount(funding["amount"], "funding.amount", where)
    else:
        raise DataError(f"{where} has no amount.", field="amount")
    disbursement = bill_object(p.get("disbursementInfo"), "disbursementInfo", where)
    check = bill_object(disbursement.get("checkDisbursement"), "disbursementInfo.checkDisbursement", where)
    references = [bill_text(check.get("checkNumber"), "disbursementInfo.checkDisbursement.checkNumber", where,
                            numbers=True),
                  bill_text(p.get("transactionNumber"), "transactionNumber", where, numbers=True),
                  bill_text(p.get("confirmationNumber"), "confirmationNumber", where, numbers=True)]
    updated = bill_time(p.get("updatedTime"), "updatedTime", where)
    # Why and when it was voided: voidInfo[{id, requestedBy, type, status, reason, createdTime, updatedTime}] (GET
    # /v3/payments, BILL's v3 API collection), the latest request saying it. UNCONFIRMED (docs/ASSUMPTIONS.md B21):
    # that the newest createdTime is the void that took effect. Without one, the payment's updatedTime dates it.
    voids = []
    for n, item in enumerate(bill_list(p.get("voidInfo"), "voidInfo", where)):
        item = bill_object(item, f"voidInfo[{n}]", where)
        voids.append((bill_time(item.get("createdTime"), f"voidInfo[{n}].createdTime", where),
                      bill_text(item.get("reason"), f"voidInfo[{n}].reason", where)))
    voided_at, void_reason = max(voids, key=lambda v: v[0].timestamp() if v[0] else float("-inf"), default=(None, ""))
    undone_at = (voided_at or updated) if state in UNDONE_STATES else None
    bill_ids = tuple(dict.fromkeys(b for b in bill_ids if b))
    unshared = [b for b in bill_ids if b not in shares]
    if len(bill_ids) > 1 and unshared:
        # A payment.updated event names its bills (billIds) but not each one's amount: posting the whole payment
        # on every bill would overpay each of them. GET /v3/payments/{id} has the shares (BillConnector.payment).
        raise DataError(f"{where} pays {len(bill_ids)} bills ({', '.join(bill_ids)}) but does not say how much of it "
                        f"goes to {', '.join(unshared)} (billPayments[].amount); read it again with GET "
                        "/v3/payments/{paymentId}.", field="billPayments")
    allocations = tuple(shares.items())
    return Payment(
        payment_id=payment_id,
        bill_ids=bill_ids,
        amount=amount,
        currency=bill_text(p.get("currency"), "currency", where)
        or bill_text(funding.get("currency"), "funding.currency", where) or "USD",
        status=state,
        paid=state in PAID_STATES,
        process_date=bill_date(p.get("processDate"), "processDate", where),
        reference=next((r for r in references if r), ""),
        updated_at=updated.isoformat() if updated else "",
        reversed=state in UNDONE_STATES,
        allocations=allocations,
        return_reason=void_reason,
        undone_on=undone_at.date() if undone_at else None,
    )
