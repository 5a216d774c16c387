from django.core.management.base import BaseCommand, CommandError

from syncs.management.commands.sync import find_integration
from syncs.status import PAID, UNDONE
from syncs.templatetags.status import amounts, figure, money
from syncs.tieout import report


class Command(BaseCommand):
    help = ("The open payables tie-out of an integration: open invoices in its ERP against open bills in its AP "
            "platform, with each difference listed. Exit code 0 when they agree, 3 when they differ, 1 when a "
            "side could not be read.")

    def add_arguments(self, parser):
        parser.add_argument("integration", help="The integration's id or name.")

    def handle(self, *args, integration, **options):
        integration = find_integration(integration)
        result = report(integration)
        if result.error:
            raise CommandError(result.error)
        erp, ap = amounts(result.erp_totals) or "nothing", amounts(result.ap_totals) or "nothing"
        self.stdout.write(f"{integration.name}: {result.erp_count} open in {result.source} ({erp}), "
                          f"{result.ap_count} open in {result.target} ({ap}); {result.matched} agree.")
        self.stdout.write(f"Payments back recorded: paid {figure(result.payments[PAID])}; undone (voided, returned, "
                          f"escheated or reversed) {figure(result.payments[UNDONE])}.")
        for row in result.rows:
            both = " / ".join(money(a, row.currency) for a in (row.erp_amount, row.ap_amount))
            self.stdout.write(f"  {row.kind}: {row.number} ({row.supplier}) {both}")
        if result.rows:
            self.stdout.write(", ".join(f"{kind}: {n}" for kind, n in result.counts().items()))
            raise SystemExit(3)
