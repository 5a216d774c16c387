"""Invoice images → the AP platform: each new bill gets its invoice's images, streamed from the ERP."""

from connectors import capabilities as can
from syncs.models import FollowUpKind
from syncs.steps.follow_ups import FollowUpStep
from syncs.steps.invoices import Invoices


class Documents(FollowUpStep):
    erp_requires = {can.SERVES_INVOICE_DOCUMENTS: ("invoice_documents",)}
    ap_requires = {can.ACCEPTS_INVOICE_DOCUMENTS: ("attach_document",)}
    only_with = Invoices
    counter = "documents"
    kind = FollowUpKind.DOCUMENTS

    @classmethod
    def phrase(cls, source, target, integration):
        return f"invoice images → {target}"

    def work(self, record):
        """The bill's invoice images attached; a bill whose invoice has none says so."""
        sync = self.sync
        attached = [{"name": document.name, "id": sync.ap.attach_document(record.target_id, document)}
                    for document in sync.erp.invoice_documents(record.data.get("reference") or {})]
        if attached:
            return (attached, "sync.bill.documents_attached",
                    f"Attached {', '.join(d['name'] for d in attached)} from {sync.source_name}.")
        return ([], "sync.bill.sent_without_image",
                f"{sync.source_name} has no image of this invoice; the bill was sent without one.")
