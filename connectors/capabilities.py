"""What a system can take part in, in words a plan can be described with.

Each system declares its capabilities on its `System` (connectors/<id>/system.py). For a built system
they state what its connector does today; for one not built yet, what it is planned to do.

Reference data travels one of two ways, and the vocabulary keeps them apart:
- READS_REFERENCE_DATA: ml-connector reads GL accounts and dimensions from the system. On an ERP those
  are the codes invoice lines carry; on an AP platform that keeps its own chart of accounts (BILL) they
  are what mapping rules point at. It is the one capability both kinds can declare.
- ACCEPTS_REFERENCE_DATA: an AP platform takes the ERP's code lists from us (AvidXchange). Publishing
  reference data is this together with the ERP's READS_REFERENCE_DATA, so there is no separate
  "publishes" capability on the ERP side to disagree with it.
"""

# --- ERPs ----------------------------------------------------------------------------------------------
READS_SUPPLIERS = "reads_suppliers"
READS_APPROVED_INVOICES = "reads_approved_invoices"
WRITES_PAYMENTS_BACK = "writes_payments_back"
ACKNOWLEDGES_TRANSFERRED_INVOICES = "acknowledges_transferred_invoices"
ACCEPTS_SUPPLIER_UPDATES = "accepts_supplier_updates"
SERVES_INVOICE_DOCUMENTS = "serves_invoice_documents"
# approved_invoices(include_held=True) also yields the invoices the ERP now holds, cancels or voids, marked `held`.
REPORTS_HELD_INVOICES = "reports_held_invoices"

# --- either kind -----------------------------------------------------------------------------------------
READS_REFERENCE_DATA = "reads_reference_data"

# --- AP platforms --------------------------------------------------------------------------------------
CREATES_VENDORS = "creates_vendors"
CREATES_BILLS = "creates_bills"
BATCH_CREATES = "batch_creates"
PAYMENTS_BY_WEBHOOK = "payments_by_webhook"
PAYMENTS_BY_POLLING = "payments_by_polling"
ACCEPTS_REFERENCE_DATA = "accepts_reference_data"
ACCEPTS_INVOICE_DOCUMENTS = "accepts_invoice_documents"
REPORTS_VENDOR_EDITS = "reports_vendor_edits"
# archive_bill(): ops archive a bill whose invoice the ERP held after it was sent, from the admin; never a run.
ARCHIVES_BILLS = "archives_bills"

# How each capability reads after the system's name when a plan is described
# ("BILL: vendors are created and updated; payments arrive by webhook").
CAPABILITY_PHRASES = {
    READS_SUPPLIERS: "suppliers are read",
    READS_APPROVED_INVOICES: "approved invoices are read",
    WRITES_PAYMENTS_BACK: "payments are written back",
    ACKNOWLEDGES_TRANSFERRED_INVOICES: "invoices are marked as transferred",
    ACCEPTS_SUPPLIER_UPDATES: "supplier changes are written back",
    SERVES_INVOICE_DOCUMENTS: "invoice documents are fetched",
    REPORTS_HELD_INVOICES: "invoices held or cancelled after they were sent are noticed",
    READS_REFERENCE_DATA: "GL accounts and dimensions are read",
    CREATES_VENDORS: "vendors are created and updated",
    CREATES_BILLS: "GL-coded bills are created",
    BATCH_CREATES: "vendors and bills are created in batches",
    PAYMENTS_BY_WEBHOOK: "payments arrive by webhook",
    PAYMENTS_BY_POLLING: "payments are polled",
    ACCEPTS_REFERENCE_DATA: "the ERP's GL accounts and dimensions are published as code lists",
    ACCEPTS_INVOICE_DOCUMENTS: "invoice documents are attached to bills",
    REPORTS_VENDOR_EDITS: "vendor edits made there are picked up",
    ARCHIVES_BILLS: "ops can archive a bill whose invoice the ERP held after it was sent",
}

ERP_CAPABILITIES = frozenset({READS_SUPPLIERS, READS_APPROVED_INVOICES, WRITES_PAYMENTS_BACK,
                              ACKNOWLEDGES_TRANSFERRED_INVOICES, ACCEPTS_SUPPLIER_UPDATES, SERVES_INVOICE_DOCUMENTS,
                              REPORTS_HELD_INVOICES, READS_REFERENCE_DATA})
AP_CAPABILITIES = frozenset({CREATES_VENDORS, CREATES_BILLS, BATCH_CREATES, PAYMENTS_BY_WEBHOOK, PAYMENTS_BY_POLLING,
                             ACCEPTS_REFERENCE_DATA, ACCEPTS_INVOICE_DOCUMENTS, REPORTS_VENDOR_EDITS,
                             ARCHIVES_BILLS, READS_REFERENCE_DATA})
