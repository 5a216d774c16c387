"""Acumatica as an ERP: vendors, released AP bills, GL accounts and subaccounts out; BILL's payments in, as AP
payments applied to the bills they paid."""

import logging
import re
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone

from connectors import capabilities as can
from connectors.acumatica.client import DIALECT, AcumaticaClient
from connectors.acumatica.contract import Unparsable
from connectors.acumatica.system import RELEASE_PAYMENTS
from connectors.assumptions import contradicted, held, probe, unchecked
from connectors.base import ErpConnector
from connectors.errors import ConfigurationError, DataError
from connectors.odata import Query, and_, eq, gt, or_
from connectors.records import Address, Dimension, GlAccount, Invoice, InvoiceLine, OpenItem, Supplier, Unreadable
from connectors.tokens import TokenStore
from connectors.values import money

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
BILL_TYPE = "Bill"
# Bill statuses: released bills are Open (a balance left) or Closed; Balanced ones are saved, not released.
# UNCONFIRMED (docs AC2): that a released bill with a balance always reads Open (not Pending Payment, say),
# and that only documents of type Bill are to be paid (credit and debit adjustments, prepayments are not read).
OPEN, BALANCED = "Open", "Balanced"
# A bill put back on hold after it was read (docs AC13, UNCONFIRMED): its status reads On Hold.
ON_HOLD = "On Hold"
# Vendors that may be paid. UNCONFIRMED (docs AC3, probed by vendor_statuses_are_known): the display values of
# Acumatica's vendor statuses; On Hold, Hold Payments and Inactive vendors are blocked: no new vendor is made
# for them in BILL. A status not among them is blocked too.
VENDOR_STATUSES = frozenset({"Active", "On Hold", "Hold Payments", "Inactive", "One-Time"})
PAYABLE_VENDOR_STATUSES = frozenset({"Active", "One-Time"})
# AP payments (the Check entity, Checks and Payments screen AP302000). UNCONFIRMED (docs AC9): the display
# values of the document types, "Payment" for an ordinary payment (CHK) and "Voided Payment" for the document
# a void adds; and the statuses of a payment not yet released.
PAYMENT_TYPE, VOID_TYPE = "Payment", "Voided Payment"
UNRELEASED_PAYMENT_STATUSES = frozenset({"On Hold", "Balanced"})
VOIDED = "Voided"
# The Payment Ref. field: where BILL's payment id goes, and what a payment is looked up by before one is
# created. UNCONFIRMED (docs AC12): that it holds 40 characters and can be filtered on.
PAYMENT_REF_LENGTH = 40
DESCRIPTION_LENGTH = 150


def spelling(status):
    """A status as words alone, whatever its case, spaces and hyphens: "ONE TIME" and "One-Time" alike."""
    return re.sub(r"[\s-]+", "", status or "").casefold()


def marker(moment):
    """A change time as the cursor keeps it. UNCONFIRMED (docs AC4, probed by change_times_carry_an_offset): a
    LastModifiedDateTime without an offset is UTC."""
    if moment is None:
        return ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def amount(value, what):
    if value is None:
        raise DataError(f"{what} has no amount")
    return value.quantize(CENT)


