import django.core.validators
from django.db import migrations, models

RULE = "The interval is in minutes, from 1 to 10,080 (a week)."
LONGEST = 10080


def within_a_week(apps, schema_editor):
    """An interval saved before the rule, outside it, is brought within it, and its schedule with it: the task
    cluster stops every schedule's pass on one it cannot turn into a time."""
    Integration = apps.get_model("syncs", "Integration")
    Schedule = apps.get_model("django_q", "Schedule")
    for integration in Integration.objects.exclude(interval_minutes__range=(1, LONGEST)):
        integration.interval_minutes = min(max(integration.interval_minutes, 1), LONGEST)
        integration.save(update_fields=["interval_minutes"])
        Schedule.objects.filter(name=f"integration-{integration.pk}").update(minutes=integration.interval_minutes)


class Migration(migrations.Migration):

    dependencies = [
        ("syncs", "0013_run_requests"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AlterField(
            model_name="integration",
            name="interval_minutes",
            field=models.PositiveIntegerField(default=15, validators=[
                django.core.validators.MinValueValidator(1, RULE), django.core.validators.MaxValueValidator(LONGEST, RULE)]),
        ),
        migrations.RunPython(within_a_week, migrations.RunPython.noop),
    ]
