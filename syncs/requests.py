"""The runs people ask for, kept so that the broker cannot lose one.

Sync now, a dry run, a backfill and its preview, a replay, a resync and the work queue's "Try again" each queue a task
on django-q2's broker: Redis in production, which forgets what it held when it restarts, or the database on the
embedded default. So each request is first a `RunRequest` row, written in the transaction of the audit entry that
says who asked, and its task is queued once that commits. The task claims its request before it runs (requested →
started, one UPDATE … WHERE state = requested), so a request runs once however many times it was queued, and never
after it was given up. The operations task (portal.ops.periodic_checks) queues again each request no worker started
(`requeue_lost()`), up to ATTEMPTS times, then gives it up with the reason in words, shown on the integration's page.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from portal import audit, jobs
from syncs.models import RequestState, RunRequest
from syncs.run import ACTOR

logger = logging.getLogger("syncs.requests")

# UNCONFIRMED (C4): a task no worker started within five minutes of being queued was lost with the broker, and three
# hand-overs (ten to twenty minutes with the five-minute operations task) are enough for a cluster that is up.
REQUEUE_AFTER = timedelta(minutes=5)
ATTEMPTS = 3
# How long a request given up stays on the integration's page.
SHOWN_FAILED_FOR = timedelta(days=1)
SHOWN = 10
CHECKED_AT_ONCE = 500


def ask(integration, trigger, actor=ACTOR, since=None, dry_run=False):
    """Record a person's request for a run of `integration` and queue its task once the current transaction commits
    (a task queued inside it could start before the row exists, or for a request rolled back). Returns the request."""
    request = RunRequest.objects.create(integration=integration, trigger=trigger, dry_run=dry_run, since=since,
                                        asked_by=audit.actor_name(actor)[:150], queued_at=timezone.now())
    transaction.on_commit(lambda: hand_over(request))
    return request


def hand_over(request):
    """Queue the request's task. A broker that refuses (Redis down) leaves the request to requeue_lost(), and the
    person who asked sees it waiting on the integration's page instead of an error."""
    since = request.since.isoformat() if request.since else None
    pk = request.integration_id
    options = {"request_id": request.pk, "task_name": f"{request.trigger} integration {pk}",
               "group": f"integration-{pk}"}
    try:
        if request.dry_run:
            jobs.enqueue("dry_run", pk, request.trigger, since, request.asked_by, **options)
        else:
            jobs.enqueue("run_integration", pk, request.trigger, since, **options)
    except jobs.TaskNotAllowed:  # a mistake in our code, not the broker's: say so at once
        raise
    except Exception as exc:  # any broker failure: the row is the request, and requeue_lost() hands it over again
        logger.warning("Run request %s could not be queued (%s); the operations task queues it again.", request.pk,
                       type(exc).__name__)


def carry_out(request_id, start, *args, **kwargs):
    """The task's run, `start(*args, **kwargs)` (engine.run_integration), answered as the task's result. With a
    request, only when this task is the first to take it: a request queued again may meet its first task late."""
    if request_id is None:  # a scheduled run, or a task queued before requests were kept
        run = start(*args, **kwargs)
    else:
        taken = RunRequest.objects.filter(pk=request_id, state=RequestState.REQUESTED).update(
            state=RequestState.STARTED, started_at=timezone.now())
        if not taken:
            state = RunRequest.objects.filter(pk=request_id).values_list("state", flat=True).first()
            logger.info("Run request %s not run again: it is %s.", request_id, state or "gone")
            return {"run": None, "status": "not run", "request": request_id, "request_state": state}
        run = start(*args, began=lambda run: RunRequest.objects.filter(pk=request_id).update(run=run.pk or None),
                    **kwargs)
        RunRequest.objects.filter(pk=request_id).update(state=RequestState.DONE)
    return {"run": run.pk, "status": run.status, "counters": run.counters}


def requeue_lost():
    """Queue again each request that no worker started within REQUEUE_AFTER of its last hand-over; give up one handed
    over ATTEMPTS times, with the reason in words. Each change is a compare-and-set on the request's state and
    attempts, so two checks at once, or a check racing the late task, act once. Returns (queued again, given up)."""
    now = timezone.now()
    due = list(RunRequest.objects.filter(state=RequestState.REQUESTED, queued_at__lte=now - REQUEUE_AFTER)
               .order_by("queued_at")[:CHECKED_AT_ONCE])
    requeued = given_up = 0
    for request in due:
        unchanged = RunRequest.objects.filter(pk=request.pk, state=RequestState.REQUESTED, attempts=request.attempts)
        if request.attempts >= ATTEMPTS:
            waited = max(1, round((now - request.asked_at).total_seconds() / 60))
            given_up += unchanged.update(state=RequestState.FAILED, problem=(
                f"No worker started it: queued {request.attempts} times over {waited} minutes (the task queue was "
                "lost or no task cluster is running; /healthz says which). Ask again once a task cluster is running."))
        elif unchanged.update(attempts=request.attempts + 1, queued_at=now):
            logger.warning("Run request %s (%s of integration %s) was not started %s after it was queued; queuing it "
                           "again.", request.pk, request.trigger, request.integration_id, REQUEUE_AFTER)
            hand_over(request)
            requeued += 1
    return requeued, given_up


def shown(integration):
    """What the integration's page says of the runs people asked for that did not start: each waiting one, and
    each given up in the last day, newest first."""
    recent = timezone.now() - SHOWN_FAILED_FOR
    requests = (RunRequest.objects.filter(integration=integration)
                .filter(Q(state=RequestState.REQUESTED) | Q(state=RequestState.FAILED, asked_at__gte=recent))
                .order_by("-asked_at")[:SHOWN])
    return [said(request) for request in requests]


def said(request):
    """"Sync now asked by olivia at 2026-12-07 10:02 UTC, waiting for a worker." in words."""
    what = request.get_trigger_display()
    if request.since:
        what += f" from {request.since:%Y-%m-%d}"
    asked = f"{what} asked by {request.asked_by} at {request.asked_at:%Y-%m-%d %H:%M} UTC"
    if request.state == RequestState.FAILED:
        return f"{asked} never started. {request.problem}"
    again = f" (queued again {request.attempts - 1} time(s))" if request.attempts > 1 else ""
    return f"{asked}, waiting for a worker{again}."