class AcumaticaConnector(ErpConnector):
    def __init__(self, connection):
        super().__init__(connection)
        self.client = AcumaticaClient(connection)
        self.http = self.client.http
        options = connection.options or {}
        self.include_balanced = options.get("include_balanced") == "yes"
        self.release = options.get("release_payments") == RELEASE_PAYMENTS
        self.cash_account = options.get("cash_account") or ""
        self.payment_method = options.get("payment_method") or ""
        self.base_currency = (options.get("base_currency") or "USD").upper()
        # The last check found vendor statuses worded otherwise (AC3): ours are matched by their words alone.
        self.payable_spellings = ({spelling(s) for s in PAYABLE_VENDOR_STATUSES}
                                  if connection.assumption_contradicted("AC3") else None)
        # The last check found change times without a UTC offset (AC4): a cursor made of them can be hours
        # ahead of the instance's clock, so nothing is read by change time.
        self.full_reads = connection.assumption_contradicted("AC4")

    def close(self):
        self.client.sign_out()

    def forget_token(self):
        """Sign the cached session out (it holds a licence slot) and drop it: the credentials changed."""
        store = TokenStore(self.connection)
        token = store.current()
        if token:
            self.client.end_session(token.value)
        store.clear()

    def check(self):
        client = self.client
        served = client.endpoints()
        if (client.endpoint, client.version) not in served:
            listed = ", ".join(f"{name}/{version}" for name, version in served) or "none"
            raise ConfigurationError(f"This Acumatica instance does not serve the endpoint {client.endpoint}/"
                                     f"{client.version} that the connection asks for; it serves {listed}. Set the "
                                     "connection's endpoint name and version to one of those.")
        client.find("Vendor", None, select=("VendorID",), top=1)  # a call to the endpoint itself
        tenant = self.connection.credentials.get("tenant") or "?"
        return f"Signed in to Acumatica tenant {tenant}; endpoint {client.endpoint}/{client.version} answered."

    # --- reference data -------------------------------------------------------------------------------
    def readable(self, records, what):
        for record in records:
            if isinstance(record, Unparsable):
                logger.warning("Acumatica %s %s left out: %s", what, record.key, record)
                continue
            yield record

    def gl_accounts(self):
        return [GlAccount(code=r["AccountCD"], name=r.get("Description") or "", active=r.get("Active") is not False)
                for r in self.readable(self.client.records("Account"), "GL account")]

    def dimensions(self):
        """Subaccounts. Branches travel on the invoice lines (kind "location"); the endpoint's subset used here
        has no Branch entity to list them from."""
        return [Dimension(kind="subaccount", code=r["SubaccountCD"], name=r.get("Description") or "",
                          active=r.get("Active") is not False)
                for r in self.readable(self.client.records("Subaccount"), "subaccount")]

    # --- suppliers ------------------------------------------------------------------------------------
    def suppliers(self, since=None):
        """Vendors changed since `since`, with their main contact and its address. UNCONFIRMED (docs AC4): that
        a change to the main contact (e-mail, phone, address) stamps the vendor's LastModifiedDateTime too."""
        where = gt("LastModifiedDateTime", since) if since is not None and not self.full_reads else None
        for record in self.client.records("Vendor", where=where, expand=("MainContact/Address",)):
            yield self._supplier(record)

    def _supplier(self, r):
        if isinstance(r, Unparsable):
            return Unreadable("vendor", r.key, r.key, f"Acumatica vendor {r.key}: {r}")
        contact = r.get("MainContact") or {}
        address = contact.get("Address") or {}
        return Supplier(
            source_id=r["VendorID"], name=r.get("VendorName") or "", tax_id=r.get("TaxRegistrationID") or "",
            currency=(r.get("CurrencyID") or self.base_currency).upper(), email=contact.get("Email") or "",
            phone=contact.get("Phone1") or "",
            address=Address(line1=address.get("AddressLine1") or "", line2=address.get("AddressLine2") or "",
                            city=address.get("City") or "", region=address.get("State") or "",
                            postal_code=address.get("PostalCode") or "", country=address.get("Country") or ""),
            active=self.payable_vendor(r.get("Status")), updated_marker=marker(r.get("LastModifiedDateTime")))

    def payable_vendor(self, status):
        if self.payable_spellings is not None:
            return spelling(status) in self.payable_spellings
        return status in PAYABLE_VENDOR_STATUSES

    # --- invoices -------------------------------------------------------------------------------------
    def payable_statuses(self):
        return or_(eq("Status", OPEN), eq("Status", BALANCED)) if self.include_balanced else eq("Status", OPEN)

    def approved_invoices(self, since=None, include_held=False):
        """Released bills (status Open; Balanced ones too when the connection says so), with their lines. With
        `include_held`, the bills on hold come in the same calls (one more status in the filter), marked `held`."""
        statuses = self.payable_statuses()
        conditions = [eq("Type", BILL_TYPE), or_(statuses, eq("Status", ON_HOLD)) if include_held else statuses]
        if since is not None and not self.full_reads:
            conditions.append(gt("LastModifiedDateTime", since))
        for record in self.client.records("Bill", where=and_(*conditions), expand=("Details",)):
            yield self._invoice(record)

    def _invoice(self, r):
        if isinstance(r, Unparsable):
            raw_ref = (r.raw or {}).get("VendorRef")
            raw_ref = raw_ref.get("value") if isinstance(raw_ref, dict) else None
            return Unreadable("bill", f"{BILL_TYPE}/{r.key}", f"{raw_ref or r.key} (bill {r.key})",
                              f"Acumatica bill {r.key}: {r}")
        number = r.get("ReferenceNbr") or "?"
        invoice_number = r.get("VendorRef") or number
        source_id, updated = f"{r.get('Type')}/{number}", marker(r.get("LastModifiedDateTime"))
        what = f"Acumatica bill {number} ({invoice_number}) of vendor {r.get('Vendor')}"
        try:
            lines = tuple(self._line(d, f"{what}, line {n}") for n, d in enumerate(r.get("Details") or [], 1))
            missing = [name for name in ("Vendor", "Date", "DueDate", "CurrencyID") if not r.get(name)]
            if missing:
                raise DataError(f"{what} has no {', '.join(missing)}")
            return Invoice(
                source_id=source_id, supplier_id=r["Vendor"], invoice_number=invoice_number,
                invoice_date=r["Date"].date(), due_date=r["DueDate"].date(), total=amount(r.get("Amount"), what),
                currency=r["CurrencyID"].upper(), lines=lines, description=r.get("Description") or "",
                po_number=next((line.po_number for line in lines if line.po_number), ""), updated_marker=updated,
                reference={"Type": r["Type"], "ReferenceNbr": number, "Vendor": r["Vendor"],
                           "CurrencyID": r["CurrencyID"]},
                held="status On Hold" if r.get("Status") == ON_HOLD else None)
        except DataError as exc:
            return Unreadable("bill", source_id, f"{invoice_number} ({r.get('Vendor')})", str(exc), updated)

    @staticmethod
    def _line(d, what):
        dimensions = {}
        if d.get("Subaccount"):
            dimensions["subaccount"] = d["Subaccount"]
        if d.get("Branch"):
            dimensions["location"] = d["Branch"]
        return InvoiceLine(amount=amount(d.get("Amount"), what), gl_account=d.get("Account") or "",
                           description=d.get("TransactionDescription") or d.get("Description") or "",
                           dimensions=dimensions, po_number=d.get("POOrderNbr") or "")

    def open_invoices(self):
        where = and_(eq("Type", BILL_TYPE), self.payable_statuses())
        select = ("Type", "ReferenceNbr", "Vendor", "VendorRef", "Amount", "Balance", "CurrencyID")
        return [OpenItem(source_id=f"{r['Type']}/{r['ReferenceNbr']}", number=r.get("VendorRef") or r["ReferenceNbr"],
                         supplier_id=r.get("Vendor") or "", amount=(r.get("Balance") or Decimal(0)).quantize(CENT),
                         currency=(r.get("CurrencyID") or self.base_currency).upper(),
                         total=r["Amount"].quantize(CENT) if r.get("Amount") is not None else None)
                for r in self.readable(self.client.records("Bill", where=where, select=select), "bill")]

    # --- payments back --------------------------------------------------------------------------------
    def post_payment(self, invoice_reference, payment):
        """One AP payment (type Payment) per BILL payment and bill, applied to that bill for its share, with
        BILL's payment id in Payment Ref.: looked up by it before anything is created, since a create cannot
        be repeated safely. Released when the connection says so, else left on hold for a person.

        A reversal voids a released payment (VoidCheck adds a Voided Payment document, released in turn when
        the connection releases payments) and deletes one never released, which never reached the ledger."""
        bill_type = invoice_reference.get("Type") or BILL_TYPE
        bill_number, vendor = invoice_reference.get("ReferenceNbr"), invoice_reference.get("Vendor")
        if not bill_number or not vendor:
            raise DataError("The invoice's reference names no Acumatica bill and vendor; it cannot be paid there.")
        payment_ref = str(payment.payment_id)
        if len(payment_ref) > PAYMENT_REF_LENGTH:
            raise DataError(f"Payment id {payment_ref} is longer than Acumatica's Payment Ref. ({PAYMENT_REF_LENGTH}).")
        found = self.client.find("Check", and_(eq("PaymentRef", payment_ref), eq("Vendor", vendor)),
                                 expand=("Details",))
        ours = [c for c in found if any(d.get("DocType") == bill_type and d.get("ReferenceNbr") == bill_number
                                        for d in c.get("Details") or [])]
        active = next((c for c in ours if c.get("Type") == PAYMENT_TYPE and c.get("Status") != VOIDED), None)
        if payment.paid:
            return self._record(payment, payment_ref, invoice_reference, bill_type, bill_number, vendor, active)
        if payment.reversed:
            return self._reverse(payment_ref, bill_number, active, ours)
        return f"nothing to write for payment {payment_ref} ({payment.status})"

    def _record(self, payment, payment_ref, reference, bill_type, bill_number, vendor, active):
        currency = (reference.get("CurrencyID") or "").upper()
        if currency and payment.currency and payment.currency.upper() != currency:
            raise DataError(f"Payment {payment_ref} is in {payment.currency} but bill {bill_number} is in {currency}; "
                            "nothing is converted.")
        if active is not None:
            if self.release and active.get("Status") == BALANCED:
                self.client.invoke("Check", "ReleaseCheck", active["id"])  # created before, its release lost
                return f"Acumatica payment {active['ReferenceNbr']} (already recorded) released"
            return f"payment {payment_ref} already recorded as Acumatica payment {active['ReferenceNbr']}"
        description = f"Paid in BILL ({payment.status})" + (f", ref. {payment.reference}" if payment.reference else "")
        record = {"Type": PAYMENT_TYPE, "Vendor": vendor, "PaymentRef": payment_ref, "Hold": not self.release,
                  "ApplicationDate": payment.process_date or timezone.localdate(), "PaymentAmount": payment.amount,
                  "Description": description[:DESCRIPTION_LENGTH],
                  "Details": [{"DocType": bill_type, "ReferenceNbr": bill_number, "AmountPaid": payment.amount}]}
        if currency:
            record["CurrencyID"] = currency
        if self.cash_account:
            record["CashAccount"] = self.cash_account
        if self.payment_method:
            record["PaymentMethod"] = self.payment_method
        check = self.client.create("Check", record, expand=("Details",))
        amount = money(payment.amount, payment.currency or currency)
        applied = f"Acumatica payment {check.get('ReferenceNbr')} of {amount} applied to bill {bill_number}"
        if not self.release:
            return f"{applied}, on hold for review"
        self.client.invoke("Check", "ReleaseCheck", check["id"])
        return f"{applied}, released"

    def _reverse(self, payment_ref, bill_number, active, ours):
        if active is None:
            voided = any(c.get("Status") == VOIDED for c in ours)
            return f"payment {payment_ref} " + ("already voided" if voided else "was never recorded; nothing to undo")
        number = active.get("ReferenceNbr")
        if active.get("Status") in UNRELEASED_PAYMENT_STATUSES:
            self.client.delete("Check", active["id"])
            return f"Acumatica payment {number} for bill {bill_number} was never released; deleted"
        void = self._void_of(active)
        if void is None:
            self.client.invoke("Check", "VoidCheck", active["id"])
            void = self._void_of(active)
        if void is None:
            raise DataError(f"Acumatica voided payment {number} but shows no Voided Payment document for it.")
        if void.get("Status") == BALANCED:
            if not self.release:
                return f"Acumatica payment {number} voided; the void waits for a person to release it"
            self.client.invoke("Check", "ReleaseCheck", void["id"])
        return f"Acumatica payment {number} for bill {bill_number} voided"

    def _void_of(self, check):
        found = self.client.find("Check", and_(eq("Type", VOID_TYPE), eq("ReferenceNbr", check["ReferenceNbr"])))
        return found[0] if found else None


