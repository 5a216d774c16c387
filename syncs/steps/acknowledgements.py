"""Invoices marked as transferred in the ERP: each invoice whose bill exists, once, where the ERP can take the mark
and the integration does not opt out (its "acknowledge_invoices" option)."""

from connectors import capabilities as can
from syncs.models import FollowUpKind
from syncs.steps.follow_ups import FollowUpStep
from syncs.steps.invoices import Invoices


class Acknowledgements(FollowUpStep):
    erp_requires = {can.ACKNOWLEDGES_TRANSFERRED_INVOICES: ("acknowledge_invoice",)}
    only_with = Invoices
    counter = "acknowledgements"
    kind = FollowUpKind.ACKNOWLEDGEMENT

    @classmethod
    def wanted(cls, integration):
        return integration.options.get("acknowledge_invoices", True) is not False

    @classmethod
    def phrase(cls, source, target, integration):
        return f"invoices marked as transferred in {source}"

    def work(self, record):
        said_by_erp = self.sync.erp.acknowledge_invoice(record.data.get("reference") or {})
        return ([], "sync.invoice.acknowledged",
                f"Marked as transferred in {self.sync.source_name}: {said_by_erp}")
