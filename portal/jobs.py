"""The only functions the task cluster may run, by short name.

A django-q2 task or schedule names its function by dotted path, and the cluster imports and calls
whatever path it is given. Anything that can write a Schedule or enqueue a task could therefore run
`os.system`. So work is enqueued here by short name only, and both the Schedule model and the
enqueue signal refuse any path that is not in TASKS, whoever or whatever asks. A schedule's kwargs are the task's
own arguments only: django-q takes some keyword arguments as options of the task (its hook, chain, sync...), and
those are refused too.
"""

import ast
import functools
import logging

from django.core.exceptions import ValidationError
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

logger = logging.getLogger(__name__)

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
# The keyword arguments django-q2's async_task takes for itself rather than passing to the function: its opt_keys,
# q_options and task_name (a test compares this with the installed django-q2).
QUEUE_OPTIONS = frozenset({"q_options", "task_name", "hook", "group", "save", "sync", "cached", "ack_failure",
                           "iter_count", "iter_cached", "chain", "broker", "cluster", "timeout"})


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


def scheduled_kwargs(text):
    """A schedule's kwargs read as django-q2's scheduler reads them (a dict literal, else `a=1, b=2`), or None when
    they cannot be read that way. Whatever does not read as keyword arguments here is refused, also where django-q
    would quietly run the task without them or fail the whole scheduler pass."""
    if not text:
        return {}
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError):
        pass  # django-q then tries the `a=1, b=2` form
    except Exception:  # TypeError, RecursionError...: these would fail django-q's whole pass
        return None
    try:
        return {kwarg.arg: ast.literal_eval(kwarg.value) for kwarg in ast.parse(f"f({text})").body[0].value.keywords}
    except Exception:  # also AttributeError, when the text is more than one call's arguments
        return None


def option_refused(key):
    return (f"{key!r} is an option of django-q (which would take it for itself: a hook, a chain, running in the "
            "scheduler...), not an argument of the task; schedules may not set it.")


def schedule_problems(schedule):
    """Why the schedule may not run, by field, in words: empty when it may."""
    problems = {}
    try:
        check_function(schedule.func or "")
    except TaskNotAllowed as exc:
        problems["func"] = exc.message
    if schedule.hook:
        problems["hook"] = "Schedules run without hooks."
    if schedule.args:
        try:
            ast.literal_eval(schedule.args)
        except Exception:  # any failure here would fail django-q's whole scheduler pass
            problems["args"] = "django-q cannot read these arguments: write Python values, e.g. 1, 'text'."
    kwargs = scheduled_kwargs(schedule.kwargs)
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        problems["kwargs"] = ("django-q cannot read these as keyword arguments: write a dict, e.g. "
                              "{'integration_id': 1}, or integration_id=1.")
    elif options := sorted(QUEUE_OPTIONS.intersection(kwargs)):
        problems["kwargs"] = " ".join(option_refused(key) for key in options)
    if schedule.intended_date_kwarg in QUEUE_OPTIONS:
        problems["intended_date_kwarg"] = option_refused(schedule.intended_date_kwarg)
    return problems


def refuse_foreign_schedule(sender, instance, **kwargs):
    """Schedule pre_save: a schedule may only run our tasks, with arguments of the task's own, and no hook."""
    if problems := schedule_problems(instance):
        raise TaskNotAllowed(" ".join(problems.values()))


def set_aside_refused_schedules():
    """Give each due schedule we refuse repeats 0, which django-q's scheduler skips, and say why in the log: the row
    stays in the admin for a superuser to fix (or the integration's next save rewrites it). A row written before
    these checks, or straight to the database, would otherwise be refused inside django-q's pass, and the refusal
    fails the whole pass (one transaction) every time: no schedule would run."""
    for schedule in Schedule.objects.exclude(repeats=0).filter(next_run__lt=timezone.now()):
        if problems := schedule_problems(schedule):
            Schedule.objects.filter(pk=schedule.pk).update(repeats=0)
            logger.error("Schedule %r (id %s) was not run and is set aside (repeats 0) until fixed: %s",
                         schedule.name, schedule.pk, " ".join(problems.values()))


def setting_aside_refused_schedules(scheduler):
    """django-q2's scheduler pass, preceded by set_aside_refused_schedules: django-q has no hook of its own there."""

    @functools.wraps(scheduler)
    def scheduler_pass(*args, **kwargs):
        set_aside_refused_schedules()
        return scheduler(*args, **kwargs)

    return scheduler_pass
