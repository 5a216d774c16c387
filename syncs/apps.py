from django.apps import AppConfig


class SyncsConfig(AppConfig):
    name = "syncs"
    verbose_name = "Integrations and syncs"

    def ready(self):
        from django.db.models.signals import post_delete, post_save
        from django_q.signals import post_spawn

        from syncs.models import Integration
        from syncs.run import Reaper
        from syncs.schedules import remove_schedule, sync_schedule

        post_spawn.connect(Reaper.start, dispatch_uid="syncs-run-reaper")

        post_save.connect(lambda instance, **kw: sync_schedule(instance), sender=Integration, weak=False,
                          dispatch_uid="integration-schedule")
        post_delete.connect(lambda instance, **kw: remove_schedule(instance), sender=Integration, weak=False,
                            dispatch_uid="integration-unschedule")
