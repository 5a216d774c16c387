"""Outages of the systems around a run (issue "Production that survives", §3), on the Infor → BILL demo over the
simulators: a remote system down for ten minutes of scheduled runs, and clocks that disagree by an hour."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.errors import DeferralKind
from portal.ops import periodic_checks
from syncs.engine import run_integration
from syncs.models import RecordStatus, RunStatus, SyncRecord
from syncs.status import COMPLETED


def bill_numbers(sandbox):
    """The invoice numbers of every bill the BILL simulator holds, in any organization."""
    return [b["invoice"]["invoiceNumber"] for org in sandbox.state("bill")["organizations"].values()
            for b in org["bills"]]


@pytest.fixture
def alert_to(settings):
    settings.ALERT_EMAILS = ["ops@example.test"]


def test_a_remote_system_down_for_ten_minutes_defers_alerts_once_and_catches_up(infor_to_bill, sandbox, mailoutbox,
                                                                                  alert_to, client, monkeypatch):
    integration = infor_to_bill
    sandbox.control("faults", {"system": "bill", "error_rate": 1.0})
    started = timezone.now()
    runs = []
    for minute in range(0, 11, 2):
        # The schedule's runs over ten minutes, each seen by the periodic check a minute later.
        monkeypatch.setattr(timezone, "now", lambda minute=minute: started + timedelta(minutes=minute))
        runs.append(run_integration(integration.pk, trigger="schedule"))
        periodic_checks()
    for run in runs:
        assert run.status == RunStatus.DEFERRED, (run.status, run.error)
        assert run.deferral == DeferralKind.OUTAGE, run.deferral
        assert "BILL" in run.error and "{" not in run.error
    alerts = [m for m in mailoutbox if integration.name in m.subject]
    assert len(alerts) == 1, [m.subject for m in mailoutbox]
    assert "BILL" in alerts[0].body and "down" in (alerts[0].subject + alerts[0].body).lower()
    assert not SyncRecord.objects.filter(integration=integration, status=RecordStatus.SYNCED).exists()

    sandbox.control("faults", {"system": "bill", "error_rate": 0})
    monkeypatch.setattr(timezone, "now", lambda: started + timedelta(minutes=12))
    after = run_integration(integration.pk, trigger="schedule")
    assert after.status in COMPLETED, (after.status, after.error)
    numbers = bill_numbers(sandbox)
    assert numbers and len(numbers) == len(set(numbers)), "a bill was created twice"
    synced = SyncRecord.objects.filter(integration=integration, object_type="bill", status=RecordStatus.SYNCED)
    assert synced.count() == len(numbers)
    periodic_checks()
    assert len([m for m in mailoutbox if integration.name in m.subject]) == 1, "the outage was alerted again"


@pytest.mark.parametrize("skew", [timedelta(hours=1), -timedelta(hours=1)])
def test_a_clock_an_hour_off_keeps_cursors_and_tokens_right(infor_to_bill, sandbox, monkeypatch, skew):
    """Another node's clock an hour ahead or behind: cursors are the remote systems' own stamps, so a run there reads
    what changed and creates nothing twice; a token that node thinks fresh but the system no longer accepts is
    obtained again."""
    integration = infor_to_bill
    first = run_integration(integration.pk, trigger="schedule")
    assert first.status in COMPLETED, first.error
    numbers = bill_numbers(sandbox)
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + skew)
    # Both simulators let every session and token lapse, as hours passing would.
    sandbox.control("clock", {"advance_seconds": 3 * 3600})
    again = run_integration(integration.pk, trigger="schedule")
    assert again.status in COMPLETED, again.error
    assert sorted(bill_numbers(sandbox)) == sorted(numbers)
    assert again.counters.get("bills_created", 0) == 0
