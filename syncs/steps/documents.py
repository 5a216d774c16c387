"""Invoice images → the AP platform: each new bill gets its invoice's images, streamed from the ERP."""

from concurrent.futures import Future

from connectors import capabilities as can
from connectors.http import fan_out
from syncs.models import FollowUpKind
from syncs.steps.follow_ups import FOLLOW_UP_WORKERS, FollowUpStep
from syncs.steps.invoices import Invoices


class Documents(FollowUpStep):
    erp_requires = {can.SERVES_INVOICE_DOCUMENTS: ("invoice_documents",)}
    ap_requires = {can.ACCEPTS_INVOICE_DOCUMENTS: ("attach_document",)}
    only_with = Invoices
    counter = "documents"
    writes = ("ap:documents",)
    kind = FollowUpKind.DOCUMENTS

    @classmethod
    def phrase(cls, source, target, integration):
        return f"invoice images → {target}"

    @classmethod
    def ahead_of_bills(cls, sync, invoices):
        """The invoices' images looked up while their bills are made, FOLLOW_UP_WORKERS at a time: a look-up needs only
        the invoice (an image is downloaded when it is attached). Each bill's turn takes its invoice's images, or the
        error their look-up met, as soon as they are found."""
        found = {invoice.source_id: Future() for invoice in invoices}
        references = [(found[invoice.source_id], invoice.reference or {}) for invoice in invoices]

        def look_up(item):
            future, reference = item
            try:
                future.set_result(sync.erp.invoice_documents(reference))
            except Exception as exc:  # the bill's own error, raised at its turn as the look-up there would
                future.set_exception(exc)

        sync.begin(lambda: fan_out(look_up, references, FOLLOW_UP_WORKERS),
                   {(cls, source_id): future for source_id, future in found.items()})

    def work(self, record):
        """The bill's invoice images attached; a bill whose invoice has none says so."""
        sync = self.sync
        documents = sync.begun_result((Documents, record.source_id))
        if documents is None:
            documents = sync.erp.invoice_documents(record.data.get("reference") or {})
        attached = [{"name": document.name, "id": sync.ap.attach_document(record.target_id, document)}
                    for document in documents]
        if attached:
            return (attached, "sync.bill.documents_attached",
                    f"Attached {', '.join(d['name'] for d in attached)} from {sync.source_name}.")
        return ([], "sync.bill.sent_without_image",
                f"{sync.source_name} has no image of this invoice; the bill was sent without one.")