# --- assumption probes (connectors.assumptions): reads only -------------------------------------------------------
@probe("AC1", "acumatica", stops=(can.READS_SUPPLIERS, can.READS_APPROVED_INVOICES, can.REPORTS_HELD_INVOICES,
                                  can.READS_REFERENCE_DATA, can.WRITES_PAYMENTS_BACK))
def endpoint_is_served(connector):
    """GET /entity: the connection's endpoint name and version among those the instance lists. Every read and write
    goes through that endpoint. No other version is taken instead: the connector's contract is Default/24.200.001's
    definition, and another version's entities and fields differ (IDG, Comparison of System Endpoints)."""
    client = connector.client
    served = client.endpoints()
    listed = ", ".join(f"{name}/{version}" for name, version in served) or "no endpoint"
    if (client.endpoint, client.version) in served:
        return held(f"The instance lists {listed}; {client.endpoint}/{client.version} is among them.")
    return contradicted(f"The instance lists {listed}, not {client.endpoint}/{client.version}, which this connection "
                        "uses.")


@probe("AC3", "acumatica", fallback="matches vendor statuses by their words alone, whatever their case, spaces and "
                                    "hyphens (ACTIVE, One Time), and keeps a vendor in any other status blocked: no "
                                    "BILL vendor is made for it and its bills wait")
