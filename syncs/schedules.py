"""Each enabled integration owns a django-q2 schedule at its own interval."""

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

from portal import jobs


def schedule_name(integration):
    return f"integration-{integration.pk}"


def sync_schedule(integration):
    """Create, update or remove the integration's schedule. Paused integrations keep theirs (runs skip)."""
    name = schedule_name(integration)
    if not integration.enabled:
        Schedule.objects.filter(name=name).delete()
        return None
    schedule = Schedule.objects.filter(name=name).first()
    # Spread over the interval by the integration's id: integrations made together would otherwise fall due in the
    # same second every time, a burst of tasks that one broker restart loses together. The first run still comes
    # within the first interval (the demo's bills within a minute).
    spread = integration.pk * 7919 % max(integration.interval_minutes * 60 - 15, 1)
    first = timezone.now() + timedelta(seconds=5 + spread)
    moved = schedule is None or schedule.minutes != integration.interval_minutes
    if schedule is None:
        schedule = Schedule(name=name, next_run=first)
    elif moved:
        schedule.next_run = first
    schedule.func = jobs.func_for("run_integration")
    schedule.kwargs = repr({"integration_id": integration.pk, "trigger": "schedule"})
    schedule.schedule_type = Schedule.MINUTES
    schedule.minutes = integration.interval_minutes
    schedule.repeats = -1
    schedule.save()
    if moved:  # the pages say when the next run is: the schedule's, not the one the old interval gave
        type(integration).objects.filter(pk=integration.pk).update(next_run_at=schedule.next_run)
        integration.next_run_at = schedule.next_run
    return schedule


def remove_schedule(integration):
    Schedule.objects.filter(name=schedule_name(integration)).delete()
