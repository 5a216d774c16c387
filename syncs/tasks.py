"""django-q2 entry points. Kept plain so they can move to django.tasks later."""

from datetime import datetime

from django.db import transaction

from portal import jobs
from syncs import engine


def run_integration(integration_id, trigger="schedule", since=None):
    """The scheduled and queued task: one run of one integration."""
    run = engine.run_integration(integration_id, trigger=trigger,
                                 since=datetime.fromisoformat(since) if since else None)
    return {"run": run.pk, "status": run.status, "counters": run.counters}


def enqueue_run(integration, trigger, since=None):
    """Queue a run once the current transaction commits (a task queued inside it could run too early)."""
    since_iso = since.isoformat() if since else None
    transaction.on_commit(lambda: jobs.enqueue("run_integration", integration.pk, trigger, since_iso,
                                               task_name=f"{trigger} integration {integration.pk}",
                                               group=f"integration-{integration.pk}"))
