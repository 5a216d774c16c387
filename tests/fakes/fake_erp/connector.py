"""The fake ERP's connector: canonical records read from and written to its book (tests/fakes/world.py)."""

from connectors.base import ErpConnector
from connectors.cursors import TIMESTAMP
from connectors.errors import NotFound
from connectors.records import Document, OpenItem, SupplierUpdate
from tests.fakes import world


def changed(records, since):
    """The records changed since `since`, oldest change first, as an API ordered by its change stamp answers."""
    found = [r for r in records if world.changed_since(TIMESTAMP.parse(r.updated_marker), since)]
    return sorted(found, key=lambda r: r.updated_marker)


class FakeErpConnector(ErpConnector):
    def __init__(self, connection):
        super().__init__(connection)
        self.book = world.erp()

    def check(self):
        return f"Fake ERP: {len(self.book.suppliers)} supplier(s)."

    def gl_accounts(self):
        return list(self.book.gl_accounts)

    def dimensions(self):
        return list(self.book.dimensions)

    def suppliers(self, since=None):
        yield from changed(self.book.suppliers.values(), since)

    def approved_invoices(self, since=None, include_held=False):
        for invoice in changed(self.book.invoices.values(), since):
            if include_held or not invoice.held:
                yield invoice

    def invoice(self, reference):
        try:
            return self.book.invoices[reference["id"]]
        except KeyError:
            raise NotFound(f"Fake ERP has no invoice {reference.get('id')!r}.") from None

    def post_payment(self, invoice_reference, payment):
        invoice = self.invoice(invoice_reference)
        posted = self.book.payments.get(payment.payment_id)
        status = "PAID" if payment.paid else ("VOIDED" if payment.reversed else "OPEN")
        if posted is not None and posted["status"] == status:
            return posted["reference"]
        reference = (posted or {}).get("reference") or f"FP-{len(self.book.payments) + 1}"
        self.book.payments[payment.payment_id] = {"invoice": invoice.source_id, "amount": payment.amount,
                                                  "status": status, "reference": reference}
        return reference

    def acknowledge_invoice(self, invoice_reference):
        invoice = self.invoice(invoice_reference)
        self.book.acknowledged.add(invoice.source_id)
        return f"invoice {invoice.invoice_number} marked as transferred"

    def update_supplier(self, source_id, changes):
        supplier = self.book.suppliers.get(source_id)
        if supplier is None:
            raise NotFound(f"Fake ERP has no supplier {source_id!r}.")
        applied, conflicts = {}, {}
        for name, (before, after) in changes.items():
            if getattr(supplier, name) == before:
                applied[name] = after
            else:
                conflicts[name] = (getattr(supplier, name), after)
        if applied:
            self.book.change_supplier(source_id, **applied)
        return SupplierUpdate(applied=applied, conflicts=conflicts,
                              reference=self.book.suppliers[source_id].updated_marker)

    def open_invoices(self):
        paid = {p["invoice"] for p in self.book.payments.values() if p["status"] == "PAID"}
        return [OpenItem(source_id=i.source_id, number=i.invoice_number, supplier_id=i.supplier_id, amount=i.total,
                         currency=i.currency, total=i.total)
                for i in self.book.invoices.values() if not i.held and i.source_id not in paid]

    def invoice_documents(self, invoice_reference):
        invoice = self.invoice(invoice_reference)
        return [Document(name=name, content_type="application/pdf", chunks=lambda body=body: iter([body]),
                         size=len(body))
                for name, body in self.book.documents.get(invoice.source_id, [])]

