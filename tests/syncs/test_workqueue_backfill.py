"""Backfill with a preview (admin page and command), and the progress bar the long commands show on a terminal."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from portal.models import AuditEntry, Membership
from portal.roles import OPS_GROUP
from syncs import progress
from syncs.models import Integration, SyncRecord, SyncRun


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def integration(sandbox, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=io.StringIO())
    return Integration.objects.get(name="Infor → BILL")


@pytest.mark.django_db
def test_backfill_page_previews_then_runs_in_the_background_with_progress(client, integration,
                                                                          django_capture_on_commit_callbacks):
    ops = get_user_model().objects.create_user("olivia", is_staff=True)
    ops.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=ops, tenant=integration.tenant, role=Membership.OPS)
    client.force_login(ops)
    url = reverse("admin:syncs_integration_backfill", args=[integration.pk])
    preview = client.post(url, {"since": "2020-01-01", "preview": "1"}).content.decode()
    sent = int(re.search(r"Would be sent</th><td><strong>(\d+)", preview).group(1))
    assert sent > 600 and "Already sent (in the ledger; not sent again)</th><td>0" in preview
    assert not SyncRecord.objects.filter(status=SyncRecord.SYNCED).exists(), "the preview writes nothing"
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(url, {"since": "2020-01-01", "run": "1", "expected": sent})
    assert queued.status_code == 302 and "after=" in queued["Location"]
    run = SyncRun.objects.get(trigger="backfill")
    assert run.status == SyncRun.PARTIAL and AuditEntry.objects.get(action="sync.backfill").actor == "olivia"
    progress = client.get(queued["Location"]).content.decode()
    assert "Completed with failed records" in progress and "What moved:" in progress
    again = client.post(url, {"since": "2020-01-01", "preview": "1"}).content.decode()
    assert "Already sent (in the ledger; not sent again)</th><td>0" not in again
    assert client.post(url, {"since": "2999-01-01", "preview": "1"}).content.decode().count("Choose today") == 1


@pytest.mark.django_db(transaction=True)
def test_commands_draw_a_progress_bar_only_on_a_terminal(integration, is_postgres, monkeypatch):
    if not is_postgres:
        # The suite's in-memory SQLite shares one cache between connections, where a read from the bar's thread
        # fails the run's write at once instead of waiting; only the bar drawn at the end is checked there.
        monkeypatch.setattr(progress, "REDRAW_SECONDS", 3600)
    terminal = Terminal()
    with pytest.raises(Exception, match="completed with failed records"):
        call_command("backfill", str(integration.pk), "--since", "2020-01-01", stdout=terminal)
    text = terminal.getvalue()
    assert re.search(r"would send \d+ record\(s\); 0 already sent", text)
    started = AuditEntry.objects.get(action="sync.backfill")
    assert started.actor.startswith("command:"), "a backfill from the shell names who ran it"
    assert re.search(r"\r\[#+\.*\] \d+/\d+ records", text), "a bar with the preview's total"
    plain = io.StringIO()
    with pytest.raises(Exception, match="completed with failed records"):
        call_command("sync", str(integration.pk), stdout=plain)
    assert "\r" not in plain.getvalue() and "records so far" not in plain.getvalue()
    tty = Terminal()
    with pytest.raises(Exception, match="completed with failed records"):
        call_command("sync", str(integration.pk), stdout=tty)
    assert "records so far" in tty.getvalue()


@pytest.mark.django_db
def test_backfill_preview_only(integration):
    out = io.StringIO()
    call_command("backfill", "infor → bill", "--since", "2020-01-01", "--preview", stdout=out)
    assert "would send" in out.getvalue() and not SyncRun.objects.filter(dry_run=False).exists()
