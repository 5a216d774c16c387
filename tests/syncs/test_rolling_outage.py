"""A run stops early only on a sustained outage: the failure rate over the last attempts on one system, not a few
failures in a row (syncs.ledger.Ledger.attempted). A storm that fails calls at random lets the rest through."""

from dataclasses import replace

from connectors.errors import TransientError
from syncs.engine import run_integration
from syncs.ledger import OUTAGE_MIN_ATTEMPTS, OUTAGE_SHARE, OUTAGE_WINDOW
from syncs.models import RecordStatus, RunStatus, SyncRecord
from tests.fakes import demo
from tests.fakes.fake_ap.connector import FakeApConnector

MORE = 60


def with_more_suppliers(fakes):
    """The demo's suppliers and MORE of the same kind, so a run makes enough attempts for a rate to mean something."""
    model = demo.suppliers()[0]
    fakes.erp().add(*(replace(model, source_id=f"S2{n:04d}", name=f"Storm supplier {n}") for n in range(MORE)))


def renamed_all(fakes):
    for source_id in list(fakes.erp().suppliers):
        fakes.erp().change_supplier(source_id, name=f"{fakes.erp().suppliers[source_id].name} (renamed)")


def failing_updates(monkeypatch, fails):
    """update_vendor fails for a passing reason on the attempts `fails(n)` picks (n counts from 0)."""
    attempts = []

    def update_vendor(self, vendor_id, supplier):
        attempts.append(supplier.source_id)
        if fails(len(attempts) - 1):
            raise TransientError("Fake AP HTTP 503: service unavailable")
        return vendor_id

    monkeypatch.setattr(FakeApConnector, "update_vendor", update_vendor)
    return attempts


def test_a_storm_that_fails_28_percent_of_the_calls_does_not_stop_the_run(fake_demo, fakes, monkeypatch):
    with_more_suppliers(fakes)
    run_integration(fake_demo.pk)
    renamed_all(fakes)
    # 7 of every 25 attempts fail (28 %), three of them in a row: what a random storm deals out now and then.
    attempts = failing_updates(monkeypatch, lambda n: n % 25 in (0, 1, 2, 10, 11, 20, 21))
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    eligible = demo.SUPPLIERS - 1 + MORE  # all but the supplier without a tax id
    assert len(attempts) == eligible, "every supplier was tried"
    failed = SyncRecord.objects.filter(object_type="vendor", status=RecordStatus.FAILED,
                                       error_class="transient").count()
    assert failed == sum(1 for n in range(eligible) if n % 25 in (0, 1, 2, 10, 11, 20, 21))
    assert run.counters["vendors_updated"] == eligible - failed
    monkeypatch.undo()
    again = run_integration(fake_demo.pk)
    assert again.counters["vendors_updated"] == failed, "the next run takes up what the storm failed"


def test_a_system_down_for_every_call_stops_the_run_quickly(fake_demo, fakes, monkeypatch):
    with_more_suppliers(fakes)
    run_integration(fake_demo.pk)
    renamed_all(fakes)
    attempts = failing_updates(monkeypatch, lambda n: True)
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.DEFERRED
    assert len(attempts) == OUTAGE_MIN_ATTEMPTS, "stopped once enough attempts said so, not after all of them"
    assert f"Fake AP failed {OUTAGE_MIN_ATTEMPTS} of the last {OUTAGE_MIN_ATTEMPTS} attempts" in run.error


def test_an_outage_that_begins_mid_run_stops_it_once_most_of_the_window_failed(fake_demo, fakes, monkeypatch):
    with_more_suppliers(fakes)
    run_integration(fake_demo.pk)
    renamed_all(fakes)
    went_down = 30
    attempts = failing_updates(monkeypatch, lambda n: n >= went_down)
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.DEFERRED
    needed = int(OUTAGE_SHARE * OUTAGE_WINDOW)
    assert len(attempts) == went_down + needed, "the window fills with failures before it stops"
    assert run.counters["vendors_updated"] == went_down
