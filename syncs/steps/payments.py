"""Payments ← the AP platform, polled: each payment on its own, written to the ERP (or only recorded here, for an
ERP that takes no payments back) by syncs.payments, which the webhooks use as well."""

from connectors import capabilities as can
from connectors.cursors import earlier, newer
from connectors.errors import RecordError, TransientError
from connectors.records import Unreadable
from syncs.payments import apply_payment
from syncs.steps.base import Step


class Payments(Step):
    ap_requires = {can.PAYMENTS_BY_POLLING: ("payments",)}

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
        ledger = sync.ledger
        kind = ledger.cursor_type("payments")
        newest = held_at = None
        for payment in sync.ap.payments(ledger.since("payments", "payment")):
            if isinstance(payment, Unreadable):
                ledger.fail(ledger.row("payment", payment.source_id, payment.source_ref), "data", payment.reason,
                            {"marker": payment.updated_marker}, cause="unreadable_record")
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
            newest = newer(kind, newest, marker)
        if held_at is not None and newest is not None:
            newest = earlier(kind, newest, kind.just_before(held_at))
        ledger.advance_cursor("payments", newest)
