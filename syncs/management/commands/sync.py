from django.core.management.base import BaseCommand, CommandError

from syncs.engine import run_integration
from syncs.models import Integration, SyncRun


class Command(BaseCommand):
    help = "Run one integration now, in this process, and print its counters. Exits non-zero when the run fails."

    def add_arguments(self, parser):
        parser.add_argument("integration", help="The integration's id or name")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be sent; write nothing remote")

    def handle(self, *args, integration, dry_run, **options):
        lookup = {"pk": int(integration)} if integration.isdigit() else {"name": integration}
        matches = list(Integration.objects.filter(**lookup))
        if not matches:
            raise CommandError(f"No integration with {'id' if integration.isdigit() else 'name'} {integration!r}.")
        if len(matches) > 1:
            raise CommandError(f"{len(matches)} integrations are named {integration!r} (in different tenants); "
                               "use the id: " + ", ".join(str(i.pk) for i in matches))
        run = run_integration(matches[0].pk, trigger="command", dry_run=dry_run, actor="system:command")
        self.stdout.write(f"Run {run.pk} of {matches[0]}: {run.get_status_display()}")
        for key, value in sorted(run.counters.items()):
            self.stdout.write(f"  {key}: {value}")
        if dry_run:
            shown = {}
            for step in run.plan:
                shown[step["action"]] = shown.get(step["action"], 0) + 1
                if shown[step["action"]] <= 10:
                    self.stdout.write(f"  would {step['action']}: {step['source']}"
                                      + (f" — {step['reason']}" if step.get("reason") else ""))
            for action, count in shown.items():
                if count > 10:
                    self.stdout.write(f"  … and {count - 10} more to {action}")
        if run.error:
            self.stdout.write(f"  error: {run.error}")
        if run.status in (SyncRun.FAILED, SyncRun.SKIPPED):
            raise CommandError(f"Run {run.pk} {run.get_status_display().lower()}: {run.error}")
