"""BILL's batch contract: lookups cost a call per page, a vendor already as wanted is not patched."""

from dataclasses import replace

from connectors.models import Connection
from connectors.records import Supplier
from tests.connectors.bill.test_bill import SUPPLIER, create_vendor


def bill_calls(sandbox):
    return sandbox.state("bill")["calls"]


def test_a_matched_vendor_is_patched_only_when_it_differs(bill_connection, sandbox):
    vendor_id = create_vendor(bill_connection.connector(), SUPPLIER)
    connector = Connection.objects.get(pk=bill_connection.pk).connector()
    assert connector.find_vendors([SUPPLIER]) == {SUPPLIER.source_id: vendor_id}
    before = bill_calls(sandbox)
    connector.update_vendor(vendor_id, SUPPLIER)
    assert bill_calls(sandbox) == before, "the listed copy already says all of it"
    connector.update_vendor(vendor_id, replace(SUPPLIER, name="Paper Company"))
    assert bill_calls(sandbox) == before + 1


def test_finding_vendors_lists_them_once_then_only_the_new_ones(bill_connection, sandbox):
    connector = bill_connection.connector()
    suppliers = [Supplier(source_id=f"S{n}", name=f"Vendor {n}", tax_id="12-3456789") for n in range(250)]
    created = connector.create_vendors(suppliers)
    assert len(set(created.values())) == 250
    fresh = Connection.objects.get(pk=bill_connection.pk).connector()
    before = bill_calls(sandbox)
    assert fresh.find_vendors(suppliers) == created
    first = bill_calls(sandbox) - before
    assert first == 3, "250 vendors are 3 pages of 100 (a call per page, not per supplier)"
    asked = []
    listing = fresh.client.vendors
    fresh.client.vendors = lambda created_since=None: asked.append(created_since) or listing(created_since)
    assert fresh.find_vendors(suppliers[:10]) == {s.source_id: created[s.source_id] for s in suppliers[:10]}
    assert len(asked) == 1 and asked[0] is not None, "then only vendors created since (less a margin) are listed"
