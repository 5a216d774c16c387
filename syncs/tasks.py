"""django-q2 entry points. Kept plain so they can move to django.tasks later."""

from datetime import datetime

from syncs import engine, requests
from syncs.run import ACTOR


def run_integration(integration_id, trigger="schedule", since=None, request_id=None):
    """The scheduled and queued task: one run of one integration; a person's request (syncs.requests) runs once."""
    return requests.carry_out(request_id, engine.run_integration, integration_id, trigger=trigger,
                              since=datetime.fromisoformat(since) if since else None)


def dry_run(integration_id, trigger="dry_run", since=None, actor=ACTOR, request_id=None):
    """A person's dry run (trigger "dry_run") or backfill preview ("preview", from `since`): writes nothing remote."""
    return requests.carry_out(request_id, engine.run_integration, integration_id, trigger=trigger, dry_run=True,
                              since=datetime.fromisoformat(since) if since else None, actor=actor)


def enqueue_run(integration, trigger, since=None, actor=ACTOR):
    """Record a person's request for a run and queue it once the current transaction commits (syncs.requests)."""
    return requests.ask(integration, trigger, actor, since=since)


def enqueue_dry_run(integration, trigger, actor, since=None):
    """Record a person's request for a dry run (or a backfill preview) and queue it once the transaction commits."""
    return requests.ask(integration, trigger, actor, since=since, dry_run=True)
