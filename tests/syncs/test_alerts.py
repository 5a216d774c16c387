"""Ops alerts by e-mail: one per incident, not one per run or per check."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from connectors.models import Connection
from portal.models import AuditEntry, Membership, Tenant
from syncs import alerts
from syncs.models import RunStatus, SyncRun
from tests.syncs.test_status_pages import make_integration


@pytest.fixture
def integration(db, settings):
    settings.ALERT_EMAILS = ["oncall@example.test"]
    tenant = Tenant.objects.create(name="Acme Corp", slug="acme")
    ops = get_user_model().objects.create_user("olivia", email="olivia@example.test", is_staff=True)
    Membership.objects.create(user=ops, tenant=tenant, role=Membership.OPS)
    return make_integration(tenant)


def run(integration, status, error="", minutes_ago=0):
    r = SyncRun.objects.create(integration=integration, trigger="schedule", status=status, error=error,
                               finished_at=timezone.now())
    SyncRun.objects.filter(pk=r.pk).update(started_at=timezone.now() - timedelta(minutes=minutes_ago))
    return r


def test_three_failed_runs_in_a_row_send_one_alert_until_a_run_completes(integration):
    run(integration, RunStatus.SUCCEEDED, minutes_ago=10)
    for n in range(2):
        run(integration, RunStatus.FAILED, "TransientError: BILL did not answer", minutes_ago=5 - n)
    assert alerts.check_all() == []
    run(integration, RunStatus.FAILED, "TransientError: BILL did not answer", minutes_ago=2)
    assert alerts.check_all() == ["Acme Corp: ERP → AP failed 3 runs in a row"]
    run(integration, RunStatus.SKIPPED, minutes_ago=1)
    run(integration, RunStatus.FAILED, "TransientError: BILL did not answer", minutes_ago=1)
    assert alerts.check_all() == [], "the same incident: no second mail"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["olivia@example.test", "oncall@example.test"]
    assert "BILL did not answer" in message.body and "{" not in message.body
    run(integration, RunStatus.SUCCEEDED)
    for _ in range(3):
        run(integration, RunStatus.FAILED, "TransientError: again")
    assert alerts.check_all() == ["Acme Corp: ERP → AP failed 3 runs in a row"], "a new incident"
    assert AuditEntry.objects.filter(action="alert.sent").count() == 2


def test_refused_credentials_are_one_alert(integration):
    run(integration, RunStatus.SUCCEEDED, minutes_ago=3)
    run(integration, RunStatus.FAILED, "AuthError: BILL refused the user name or password.")
    assert alerts.check_all() == ["Acme Corp: ERP → AP: credentials refused"]
    Connection.objects.filter(pk=integration.target_id).update(health=Connection.HEALTH_AUTH_FAILED,
                                                               last_error="Sign-in refused.")
    assert alerts.check_all() == []
    assert "BILL refused the user name or password." in mail.outbox[0].body


def test_an_integration_without_a_completed_run_for_three_intervals_is_stale_once(integration):
    run(integration, RunStatus.SUCCEEDED, minutes_ago=10)
    assert alerts.check_all() == []
    SyncRun.objects.update(finished_at=timezone.now() - timedelta(minutes=46))
    assert alerts.check_all() == ["Acme Corp: ERP → AP is not up to date"]
    assert alerts.check_all() == []
    assert len(mail.outbox) == 1
    assert "No run of ERP → AP has completed for 3 intervals of 15 minute(s)" in mail.outbox[0].body


def test_a_paused_integration_is_not_stale(integration):
    integration.paused = True
    integration.save()
    SyncRun.objects.all().delete()
    integration.__class__.objects.filter(pk=integration.pk).update(created_at=timezone.now() - timedelta(days=1))
    assert alerts.check_all() == []


def test_an_alert_with_nobody_to_mail_is_still_recorded(integration, settings):
    settings.ALERT_EMAILS = []
    Membership.objects.all().delete()
    for _ in range(3):
        run(integration, RunStatus.FAILED, "ConfigurationError: the base URL is wrong")
    assert alerts.check_all() == ["Acme Corp: ERP → AP failed 3 runs in a row"]
    assert mail.outbox == []
    assert AuditEntry.objects.get(action="alert.sent").details == {"to": []}


def test_a_mail_server_that_refuses_keeps_the_alert_for_the_next_check(integration, monkeypatch):
    import smtplib

    def refuse(*args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(alerts, "send_mail", refuse)
    run(integration, RunStatus.SUCCEEDED, minutes_ago=3)
    run(integration, RunStatus.FAILED, "AuthError: BILL refused the user name or password.")
    assert alerts.check_all() == [], "the check goes on, and nothing is recorded as sent"
    assert not AuditEntry.objects.filter(action="alert.sent").exists()
    monkeypatch.undo()
    assert alerts.check_all() == ["Acme Corp: ERP → AP: credentials refused"]
