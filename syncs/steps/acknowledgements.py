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
    writes = ("erp:invoices",)
    kind = FollowUpKind.ACKNOWLEDGEMENT

    @classmethod
    def wanted(cls, integration):
        return integration.options.get("acknowledge_invoices", True) is not False

    @classmethod
    def phrase(cls, source, target, integration):
        return f"invoices marked as transferred in {source}"

    def work(self, record):
        return self.done(self.sync.erp.acknowledge_invoice(record.data.get("reference") or {}))

    def together(self):
        """An ERP that marks several invoices in one call says so by `acknowledge_invoices(references)`, which
        answers each one's words or its own error, in order."""
        marks = getattr(self.sync.erp, "acknowledge_invoices", None)
        if marks is None:
            return None

        def work(records):
            said = marks([record.data.get("reference") or {} for record in records])
            return [(None, s) if isinstance(s, Exception) else (self.done(s), None) for s in said]
        return work

    def done(self, said_by_erp):
        return ([], "sync.invoice.acknowledged", f"Marked as transferred in {self.sync.source_name}: {said_by_erp}")
