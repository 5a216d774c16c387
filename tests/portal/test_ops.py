"""/healthz, /metrics and the periodic operations task."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from connectors.models import Connection
from portal import jobs, ops
from portal.models import AuditEntry, Tenant
from syncs.models import RecordStatus, RunStatus, SyncRun
from tests.syncs.test_status_pages import invoice, make_integration
from webhooks.models import WebhookEvent, WebhookSubscription


@pytest.fixture
def integration(db):
    return make_integration(Tenant.objects.create(name="Acme Corp", slug="acme"))


def test_healthz_says_what_is_down_in_words(client, db, monkeypatch):
    monkeypatch.setattr(ops.Stat, "get_all", staticmethod(lambda: []))
    response = client.get("/healthz")
    assert response.status_code == 503
    text = response.content.decode()
    assert "database: ok" in text and "task cluster: none running" in text and "last task succeeded: never" in text
    alive = SimpleNamespace(timestamp=timezone.now(), workers=[1, 2])
    monkeypatch.setattr(ops.Stat, "get_all", staticmethod(lambda: [alive]))
    response = client.get("/healthz")
    assert response.status_code == 200 and "task cluster: ok (1 running, 2 workers)" in response.content.decode()
    stopped = SimpleNamespace(timestamp=timezone.now() - timedelta(minutes=5), workers=[1])
    monkeypatch.setattr(ops.Stat, "get_all", staticmethod(lambda: [stopped]))
    assert client.get("/healthz").status_code == 503


def test_metrics_need_staff_or_the_token(client, db, settings):
    assert client.get("/metrics").status_code == 403
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403, "no token set: none accepted"
    client.force_login(get_user_model().objects.create_user("olivia", is_staff=True))
    assert client.get("/metrics").status_code == 200


def test_metrics_count_runs_records_calls_events_and_the_queue(admin_client, integration):
    SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.SUCCEEDED,
                           counters={"api_calls": 7})
    SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.FAILED,
                           counters={"api_calls": 2})
    invoice(integration, 1)
    invoice(integration, 2, RecordStatus.FAILED)
    WebhookEvent.objects.create(connection=integration.target, event_id="e1", status=WebhookEvent.PROCESSED)
    text = admin_client.get("/metrics").content.decode()
    assert 'mlc_sync_runs_total{status="succeeded"} 1' in text
    assert 'mlc_sync_records{object_type="bill",status="failed"} 1' in text
    assert 'mlc_remote_calls_total{system="bill"} 9' in text and 'mlc_remote_calls_total{system="infor"} 9' in text
    assert 'mlc_remote_errors_total{system="bill"} 1' in text
    assert 'mlc_webhook_events_total{status="processed"} 1' in text
    assert "mlc_task_queue_depth 0" in text and "# TYPE mlc_sync_runs_total counter" in text


def test_staff_read_the_metrics_of_the_tenants_they_operate_and_a_superuser_all(client, admin_client, integration):
    from portal.models import Membership

    other = make_integration(Tenant.objects.create(name="Other Co", slug="other"))
    for each, calls in ((integration, 7), (other, 100)):
        SyncRun.objects.create(integration=each, trigger="schedule", status=RunStatus.SUCCEEDED,
                               counters={"api_calls": calls})
    invoice(other, 9, RecordStatus.FAILED)
    WebhookEvent.objects.create(connection=other.target, event_id="e9", status=WebhookEvent.PROCESSED)
    olivia = get_user_model().objects.create_user("olivia", is_staff=True)
    Membership.objects.create(user=olivia, tenant=integration.tenant, role=Membership.OPS)
    client.force_login(olivia)
    text = client.get("/metrics").content.decode()
    assert 'mlc_sync_runs_total{status="succeeded"} 1' in text
    assert 'mlc_remote_calls_total{system="bill"} 7' in text, "another tenant's calls are not hers to read"
    assert 'status="failed"' not in text and "mlc_webhook_events_total{" not in text
    everything = admin_client.get("/metrics").content.decode()
    assert 'mlc_sync_runs_total{status="succeeded"} 2' in everything
    assert 'mlc_remote_calls_total{system="bill"} 107' in everything


def test_the_periodic_task_is_on_the_allow_list_and_scheduled_by_migration(db):
    assert jobs.func_for("operations_check") == "portal.ops.periodic_checks"
    schedule = Schedule.objects.get(name="operations-check")  # portal/migrations/0004
    assert schedule.minutes == 5 and schedule.func == jobs.func_for("operations_check")


def test_periodic_checks_keep_health_current_and_alert_once_per_webhook_incident(integration, settings, monkeypatch):
    settings.ALERT_EMAILS = ["oncall@example.test"]
    checked = []

    def check(connection, actor=None, audit_unchanged=True):
        checked.append(connection.pk)
        Connection.objects.filter(pk=connection.pk).update(health=Connection.HEALTH_OK,
                                                           last_checked_at=timezone.now())
        return True, "ok"

    monkeypatch.setattr("connectors.health.check_connection", check)
    sub = WebhookSubscription.objects.create(connection=integration.target, remote_id="sub-1", name="s",
                                             notification_url="https://portal.test/w", enabled=False)
    result = ops.periodic_checks()
    assert sorted(checked) == sorted([integration.source_id, integration.target_id])
    assert result == {"requests_queued_again": 0, "requests_given_up": 0, "connections_checked": 2, "alerts_sent": 1}
    assert "webhook subscription of acme AP is gone" in mail.outbox[0].subject
    assert ops.periodic_checks() == {"requests_queued_again": 0, "requests_given_up": 0, "connections_checked": 0,
                                     "alerts_sent": 0}, "checked recently; same incident"
    WebhookSubscription.objects.filter(pk=sub.pk).update(enabled=True)
    AuditEntry.objects.create(action="webhook.reenabled", actor="system:webhook", tenant=integration.tenant,
                              object_type=WebhookSubscription._meta.label, object_id=str(sub.pk),
                              message="BILL had disabled the subscription; re-enabled it.")
    assert ops.periodic_checks()["alerts_sent"] == 1
    assert "had been disabled" in mail.outbox[1].subject
