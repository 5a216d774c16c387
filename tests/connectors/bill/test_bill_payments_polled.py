"""A polled payment that does not parse is one failed record; the stream goes on past it."""

from connectors.bill.client import BillClient
from connectors.records import Payment, Unreadable

GOOD = {"id": "stp02", "billIds": ["00n02"], "amount": 10.5, "singleStatus": "CLEARED",
        "processDate": "2026-11-30", "updatedTime": "2026-11-30T10:00:01.000+00:00"}
BAD = {**GOOD, "id": "stp01", "amount": "abc", "updatedTime": "2026-11-30T10:00:00.000+00:00"}


def test_an_unreadable_payment_is_yielded_as_such_and_the_next_one_still_comes(bill_connection, monkeypatch):
    monkeypatch.setattr(BillClient, "payments", lambda self, since=None: iter([BAD, GOOD]))
    items = list(bill_connection.connector().payments())
    assert [type(i) for i in items] == [Unreadable, Payment]
    assert items[0].source_id == "stp01" and "amount" in items[0].reason
    assert items[0].updated_marker == BAD["updatedTime"], "the cursor can move past it"
    assert items[1].bill_ids == ("00n02",)
