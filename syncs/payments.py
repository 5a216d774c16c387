"""Payments back to the ERP: one path for polling and webhooks, exactly once per payment and bill.

A payment's ledger row (object type "payment", source id "<payment id>:<bill id>") remembers what
was written to the ERP and the newest AP-side update seen. Older updates arriving late are ignored;
a later state (voided after paid) changes what was written instead of adding a second payment.
"""

from dataclasses import replace

from django.db import transaction

from connectors.errors import DataError, TransientError
from portal import audit
from syncs.models import SyncRecord

PAID, VOIDED = "PAID", "VOIDED"


def apply_payment(integration, payment, *, erp=None, via="poll", actor="system:sync"):
    """Write one AP payment back to the ERP where it concerns bills this integration created.
    Returns counters. Raises TransientError/DataError from the ERP so the caller can retry or record it."""
    outcome = {}
    allocations = dict(payment.allocations)
    for bill_id in payment.bill_ids:
        bill = SyncRecord.objects.filter(integration=integration, object_type="bill", target_id=bill_id,
                                         status=SyncRecord.SYNCED).first()
        if bill is None:
            outcome["payments_ignored"] = outcome.get("payments_ignored", 0) + 1
            continue
        share = replace(payment, amount=allocations.get(bill_id, payment.amount)) if allocations else payment
        result = _apply_to_bill(integration, bill, share, erp, via, actor)
        outcome[result] = outcome.get(result, 0) + 1
    return outcome


def _apply_to_bill(integration, bill, payment, erp, via, actor):
    source_id = f"{payment.payment_id}:{bill.target_id}"
    with transaction.atomic():
        record, _ = SyncRecord.objects.select_for_update().get_or_create(
            integration=integration, object_type="payment", source_id=source_id,
            defaults={"source_ref": f"{payment.payment_id} for {bill.source_ref}"})
        seen = record.data.get("updated_at", "")
        if seen and payment.updated_at and payment.updated_at < seen:
            return "payments_stale"
        posted = record.data.get("posted")
        wanted = PAID if payment.paid else (VOIDED if posted == PAID and payment.reversed else None)
        record.data = {**record.data, "updated_at": max(seen, payment.updated_at or ""), "status": payment.status}
        if wanted is None or wanted == posted:
            record.status = record.status if posted else SyncRecord.SKIPPED
            record.save()
            return "payments_unchanged"
        erp = erp or integration.source.connector()
        try:
            reference = erp.post_payment(bill.data.get("reference") or {}, payment)
            error = None
        except (DataError, TransientError) as exc:
            error = exc
        if error is not None:
            # Saved, not rolled back, so the failure shows on the record and can be replayed.
            record.status = SyncRecord.FAILED
            record.attempts += 1
            record.error_class = error.error_class
            record.error_detail = f"Posting the payment to the ERP failed: {error}"
            record.save()
            audit.record("sync.payment.failed", actor=actor, tenant=integration.tenant, obj=record,
                         source_ref=bill.source_ref, target_id=payment.payment_id, message=record.error_detail)
        else:
            record.status = SyncRecord.SYNCED
            record.target_id = payment.payment_id
            record.attempts += 1
            record.error_class = record.error_detail = ""
            record.data.update({"posted": wanted, "amount": str(payment.amount),
                                "date": payment.process_date.isoformat() if payment.process_date else "",
                                "erp_reference": reference})
            record.save()
            audit.record("sync.payment.written_back", actor=actor, tenant=integration.tenant, obj=record,
                         source_ref=bill.source_ref, target_id=payment.payment_id,
                         message=f"{wanted} {payment.amount} {payment.currency} on {record.data['date']} ({via}): "
                                 f"{reference}",
                         details={"transformation": {
                             "input": {"payment_id": payment.payment_id, "status": payment.status,
                                       "amount": str(payment.amount), "process_date": record.data["date"]},
                             "output": {"invoice": bill.data.get("reference"), "status": wanted}}})
    if error is not None:
        raise error
    return "payments_written_back" if wanted == PAID else "payments_reversed"
