"""The ERP contract: what the engine relies on from any ERP connector, over HTTP against its simulator
loaded with the canonical seed (connectors/canonical.py), through the hooks of its Contract."""

from dataclasses import replace
from datetime import date

import pytest

from connectors import canonical
from connectors import capabilities as can
from connectors.cursors import CursorTypeError, newer
from connectors.records import Invoice, Payment, Supplier, Unreadable
from tests.connectors.contracts.base import ERP, SystemContract

PAID_INVOICE = canonical.GOOD_INVOICES[0]


def assert_markers(kind, records):
    """Each record's marker is a value of its stream's cursor type: the engine's cursor is made of them."""
    for record in records:
        try:
            kind.parse(record.updated_marker)
        except CursorTypeError:
            pytest.fail(f"{record} has the marker {record.updated_marker!r}, which is not a {kind.name}")


def newest(kind, records):
    """The stream's cursor after reading `records`, as the engine computes it."""
    marker = None
    for record in records:
        marker = newer(kind, marker, kind.parse(record.updated_marker))
    return marker


class ErpContract(SystemContract):
    suite = ERP

    @pytest.fixture
    def connector(self, connection, sandbox):
        self.contract.seed_canonical(sandbox)
        with connection.connector() as connector:
            yield connector

    def kind(self, canonical_kind):
        return self.contract.dimension_kinds.get(canonical_kind, canonical_kind)

    def in_system_terms(self, line):
        """A canonical line as the ERP holds it: its dimensions under the ERP's kinds."""
        return replace(line, dimensions={self.kind(kind): code for kind, code in line.dimensions.items()})

    def test_suppliers_are_read_with_every_field(self, connector):
        read = list(connector.suppliers())
        assert all(isinstance(s, Supplier) for s in read), [s for s in read if not isinstance(s, Supplier)]
        by_id = {s.source_id: replace(s, updated_marker="") for s in read}
        assert len(by_id) == len(read), "each supplier once"
        assert by_id == {s.source_id: s for s in canonical.SUPPLIERS}
        assert_markers(self.cursor_type(connector, "suppliers"), read)

    def test_approved_invoices_are_read_with_their_lines_as_seeded(self, connector):
        read = list(connector.approved_invoices())
        assert all(isinstance(i, Invoice) for i in read), [i for i in read if not isinstance(i, Invoice)]
        by_number = {i.invoice_number: i for i in read}
        assert len(by_number) == len(read) == len({i.source_id for i in read}), "each invoice once, ids unique"
        assert set(by_number) == {i.number for i in canonical.APPROVED_INVOICES}, \
            f"{canonical.UNAPPROVED_INVOICE} is not approved and must not be read"
        for seed in canonical.APPROVED_INVOICES:
            got = by_number[seed.number]
            assert (got.supplier_id, got.invoice_date, got.due_date, got.total, got.currency) == \
                (seed.supplier_id, seed.invoice_date, seed.due_date, seed.total, seed.currency), seed.number
            # Lines exactly as seeded, in order: their sum is the seeded one, even where it is not the total.
            assert got.lines == tuple(self.in_system_terms(line) for line in seed.lines), seed.number
        assert_markers(self.cursor_type(connector, "invoices"), read)

    def test_suppliers_read_since_the_cursor_are_those_changed(self, connector, sandbox):
        kind = self.cursor_type(connector, "suppliers")
        first = list(connector.suppliers())
        cursor = newest(kind, first)
        changed = canonical.SUPPLIERS[0]
        self.contract.change_supplier(sandbox, changed.source_id, tax_id="74-7654321", active=False)
        again = {s.source_id: s for s in connector.suppliers(since=cursor)}
        assert replace(again[changed.source_id], updated_marker="") == \
            replace(changed, tax_id="74-7654321", active=False)
        # A reader may include the record the cursor was taken from; nothing older comes back.
        boundary = {s.source_id for s in first if kind.parse(s.updated_marker) == cursor}
        assert set(again) <= {changed.source_id} | boundary

    def test_invoices_read_since_the_cursor_leave_out_what_was_read(self, connector):
        kind = self.cursor_type(connector, "invoices")
        first = list(connector.approved_invoices())
        cursor = newest(kind, first)
        boundary = {i.invoice_number for i in first if kind.parse(i.updated_marker) == cursor}
        assert {i.invoice_number for i in connector.approved_invoices(since=cursor)} <= boundary

    def test_gl_accounts_are_the_seeded_ones(self, connector):
        self.require(can.READS_REFERENCE_DATA)
        assert sorted((a.code, a.name, a.active) for a in connector.gl_accounts()) == \
            sorted((a.code, a.name, a.active) for a in canonical.GL_ACCOUNTS)

    def test_departments_are_the_seeded_ones(self, connector):
        self.require(can.READS_REFERENCE_DATA)
        assert sorted((d.kind, d.code, d.name, d.active) for d in connector.dimensions()) == \
            sorted((self.kind(d.kind), d.code, d.name, d.active) for d in canonical.DEPARTMENTS)

    def paid(self, connector):
        invoice = next(i for i in connector.approved_invoices() if i.invoice_number == PAID_INVOICE.number)
        payment = Payment(payment_id="CONTRACT-PAY-1", bill_ids=("contract-bill-1",), amount=invoice.total,
                          currency=invoice.currency, status="CLEARED", paid=True, process_date=date(2026, 2, 2),
                          reference="TXN-CONTRACT-1")
        return invoice.reference, payment

    def recorded(self, sandbox):
        return self.contract.canonical_state(sandbox)["payments"]

    def test_a_payment_posted_twice_is_recorded_once(self, connector, connection, sandbox):
        self.require(can.WRITES_PAYMENTS_BACK)
        reference, payment = self.paid(connector)
        connector.post_payment(reference, payment)
        connector.post_payment(reference, payment)
        with connection.connector() as another:  # a second worker, or a retry after a crash
            another.post_payment(reference, payment)
        assert self.recorded(sandbox) == [
            {"payment_id": payment.payment_id, "invoice_number": PAID_INVOICE.number,
             "supplier_id": PAID_INVOICE.supplier_id, "amount": canonical.amount_text(PAID_INVOICE.total),
             "status": "PAID"}]

    def test_a_reversed_payment_changes_what_was_recorded(self, connector, sandbox):
        self.require(can.WRITES_PAYMENTS_BACK)
        reference, payment = self.paid(connector)
        connector.post_payment(reference, payment)
        connector.post_payment(reference, replace(payment, status="VOIDED", paid=False, reversed=True))
        assert [(p["payment_id"], p["status"]) for p in self.recorded(sandbox)] == [(payment.payment_id, "VOIDED")]

    def test_an_unreadable_value_becomes_an_unreadable_record(self, connection, sandbox):
        self.contract.seed_canonical(sandbox, unreadable=True)
        with connection.connector() as connector:
            read = list(connector.approved_invoices())
        unreadable = [r for r in read if isinstance(r, Unreadable)]
        assert len(unreadable) == 1 and unreadable[0].reason
        assert canonical.UNREADABLE_INVOICE.number in unreadable[0].source_ref, "a person can tell which one"
        assert {i.invoice_number for i in read if isinstance(i, Invoice)} == \
            {i.number for i in canonical.APPROVED_INVOICES}, "the others are still read"
