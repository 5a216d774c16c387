"""The IFS demo loads into the simulator and reads through the connector, problems included."""

from datetime import date

import pytest

from connectors.errors import Locked
from connectors.models import Connection
from connectors.records import Address, Invoice, Supplier
from sandbox.ifs import demo

TODAY = date(2026, 3, 2)


@pytest.fixture
def connector(tenant, sandbox):
    counts = demo.seed(sandbox.url, today=TODAY)
    assert counts["suppliers"] == demo.SUPPLIERS and counts["invoices"] == demo.INVOICES + demo.PRELIMINARY_INVOICES
    given = demo.connection(sandbox.url)
    connection = Connection(tenant=tenant, system="ifs", name="IFS demo", base_url=given["base_url"],
                            options=given["options"])
    connection.set_credentials(given["credentials"])
    connection.save()
    with connection.connector() as connector:
        yield connector


def test_the_demo_reads_through_the_connector(connector):
    suppliers = list(connector.suppliers())
    assert len(suppliers) == demo.SUPPLIERS and all(isinstance(s, Supplier) for s in suppliers)
    assert [s.source_id for s in suppliers if not s.active] == [demo.BLOCKED_SUPPLIER]
    assert all(s.tax_id and s.email and s.address.city for s in suppliers)
    invoices = list(connector.approved_invoices())
    assert len(invoices) == demo.INVOICES and all(isinstance(i, Invoice) for i in invoices)
    assert all(sum(line.amount for line in i.lines) == i.total for i in invoices)
    assert {i.supplier_id for i in invoices} <= {s.source_id for s in suppliers} - {demo.BLOCKED_SUPPLIER}
    assert sorted((a.code, a.name) for a in connector.gl_accounts()) == sorted(demo.GL_ACCOUNTS)
    assert sorted((d.kind, d.code, d.name) for d in connector.dimensions()) == sorted(demo.DIMENSIONS)
    used = {(kind, code) for i in invoices for line in i.lines for kind, code in line.dimensions.items()}
    assert used <= {(kind, code) for kind, code, _ in demo.DIMENSIONS}
    unmapped = next(i for i in invoices if i.invoice_number == demo.UNMAPPED_INVOICE)
    assert unmapped.lines[0].gl_account == demo.UNMAPPED_ACCOUNT
    assert len(list(connector.open_invoices())) == demo.INVOICES


def test_the_demo_problems(connector):
    invoices = {i.invoice_number: i for i in connector.approved_invoices()}
    assert invoices[demo.LONG_PO_INVOICE].po_number == demo.LONG_PO
    with pytest.raises(Locked):
        connector.acknowledge_invoice(invoices[demo.LOCKED_INVOICE].reference)
    assert "marked as transferred" in connector.acknowledge_invoice(invoices["INV-30001"].reference)
    supplier = next(s for s in connector.suppliers() if s.source_id == demo.BOTH_SIDES_SUPPLIER)
    result = connector.update_supplier(supplier.source_id, {"email": (supplier.email, "bill-side@s1012.test"),
                                                            "address": (supplier.address, Address())})
    assert result.conflicts == {"email": (demo.IFS_SIDE_EMAIL, "bill-side@s1012.test")}
    assert result.applied == {"address": Address()}
