"""The admin never waits for a long run: a dry run is queued as a task and its page follows it to the result; resync
and backfill take their date the same way, with one message per mistake."""

import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from portal.models import Tenant
from syncs import progress, tasks
from syncs.models import Cursor, Integration, RunStatus, SyncRun
from tests.syncs.test_status_pages import make_integration


@pytest.fixture
def integration(tenant):
    return make_integration(tenant, "Infor → BILL")


def test_the_dry_run_button_queues_a_task_and_its_page_follows_it_to_the_result(
        client, ops, integration, monkeypatch, django_capture_on_commit_callbacks):
    ran = []
    monkeypatch.setattr("syncs.engine.run_integration", lambda *args, **kwargs: ran.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(reverse("admin:syncs_integration_do", args=[integration.pk, "dry_run"]))
    assert ran == [], "nothing is read inside the request"
    assert answer.status_code == 302 and answer["Location"].startswith(
        reverse("admin:syncs_integration_dry_run", args=[integration.pk]))
    task = OrmQ.objects.get().task
    assert (task["func"], task["args"]) == ("syncs.tasks.dry_run", (integration.pk, "dry_run", None, "olivia"))
    page = client.get(answer["Location"]).content.decode()
    assert "The dry run is queued" in page and 'http-equiv="refresh"' in page

    # The worker has started it; its heartbeat has written the counters so far.
    run = SyncRun.objects.create(integration=integration, trigger="dry_run", dry_run=True, status=RunStatus.RUNNING,
                                 counters={"vendors_would_create": 40, "bills_would_create": 75, "bills_failed": 2})
    page = client.get(answer["Location"]).content.decode()
    assert "117 records read so far" in page and 'http-equiv="refresh"' in page
    run.delete()

    monkeypatch.undo()
    tasks.dry_run(*task["args"])  # the task itself, as the worker runs it (the ERP here is not reachable)
    run = SyncRun.objects.get(trigger="dry_run")
    page = client.get(answer["Location"]).content.decode()
    assert run.status == RunStatus.FAILED and "Failed" in page and 'http-equiv="refresh"' not in page
    assert reverse("admin:syncs_syncrun_change", args=[run.pk]) in page, "See the plan"


def test_a_dry_run_of_several_integrations_links_each_one(client, ops, tenant, integration,
                                                         django_capture_on_commit_callbacks):
    other = Integration.objects.create(tenant=tenant, name="Second", source=integration.source,
                                       target=integration.target)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(reverse("admin:syncs_integration_changelist"),
                           {"action": "dry_run", "_selected_action": [integration.pk, other.pk]}, follow=True)
    assert OrmQ.objects.count() == 2 and not SyncRun.objects.exists()
    text = page.content.decode()
    for each in (integration, other):
        assert reverse("admin:syncs_integration_dry_run", args=[each.pk]) + "?after=" in text


def test_a_page_address_that_names_no_moment_shows_no_run(client, ops, integration):
    SyncRun.objects.create(integration=integration, trigger="dry_run", dry_run=True, status=RunStatus.SUCCEEDED)
    for query in ("", "?after=yesterday", "?after=99999999999999999999"):
        page = client.get(reverse("admin:syncs_integration_dry_run", args=[integration.pk]) + query)
        assert page.status_code == 200 and "No dry run was queued from this address" in page.content.decode()


def resync(client, integration, **data):
    return client.post(reverse("admin:syncs_integration_changelist"),
                       {"action": "resync_from_date", "_selected_action": [integration.pk], **data})


def backfill_preview(client, integration, **data):
    return client.post(reverse("admin:syncs_integration_backfill", args=[integration.pk]), {"preview": "1", **data})


def test_resync_takes_its_date_with_the_same_picker_as_backfill(client, ops, integration):
    form = resync(client, integration).content.decode()
    backfill = client.get(reverse("admin:syncs_integration_backfill", args=[integration.pk])).content.decode()
    for page in (form, backfill):
        assert re.search(r'<input type="date" name="since"', page), "a date picker, not a text box"


@pytest.mark.parametrize("typed, message", [
    ("31/01/2026", "Enter the date as YYYY-MM-DD, e.g. 2026-01-31."),
    ("", "Choose the date to re-read from."),
    ("2999-01-01", "Choose today or a date before it: a later date would skip changes."),
])
def test_resync_and_backfill_say_the_same_one_message_per_mistake(client, ops, integration, typed, message):
    for page in (resync(client, integration, apply="1", since=typed), backfill_preview(client, integration,
                                                                                      since=typed)):
        text = page.content.decode()
        assert page.status_code == 200 and text.count(message) == 1, text.count(message)
        assert text.count('class="errorlist') == 1, "one message, not the same mistake told twice"
    assert not Cursor.objects.exists() and not OrmQ.objects.exists(), "nothing moved, nothing queued"


def test_resync_moves_the_cursors_to_the_date_picked(client, ops, integration, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        resync(client, integration, apply="1", since=f"{timezone.now():%Y-%m-%d}")
    assert set(Cursor.objects.values_list("value", flat=True)) == {f"{timezone.now():%Y-%m-%d}T00:00:00+00:00"}
    assert OrmQ.objects.get().task["args"][:2] == (integration.pk, "resync")


def test_another_tenants_dry_run_page_answers_404(client, ops, integration):
    theirs = make_integration(Tenant.objects.create(name="Other Co", slug="other"), "Theirs")
    SyncRun.objects.create(integration=theirs, trigger="dry_run", dry_run=True, status=RunStatus.SUCCEEDED)
    after = int(timezone.now().timestamp()) - 60
    assert client.get(reverse("admin:syncs_integration_dry_run", args=[theirs.pk]), {"after": after}).status_code \
        == 404
    assert client.get(reverse("admin:syncs_integration_dry_run", args=[integration.pk]),
                      {"after": after}).status_code == 200


HALF_WAY = {"vendors_unchanged": 250, "bills_unchanged": 90, "bills_created": 4, "bills_failed": 6,
            "bills_still_failing": 6, "unchanged": 340, "documents_done": 4, "api_calls": 12}


def test_backfill_progress_counts_the_records_read_so_far_not_only_those_written(client, ops, integration):
    """Most of a second backfill is records already sent: read, found unchanged, nothing written for them."""
    after = int(timezone.now().timestamp())
    SyncRun.objects.create(integration=integration, trigger="backfill", status=RunStatus.RUNNING, counters=HALF_WAY)
    page = client.get(reverse("admin:syncs_integration_backfill", args=[integration.pk]),
                      {"since": "2026-01-01", "after": after, "expected": 700}).content.decode()
    assert "350 of about 700 records read" in page and '<progress max="100" value="50"' in page


def test_the_terminal_bar_counts_the_records_read_so_far(integration):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    bar = progress.Progress(Terminal(), integration, total=700)
    bar.since = timezone.now() - timedelta(seconds=1)
    SyncRun.objects.create(integration=integration, trigger="backfill", status=RunStatus.RUNNING, counters=HALF_WAY)
    assert bar.done() == 350
