"""Canonical records: what connectors hand to the engine and take from it. Money is Decimal, with currency."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class Supplier:
    source_id: str
    name: str
    tax_id: str = ""
    currency: str = "USD"
    email: str = ""
    phone: str = ""
    address: Address = field(default_factory=Address)
    active: bool = True
    updated_marker: str = ""


@dataclass(frozen=True)
class GlAccount:
    code: str
    name: str
    id: str = ""  # the system's own id where it differs from the code (BILL 0ca…)
    active: bool = True


@dataclass(frozen=True)
class Dimension:
    kind: str  # department, location, class
    code: str
    name: str
    id: str = ""
    active: bool = True


@dataclass(frozen=True)
class InvoiceLine:
    amount: Decimal
    gl_account: str
    description: str = ""
    dimensions: dict = field(default_factory=dict)  # kind -> code
    po_number: str = ""


@dataclass(frozen=True)
class Invoice:
    source_id: str
    supplier_id: str
    invoice_number: str
    invoice_date: date
    due_date: date
    total: Decimal
    currency: str
    lines: tuple[InvoiceLine, ...]
    description: str = ""
    po_number: str = ""
    updated_marker: str = ""
    reference: dict = field(default_factory=dict)  # the source system's keys, for write-back
    # Why the ERP now says it must not be paid (held, a payment stop, cancelled), in its own words; None when it
    # may be. Read only from an ERP that declares REPORTS_HELD_INVOICES, when the engine asks (include_held): an
    # invoice held after its bill was sent must be noticed, one held before is never sent.
    held: str | None = None


@dataclass(frozen=True)
class Payment:
    payment_id: str
    bill_ids: tuple[str, ...]
    amount: Decimal
    currency: str
    status: str  # the AP system's status, e.g. SCHEDULED, CLEARED, VOIDED
    paid: bool  # the money has gone (or will certainly go) to the supplier
    process_date: date | None = None
    reference: str = ""  # check number, trace number or transaction number
    updated_at: str = ""
    reversed: bool = False  # voided, cancelled or bounced after it was made
    allocations: tuple = ()  # (bill id, amount) pairs when one payment covers several bills
    # Why and when the AP platform undid it, as far as it says: an ACH return's NACHA reason code ("R01"), the reason
    # in the platform's own words (a void's reason), and the day it was returned, voided or escheated. Written back in
    # words by connectors/reversals.py; blank or None where the platform gives nothing.
    return_code: str = ""
    return_reason: str = ""
    undone_on: date | None = None


@dataclass(frozen=True)
class Unreadable:
    """A source object the connector could not turn into a record (bad date, bad amount): the engine
    files it as a failed data record instead of stopping the run."""

    object_type: str
    source_id: str
    source_ref: str
    reason: str
    updated_marker: str = ""
    # What could be read of it, so its failure is filed where the readable record would be: an invoice's number
    # (finance finds the failure by it), the bills a payment names (its ledger rows are one per bill).
    number: str = ""
    bill_ids: tuple = ()
    # Why, as the ledger files it: a value that does not parse is data, waiting for a fix in the source; a detail read
    # that failed for a passing reason (its class and cause from the TransientError) is read again by the next run.
    error_class: str = "data"
    cause: str = "unreadable_record"


# The supplier fields a person may edit in the AP platform and have written back to the ERP. The ERP owns
# the rest (name, tax id, currency, active): edits to those in the AP platform are not written back, and the
# next supplier sync puts the ERP's values back (docs/ARCHITECTURE.md, "Who wins which field").
CONTACT_FIELDS = ("email", "phone", "address")


@dataclass(frozen=True)
class VendorEdit:
    """A vendor as the AP platform holds it now, for the contact fields the ERP accepts back."""

    vendor_id: str
    email: str = ""
    phone: str = ""
    address: Address = field(default_factory=Address)
    updated_at: str = ""


@dataclass(frozen=True)
class SupplierUpdate:
    """What the ERP did with a contact edit: the fields written, and the fields it kept because they had
    changed in the ERP too ({field: (ERP value kept, AP value not written)})."""

    applied: dict = field(default_factory=dict)
    conflicts: dict = field(default_factory=dict)
    reference: str = ""  # what the ERP says it now is (an ETag, a version)


@dataclass(frozen=True)
class OpenItem:
    """An unpaid invoice (ERP) or bill (AP platform), for the open payables tie-out."""

    source_id: str  # the ERP's Invoice.source_id, or the AP platform's bill id
    number: str  # the invoice number
    supplier_id: str  # the ERP's supplier id, or the AP platform's vendor id
    amount: Decimal  # still to pay
    currency: str
    total: Decimal | None = None


@dataclass(frozen=True)
class Document:
    """An invoice image or attachment, read as a stream: `chunks()` yields bytes and may be called once."""

    name: str
    content_type: str
    chunks: Callable[[], Iterator[bytes]]
    size: int | None = None  # when the ERP says it in advance


def code_key(code):
    """How a published code is named in publish_codes' answer: "gl_account:6100", "department:100"."""
    return f"gl_account:{code.code}" if isinstance(code, GlAccount) else f"{code.kind}:{code.code}"
