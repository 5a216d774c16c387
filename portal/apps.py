from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        import django_q.cluster
        from django.db.models.signals import post_migrate, pre_save
        from django_q.models import Schedule
        from django_q.signals import pre_enqueue

        from portal import jobs, roles

        pre_enqueue.connect(jobs.refuse_foreign_task, dispatch_uid="portal-task-allow-list")
        pre_save.connect(jobs.refuse_foreign_schedule, sender=Schedule, dispatch_uid="portal-schedule-allow-list")
        # The cluster's sentinel calls this name each pass; django-q2 offers no signal before its loop.
        django_q.cluster.scheduler = jobs.setting_aside_refused_schedules(django_q.cluster.scheduler)
        # post_migrate is sent once per app with models, in INSTALLED_APPS order, each app's permissions
        # created just before: by the last such app's signal every permission the group needs exists. An app
        # without models (the sandbox) is never sent it.
        last_app = [app for app in self.apps.get_app_configs() if app.models_module][-1]
        post_migrate.connect(roles.sync_ops_group, sender=last_app, dispatch_uid="portal-ops-group")
