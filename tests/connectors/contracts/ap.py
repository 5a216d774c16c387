"""The AP contract: the batch contract the engine relies on from any AP connector, over HTTP against
its simulator loaded with the canonical seed's chart of accounts and dimensions, through the hooks of its
Contract (tests/connectors/contracts/base.py)."""

from decimal import Decimal

import pytest

from connectors import canonical
from connectors import capabilities as can
from connectors.cursors import newer
from connectors.errors import RecordError
from connectors.records import Invoice, Payment
from tests.connectors.contracts.base import AP, SystemContract


def invoice_record(seed):
    """A canonical invoice as an ERP connector hands it over."""
    return Invoice(source_id=f"{seed.supplier_id}/{seed.number}", supplier_id=seed.supplier_id,
                   invoice_number=seed.number, invoice_date=seed.invoice_date, due_date=seed.due_date,
                   total=seed.total, currency=seed.currency, lines=seed.lines,
                   po_number=next((line.po_number for line in seed.lines if line.po_number), ""))


def coding(seed, ids):
    """Each line's target ids, as the engine makes them from mapping rules."""
    return {n: {"gl_account": ids["gl_accounts"][line.gl_account],
                **{kind: ids["dimensions"][kind][code] for kind, code in line.dimensions.items()}}
            for n, line in enumerate(seed.lines)}


def bill_as_seeded(seed, vendor_id):
    """What the platform should hold for a canonical invoice, in the canonical-state shape."""
    return {"vendor_id": vendor_id, "invoice_number": seed.number, "invoice_date": seed.invoice_date.isoformat(),
            "due_date": seed.due_date.isoformat(), "amount": canonical.amount_text(seed.total),
            "lines": [{"amount": canonical.amount_text(line.amount), "gl_account": line.gl_account,
                       "department": line.dimensions.get("department", "")} for line in seed.lines]}


class ApContract(SystemContract):
    suite = AP

    @pytest.fixture
    def ids(self, sandbox, connection):
        """The platform's ids for the canonical GL accounts and dimensions."""
        return self.contract.canonical_ids(sandbox, connection)

    def state(self, sandbox):
        return self.contract.canonical_state(sandbox)

    def vendors(self, connection):
        with connection.connector() as connector:
            return connector.create_vendors(list(canonical.SUPPLIERS))

    def items(self, connection, ids, invoices):
        """A vendor for every canonical supplier, then a (vendor id, invoice, coding) item per invoice."""
        vendors = self.vendors(connection)
        return [(vendors[seed.supplier_id], invoice_record(seed), coding(seed, ids)) for seed in invoices]

    def test_vendors_are_created_once_and_found_again_after_a_crash(self, connection, ids, sandbox):
        with connection.connector() as connector:
            assert connector.find_vendors(list(canonical.SUPPLIERS)) == {}
            created = connector.create_vendors(list(canonical.SUPPLIERS))
        assert set(created) == {s.source_id for s in canonical.SUPPLIERS}
        assert all(isinstance(v, str) and v for v in created.values()), created
        assert len(set(created.values())) == len(created)
        with connection.connector() as another:  # knows nothing of what the first one made
            assert another.find_vendors(list(canonical.SUPPLIERS)) == created
        assert sorted((v["id"], v["name"], v["tax_id"]) for v in self.state(sandbox)["vendors"]) == \
            sorted((created[s.source_id], s.name, s.tax_id) for s in canonical.SUPPLIERS)

    def test_bills_are_created_coded_and_found_again_after_a_crash(self, connection, ids, sandbox):
        items = self.items(connection, ids, canonical.GOOD_INVOICES)
        pairs = [(vendor_id, invoice) for vendor_id, invoice, _ in items]
        with connection.connector() as connector:
            assert connector.find_bills(pairs) == {}
            created = connector.create_bills(items)
        assert set(created) == {invoice.source_id for _, invoice in pairs}
        assert all(isinstance(b, str) and b for b in created.values()), created
        with connection.connector() as another:
            assert another.find_bills(pairs) == created
        held = {b.pop("id"): b for b in self.state(sandbox)["bills"]}
        assert held == {created[invoice.source_id]: bill_as_seeded(seed, vendor_id)
                        for seed, (vendor_id, invoice) in zip(canonical.GOOD_INVOICES, pairs, strict=True)}

    def test_an_item_refused_in_a_batch_fails_alone(self, connection, ids, sandbox):
        unmapped = next(i for i in canonical.APPROVED_INVOICES if i.number == canonical.UNMAPPED_INVOICE)
        *good, (vendor_id, invoice, lines) = self.items(connection, ids, [*canonical.GOOD_INVOICES, unmapped])
        refused = (vendor_id, invoice, {**lines, 0: {"gl_account": "NO-SUCH-ACCOUNT"}})
        with connection.connector() as connector:
            results = connector.create_bills([*good[:2], refused, *good[2:]])
        assert isinstance(results.pop(invoice.source_id), RecordError)
        assert set(results) == {i.source_id for _, i, _ in good}
        assert all(isinstance(b, str) and b for b in results.values()), results
        assert sorted(b["invoice_number"] for b in self.state(sandbox)["bills"]) == \
            sorted(seed.number for seed in canonical.GOOD_INVOICES)

    def test_reference_data_carries_the_platform_ids(self, connection, ids):
        self.require(can.READS_REFERENCE_DATA)
        with connection.connector() as connector:
            assert {a.code: a.id for a in connector.gl_accounts()} == ids["gl_accounts"]
            for kind, by_code in ids["dimensions"].items():
                assert {d.id for d in connector.dimensions() if d.kind == kind} == set(by_code.values())

    def test_paid_bills_are_read_as_payments_since_the_cursor(self, connection, ids, sandbox):
        self.require(can.PAYMENTS_BY_POLLING)
        items = self.items(connection, ids, canonical.GOOD_INVOICES[:3])

        def pay(bill_id, amount=None):
            sandbox.control("clock", {"advance_seconds": 60})  # each payment a minute after the last
            return self.contract.pay(sandbox, bill_id, amount)

        with connection.connector() as connector:
            bills = connector.create_bills(items)
            older, boundary, latest = (bills[invoice.source_id] for _, invoice, _ in items)
            kind = self.cursor_type(connector, "payments")
            older_id, boundary_id = pay(older), pay(boundary)
            first = {p.payment_id: p for p in connector.payments() if isinstance(p, Payment)}
            assert set(first) == {older_id, boundary_id}
            paid = first[older_id]
            assert older in paid.bill_ids and paid.amount == items[0][1].total and paid.paid and not paid.reversed
            cursor = None
            for payment in first.values():
                cursor = newer(kind, cursor, kind.parse(payment.updated_at))
            partial_id = pay(latest, "100.00")
            since = {p.payment_id: p for p in connector.payments(since=cursor) if isinstance(p, Payment)}
        assert partial_id in since and since[partial_id].amount == Decimal("100.00")
        assert latest in since[partial_id].bill_ids
        assert set(since) <= {boundary_id, partial_id}, "a payment older than the cursor came back"
