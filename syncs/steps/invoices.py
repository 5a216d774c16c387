"""Approved invoices → bills: each invoice read from the ERP checked (its vendor, its lines' total, its currency, its
coding by the mapping rules) and sent as a GL-coded bill, or failed with every reason in words. A bill once sent is
never sent again; a hold the ERP puts on its invoice afterwards is noticed and said."""

import re
from decimal import Decimal
from itertools import islice

from django.utils import timezone

from connectors import capabilities as can
from connectors.records import Invoice
from connectors.values import money
from syncs import alerts
from syncs.ledger import RETRY_CLASSES, Pending, fingerprint, plain
from syncs.models import RecordStatus, SyncRecord
from syncs.steps.base import Problem, target_lock
from syncs.steps.stream import StreamStep, settled


class Invoices(StreamStep):
    erp_requires = {can.READS_APPROVED_INVOICES: ("approved_invoices",)}
    ap_requires = {can.CREATES_BILLS: ("bill_payload", "find_bills", "create_bills")}
    in_dry_run = True
    stream, object_type = "invoices", "bill"
    writes = ("ap:bills",)
    source_reads = "erp:invoices"

    @classmethod
    def phrase(cls, source, target, integration):
        return "approved invoices → bills"

    def run(self, sync):
        self.sync = sync
        self.newly_held = []
        self.vendor_records = {}  # supplier id -> its vendor's ledger row, as the batches need them
        self._payable_currencies = False  # not asked yet
        try:
            with target_lock(sync, "bills"):
                self.sync_stream(self.read_approved())
        finally:
            if self.newly_held:  # what was noticed is said, even when the run stops later
                alerts.bills_held_after_sending(sync.integration, sync.run, self.newly_held)

    @classmethod
    def source(cls, sync):
        """The ERP's approved invoices since the cursor, with the held ones where the ERP reports holds in the same
        calls."""
        since = sync.ledger.since(cls.stream, cls.object_type)
        if can.REPORTS_HELD_INVOICES not in sync.integration.source.spec.capabilities:
            return sync.erp.approved_invoices(since)
        return sync.erp.approved_invoices(since, include_held=True)

    @classmethod
    def done_with_erp(cls, sync):
        """Its only calls to the ERP are its read: done once every invoice was read ahead."""
        return sync.read_whole(cls) is not None

    def read_approved(self):
        """The approved invoices, and, from an ERP that reports holds (REPORTS_HELD_INVOICES, read in the same
        calls), the held, cancelled or voided ones that have a ledger row: a hold matters once a bill was sent or
        tried. One held before it was ever read is left out, no row made for it, as before holds were read."""
        sync = self.sync
        invoices = iter(sync.records(self))
        if can.REPORTS_HELD_INVOICES not in sync.integration.source.spec.capabilities:
            yield from invoices
            return
        while chunk := list(islice(invoices, sync.batch_size)):
            held = [i.source_id for i in chunk if getattr(i, "held", None)]
            known = set(SyncRecord.objects.filter(integration=sync.integration, object_type="bill",
                                                  source_id__in=held).values_list("source_id", flat=True)
                        ) if held else set()
            yield from (i for i in chunk if not getattr(i, "held", None) or i.source_id in known)

    def describe(self, invoice):
        return f"{invoice.invoice_number} ({invoice.supplier_id})"

    def search_fields(self, item):
        if isinstance(item, Invoice):
            vendor = self.vendor_records.get(item.supplier_id)
            party = f"{item.supplier_id} {vendor.source_ref}" if vendor and vendor.source_ref else item.supplier_id
            return {"number": item.invoice_number[:100], "party": party[:200], "amount": item.total,
                    "currency": item.currency[:3], "document_date": item.invoice_date}
        return {}

    def prefetch(self, invoices):
        """The vendor ledger rows a batch of invoices needs, in one query."""
        wanted = {invoice.supplier_id for invoice in invoices} - set(self.vendor_records)
        self.vendor_records.update((r.source_id, r) for r in SyncRecord.objects.filter(
            integration=self.sync.integration, object_type="vendor", source_id__in=wanted))

    def prepare(self, invoice, record):
        sync, ledger = self.sync, self.sync.ledger
        said = plain(invoice)
        source_hash = fingerprint(invoice, said)
        data = {"marker": invoice.updated_marker, "reference": invoice.reference, "total": str(invoice.total),
                "currency": invoice.currency, "supplier": invoice.supplier_id}
        if record.status == RecordStatus.SYNCED:
            self.note_hold(record, invoice)
            if record.source_hash == source_hash:
                return ledger.unchanged(record)
            return ledger.changed_after_sending(record, source_hash)
        if invoice.held:
            return ledger.set_aside(record, source_hash, data, f"Held in {sync.source_name} ({invoice.held}); it is "
                                    f"not sent to {sync.target_name} while it is.", cause="invoice_held",
                                    subject=invoice.supplier_id)
        vendor = self.vendor_records.get(invoice.supplier_id)
        problems, kind = [], "data"
        vendor_id = vendor.target_id if vendor and vendor.status == RecordStatus.SYNCED else None
        if sync.dry_run:
            vendor_id = vendor_id or sync.planned_vendors.get(invoice.supplier_id)
        supplier = invoice.supplier_id
        if vendor is not None and vendor.data.get("on_hold"):
            # Held after its vendor was made: it waits, as it says.
            problems.append(Problem(cause="supplier_on_hold", subject=supplier, words=vendor.data["on_hold"]))
        elif vendor_id is None:
            cause = "supplier_not_synced"
            why = vendor.error_detail.rstrip(".") if vendor and vendor.error_detail else "it has not been synced"
            if vendor is not None and vendor.status == RecordStatus.IGNORED:
                cause = "supplier_set_aside"
                why = f"it was set aside ({vendor.note.rstrip('.')})"
            elif vendor is not None and vendor.cause:
                cause = vendor.cause  # filed under its supplier's own cause: fixed, and advised, as the supplier is
            # The vendor's own reason names the supplier again ("Supplier S1 (Acme) has no tax ID"): "it" says it.
            why = re.sub(rf"^Supplier {re.escape(supplier)} (\([^)]*\) )?", "it ", why)
            problems.append(Problem(cause=cause, subject=supplier,
                                    words=f"Supplier {supplier} is not in {sync.target_name} yet: {why}"))
            if vendor is not None and vendor.status != RecordStatus.IGNORED and vendor.error_class in (
                    *RETRY_CLASSES, "configuration"):
                # Waiting on a vendor that failed for a passing reason: retried with it, not left for a replay. Or on
                # an integration setting (a vendor owned by another integration): fixed there, as the vendor is.
                kind = vendor.error_class
        lines_total = sum((line.amount for line in invoice.lines), Decimal("0.00"))
        if lines_total != invoice.total:
            problems.append(Problem(cause="lines_do_not_add_up", subject="",
                                    words=f"The lines add up to {money(lines_total, invoice.currency)} but the "
                                          f"invoice total is {money(invoice.total, invoice.currency)}"))
        currencies = self.payable_currencies()
        if currencies is not None and invoice.currency.upper() not in currencies:
            problems.append(Problem(cause="currency_not_payable", subject=invoice.currency,
                                    words=f"The invoice is in {invoice.currency}, and the {sync.target_name} account "
                                          f"pays bills in {', '.join(sorted(currencies))} only; nothing is converted. "
                                          f"Pay it outside {sync.target_name}, and set this record aside"))
        mapping_problems, coding = sync.coding_for(invoice)
        if mapping_problems:
            problems += mapping_problems
            kind = "mapping" if len(problems) == len(mapping_problems) else kind
        if problems:
            # Filed under the first problem, the one to fix first; the words say them all.
            return ledger.fail(record, kind, "; ".join(p.words.rstrip(".") for p in problems) + ".", data,
                               cause=problems[0].cause, subject=problems[0].subject)
        payload = sync.ap.bill_payload(vendor_id, invoice, coding)
        if sync.dry_run:
            sync.counters["bills_would_create"] += 1
            sync.plan.append({"action": "create bill", "source": record.source_ref, "payload": payload})
            return None
        return Pending(record, invoice, source_hash, data, {"input": said, "output": payload},
                       vendor_id=vendor_id, coding=coding)

    def note_hold(self, record, invoice):
        """An invoice held, cancelled or voided in the ERP after its bill was sent, or released again. The bill is
        never changed or deleted from here: the record says what happened, a person decides in the AP platform,
        and the run's alert names it (Invoices.run). Noticed once per change."""
        sync = self.sync
        held = invoice.held or None
        if sync.dry_run or record.data.get("held") == held:
            return
        if held:
            said = (f"Held in {sync.source_name} after it was sent — stop it in {sync.target_name} if it must not be "
                    f"paid ({sync.source_name}: {held}).")
            record.data = {**record.data, "held": held, "held_at": timezone.now().isoformat()}
            record.error_detail, record.cause, record.subject = said, "held_after_sending", invoice.supplier_id
            self.newly_held.append(record)
            action, counter = "sync.bill.held_after_sending", "bills_held_after_sending"
        else:
            said = f"No longer held in {sync.source_name}; its bill in {sync.target_name} stands as it was sent."
            record.data = {key: value for key, value in record.data.items() if key not in ("held", "held_at")}
            record.error_detail = record.cause = record.subject = ""
            action, counter = "sync.bill.released", "bills_released"
        sync.ledger.stage(record, ("data", "error_detail", "cause", "subject", "updated_at"))
        sync.counters[counter] += 1
        sync.ledger.log(action, record, said)

    def payable_currencies(self):
        if self._payable_currencies is False:
            self._payable_currencies = self.sync.ap.payable_currencies()
        return self._payable_currencies

    def send(self, batch):
        ledger, ap = self.sync.ledger, self.sync.ap
        found = ledger.guarded_batch(batch, lambda: ap.find_bills([(p.vendor_id, p.item) for p in batch]))
        if found is None:
            return
        for pending in batch:
            if pending.item.source_id in found:
                ledger.succeed(pending.record, "matched", found[pending.item.source_id], pending.source_hash,
                               pending.data, pending.transformation)
        missing = [p for p in batch if p.item.source_id not in found]
        if missing:
            def create(items):
                return ap.create_bills([(p.vendor_id, p.item, p.coding) for p in items])

            # Ahead for a first try only: one refused before (a payee on hold) is tried every run, and would pay for
            # the look-ups each time whatever befalls it.
            self.sync.ahead_of_bills([p.item for p in missing if not p.record.attempts])
            created = ledger.guarded_batch(missing, lambda: create(missing))
            if created is not None:
                ledger.record_results(missing, settled(
                    missing, created, lambda items: ap.find_bills([(p.vendor_id, p.item) for p in items]), create))
