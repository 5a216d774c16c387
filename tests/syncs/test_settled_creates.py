"""A batch create the platform answered with a server error: the platform is done with that request, so what it made
is looked up at once and the rest sent once more, in the same run; a create that timed out may still be at work and
waits for the next run, which looks it up first (issue "Production that survives", §1: under a storm one bulk call in
five met a 5xx and took its whole batch to the next run). On the fake pair."""

from collections import Counter

from connectors.http import Unsafe
from syncs.engine import run_integration
from syncs.models import RecordStatus, SyncRecord
from tests.fakes.fake_ap.connector import FakeApConnector


def failing_first(monkeypatch, method, error):
    """`method` of the fake AP does its work, then answers `error` for every item, the first time only."""
    real = getattr(FakeApConnector, method)
    calls = []

    def once(connector, items):
        calls.append(len(items))
        done = real(connector, items)
        return {key: error for key in done} if len(calls) == 1 else done

    monkeypatch.setattr(FakeApConnector, method, once)
    return calls


def test_bills_answered_with_a_server_error_are_found_or_sent_again_in_the_same_run(fake_demo, fakes, monkeypatch):
    calls = failing_first(monkeypatch, "create_bills", Unsafe("Fake AP HTTP 500", status=500))
    run = run_integration(fake_demo.pk)
    bills = SyncRecord.objects.filter(integration=fake_demo, object_type="bill")
    assert not bills.filter(error_class="transient").exists(), run.counters
    numbers = Counter(b["number"] for b in fakes.ap().bills.values())
    assert numbers and max(numbers.values()) == 1, "a bill was made twice"
    assert bills.filter(status=RecordStatus.SYNCED).count() == len(numbers)
    assert sum(calls) == len(numbers), "the bills the failed call made were found, not sent again"


def test_vendors_answered_with_a_server_error_are_found_in_the_same_run(fake_demo, fakes, monkeypatch):
    failing_first(monkeypatch, "create_vendors", Unsafe("Fake AP HTTP 502", status=502))
    run_integration(fake_demo.pk)
    vendors = SyncRecord.objects.filter(integration=fake_demo, object_type="vendor")
    assert not vendors.filter(error_class="transient").exists()
    keys = Counter(v["key"] for v in fakes.ap().vendors.values())
    assert keys and max(keys.values()) == 1, "a vendor was made twice"


def test_a_create_that_timed_out_waits_for_the_next_run(fake_demo, fakes, monkeypatch):
    calls = failing_first(monkeypatch, "create_bills", Unsafe("Fake AP did not answer in 30 s"))
    run_integration(fake_demo.pk)
    sent = sum(calls)
    waiting = SyncRecord.objects.filter(integration=fake_demo, object_type="bill", error_class="transient")
    assert waiting.exists(), "a timed-out create was looked up while the platform may still be at work on it"
    run_integration(fake_demo.pk)
    assert not waiting.exists()
    assert sum(calls) == sent, "the next run found what the timed-out call made instead of sending it again"
    numbers = Counter(b["number"] for b in fakes.ap().bills.values())
    assert max(numbers.values()) == 1
