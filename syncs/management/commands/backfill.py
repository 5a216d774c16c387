from datetime import date

from django.core.management.base import BaseCommand, CommandError

from portal import audit
from portal.audit import command_actor
from syncs.backfill import backfill_preview, cut_over
from syncs.engine import run_integration
from syncs.management.commands.sync import EXIT_CODES, find_integration
from syncs.models import RunStatus
from syncs.progress import Progress
from syncs.run import describe_counters


def cut_over_of(text):
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date; write it as YYYY-MM-DD.") from None
    try:
        return cut_over(day)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = ("Send everything changed in the ERP since a cut-over date. First a dry run says how many records would "
            "be sent and how many already exist; then (unless --preview) the run itself, in this process, with a "
            "progress bar on a terminal. The ledger keeps anything from being sent twice. Exit codes as `sync`.")

    def add_arguments(self, parser):
        parser.add_argument("integration", help="The integration's id, or its name (any case)")
        parser.add_argument("--since", required=True, help="The cut-over date, YYYY-MM-DD (UTC)")
        parser.add_argument("--preview", action="store_true", help="Only the dry run: say what would happen")

    def handle(self, *args, integration, since, preview, **options):
        target = find_integration(integration)
        since = cut_over_of(since)
        actor = command_actor()
        dry = run_integration(target.pk, trigger="dry_run", dry_run=True, since=since, actor=actor)
        seen = backfill_preview(dry)
        if dry.status == RunStatus.FAILED:
            raise CommandError(f"The preview could not run: {seen['error']}", returncode=1)
        self.stdout.write(f"From {since:%Y-%m-%d}, {target} would send {seen['send']} record(s); {seen['exist']} "
                          f"already sent (not sent again); {seen['fail']} would fail.")
        if preview:
            return
        audit.record("sync.backfill", actor=actor, tenant=target.tenant, obj=target,
                     message=f"Backfill from {since:%Y-%m-%d} started from the command line")
        with Progress(self.stdout, target, total=seen["read"] or None):
            run = run_integration(target.pk, trigger="backfill", since=since, actor=actor)
        self.stdout.write(f"Run {run.pk}: {run.get_status_display()}: {describe_counters(run.counters)}")
        if run.status in EXIT_CODES:
            raise CommandError(f"Run {run.pk} {run.get_status_display().lower()}: "
                               f"{run.error or 'see the failed records in the work queue.'}",
                               returncode=EXIT_CODES[run.status])
