"""A run's plan: the steps an integration takes, built from what its two systems declare they can do.

The engine runs exactly these steps, in this order; the admin and the dry run show them in words.
Nothing here names a system: a pair whose ERP does not take payments back still records them here
(for the status pages), and a pair whose AP platform has no vendors of its own skips that step.

Vendor contact edits come back before suppliers go out: otherwise a supplier changed in the ERP would
overwrite, in the AP platform, an edit that had not been written back yet.
"""

from dataclasses import dataclass

from connectors import capabilities as can


@dataclass(frozen=True)
class Step:
    name: str  # the Sync method that runs it
    phrase: str


def system_name(connection):
    return connection.spec.label.split(" (")[0]


def acknowledges(integration):
    """Whether transferred invoices are marked in the ERP: where it can, unless the integration opts out."""
    return (can.ACKNOWLEDGES_TRANSFERRED_INVOICES in integration.source.spec.capabilities
            and integration.options.get("acknowledge_invoices", True) is not False)


def plan_for(integration):
    erp, ap = integration.source.spec.capabilities, integration.target.spec.capabilities
    source, target = system_name(integration.source), system_name(integration.target)
    steps = []
    if can.READS_REFERENCE_DATA in erp and can.ACCEPTS_REFERENCE_DATA in ap:
        steps.append(Step("publish_reference_data", f"GL accounts and dimensions → {target} code lists"))
    if can.REPORTS_VENDOR_EDITS in ap and can.ACCEPTS_SUPPLIER_UPDATES in erp and can.READS_SUPPLIERS in erp:
        steps.append(Step("sync_vendor_edits", f"vendor contact edits made in {target} → {source} suppliers"))
    if can.READS_SUPPLIERS in erp and can.CREATES_VENDORS in ap:
        steps.append(Step("sync_suppliers", "suppliers → vendors"))
    if can.READS_APPROVED_INVOICES in erp and can.CREATES_BILLS in ap:
        steps.append(Step("sync_invoices", "approved invoices → bills"))
        if can.SERVES_INVOICE_DOCUMENTS in erp and can.ACCEPTS_INVOICE_DOCUMENTS in ap:
            steps.append(Step("attach_documents", f"invoice images → {target}"))
        if acknowledges(integration):
            steps.append(Step("acknowledge_invoices", f"invoices marked as transferred in {source}"))
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
