"""What the fake ERP and the fake AP platform hold: one book each, emptied before each test.

The books are the fakes' whole state; tests change them directly (a supplier renamed, a bill paid) as they would
through a simulator's controls, and the connectors read and write them as a real system's API would."""

import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.utils import timezone

from connectors.records import Payment, Supplier

_lock = threading.Lock()
_ids = itertools.count(1)
_last = [None]


def stamp():
    """Now, as a change marker: strictly later than the last one handed out, so no two changes tie."""
    with _lock:
        now = timezone.now()
        if _last[0] is not None and now <= _last[0]:
            now = _last[0] + timedelta(microseconds=1)
        _last[0] = now
        return now


def changed_since(marker, since):
    return since is None or marker >= since


@dataclass
class ErpBook:
    """Everything the fake ERP holds."""

    suppliers: dict = field(default_factory=dict)  # id -> records.Supplier
    invoices: dict = field(default_factory=dict)  # source id -> records.Invoice
    gl_accounts: list = field(default_factory=list)
    dimensions: list = field(default_factory=list)
    documents: dict = field(default_factory=dict)  # invoice source id -> [(name, bytes)]
    payments: dict = field(default_factory=dict)  # payment id -> {"invoice", "amount", "status", "reference"}
    acknowledged: set = field(default_factory=set)

    def add(self, *records):
        """Suppliers and invoices, each stamped as changed now."""
        for record in records:
            book = self.suppliers if isinstance(record, Supplier) else self.invoices
            book[record.source_id] = replace(record, updated_marker=stamp().isoformat())

    def change_supplier(self, source_id, **changes):
        self.suppliers[source_id] = replace(self.suppliers[source_id], **changes,
                                            updated_marker=stamp().isoformat())

    def change_invoice(self, source_id, **changes):
        self.invoices[source_id] = replace(self.invoices[source_id], **changes, updated_marker=stamp().isoformat())


@dataclass
class ApBook:
    """Everything the fake AP platform holds."""

    gl_accounts: list = field(default_factory=list)  # records.GlAccount, each with its own id
    dimensions: list = field(default_factory=list)
    vendors: dict = field(default_factory=dict)  # id -> {"key", "name", "tax_id", "email", "phone", "address", ...}
    bills: dict = field(default_factory=dict)  # id -> {"vendor_id", "number", "amount", "currency", "lines", ...}
    payments: dict = field(default_factory=dict)  # id -> records.Payment
    attachments: dict = field(default_factory=dict)  # bill id -> [(name, bytes)]
    currencies: frozenset | None = None  # what it pays bills in; None: any

    def next_id(self, prefix):
        return f"{prefix}{next(_ids):05d}"

    def pay(self, bill_id, status="CLEARED", amount=None):
        """A payment of the whole bill (or `amount`), made in the AP platform; returns its id."""
        bill = self.bills[bill_id]
        if bill["archived"]:
            raise ValueError(f"Bill {bill_id} is archived and cannot be paid.")
        payment_id = self.next_id("pay")
        self.payments[payment_id] = Payment(
            payment_id=payment_id, bill_ids=(bill_id,), amount=amount if amount is not None else bill["amount"],
            currency=bill["currency"], status=status, paid=status == "CLEARED", process_date=timezone.localdate(),
            reference=f"ACH {payment_id}", updated_at=stamp().isoformat())
        bill["paid"] = status == "CLEARED"
        return payment_id

    def edit_vendor(self, vendor_id, **changes):
        """A person edits a vendor's contact fields in the AP platform."""
        self.vendors[vendor_id].update(changes, updated_at=stamp().isoformat())

    def vendor_keyed(self, key):
        return next(vendor_id for vendor_id, vendor in self.vendors.items() if vendor["key"] == key)


_books = {}


def erp():
    return _books.setdefault("erp", ErpBook())


def ap():
    return _books.setdefault("ap", ApBook())


def reset():
    _books.clear()
