import re

from django.core.management.base import BaseCommand, CommandError

from portal.audit import command_actor
from syncs.engine import run_integration
from syncs.models import Integration, RunStatus
from syncs.progress import Progress

# Exit codes a scheduler or script can tell apart; 0 only when every record went through. 1 is also any
# other command error (an unknown integration), 2 is argparse's for a mistyped command line.
EXIT_CODES = {RunStatus.FAILED: 1, RunStatus.PARTIAL: 3, RunStatus.SKIPPED: 4, RunStatus.DEFERRED: 5}


# An arrow in a name: "→" as stored, or "->" as typed at a shell; with any spaces around it.
ARROW = re.compile(r"\s*(?:->|→)\s*")


def name_key(name):
    """What two spellings of an integration's name share when they mean the same one: any case, "->" for "→",
    runs of spaces as one."""
    return " ".join(ARROW.sub(" → ", name).split()).casefold()


def find_integration(text):
    """By id, or by name (name_key); an unknown or ambiguous name lists the candidates. The one way the commands
    (sync, backfill, tieout) find an integration."""
    text = text.strip()
    if text.isdigit():
        match = Integration.objects.filter(pk=int(text)).select_related("tenant").first()
        if match is None:
            raise CommandError(f"No integration has id {text}. {candidates()}")
        return match
    # Compared here rather than in the database: SQLite folds the case of ASCII letters only.
    key = name_key(text)
    matches = [i for i in Integration.objects.select_related("tenant") if name_key(i.name) == key]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CommandError(f"No integration is named {text!r}. {candidates()}")
    listed = "; ".join(f"id {i.pk} ({i.tenant})" for i in matches)
    raise CommandError(f"{len(matches)} integrations are named {text!r}: {listed}. Give the id instead.")


def candidates():
    rows = [f"{i.pk}: {i.name} ({i.tenant})" for i in Integration.objects.select_related("tenant")[:50]]
    return ("The integrations are: " + "; ".join(rows) + ".") if rows else "There are no integrations yet."


class Command(BaseCommand):
    help = ("Run one integration now, in this process, and print its counters. Exits 0 when every record went "
            "through, 1 when the run failed (or the integration is unknown), 3 when some records failed, "
            "4 when skipped, 5 when deferred.")

    def add_arguments(self, parser):
        parser.add_argument("integration", help="The integration's id, or its name (any case)")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be sent; write nothing remote")

    def handle(self, *args, integration, dry_run, **options):
        target = find_integration(integration)
        with Progress(self.stdout, target):
            run = run_integration(target.pk, trigger="command", dry_run=dry_run, actor=command_actor())
        self.stdout.write(f"Run {run.pk} of {target} ({target.tenant}): {run.get_status_display()}")
        for key, value in sorted(run.counters.items()):
            self.stdout.write(f"  {key.replace('_', ' ')}: {value}")
        if dry_run:
            self.write_plan(run.plan)
        if run.status in EXIT_CODES:
            reason = run.error or "see the failed records under Sync records."
            raise CommandError(f"Run {run.pk} {run.get_status_display().lower()}: {reason}",
                               returncode=EXIT_CODES[run.status])

    def write_plan(self, plan):
        shown = {}
        for step in plan:
            shown[step["action"]] = shown.get(step["action"], 0) + 1
            if shown[step["action"]] <= 10:
                self.stdout.write(f"  would {step['action']}: {step['source']}"
                                  + (f" — {step['reason']}" if step.get("reason") else ""))
        for action, count in shown.items():
            if count > 10:
                self.stdout.write(f"  … and {count - 10} more to {action}")
