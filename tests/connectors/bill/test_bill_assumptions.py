"""BILL's assumption probes change what the connector does once the last check found them contradicted (the probes
themselves are tested both ways in tests/connectors/test_assumption_probes.py): B10 polls every payment and filters
and orders them here, B20 reads vendor edits unsorted and orders them here, B7 makes no webhook subscription."""

from datetime import timedelta
from functools import partial

import pytest

from connectors import assumptions
from connectors.bill.client import changed_since, parse_bill_time
from connectors.errors import ConfigurationError, DataError
from connectors.records import Supplier
from sandbox.bill import simulator as bill_sandbox
from tests.assumptions import contradict, set_variant
from tests.connectors.bill.test_bill import SUPPLIER, create_bill, create_vendor, invoice, seed_accounts
from webhooks import subscriptions

variant = partial(set_variant, system="bill")


def two_payments_a_minute_apart(connection, sandbox):
    """Two bills paid a minute apart on the simulator's clock: (first payment id, second payment id, the moment
    between them)."""
    accounts = seed_accounts(sandbox)
    connector = connection.connector()
    vendor_id = create_vendor(connector, SUPPLIER)
    first_bill, second_bill = (create_bill(connector, vendor_id, invoice(number), {0: {"gl_account": accounts["6100"]}})
                               for number in ("INV-1", "INV-2"))
    first = sandbox.control("bill/pay", {"billId": first_bill})
    sandbox.control("clock", {"advance_seconds": 60})
    second = sandbox.control("bill/pay", {"billId": second_bill})
    return first["id"], second["id"], parse_bill_time(first["updatedTime"]) + timedelta(seconds=30)


def test_payments_are_still_all_polled_when_bill_refuses_the_updated_time_filter(bill_connection, sandbox):
    first, second, between = two_payments_a_minute_apart(bill_connection, sandbox)
    variant(sandbox, "B10", "refused")
    with pytest.raises(DataError, match="updatedTime"):
        list(bill_connection.connector().payments())

    contradict(bill_connection, "B10")
    assert [p.payment_id for p in bill_connection.connector().payments()] == [first, second]
    assert [p.payment_id for p in bill_connection.connector().payments(between)] == [second], \
        "only what changed since the cursor, filtered here"
    sandbox.control("bill/payment-status", {"paymentId": first, "singleStatus": "VOIDED"})
    assert [p.payment_id for p in bill_connection.connector().payments(between)] == [second, first], \
        "oldest change first, ordered here"


def test_vendor_edits_come_oldest_change_first_when_bill_refuses_the_updated_time_sort(bill_connection, sandbox):
    connector = bill_connection.connector()
    other = Supplier(source_id="S-1002", name="Ink Co", address=SUPPLIER.address)
    create_vendor(connector, SUPPLIER)
    sandbox.control("clock", {"advance_seconds": 60})
    later = create_vendor(connector, other)
    sandbox.control("clock", {"advance_seconds": 60})
    edited = sandbox.control("bill/edit-vendor", {"shortName": SUPPLIER.source_id,
                                                  "changes": {"email": "ap@paper.test"}})
    variant(sandbox, "B20", "refused")
    with pytest.raises(DataError, match="updatedTime"):
        list(bill_connection.connector().vendor_edits())

    contradict(bill_connection, "B20")
    edits = list(bill_connection.connector().vendor_edits())
    assert [e.vendor_id for e in edits] == [later, edited["id"]], "the vendor edited last comes last"
    assert edits[-1].email == "ap@paper.test"


def test_no_webhook_subscription_is_attempted_when_bill_does_not_offer_payment_events(bill_connection, sandbox):
    variant(sandbox, "B7", "unlisted")
    contradict(bill_connection, "B7")
    calls = sandbox.state("bill")["calls"]
    with pytest.raises(ConfigurationError, match="scheduled poll only"):
        subscriptions.subscribe(bill_connection, "ops")
    assert sandbox.state("bill")["subscriptions"] == []
    assert sandbox.state("bill")["calls"] == calls, "nothing was asked of BILL"


def test_payment_events_offered_are_subscribed_to_as_before(bill_connection, sandbox):
    subscription = subscriptions.subscribe(bill_connection, "ops")
    assert subscription.remote_id and len(sandbox.state("bill")["subscriptions"]) == 1


def test_the_check_finds_each_contradiction_on_the_simulator_and_keeps_it_on_the_connection(bill_connection,
                                                                                            sandbox):
    for assumption_id, value in (("B10", "refused"), ("B20", "refused"), ("B7", "unlisted")):
        variant(sandbox, assumption_id, value)
    report = assumptions.run_check(bill_connection, "ops")
    found = {r["id"]: r for r in report["results"]}
    assert {i for i, r in found.items() if r["status"] == assumptions.CONTRADICTED} == {"B10", "B20", "B7"}
    assert bill_sandbox.REQUEST_ERROR in found["B10"]["seen"] and "updatedTime" in found["B10"]["seen"]
    assert "payment.updated and payment.failed" in found["B7"]["seen"]
    assert "scheduled poll only" in found["B7"]["advice"]
    bill_connection.refresh_from_db()
    assert all(bill_connection.assumption_contradicted(i) for i in ("B10", "B20", "B7"))


def test_filtering_here_keeps_a_payment_whose_time_does_not_read_so_it_is_filed_unreadable():
    items = [{"id": "late", "updatedTime": "2026-12-01T10:00:02.000Z"},
             {"id": "old", "updatedTime": "2026-12-01T09:00:00.000Z"},
             {"id": "bad", "updatedTime": "yesterday"},
             {"id": "edge", "updatedTime": "2026-12-01T10:00:00.000Z"}]
    kept = changed_since(items, "2026-12-01T10:00:00.000900+00:00")
    assert [i["id"] for i in kept] == ["bad", "edge", "late"], "gte to the millisecond, as BILL's filter"
