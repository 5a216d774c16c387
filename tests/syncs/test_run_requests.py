"""A run a person asked for survives the broker losing its task: the request is a row, the operations task queues it
again, it runs once however many times it was queued, and one no worker ever took is given up in words on the
integration's page."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db.models import F
from django.urls import reverse
from django_q.models import OrmQ

from portal.models import AuditEntry
from portal.ops import periodic_checks
from syncs import operations, requests, tasks
from syncs.models import RecordStatus, RequestState, RunRequest, RunStatus, SyncRecord, SyncRun, Trigger


@pytest.fixture
def quiet_checks(monkeypatch):
    """The operations task without its connection checks (they would call the remote systems)."""
    monkeypatch.setattr("connectors.health.check_due", lambda: [])


def sync_now(client, integration, capture):
    with capture(execute=True):
        answer = client.post(reverse("admin:syncs_integration_do", args=[integration.pk, "sync_now"]))
    assert answer.status_code == 302
    return RunRequest.objects.get()


@contextmanager
def broker_lost(monkeypatch, lost=None):
    """The broker takes each task and forgets it (Redis restarted before a worker took it)."""
    lost = [] if lost is None else lost
    with monkeypatch.context() as patch:
        patch.setattr("portal.jobs.enqueue", lambda name, *args, **options: lost.append(name))
        yield lost


def time_passes():
    """Every request was last queued longer ago than the operations task waits for a worker."""
    RunRequest.objects.update(queued_at=F("queued_at") - requests.REQUEUE_AFTER - timedelta(seconds=1),
                              asked_at=F("asked_at") - requests.REQUEUE_AFTER - timedelta(seconds=1))


def work(task):
    """What a worker does with a queued task."""
    function = {"syncs.tasks.run_integration": tasks.run_integration, "syncs.tasks.dry_run": tasks.dry_run}
    return function[task["func"]](*task["args"], **task["kwargs"])


def queued():
    return [row.task for row in OrmQ.objects.order_by("pk")]


def test_a_sync_now_whose_task_was_lost_is_queued_again_by_the_operations_task_and_runs_once(
        client, ops, integration, monkeypatch, quiet_checks, django_capture_on_commit_callbacks):
    with broker_lost(monkeypatch) as lost:
        request = sync_now(client, integration, django_capture_on_commit_callbacks)
    assert lost == ["run_integration"] and not queued()
    assert (request.state, request.trigger, request.asked_by) == (RequestState.REQUESTED, Trigger.MANUAL, "olivia")
    assert AuditEntry.objects.filter(action="sync.queued", object_id=str(integration.pk)).exists()

    assert periodic_checks()["requests_queued_again"] == 0, "not yet: a worker may still take it"
    time_passes()
    assert periodic_checks()["requests_queued_again"] == 1
    assert periodic_checks()["requests_queued_again"] == 0, "queued again once, not at every check"
    [task] = queued()
    assert task["kwargs"]["request_id"] == request.pk

    work(task)  # the ERP here is not reachable: the run fails, but it ran
    request.refresh_from_db()
    run = SyncRun.objects.get()
    assert (request.state, request.run, run.trigger) == (RequestState.DONE, run, Trigger.MANUAL)
    assert work(task)["status"] == "not run" and SyncRun.objects.count() == 1, "the same task again runs nothing"


def test_a_request_that_started_is_never_queued_again(integration, quiet_checks, monkeypatch):
    started = requests.ask(integration, Trigger.MANUAL, "olivia")
    requests.hand_over(started)
    [task] = queued()
    # The worker took it and died mid-run: the run's lease lapses and the schedule runs the integration again.
    with monkeypatch.context() as patch, pytest.raises(SystemExit):
        patch.setattr("syncs.engine.run_integration", lambda *args, **kwargs: (_ for _ in ()).throw(SystemExit))
        work(task)
    time_passes()
    assert periodic_checks()["requests_queued_again"] == 0 and len(queued()) == 1
    assert RunRequest.objects.get().state == RequestState.STARTED


def test_the_original_task_arriving_after_the_requeued_one_ran_does_not_run_again(integration, quiet_checks):
    request = requests.ask(integration, Trigger.DRY_RUN, "olivia", dry_run=True)
    requests.hand_over(request)  # the original, held up behind a long queue
    time_passes()
    assert requests.requeue_lost() == (1, 0)
    original, again = queued()
    assert original["kwargs"] == again["kwargs"] and original["args"] == again["args"]

    work(again)
    assert SyncRun.objects.filter(trigger=Trigger.DRY_RUN).count() == 1
    assert work(original) == {"run": None, "status": "not run", "request": request.pk,
                              "request_state": RequestState.DONE}
    assert SyncRun.objects.count() == 1, "one request, one run"


def test_a_request_no_worker_takes_is_given_up_in_words_and_its_late_task_runs_nothing(
        client, ops, integration, monkeypatch, quiet_checks, django_capture_on_commit_callbacks):
    with broker_lost(monkeypatch):
        request = sync_now(client, integration, django_capture_on_commit_callbacks)
        for _ in range(requests.ATTEMPTS - 1):
            time_passes()
            assert requests.requeue_lost() == (1, 0)
        time_passes()
        assert periodic_checks()["requests_given_up"] == 1
    request.refresh_from_db()
    assert request.state == RequestState.FAILED and request.attempts == requests.ATTEMPTS
    assert request.problem.startswith(f"No worker started it: queued {requests.ATTEMPTS} times over ")
    assert requests.requeue_lost() == (0, 0)

    page = client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert "Sync now asked by olivia at" in page and "never started. No worker started it" in page
    assert tasks.run_integration(integration.pk, Trigger.MANUAL, request_id=request.pk)["status"] == "not run"
    assert not SyncRun.objects.exists(), "a request given up is not run behind the back of the person told so"


def test_the_integration_page_shows_a_request_waiting_for_a_worker(client, ops, integration, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    page = client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert "None waiting: every run asked for has started." in page
    with broker_lost(monkeypatch):
        request = sync_now(client, integration, django_capture_on_commit_callbacks)
    page = client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert f"Sync now asked by olivia at {request.asked_at:%Y-%m-%d %H:%M} UTC, waiting for a worker." in page
    RunRequest.objects.update(state=RequestState.STARTED)
    page = client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert "waiting for a worker" not in page


def test_a_broker_that_refuses_leaves_the_request_waiting_instead_of_an_error(
        client, ops, integration, monkeypatch, django_capture_on_commit_callbacks):
    def down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr("portal.jobs.enqueue", down)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(reverse("admin:syncs_integration_do", args=[integration.pk, "sync_now"]), follow=True)
    assert answer.status_code == 200 and "Queued 1 run(s)" in answer.content.decode()
    assert RunRequest.objects.get().state == RequestState.REQUESTED


def test_every_way_a_person_asks_for_a_run_is_recorded_with_who_asked(integration, django_capture_on_commit_callbacks):
    SyncRecord.objects.create(integration=integration, object_type="bill", source_id="AAA/1", source_ref="INV-1",
                              status=RecordStatus.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        operations.replay_failed(integration, "rita")
        operations.resync_from(integration, integration.created_at - timedelta(days=3), "sam")
        tasks.enqueue_dry_run(integration, Trigger.PREVIEW, "pia", integration.created_at)
    asked = {(r.trigger, r.asked_by, r.dry_run) for r in RunRequest.objects.all()}
    assert asked == {(Trigger.REPLAY, "rita", False), (Trigger.RESYNC, "sam", False), (Trigger.PREVIEW, "pia", True)}
    assert [task["kwargs"]["request_id"] for task in queued()] == list(
        RunRequest.objects.order_by("pk").values_list("pk", flat=True))
    assert not SyncRun.objects.filter(status=RunStatus.RUNNING).exists()
