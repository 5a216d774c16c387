"""A run's plan: the steps an integration takes, built from what its two systems declare they can do.

The engine runs exactly these steps, in this order; the admin and the dry run show them in words.
Nothing here names a system: a pair whose ERP does not take payments back still records them here
(for the status pages), and a pair whose AP platform has no vendors of its own skips that step.
"""

from dataclasses import dataclass

from connectors import capabilities as can


@dataclass(frozen=True)
class Step:
    name: str  # the Sync method that runs it
    phrase: str


def system_name(connection):
    return connection.spec.label.split(" (")[0]


def plan_for(integration):
    erp, ap = integration.source.spec.capabilities, integration.target.spec.capabilities
    source, target = system_name(integration.source), system_name(integration.target)
    steps = []
    if can.READS_SUPPLIERS in erp and can.CREATES_VENDORS in ap:
        steps.append(Step("sync_suppliers", "suppliers → vendors"))
    if can.READS_APPROVED_INVOICES in erp and can.CREATES_BILLS in ap:
        steps.append(Step("sync_invoices", "approved invoices → bills"))
    delivery = [word for word, capability in (("webhook", can.PAYMENTS_BY_WEBHOOK),
                                              ("polling", can.PAYMENTS_BY_POLLING)) if capability in ap]
    if can.PAYMENTS_BY_POLLING in ap:
        by = " by " + " and ".join(delivery)
        if can.WRITES_PAYMENTS_BACK in erp:
            steps.append(Step("sync_payments", f"payments ← {target}{by}, written to {source}"))
        else:
            steps.append(Step("sync_payments", f"payments ← {target}{by}, recorded here ({source} does not take "
                                               "them)"))
    return steps


def describe(integration):
    steps = plan_for(integration)
    return "; ".join(step.phrase for step in steps) if steps else "nothing: these two systems share no step"


def writes_payments_back(integration):
    return can.WRITES_PAYMENTS_BACK in integration.source.spec.capabilities
