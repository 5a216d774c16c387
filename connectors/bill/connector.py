"""BILL as an AP platform: canonical records in, BILL vendors and bills out, payments back."""

from datetime import date
from decimal import Decimal

from connectors.base import ApConnector
from connectors.bill.client import BillClient, parse_bill_time
from connectors.errors import DataError
from connectors.records import Dimension, GlAccount, Payment

# BILL has no external id. A vendor carries the ERP supplier id in shortName (filterable per the
# SDK's list, UNCONFIRMED in BILL's docs; 40 characters at most, also UNCONFIRMED), so a retry after
# a crash finds the vendor it made. Change VENDOR_KEY_FIELD if BILL turns out not to filter on it.
VENDOR_KEY_FIELD = "shortName"
VENDOR_KEY_LENGTH = 40

# Which BILL payment states mean the supplier has been paid (singleStatus, falling back to status).
# CLEARED is BILL's "settled"; PAID is reported by the SDKs. Everything else is in flight or undone.
PAID_STATES = {"CLEARED", "PAID"}
UNDONE_STATES = {"VOIDED", "CANCELED", "CANCELLED", "FUNDING_FAILED_VOIDED", "DISBURSEMENT_FAILED_VENDOR_BANK_REJECTED"}

DIMENSION_KINDS = {"class": "accounting-classes", "department": "departments", "location": "locations"}
DIMENSION_FIELDS = {"class": "accountingClassId", "department": "departmentId", "location": "locationId"}


def money(amount):
    return float(Decimal(amount).quantize(Decimal("0.01")))


def vendor_key(supplier_id):
    return str(supplier_id)[:VENDOR_KEY_LENGTH]


class BillConnector(ApConnector):
    def __init__(self, connection):
        super().__init__(connection)
        self.client = BillClient(connection)
        self.http = self.client.http

    def check(self):
        info = self.client.session_info()
        return f"Signed in to BILL organization {info.get('organizationId')} as user {info.get('userId')}."

    # --- reference data -------------------------------------------------------------------------------
    def gl_accounts(self):
        return [GlAccount(code=(a.get("account") or {}).get("number") or "", name=a.get("name", ""), id=a["id"],
                          active=not a.get("archived"), account_type=(a.get("account") or {}).get("type", ""))
                for a in self.client.chart_of_accounts()]

    def dimensions(self):
        out = []
        for kind, path in DIMENSION_KINDS.items():
            for d in self.client.classifications(path):
                out.append(Dimension(kind=kind, code=d.get("name", ""), name=d.get("name", ""), id=d["id"],
                                     active=not d.get("archived")))
        return out

    # --- vendors --------------------------------------------------------------------------------------
    def vendor_payload(self, supplier):
        a = supplier.address
        payload = {
            "name": supplier.name,
            VENDOR_KEY_FIELD: vendor_key(supplier.source_id),
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

    def find_vendor(self, supplier):
        key = vendor_key(supplier.source_id)
        for vendor in self.client.find_vendors(**{VENDOR_KEY_FIELD: key}):
            if vendor.get(VENDOR_KEY_FIELD) == key and not vendor.get("archived"):
                return vendor["id"]
        return None

    def create_vendor(self, supplier):
        return self.client.create_vendor(self.vendor_payload(supplier))["id"]

    def update_vendor(self, vendor_id, supplier):
        payload = self.vendor_payload(supplier)
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

    def find_bill(self, vendor_id, invoice):
        bill = self.client.find_bill(vendor_id, invoice.invoice_number)
        return bill["id"] if bill else None

    def create_bill(self, vendor_id, invoice, coding):
        return self.client.create_bill(self.bill_payload(vendor_id, invoice, coding))["id"]

    # --- payments -------------------------------------------------------------------------------------
    def payments(self, since=None):
        for p in self.client.payments(since):
            yield payment_from_bill(p)

    def payment(self, payment_id):
        return payment_from_bill(self.client.get_payment(payment_id))


def payment_from_bill(p):
    """A BILL payment object (list/get, or the `payment` of a webhook event) as a records.Payment."""
    state = p.get("singleStatus") or p.get("status") or ""
    bill_ids = list(p.get("billIds") or [])
    if p.get("billId"):
        bill_ids.append(p["billId"])
    bill_ids += [bp["billId"] for bp in p.get("billPayments") or [] if bp.get("billId")]
    funding = p.get("funding") or {}
    amount = p.get("amount", funding.get("amount"))
    if amount is None:
        raise DataError(f"BILL payment {p.get('id')} has no amount.")
    process_date = None
    if p.get("processDate"):
        try:
            process_date = date.fromisoformat(p["processDate"][:10])
        except ValueError:
            raise DataError(f"BILL payment {p.get('id')} has an unreadable processDate {p['processDate']!r}.") from None
    check = ((p.get("disbursementInfo") or {}).get("checkDisbursement") or {}).get("checkNumber")
    updated = parse_bill_time(p.get("updatedTime"))
    return Payment(
        payment_id=p.get("id", ""),
        bill_ids=tuple(dict.fromkeys(bill_ids)),
        amount=Decimal(str(amount)),
        currency=p.get("currency") or funding.get("currency") or "USD",
        status=state,
        paid=state in PAID_STATES,
        process_date=process_date,
        reference=check or p.get("transactionNumber") or p.get("confirmationNumber") or "",
        updated_at=updated.isoformat() if updated else "",
        reversed=state in UNDONE_STATES,
        allocations=tuple((bp["billId"], Decimal(str(bp["amount"]))) for bp in p.get("billPayments") or []
                          if bp.get("billId") and bp.get("amount") is not None),
    )
