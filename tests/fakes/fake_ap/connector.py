"""The fake AP platform's connector: vendors, bills and payments in its book (tests/fakes/world.py).

It keeps BILL's shape where the engine depends on it: vendors found by a key (the integration's prefix and the
supplier id), bills found by vendor and invoice number, batches answered per item, its own chart of accounts."""

from dataclasses import asdict

from connectors.base import ApConnector
from connectors.cursors import TIMESTAMP
from connectors.errors import DataError, NotFound
from connectors.records import Address, OpenItem, VendorEdit
from tests.fakes import world

VENDOR_KEY_LENGTH = 40


class FakeApConnector(ApConnector):
    batch_size = 10

    def __init__(self, connection):
        super().__init__(connection)
        self.book = world.ap()

    # The one account every connection reaches, as two connections to one BILL organization do.
    lock_scope = "the-account"
    account_label = "the Fake AP account"

    @classmethod
    def vendor_key_limit(cls, connection):
        return VENDOR_KEY_LENGTH, "the vendor's key"

    def vendor_key(self, supplier_id):
        return f"{self.vendor_key_prefix}{supplier_id}"[:VENDOR_KEY_LENGTH]

    def check(self):
        return f"Fake AP: {len(self.book.vendors)} vendor(s)."

    def gl_accounts(self):
        return list(self.book.gl_accounts)

    def dimensions(self):
        return list(self.book.dimensions)

    # --- vendors --------------------------------------------------------------------------------------
    def vendor_payload(self, supplier):
        return {"key": self.vendor_key(supplier.source_id), "name": supplier.name, "tax_id": supplier.tax_id,
                "currency": supplier.currency, "email": supplier.email, "phone": supplier.phone,
                "address": asdict(supplier.address)}

    def find_vendors(self, suppliers):
        by_key = {vendor["key"]: vendor_id for vendor_id, vendor in self.book.vendors.items()}
        return {s.source_id: by_key[self.vendor_key(s.source_id)] for s in suppliers
                if self.vendor_key(s.source_id) in by_key}

    def create_vendors(self, suppliers):
        created = {}
        for supplier in suppliers:
            vendor_id = self.book.next_id("ven")
            self.book.vendors[vendor_id] = {**self.vendor_payload(supplier), "updated_at": world.stamp().isoformat()}
            created[supplier.source_id] = vendor_id
        return created

    def update_vendor(self, vendor_id, supplier):
        if vendor_id not in self.book.vendors:
            raise NotFound(f"Fake AP has no vendor {vendor_id}.")
        payload = self.vendor_payload(supplier)
        vendor = self.book.vendors[vendor_id]
        if any(vendor.get(key) != value for key, value in payload.items()):
            vendor.update(payload, updated_at=world.stamp().isoformat())
        return vendor_id

    def vendor_edits(self, since=None):
        for vendor_id, vendor in sorted(self.book.vendors.items(), key=lambda item: item[1]["updated_at"]):
            if world.changed_since(TIMESTAMP.parse(vendor["updated_at"]), since):
                yield VendorEdit(vendor_id=vendor_id, email=vendor["email"], phone=vendor["phone"],
                                 address=Address(**vendor["address"]), updated_at=vendor["updated_at"])

    # --- bills ----------------------------------------------------------------------------------------
    def bill_payload(self, vendor_id, invoice, coding):
        return {"vendor_id": vendor_id, "number": invoice.invoice_number, "amount": str(invoice.total),
                "currency": invoice.currency, "invoice_date": invoice.invoice_date.isoformat(),
                "due_date": invoice.due_date.isoformat(),
                "lines": [{"amount": str(line.amount), "description": line.description, **coding.get(index, {})}
                          for index, line in enumerate(invoice.lines)]}

    def find_bills(self, items):
        by_vendor_and_number = {(b["vendor_id"], b["number"]): bill_id for bill_id, b in self.book.bills.items()}
        return {invoice.source_id: by_vendor_and_number[(vendor_id, invoice.invoice_number)]
                for vendor_id, invoice in items if (vendor_id, invoice.invoice_number) in by_vendor_and_number}

    def create_bills(self, items):
        created = {}
        for vendor_id, invoice, coding in items:
            if vendor_id not in self.book.vendors:
                created[invoice.source_id] = NotFound(f"Fake AP has no vendor {vendor_id}.")
                continue
            # As BILL does, a line coded to an account the platform does not have refuses that bill alone.
            accounts = {account.id for account in self.book.gl_accounts}
            unknown = sorted({line["gl_account"] for line in coding.values()
                              if "gl_account" in line and line["gl_account"] not in accounts})
            if unknown:
                created[invoice.source_id] = DataError(f"Fake AP has no GL account {', '.join(unknown)}.")
                continue
            bill_id = self.book.next_id("bill")
            payload = self.bill_payload(vendor_id, invoice, coding)
            self.book.bills[bill_id] = {**payload, "amount": invoice.total, "archived": False, "paid": False}
            created[invoice.source_id] = bill_id
        return created

    def payable_currencies(self):
        return self.book.currencies

    def open_bills(self):
        return [OpenItem(source_id=bill_id, number=b["number"], supplier_id=b["vendor_id"], amount=b["amount"],
                         currency=b["currency"], total=b["amount"])
                for bill_id, b in self.book.bills.items() if not b["paid"] and not b["archived"]]

    def archive_bill(self, bill_id):
        bill = self.book.bills.get(bill_id)
        if bill is None:
            raise NotFound(f"Fake AP has no bill {bill_id}.")
        if bill["paid"]:
            raise DataError(f"Bill {bill_id} is paid and cannot be archived.")
        bill["archived"] = True
        return f"Bill {bill_id} archived in Fake AP: it cannot be paid there."

    def attach_document(self, bill_id, document):
        self.book.attachments.setdefault(bill_id, []).append((document.name, b"".join(document.chunks())))
        return f"att-{bill_id}-{len(self.book.attachments[bill_id])}"

    # --- payments -------------------------------------------------------------------------------------
    def payments(self, since=None):
        found = [p for p in self.book.payments.values()
                 if world.changed_since(TIMESTAMP.parse(p.updated_at), since)]
        yield from sorted(found, key=lambda p: p.updated_at)
