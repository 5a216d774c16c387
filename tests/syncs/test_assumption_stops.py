"""A contradicted assumption with no safe alternative stops the steps that depend on it before their first write,
says so on the run, and lets them go on once ops confirm an override; a dry run (which writes nothing) goes on. Shown
on the fake pair, with a probe of the test's own."""

import pytest

from connectors import assumptions
from connectors import capabilities as can
from syncs.engine import run_integration
from syncs.models import RunStatus
from tests.assumptions import contradict


@pytest.fixture
def payments_probe(monkeypatch):
    monkeypatch.setitem(assumptions.PROBES, "T1", assumptions.Probe(
        "T1", "fake_erp", lambda connector: assumptions.held("-"), stops=(can.WRITES_PAYMENTS_BACK,)))


def test_a_contradicted_assumption_stops_its_steps_before_writing_until_ops_override(fake_demo, fakes,
                                                                                    payments_probe):
    run_integration(fake_demo.pk)
    fakes.ap().pay(next(iter(fakes.ap().bills)))
    contradict(fake_demo.source, "T1")

    stopped = run_integration(fake_demo.pk)
    assert stopped.status == RunStatus.PARTIAL and stopped.counters["steps_stopped"] == 1
    assert "Payments stopped before writing" in stopped.error and "T1" in stopped.error
    assert fakes.erp().payments == {}, "nothing written back while the assumption stands contradicted"

    fake_demo.source.assumption_overrides = {"T1": {"by": "ops", "at": "2026-12-07T12:00:00+00:00"}}
    fake_demo.source.save()
    going = run_integration(fake_demo.pk)
    assert going.counters.get("steps_stopped") is None and going.counters["payments_written_back"] == 1


def test_an_assumption_of_another_capability_or_one_held_stops_nothing(fake_demo, fakes, payments_probe):
    fake_demo.source.assumptions_report = {"state": "done", "results": [
        {"id": "T1", "title": "", "status": assumptions.HELD, "seen": "", "advice": ""}]}
    fake_demo.source.save()
    contradict(fake_demo.target, "T1")  # T1 stops the ERP's payments write-back; the AP side has no such capability
    run = run_integration(fake_demo.pk)
    assert "steps_stopped" not in run.counters and "stopped before writing" not in run.error


def test_a_payment_a_webhook_brings_meets_the_same_stop_and_is_written_by_the_next_poll_once_overridden(
        fake_demo, fakes, payments_probe, client):
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from connectors.errors import RecordError
    from portal.models import Membership
    from syncs.models import RecordStatus, SyncRecord
    from syncs.payments import apply_payment

    run_integration(fake_demo.pk)
    fakes.ap().pay(next(iter(fakes.ap().bills)))
    contradict(fake_demo.source, "T1")
    with fake_demo.target.connector() as ap:
        payment = next(iter(ap.payments()))
    with pytest.raises(RecordError, match="found T1 contradicted"):
        apply_payment(fake_demo, payment, via="webhook")
    held = SyncRecord.objects.get(integration=fake_demo, object_type="payment")
    assert (held.status, held.cause) == (RecordStatus.FAILED, "assumption_contradicted")
    # Filed with what the ERP's setup holds up, not with the data to correct, in the words the cause leads with.
    assert held.error_class == "configuration" and held.error_detail.startswith("Held back, not written to ")
    client.force_login(get_user_model().objects.create_user("fin", password="pw-0123456789"))
    Membership.objects.create(user=get_user_model().objects.get(username="fin"), tenant=fake_demo.tenant,
                              role=Membership.FINANCE)
    page = client.get(reverse("status:record", args=[held.pk])).content.decode()
    assert f"Payment {held.source_ref} in" in page, "named by the payment and its invoice, not by the row's key"
    assert fakes.erp().payments == {}

    fake_demo.source.assumption_overrides = {"T1": {"by": "ops", "at": "2026-12-07T12:00:00+00:00"}}
    fake_demo.source.save()
    assert run_integration(fake_demo.pk).counters["payments_written_back"] == 1
    held.refresh_from_db()
    assert held.status == RecordStatus.SYNCED
