"""A bulk create that fails keeps the others' objects: each vendor of a call that went through has its id, each of
the failed call has that call's error (connectors/bill/client.py _bulk, syncs.ledger.Ledger.record_results)."""

from connectors.bill.client import BULK_VENDORS
from connectors.errors import TransientError
from connectors.records import Supplier
from sandbox.bill import simulator as bill_sandbox


def test_one_failed_bulk_call_keeps_the_vendors_the_others_made(bill_connection, sandbox):
    connector = bill_connection.connector()
    suppliers = [Supplier(source_id=f"S{n}", name=f"Vendor {n}", tax_id="12-3456789")
                 for n in range(2 * BULK_VENDORS + 5)]
    send = connector.client.http.json

    def second_bulk_call_fails(method, path, **kwargs):
        if path.endswith("/bulk") and kwargs["json"][0]["name"] == f"Vendor {BULK_VENDORS}":
            raise TransientError("BILL HTTP 500: injected")
        return send(method, path, **kwargs)

    connector.client.http.json = second_bulk_call_fails
    created = connector.create_vendors(suppliers)
    made = {s.source_id for s in suppliers[:BULK_VENDORS] + suppliers[2 * BULK_VENDORS:]}
    assert {key for key, result in created.items() if isinstance(result, str)} == made
    failed = [created[s.source_id] for s in suppliers[BULK_VENDORS:2 * BULK_VENDORS]]
    assert all(isinstance(result, TransientError) for result in failed)
    in_bill = sandbox.state("bill")["organizations"][bill_sandbox.ORG_ID]["vendors"]
    assert sorted(vendor["id"] for vendor in in_bill) == sorted(created[key] for key in made)
