"""The demo data loads into the simulator and reads through the connector with the problems it promises."""

from collections import Counter

from connectors.models import Connection
from connectors.records import Invoice, Supplier
from sandbox.acumatica import demo


def demo_connection(tenant, sandbox):
    spec = demo.connection(sandbox.url)
    connection = Connection(tenant=tenant, system="acumatica", name="Acumatica (demo)", base_url=spec["base_url"],
                            options=spec["options"])
    connection.set_credentials(spec["credentials"])
    connection.save()
    return connection


def test_the_demo_loads_and_reads_through_the_connector(tenant, sandbox):
    assert demo.seed(sandbox.url)["seeded"]
    with demo_connection(tenant, sandbox).connector() as connector:
        assert connector.check()
        suppliers = list(connector.suppliers())
        invoices = list(connector.approved_invoices())
        accounts = connector.gl_accounts()
        dimensions = connector.dimensions()
    assert all(isinstance(s, Supplier) for s in suppliers) and len(suppliers) == demo.VENDORS
    assert [s.source_id for s in suppliers if not s.active] == [demo.VENDOR_ON_HOLD]
    assert all(isinstance(i, Invoice) for i in invoices) and len(invoices) == demo.RELEASED_BILLS
    by_number = {i.invoice_number: i for i in invoices}
    assert (by_number[demo.EURO_BILL].currency, by_number[demo.EURO_BILL].supplier_id) == ("EUR", demo.EURO_VENDOR)
    assert by_number[demo.UNMAPPED_BILL].lines[0].dimensions["subaccount"] == demo.UNMAPPED_SUBACCOUNT
    assert Counter(i.supplier_id for i in invoices)[demo.VENDOR_ON_HOLD] == 2
    assert all(set(line.dimensions) == {"subaccount", "location"} for i in invoices for line in i.lines)
    assert all(sum(line.amount for line in i.lines) == i.total for i in invoices)
    assert sorted((a.code, a.name) for a in accounts) == sorted(demo.GL_ACCOUNTS)
    assert sorted((d.kind, d.code, d.name) for d in dimensions) == \
        sorted(d for d in demo.DIMENSIONS if d[0] == "subaccount")
    assert demo.UNMAPPED <= {(kind, code) for kind, code, _ in demo.DIMENSIONS}
    locations = {line.dimensions["location"] for i in invoices for line in i.lines}
    assert locations == {code for kind, code, _ in demo.DIMENSIONS if kind == "location"}


def test_seeding_again_leaves_the_demo_as_it_is(sandbox):
    demo.seed(sandbox.url)
    before = sandbox.simulators["acumatica"].state()["bills"]
    assert demo.seed(sandbox.url) == {"seeded": False}
    assert sandbox.simulators["acumatica"].state()["bills"] == before


def test_the_demo_interface_is_what_seed_demo_reads():
    assert demo.TENANT == ("acumatica-demo", "Demo Acumatica Distribution")
    assert demo.INTEGRATION == "Acumatica → BILL" and demo.INTEGRATION_OPTIONS == {}
    assert demo.WALKTHROUGH and {kind for kind, _, _ in demo.DIMENSIONS} == {"subaccount", "location"}
