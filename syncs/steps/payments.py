"""Payments ← the AP platform, polled: each payment on its own, written to the ERP (or only recorded here, for an
ERP that takes no payments back) by syncs.payments, which the webhooks use as well."""

from connectors import capabilities as can
from connectors.cursors import earlier, newer
from connectors.errors import RecordError, TransientError
from connectors.records import Unreadable
from syncs.models import ObjectType, RecordStatus, SyncRecord
from syncs.payments import apply_payment
from syncs.steps.base import Step


class Payments(Step):
    ap_requires = {can.PAYMENTS_BY_POLLING: ("payments",)}
    erp_uses = (can.WRITES_PAYMENTS_BACK,)

    @classmethod
    def phrase(cls, source, target, integration):
        erp, ap = integration.source.spec.capabilities, integration.target.spec.capabilities
        delivery = [word for word, capability in (("webhook", can.PAYMENTS_BY_WEBHOOK),
                                                  ("polling", can.PAYMENTS_BY_POLLING)) if capability in ap]
        by = " by " + " and ".join(delivery)
        if can.WRITES_PAYMENTS_BACK in erp:
            return f"payments ← {target}{by}, written to {source}"
        return f"payments ← {target}{by}, recorded here ({source} does not take them)"

    def run(self, sync):
        """Each payment on its own: one the ERP refuses fails its ledger row and the next goes on. The
        cursor stops short of the first payment that failed for a passing reason, so it is read again."""
        self.sync = sync
        ledger = sync.ledger
        kind = ledger.cursor_type("payments")
        newest = held_at = None
        # Rows of payments that could not be read when last seen, by source id: settled once the payment reads fine.
        self.unreadable = dict(SyncRecord.objects.filter(
            integration=sync.integration, object_type=ObjectType.PAYMENT, status=RecordStatus.FAILED,
            cause="unreadable_record").values_list("source_id", "pk"))
        for payment in sync.ap.payments(ledger.since("payments", "payment")):
            if isinstance(payment, Unreadable):
                self.fail_unreadable(payment)
                newest = newer(kind, newest, ledger.marker(kind, payment.updated_marker))
                continue
            marker = ledger.marker(kind, payment.updated_at)
            try:
                sync.counters.update(apply_payment(sync.integration, payment, erp=sync.erp, via="poll"))
            except RecordError as exc:
                sync.failures += 1
                sync.counters.update(getattr(exc, "outcome", {"payments_failed": 1}))
            except TransientError as exc:
                sync.failures += 1
                sync.counters.update(getattr(exc, "outcome", {"payments_failed": 1}))
                held_at = earlier(kind, held_at, marker) if marker is not None else held_at
            finally:
                self.readable_again(payment)
            newest = newer(kind, newest, marker)
        if held_at is not None and newest is not None:
            newest = earlier(kind, newest, kind.just_before(held_at))
        ledger.advance_cursor("payments", newest)

    def fail_unreadable(self, payment):
        """A payment that cannot be read fails where the readable payment is kept (syncs.payments: a row per bill,
        "<payment id>:<bill id>"), under each bill of this integration it names, found by the invoice's number; under
        its payment id alone when it names none that could be read, or has no id that could ("?"). Read fine later, it
        writes those same rows."""
        sync, ledger = self.sync, self.sync.ledger
        bills = SyncRecord.objects.filter(integration=sync.integration, object_type=ObjectType.BILL,
                                          status=RecordStatus.SYNCED,
                                          target_id__in=payment.bill_ids) if payment.source_id.strip("?") else ()
        shares = {f"{payment.source_id}:{bill.target_id}": (f"{payment.source_id} for {bill.source_ref}", {
            "number": bill.number, "party": bill.party, "currency": bill.currency}) for bill in bills}
        shares = shares or {payment.source_id: (payment.source_ref, {})}
        rows = ledger.rows("payment", [(key, ref) for key, (ref, _) in shares.items()],
                           {key: search for key, (_, search) in shares.items()})
        for row in rows.values():
            ledger.fail(row, "data", payment.reason, {"marker": payment.updated_marker}, cause="unreadable_record")

    def readable_again(self, payment):
        """Rows kept for this payment while it could not be read, settled now that it reads fine: the shares it has
        just written (or failed) say so themselves; what still says "unreadable" is cleared."""
        keys = [payment.payment_id, *(f"{payment.payment_id}:{bill_id}" for bill_id in payment.bill_ids)]
        ids = [self.unreadable.pop(key) for key in keys if key in self.unreadable]
        if not ids:
            return
        ledger = self.sync.ledger
        for row in SyncRecord.objects.filter(pk__in=ids, cause="unreadable_record"):
            if row.status == RecordStatus.FAILED:
                row.status = RecordStatus.SKIPPED
            row.error_class = row.cause = row.subject = row.error_detail = ""
            ledger.stage(row, ("status", "error_class", "cause", "subject", "error_detail", "updated_at"))
            ledger.log("sync.payment.readable", row, f"Payment {payment.payment_id} reads in full now; its shares "
                                                     "are kept per bill.")
