"""A schedule's kwargs are the task's arguments, never django-q's options; a refused schedule stops no other."""

import logging
from datetime import timedelta

import django_q.cluster
import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.tasks import async_task

from portal import jobs

OURS = "syncs.tasks.run_integration"
SMUGGLED = [
    ("kwargs", "{'q_options': {'hook': 'os.system'}}", "q_options"),
    ("kwargs", "{'integration_id': 1, 'q_options': {'chain': [('os.system', ('id',))]}}", "q_options"),
    ("kwargs", "{'integration_id': 1, 'chain': [('os.system', ('id',))]}", "chain"),
    ("kwargs", "integration_id=1, hook='os.system'", "hook"),
    ("kwargs", "{'sync': True}", "sync"),
    ("kwargs", "{'task_name': 'x', 'cached': True}", "cached"),
    ("intended_date_kwarg", "sync", "sync"),
]


def form(**fields):
    return {"name": "s", "func": OURS, "args": "", "schedule_type": "O", "repeats": "-1", "next_run_0": "2026-01-01",
            "next_run_1": "00:00:00", "minutes": "", "cron": "", "cluster": "", "hook": "", "kwargs": "",
            "intended_date_kwarg": "", **fields}


def test_every_option_async_task_takes_from_kwargs_is_refused():
    # async_task's opt_keys tuple: an option added by a django-q2 upgrade must be refused too.
    opt_keys = next(c for c in async_task.__code__.co_consts if isinstance(c, tuple) and "hook" in c)
    assert {*opt_keys, "q_options", "task_name"} <= jobs.QUEUE_OPTIONS


@pytest.mark.parametrize(("field", "value", "key"), SMUGGLED)
def test_the_schedule_admin_refuses_options_in_the_arguments(admin_client, field, value, key):
    response = admin_client.post(reverse("admin:django_q_schedule_add"), form(**{field: value}))
    assert response.status_code == 200
    assert f"&#x27;{key}&#x27; is an option of django-q" in response.content.decode()
    assert not Schedule.objects.filter(name="s").exists()


@pytest.mark.parametrize(("field", "value", "key"), SMUGGLED)
def test_no_schedule_is_saved_with_options_in_its_arguments(db, field, value, key):
    with pytest.raises(jobs.TaskNotAllowed, match=f"'{key}' is an option of django-q"):
        Schedule.objects.create(name="s", func=OURS, **{field: value})
    assert not Schedule.objects.filter(name="s").exists()


@pytest.mark.parametrize(("field", "value"), [("kwargs", "{1: 2}"), ("kwargs", "[1]"), ("kwargs", ") or (1"),
                                              ("args", "os.system")])
def test_arguments_django_q_cannot_read_as_ours_are_refused(admin_client, field, value):
    response = admin_client.post(reverse("admin:django_q_schedule_add"), form(**{field: value}))
    assert response.status_code == 200
    assert "django-q cannot read" in response.content.decode()
    assert not Schedule.objects.filter(name="s").exists()


def test_the_task_s_own_arguments_still_save(admin_client):
    response = admin_client.post(reverse("admin:django_q_schedule_add"),
                                 form(kwargs="{'integration_id': 1, 'trigger': 'schedule'}", args="1, 'a'"))
    assert response.status_code == 302
    assert Schedule.objects.get(name="s").kwargs == "{'integration_id': 1, 'trigger': 'schedule'}"


# Committed: django-q's pass closes a connection it finds outside autocommit, as a test's transaction would be.
@pytest.mark.django_db(transaction=True)
def test_a_refused_schedule_is_set_aside_and_the_others_still_run(caplog):
    Schedule.objects.all().delete()  # the migrations' own schedules: only the three below fall due
    due = timezone.now() - timedelta(minutes=1)
    # Written straight to the database (bulk_create sends no pre_save), as a row from before the check would be.
    bad, foreign = Schedule.objects.bulk_create([
        Schedule(name="smuggled", func=OURS, kwargs="{'q_options': {'hook': 'os.system'}}", next_run=due,
                 schedule_type=Schedule.MINUTES, minutes=5, repeats=-1),
        Schedule(name="foreign", func="os.system", args="'id'", next_run=due, schedule_type=Schedule.MINUTES,
                 minutes=5, repeats=-1),
    ])
    good = Schedule.objects.create(name="integration-1", func=OURS, next_run=due, schedule_type=Schedule.MINUTES,
                                   minutes=5, repeats=-1, kwargs="{'integration_id': 1, 'trigger': 'schedule'}")
    broker = get_broker()

    with caplog.at_level(logging.ERROR, logger="portal.jobs"):
        django_q.cluster.scheduler(broker=broker)

    good.refresh_from_db()
    assert good.task and good.next_run > timezone.now()
    assert broker.queue_size() == 1
    for schedule in (bad, foreign):
        schedule.refresh_from_db()
        assert schedule.repeats == 0 and not schedule.task
    logged = caplog.text
    assert "Schedule 'smuggled'" in logged and "'q_options' is an option of django-q" in logged
    assert "Schedule 'foreign'" in logged and "'os.system' is not one of ml-connector's tasks" in logged
