"""Schedules, the sync command, the admin actions and the finance status page, on the fake pair's demo."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from connectors.errors import AuthError
from portal.models import Membership, Tenant
from syncs import tasks
from syncs.models import Cursor, Integration, RunStatus, SyncRun
from tests.fakes.fake_ap.connector import FakeApConnector


@pytest.fixture
def integration(fake_demo, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # tasks wait in the broker, as behind a real cluster
    return fake_demo


def test_each_enabled_integration_has_its_own_schedule(integration):
    schedule = Schedule.objects.get(name=f"integration-{integration.pk}")
    assert schedule.func == "syncs.tasks.run_integration" and schedule.minutes == 1
    assert schedule.schedule_type == Schedule.MINUTES and schedule.repeats == -1
    integration.next_run_at = timezone.now()  # as the last run left it, at the old interval
    integration.interval_minutes = 30
    integration.save()
    schedule = Schedule.objects.get(name=f"integration-{integration.pk}")
    assert schedule.minutes == 30
    integration.refresh_from_db()
    assert integration.next_run_at == schedule.next_run, "the pages say the schedule's next run"
    integration.paused = True
    integration.save()
    assert Schedule.objects.filter(name=f"integration-{integration.pk}").exists(), "pausing keeps the schedule"
    run = tasks.run_integration(integration.pk, "schedule")
    assert run["status"] == RunStatus.SKIPPED
    integration.enabled = False
    integration.save()
    assert not Schedule.objects.filter(name=f"integration-{integration.pk}").exists()


def test_sync_command_prints_counters_and_fails_loudly(integration, monkeypatch):
    out = io.StringIO()
    with pytest.raises(CommandError, match="completed with failed records") as partial:
        call_command("sync", "fake erp → fake ap", "--dry-run", stdout=out)
    assert partial.value.returncode == 3, "a run with failed records exits non-zero"
    assert "bills would create" in out.getvalue() and "would create bill" in out.getvalue()
    with pytest.raises(CommandError, match="No integration is named 'no such integration'") as unknown:
        call_command("sync", "no such integration", stdout=io.StringIO())
    assert f"{integration.pk}: Fake ERP → Fake AP (Demo Manufacturing)" in str(unknown.value), "lists the candidates"

    def refused(self):
        raise AuthError("Fake AP does not know this user name or password.")

    monkeypatch.setattr(FakeApConnector, "gl_accounts", refused)
    with pytest.raises(CommandError, match="user name or password") as failed:
        call_command("sync", str(integration.pk), stdout=io.StringIO())
    assert failed.value.returncode == 1


def test_sync_command_names_ambiguous_integrations_and_says_things_once(integration):
    other = Tenant.objects.create(name="Other Co", slug="other")
    Integration.objects.create(tenant=other, name="FAKE ERP → fake ap", source=integration.source,
                               target=integration.target)
    with pytest.raises(CommandError, match="2 integrations are named") as ambiguous:
        call_command("sync", "Fake ERP → Fake AP", stdout=io.StringIO())
    assert "(Demo Manufacturing)" in str(ambiguous.value) and "(Other Co)" in str(ambiguous.value)
    SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.RUNNING)
    out = io.StringIO()
    with pytest.raises(CommandError) as skipped:
        call_command("sync", str(integration.pk), stdout=out)
    assert skipped.value.returncode == 4
    said = out.getvalue() + str(skipped.value)
    assert said.lower().count("skipped") == 2, said  # the status line and the error, no "Skipped: Skipped:"
    assert "skipped: skipped" not in said.lower()


def test_a_missing_setting_is_one_clear_line_not_a_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "SALT_KEY")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    done = subprocess.run([sys.executable, "manage.py", "sync", "1"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert done.stderr.strip().splitlines() == [
        "Configuration error: SECRET_KEY is not set. Set the SECRET_KEY environment variable (a long random "
        "string); it is required whenever DEBUG is off."]


def test_admin_actions(admin_client, integration, django_capture_on_commit_callbacks):
    url = reverse("admin:syncs_integration_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "sync_now", "_selected_action": [integration.pk]})
    assert OrmQ.objects.count() == 1, "Sync now queues a task for the cluster"
    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client.post(url, {"action": "dry_run", "_selected_action": [integration.pk]})
    assert OrmQ.objects.last().task["func"] == "syncs.tasks.dry_run", "a dry run is queued, not run in the request"
    tasks.dry_run(*OrmQ.objects.last().task["args"])
    assert "See the plan" in admin_client.get(page["Location"]).content.decode()
    run = SyncRun.objects.get(dry_run=True)
    assert "create bill" in admin_client.get(reverse("admin:syncs_syncrun_change", args=[run.pk])).content.decode()
    form = admin_client.post(url, {"action": "resync_from_date", "_selected_action": [integration.pk]})
    assert "Resync" in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "resync_from_date", "_selected_action": [integration.pk],
                                "apply": "1", "since": "2026-01-01"})
    assert set(Cursor.objects.values_list("value", flat=True)) == {"2026-01-01T00:00:00+00:00"}
    page = admin_client.post(url, {"action": "load_reference_data", "_selected_action": [integration.pk]}, follow=True)
    assert "1 GL mapping(s) proposed" in page.content.decode()


def test_finance_users_see_only_their_tenant(client, integration):
    other = Tenant.objects.create(name="Other Co", slug="other")
    user = get_user_model().objects.create_user("finance-other", password="pw-123456789")
    Membership.objects.create(user=user, tenant=other, role=Membership.FINANCE)
    client.force_login(user)
    assert "Fake ERP → Fake AP" not in client.get(reverse("status:home")).content.decode()
    mine = get_user_model().objects.create_user("demo-finance")
    Membership.objects.create(user=mine, tenant=integration.tenant, role=Membership.FINANCE)
    client.force_login(mine)
    assert "Fake ERP → Fake AP" in client.get(reverse("status:home")).content.decode()
    assert client.get(reverse("admin:index")).status_code == 302, "finance users are not staff"


def test_resync_refuses_a_date_ahead(admin_client, integration):
    url = reverse("admin:syncs_integration_changelist")
    page = admin_client.post(url, {"action": "resync_from_date", "_selected_action": [integration.pk],
                                   "apply": "1", "since": "2999-01-01"})
    assert "a later date would skip changes" in page.content.decode()
    assert not Cursor.objects.filter(integration=integration, value__startswith="2999").exists()
