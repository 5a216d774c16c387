"""A follow-up handed to the ERP several bills at a time, where its connector offers a call for several
(acknowledge_invoices): each bill's outcome still kept on its own row, a refusal of one never holding back the
others; an error of the whole call is every bill's. Run on the fake pair: nothing here names a system."""

import pytest

from connectors.errors import DataError, Locked, TransientError
from syncs.engine import run_integration
from syncs.models import FollowUp, FollowUpKind, FollowUpState, RunStatus, SyncRecord
from syncs.steps.follow_ups import TOGETHER_CHUNK
from tests.fakes.fake_erp.connector import FakeErpConnector

LOCKED, REFUSED = "INV-200003", "INV-200005"


@pytest.fixture
def marks_together(monkeypatch):
    """The fake ERP taking marks several at a time: each call's references kept; one at a time refused."""
    calls = []

    def one_at_a_time(self, reference):
        raise AssertionError("a mark was sent on its own, though the ERP takes several in one call")

    def together(self, references):
        calls.append(list(references))
        said = []
        for reference in references:
            number = self.invoice(reference).invoice_number
            if number == LOCKED:
                said.append(Locked(f"Invoice {number} is locked by another user."))
            elif number == REFUSED:
                said.append(DataError(f"Invoice {number} belongs to a closed period."))
            else:
                self.book.acknowledged.add(self.invoice(reference).source_id)
                said.append(f"invoice {number} marked as transferred")
        return said

    monkeypatch.setattr(FakeErpConnector, "acknowledge_invoice", one_at_a_time)
    monkeypatch.setattr(FakeErpConnector, "acknowledge_invoices", together, raising=False)
    return calls


def states(integration):
    return {row.record.number: row.state for row in FollowUp.objects.filter(
        record__integration=integration, kind=FollowUpKind.ACKNOWLEDGEMENT).select_related("record")}


def test_the_marks_go_several_a_call_each_bill_keeping_its_own_outcome(fake_demo, fakes, marks_together):
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    bills = SyncRecord.objects.filter(integration=fake_demo, object_type="bill", status="synced").count()
    assert len(marks_together) == -(-bills // TOGETHER_CHUNK) and sum(map(len, marks_together)) == bills > 1
    assert run.counters["acknowledgements_done"] == bills - 2
    assert (run.counters["acknowledgements_waiting"], run.counters["acknowledgements_failed"]) == (1, 1)
    kept = states(fake_demo)
    assert (kept[LOCKED], kept[REFUSED]) == (FollowUpState.WAITING, FollowUpState.REFUSED)
    assert sum(state == FollowUpState.DONE for state in kept.values()) == bills - 2
    assert len(fakes.erp().acknowledged) == bills - 2


def test_an_error_of_the_whole_call_is_every_bills_and_they_wait_for_the_next_run(fake_demo, fakes, monkeypatch):
    def unavailable(self, references):
        raise TransientError("The ERP answered 503.")

    monkeypatch.setattr(FakeErpConnector, "acknowledge_invoices", unavailable, raising=False)
    run = run_integration(fake_demo.pk)
    bills = SyncRecord.objects.filter(integration=fake_demo, object_type="bill", status="synced").count()
    # Every bill of the call failed for a passing reason: the ERP is taken as down, and the run stops early.
    assert run.status == RunStatus.DEFERRED and not run.counters.get("acknowledgements_done")
    assert set(states(fake_demo).values()) == {FollowUpState.WAITING}
    assert 0 < run.counters["acknowledgements_waiting"] == len(states(fake_demo)) <= bills
    monkeypatch.delattr(FakeErpConnector, "acknowledge_invoices")
    again = run_integration(fake_demo.pk)
    assert again.counters["acknowledgements_done"] == bills, "one at a time, where the ERP takes no batch"
