"""django-q2 entry points. Kept plain so they can move to django.tasks later."""

from datetime import datetime

from django.db import transaction

from portal import jobs
from syncs import engine
from syncs.run import ACTOR


def run_integration(integration_id, trigger="schedule", since=None):
    """The scheduled and queued task: one run of one integration."""
    run = engine.run_integration(integration_id, trigger=trigger,
                                 since=datetime.fromisoformat(since) if since else None)
    return {"run": run.pk, "status": run.status, "counters": run.counters}


def dry_run(integration_id, trigger="dry_run", since=None, actor=ACTOR):
    """A person's dry run (trigger "dry_run") or backfill preview ("preview", from `since`): writes nothing remote."""
    run = engine.run_integration(integration_id, trigger=trigger, dry_run=True,
                                 since=datetime.fromisoformat(since) if since else None, actor=actor)
    return {"run": run.pk, "status": run.status, "counters": run.counters}


def enqueue_run(integration, trigger, since=None):
    """Queue a run once the current transaction commits (a task queued inside it could run too early)."""
    since_iso = since.isoformat() if since else None
    transaction.on_commit(lambda: jobs.enqueue("run_integration", integration.pk, trigger, since_iso,
                                               task_name=f"{trigger} integration {integration.pk}",
                                               group=f"integration-{integration.pk}"))


def enqueue_dry_run(integration, trigger, actor, since=None):
    """Queue a dry run (or a backfill preview) once the current transaction commits."""
    since_iso = since.isoformat() if since else None
    transaction.on_commit(lambda: jobs.enqueue("dry_run", integration.pk, trigger, since_iso, actor,
                                               task_name=f"{trigger} integration {integration.pk}",
                                               group=f"integration-{integration.pk}"))
