"""Backfill with a preview (admin page and command), and the progress bar the long commands show on a terminal, on
the fake pair (what is read and sent is the engine's, whatever the systems)."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.models import OrmQ

from portal.models import AuditEntry
from syncs import progress, tasks
from syncs.models import RecordStatus, RunStatus, SyncRecord, SyncRun
from tests.fakes import demo

# What the demo's books hold, and what a first backfill sends of it: all but the known failures.
RECORDS = demo.SUPPLIERS + demo.INVOICES
SENT = RECORDS - 1 - len(demo.expected_failures())


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def integration(fake_demo):
    return fake_demo


def queued_task(before):
    """The one task queued since the queue held `before` tasks, as the broker holds it."""
    assert OrmQ.objects.count() == before + 1, "one task queued"
    return OrmQ.objects.order_by("-pk").first().task


def run_queued(task):
    """Run a queued task's function here, as a worker would."""
    return import_string(task["func"])(*task["args"], **task["kwargs"])


@pytest.mark.django_db
def test_backfill_page_queues_the_preview_and_the_run_and_follows_both(client, ops, integration, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # tasks wait in the broker, as behind a real cluster
    url = reverse("admin:syncs_integration_backfill", args=[integration.pk])
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(url, {"since": "2020-01-01", "preview": "1"})
    assert queued.status_code == 302 and "previewed=" in queued["Location"]
    preview_task = queued_task(0)
    assert preview_task["func"] == "syncs.tasks.dry_run" and not SyncRun.objects.exists(), "queued, not run"
    assert "The preview is queued" in client.get(queued["Location"]).content.decode()
    run_queued(preview_task)
    preview = client.get(queued["Location"]).content.decode()
    sent = int(re.search(r"Would be sent</th><td><strong>(\d+)", preview).group(1))
    assert sent == SENT and "Already sent (in the ledger; not sent again)</th><td>0" in preview
    assert SyncRun.objects.get().trigger == "preview" and AuditEntry.objects.get(action="sync.run.dry_run").actor \
        == "olivia"
    assert not SyncRecord.objects.filter(status=RecordStatus.SYNCED).exists(), "the preview writes nothing"
    read = int(re.search(r'name="expected" value="(\d+)"', preview).group(1))
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(url, {"since": "2020-01-01", "run": "1", "expected": read})
    assert started.status_code == 302 and "after=" in started["Location"]
    backfill_task = queued_task(1)
    assert backfill_task["func"] == "syncs.tasks.run_integration" and backfill_task["args"][1] == "backfill"
    assert "The backfill is queued" in client.get(started["Location"]).content.decode()
    run_queued(backfill_task)
    run = SyncRun.objects.get(trigger="backfill")
    assert run.status == RunStatus.PARTIAL and AuditEntry.objects.get(action="sync.backfill").actor == "olivia"
    progress = client.get(started["Location"]).content.decode()
    assert "Completed with failed records" in progress and "What moved:" in progress
    assert f"{read} of about {read} records read" in progress, "the run read what its preview read"


@pytest.mark.django_db
def test_a_second_backfill_counts_every_record_it_reads_not_only_those_it_sends(client, integration):
    """Most records are already sent the second time: its progress counts up to all it reads, as the preview did."""
    client.force_login(get_user_model().objects.create_superuser("root"))
    url = reverse("admin:syncs_integration_backfill", args=[integration.pk])
    tasks.run_integration(integration.pk, "backfill", "2020-01-01T00:00:00+00:00")
    queued = client.post(url, {"since": "2020-01-01", "preview": "1"})
    tasks.dry_run(integration.pk, "preview", "2020-01-01T00:00:00+00:00", "root")
    preview = client.get(queued["Location"]).content.decode()
    sent = int(re.search(r"Would be sent</th><td><strong>(\d+)", preview).group(1))
    read = int(re.search(r'name="expected" value="(\d+)"', preview).group(1))
    assert sent <= len(demo.expected_failures()) + 1 < SENT < RECORDS <= read, \
        "what the preview read is what the run will count, not the few it would send"
    started = client.post(url, {"since": "2020-01-01", "run": "1", "expected": read})
    tasks.run_integration(integration.pk, "backfill", "2020-01-01T00:00:00+00:00")
    assert f"{read} of about {read} records read" in client.get(started["Location"]).content.decode()


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
    call_command("backfill", "fake erp → fake ap", "--since", "2020-01-01", "--preview", stdout=out)
    assert "would send" in out.getvalue() and not SyncRun.objects.filter(dry_run=False).exists()
