"""Payments ← the AP platform, polled: each payment on its own, written to the ERP (or only recorded here, for an
ERP that takes no payments back) by syncs.payments, which the webhooks use as well."""

from itertools import islice

from connectors import capabilities as can
from connectors.cursors import earlier, newer
from connectors.errors import RecordError, TransientError
from connectors.http import fan_out
from connectors.records import Unreadable
from syncs.models import ObjectType, RecordStatus, SyncRecord
from syncs.payments import apply_payment
from syncs.steps.base import Step

# Payments read at a time, and written to the ERP at once: a payment run in the AP platform settles hundreds of bills,
# each a read and a write on the ERP, which one after another would take minutes at a real system's latency. The
# ERP's client still holds its own limits across processes.
PAYMENT_CHUNK, PAYMENT_WORKERS = 200, 8


def chains(payments):
    """The payments split where they touch nothing in common, each chain in the order read: the payments of one bill
    (paid, then voided) stay one after another in one chain, so a reversal is written after its payment; chains go at
    once."""
    payments = list(payments)
    order = {id(payment): at for at, payment in enumerate(payments)}
    chain_of, found = {}, []
    for payment in payments:
        keys = [("payment", payment.payment_id), *(("bill", bill_id) for bill_id in payment.bill_ids)]
        joined = list({id(chain_of[key]): chain_of[key] for key in keys if key in chain_of}.values())
        if not joined:
            chain = []
            found.append(chain)
        else:  # a payment touching several chains joins them, the first keeping its place
            chain = joined[0]
            for other in joined[1:]:
                chain.extend(other)
                found = [kept for kept in found if kept is not other]
                chain_of.update([(key, chain) for key, value in chain_of.items() if value is other])
            chain.sort(key=lambda earlier: order[id(earlier)])
        chain.append(payment)
        chain_of.update((key, chain) for key in keys)
    return found


class Payments(Step):
    ap_requires = {can.PAYMENTS_BY_POLLING: ("payments",)}
    erp_uses = (can.WRITES_PAYMENTS_BACK,)
    writes = ("erp:payments",)
    source_reads = "ap:payments"

    @classmethod
    def phrase(cls, source, target, integration):
        erp, ap = integration.source.spec.capabilities, integration.target.spec.capabilities
        delivery = [word for word, capability in (("webhook", can.PAYMENTS_BY_WEBHOOK),
                                                  ("polling", can.PAYMENTS_BY_POLLING)) if capability in ap]
        by = " by " + " and ".join(delivery)
        if can.WRITES_PAYMENTS_BACK in erp:
            return f"payments ← {target}{by}, written to {source}"
        return f"payments ← {target}{by}, recorded here ({source} does not take them)"

    @classmethod
    def source(cls, sync):
        """The AP platform's payments since the cursor. A bill made by a step before has no payment yet, and one paid
        while this run goes on is read by the next, the cursor being where this read stopped."""
        return sync.ap.payments(sync.ledger.since("payments", "payment"))

    @classmethod
    def done_with_erp(cls, sync):
        """It calls the ERP only to write payments back: none when the ERP takes none, or when none was read (ahead)."""
        return can.WRITES_PAYMENTS_BACK not in sync.integration.source.spec.capabilities or sync.read_whole(cls) == []

    def run(self, sync):
        """Each payment on its own: one the ERP refuses fails its ledger row and the next goes on. Payments on
        different bills are written at once (chains()). The cursor stops short of the first payment that failed for
        a passing reason, so it is read again."""
        self.sync = sync
        ledger = sync.ledger
        kind = ledger.cursor_type("payments")
        self.newest = self.held_at = None
        # Rows of payments that could not be read when last seen, by source id: settled once the payment reads fine.
        self.unreadable = dict(SyncRecord.objects.filter(
            integration=sync.integration, object_type=ObjectType.PAYMENT, status=RecordStatus.FAILED,
            cause="unreadable_record").values_list("source_id", "pk"))
        polled = iter(sync.records(self))
        while chunk := list(islice(polled, PAYMENT_CHUNK)):
            readable = []
            for payment in chunk:
                if isinstance(payment, Unreadable):
                    self.fail_unreadable(payment)
                    self.newest = newer(kind, self.newest, ledger.marker(kind, payment.updated_marker))
                else:
                    readable.append(payment)
            outcomes = [outcome for chain in fan_out(self.write_chain, chains(readable), PAYMENT_WORKERS)
                        for outcome in chain]
            stop, place = None, {id(payment): at for at, payment in enumerate(readable)}
            for payment, counters, error in sorted(outcomes, key=lambda outcome: place[id(outcome[0])]):
                stop = self.keep(kind, payment, counters, error) or stop
            if stop is not None:
                raise stop  # what did go through is counted first
        if self.held_at is not None and self.newest is not None:
            self.newest = earlier(kind, self.newest, kind.just_before(self.held_at))
        ledger.advance_cursor("payments", self.newest)

    def write_chain(self, chain):
        """(payment, counters, error) of each payment of the chain, written one after another; an error that is no
        payment's own (the run must stop) ends the chain."""
        outcomes = []
        for payment in chain:
            try:
                outcomes.append((payment, apply_payment(self.sync.integration, payment, erp=self.sync.erp,
                                                        via="poll"), None))
            except (RecordError, TransientError) as exc:
                outcomes.append((payment, getattr(exc, "outcome", {"payments_failed": 1}), exc))
            except Exception as exc:
                outcomes.append((payment, {}, exc))
                break
        return outcomes

    def keep(self, kind, payment, counters, error):
        """One payment's outcome counted on the run; the error to stop the run on, if it was no payment's own."""
        sync = self.sync
        marker = sync.ledger.marker(kind, payment.updated_at)
        sync.counters.update(counters)
        self.readable_again(payment)
        if error is not None and not isinstance(error, RecordError | TransientError):
            return error
        if error is not None:
            sync.failures += 1
            if isinstance(error, TransientError) and marker is not None:
                self.held_at = earlier(kind, self.held_at, marker)
        self.newest = newer(kind, self.newest, marker)
        return None

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
