"""Payments polled from the AP platform are written to the ERP several at once where they touch different bills (a
payment run settles hundreds of bills; one after another they would take minutes at a real system's latency), and
one after another where they share a bill or a payment, so a reversal is written after its payment."""

import threading
from types import SimpleNamespace

import pytest

from syncs.engine import run_integration
from syncs.models import ObjectType, RecordStatus, SyncRecord
from syncs.steps.payments import chains
from tests.fakes.fake_erp.connector import FakeErpConnector


def paid(payment_id, *bills):
    return SimpleNamespace(payment_id=payment_id, bill_ids=bills)


def ids(found):
    return [[payment.payment_id for payment in chain] for chain in found]


def test_payments_on_different_bills_are_chains_of_their_own():
    assert ids(chains([paid("p1", "b1"), paid("p2", "b2"), paid("p3", "b3")])) == [["p1"], ["p2"], ["p3"]]


def test_payments_sharing_a_bill_or_an_id_stay_in_one_chain_in_the_order_read():
    found = chains([paid("p1", "b1"), paid("p2", "b2"), paid("p3", "b1"), paid("p2", "b2")])
    assert ids(found) == [["p1", "p3"], ["p2", "p2"]]


def test_a_payment_of_two_bills_joins_their_chains_after_both():
    found = chains([paid("p1", "b1"), paid("p2", "b2"), paid("p5", "b2"), paid("p3", "b1", "b2"), paid("p4", "b4"),
                    paid("p6", "b1")])
    assert ids(found) == [["p1", "p2", "p5", "p3", "p6"], ["p4"]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_payments_on_different_bills_are_written_at_once_each_exactly_once(fakes, fake_demo, monkeypatch):
    """Two writes meet at a barrier: written one after another, the first would wait alone and the barrier break.
    (PostgreSQL: the suite's SQLite database is in memory, where fan_out runs one call after another.)"""
    first = run_integration(fake_demo.pk)
    assert first.counters.get("bills_created")
    bills = list(SyncRecord.objects.filter(integration=fake_demo, object_type=ObjectType.BILL,
                                           status=RecordStatus.SYNCED).values_list("target_id", flat=True)[:6])
    for bill_id in bills:
        fakes.ap().pay(bill_id)
    meeting = threading.Barrier(2, timeout=10)
    calls = []
    post = FakeErpConnector.post_payment

    def meeting_post(self, invoice_reference, payment):
        calls.append(payment.payment_id)
        if len(calls) <= 2:
            meeting.wait()
        return post(self, invoice_reference, payment)

    monkeypatch.setattr(FakeErpConnector, "post_payment", meeting_post)
    run = run_integration(fake_demo.pk)
    assert not meeting.broken, "the first two payments were not written at once"
    assert run.counters.get("payments_written_back") == len(bills), run.counters
    assert sorted(calls) == sorted(fakes.erp().payments), "each payment written once"
    assert len(fakes.erp().payments) == len(bills)
