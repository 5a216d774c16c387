"""The only functions the task cluster may run, by short name.

A django-q2 task or schedule names its function by dotted path, and the cluster imports and calls
whatever path it is given. Anything that can write a Schedule or enqueue a task could therefore run
`os.system`. So work is enqueued here by short name only, and both the Schedule model and the
enqueue signal refuse any path that is not in TASKS, whoever or whatever asks.
"""

from django.core.exceptions import ValidationError
from django_q.tasks import async_task

TASKS = {
    "run_integration": "syncs.tasks.run_integration",
    # A person's dry run or backfill preview: the admin queues it and its page follows it (it can take a while).
    "dry_run": "syncs.tasks.dry_run",
    "process_webhook_event": "webhooks.tasks.process_event",
    # A person's "Check assumptions" on a connection: read-only probes of the live system, followed on its page.
    "check_assumptions": "connectors.tasks.check_assumptions",
    "check_webhook_subscriptions": "webhooks.tasks.check_subscriptions",
    # Runs people asked for that the broker lost, queued again (syncs.requests); connection health; and the ops
    # alerts (failed runs, refused credentials, stale integrations, webhook subscriptions): every 5 minutes.
    "operations_check": "portal.ops.periodic_checks",
}
ALLOWED_FUNCTIONS = frozenset(TASKS.values())


class TaskNotAllowed(ValidationError):
    pass


def func_for(name):
    try:
        return TASKS[name]
    except KeyError:
        raise TaskNotAllowed(f"There is no task named {name!r}; the tasks are: {', '.join(sorted(TASKS))}.") from None


def check_function(func):
    """Refuse a function that is not one of ours, whether given as a path or as a callable."""
    path = func if isinstance(func, str) else f"{getattr(func, '__module__', '')}.{getattr(func, '__name__', '')}"
    if path not in ALLOWED_FUNCTIONS:
        raise TaskNotAllowed(f"{path!r} is not one of ml-connector's tasks ({', '.join(sorted(ALLOWED_FUNCTIONS))}); "
                             "the task cluster runs nothing else.")
    return path


def enqueue(name, *args, **options):
    """Queue one of our tasks by its short name."""
    return async_task(func_for(name), *args, **options)


def refuse_foreign_task(sender, task, **kwargs):
    """django-q2's pre_enqueue signal: the last gate before a task reaches the broker."""
    check_function(task["func"])
    if task.get("hook"):
        check_function(task["hook"])


def refuse_foreign_schedule(sender, instance, **kwargs):
    """Schedule pre_save: a schedule may only run our tasks, and never with a hook of its own."""
    check_function(instance.func)
    if instance.hook:
        raise TaskNotAllowed("Schedules run without hooks.")
