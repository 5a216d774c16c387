"""python manage.py check_assumptions <connection> [--json]: what the connectors assume about the connection's live
system, checked read-only (connectors.assumptions); the report is kept on the connection, as the admin's is."""

import json

from django.core.management.base import BaseCommand, CommandError

from connectors.assumptions import CONTRADICTED, STATUS_WORDS, advice_now, run_check
from connectors.models import Connection
from portal.audit import command_actor

# 0: nothing contradicted; 3: at least one assumption contradicted; 1: the check could not run (or any other command
# error, an unknown connection); 2 is argparse's for a mistyped command line.
EXIT_CONTRADICTED = 3
EXIT_NOT_RUN = 1


def find_connection(key):
    found = Connection.objects.select_related("tenant")
    matches = list(found.filter(pk=int(key))) if key.isdigit() else list(found.filter(name=key))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CommandError(f"No connection {key!r}. Give its id, or its name: "
                           f"{', '.join(found.values_list('name', flat=True).order_by('name')[:20]) or 'none yet'}.")
    raise CommandError(f"{len(matches)} connections are named {key!r} (in {', '.join(c.tenant.name for c in matches)})"
                       f"; give the id instead: {', '.join(str(c.pk) for c in matches)}.")


class Command(BaseCommand):
    help = ("Check what ml-connector assumes about a connection's live system, reading only, and print each "
            "assumption as held, contradicted, could not be checked, or ask the customer.")

    def add_arguments(self, parser):
        parser.add_argument("connection", help="The connection's id, or its name.")
        parser.add_argument("--json", action="store_true",
                            help='Print a JSON list of {"id", "status", "seen", "advice"}.')

    def handle(self, *args, **options):
        connection = find_connection(options["connection"])
        kept = run_check(connection, command_actor())
        if kept["state"] == "failed":
            self.stderr.write(kept["error"])
            raise SystemExit(EXIT_NOT_RUN)
        # The overrides as the check left them (it withdraws those no longer needed): a contradiction ops overrode
        # is advised as running under the override, not as stopped.
        overrides = connection.assumption_overrides or {}
        results = [{**r, "advice": advice_now(r, overrides)} for r in kept["results"]]
        if options["json"]:
            self.stdout.write(json.dumps([{k: r[k] for k in ("id", "status", "seen", "advice")} for r in results],
                                         indent=2))
        else:
            self.print_report(connection, results)
        if any(r["status"] == CONTRADICTED for r in kept["results"]):
            raise SystemExit(EXIT_CONTRADICTED)

    def print_report(self, connection, results):
        self.stdout.write(f"Assumptions about {connection} (tenant {connection.tenant.name}):")
        for r in results:
            self.stdout.write(f"  {r['id']:<5} {STATUS_WORDS[r['status']]:<21} {r['title']}")
            for label, text in (("seen", r["seen"]), ("advice", r["advice"])):
                if text:
                    self.stdout.write(f"        {label}: {text}")
        counts = {s: sum(r["status"] == s for r in results) for s in STATUS_WORDS}
        self.stdout.write(", ".join(f"{n} {STATUS_WORDS[s]}" for s, n in counts.items()) + ".")
