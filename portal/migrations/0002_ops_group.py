from django.contrib.auth.management import create_permissions
from django.db import migrations

from portal.jobs import ALLOWED_FUNCTIONS
from portal.roles import ensure_ops_group


def create_ops_group(apps, schema_editor):
    # Permissions are normally created after all migrations; the group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    ensure_ops_group(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def drop_foreign_schedules(apps, schema_editor):
    # Schedules written before the allow-list could run anything; none of ours is lost here.
    apps.get_model("django_q", "Schedule").objects.exclude(func__in=ALLOWED_FUNCTIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("connectors", "0002_rate_window"),
        ("syncs", "0002_one_running_run"),
        ("webhooks", "0002_subscription_check_schedule"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(create_ops_group, migrations.RunPython.noop),
        migrations.RunPython(drop_foreign_schedules, migrations.RunPython.noop),
    ]
