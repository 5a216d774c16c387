"""A record's fingerprint is what every ledger row already holds: made faster (ledger.plain instead of
dataclasses.asdict), it must hash every record exactly as before, or every synced bill would read as changed after
sending on the next run."""

import hashlib
import json
from dataclasses import asdict, replace

from connectors import canonical
from connectors.records import Address, GlAccount, Payment, VendorEdit
from syncs.ledger import fingerprint, plain
from tests.fakes import demo


def as_before(record):
    said = asdict(record)
    said.pop("updated_marker", None)
    said.pop("held", None)
    return hashlib.sha256(json.dumps(said, sort_keys=True, default=str).encode()).hexdigest()


def records():
    invoices = demo.invoices()
    yield from demo.suppliers()
    yield from invoices
    yield replace(invoices[0], held="Payment stop 1", updated_marker="2026-01-01T00:00:00+00:00")
    yield from canonical.SUPPLIERS
    yield GlAccount(code="6000", name="Raw materials")
    yield VendorEdit(vendor_id="v1", email="a@b.test", address=Address(line1="1 Main St"), updated_at="x")
    yield Payment(payment_id="p1", bill_ids=("b1", "b2"), amount=demo.invoices()[0].total, currency="USD",
                  status="CLEARED", paid=True, allocations=(("b1", demo.invoices()[0].total),))


def test_every_record_hashes_as_it_did():
    for record in records():
        assert fingerprint(record) == as_before(record), record
        assert fingerprint(record, plain(record)) == as_before(record)


def test_plain_gives_the_json_asdict_gives():
    for record in records():
        assert json.dumps(plain(record), sort_keys=True, default=str) == json.dumps(asdict(record), sort_keys=True,
                                                                                    default=str)