def vendor_statuses_are_known(connector):
    """The Status of every vendor (VendorID and Status only), against the statuses we know."""
    counts = Counter(record.get("Status") or "(none)"
                     for record in connector.client.records("Vendor", select=("VendorID", "Status"))
                     if not isinstance(record, Unparsable))
    if not counts:
        return unchecked("Acumatica has no vendors yet, so no vendor status can be read.")
    seen = ", ".join(f"{status} ({n})" for status, n in sorted(counts.items()))
    unknown = sorted(set(counts) - VENDOR_STATUSES)
    if unknown:
        return contradicted(f"Vendor statuses read: {seen}. Not ones we know: {', '.join(unknown)}.")
    return held(f"Vendor statuses read: {seen}; all are ones we know.")


# How many vendors the change-time probe looks at.
CHANGE_TIME_PROBE_SIZE = 20


@probe("AC4", "acumatica", fallback="reads every vendor and bill in full on each run instead of those changed since "
                                    "the last one")
def change_times_carry_an_offset(connector):
    """The LastModifiedDateTime of a few vendors, as Acumatica writes it: each must carry a UTC offset. Whether a
    change to a vendor's main contact moves it cannot be seen without changing one (ask the customer)."""
    client = connector.client
    query = Query(select=("VendorID", "LastModifiedDateTime"), top=CHANGE_TIME_PROBE_SIZE, dialect=DIALECT)
    page = client.http.json("GET", client.entity("Vendor"), params=query.encode())
    written = [(client.key_of(item, "VendorID"), client.key_of(item, "LastModifiedDateTime"))
               for item in (page if isinstance(page, list) else [])]
    written = [(vendor, text) for vendor, text in written if text is not None]
    if not written:
        return unchecked("Acumatica has no vendors yet, so no change time can be read.")
    for vendor, text in written:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return contradicted(f"Vendor {vendor}'s LastModifiedDateTime reads {text!r}, not a date and time.")
        if moment.tzinfo is None:
            return contradicted(f"Vendor {vendor}'s LastModifiedDateTime reads {text} with no UTC offset.")
    return held(f"The LastModifiedDateTime of the {len(written)} vendors read carries a UTC offset "
                f"(vendor {written[0][0]}: {written[0][1]}).")
