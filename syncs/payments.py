"""Payments back to the ERP: one path for polling and webhooks, exactly once per payment and bill.

A payment's ledger row (object type "payment", source id "<payment id>:<bill id>") remembers what
was written to the ERP and the newest AP-side update seen. Older updates arriving late are ignored;
a later state (voided after paid) changes what was written instead of adding a second payment, and
the row becomes "undone": only "synced" payment rows count as paid (syncs/status.py).

Each bill's share is written on its own: a share the ERP refuses fails that share's row, and the
other shares still go. The ERP is never called inside a transaction: the row is claimed under its
lock, the lock is released, the ERP is called, and the outcome is saved under the lock again.
"""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from connectors import capabilities as can
from connectors.assumptions import stopped_capabilities
from connectors.cursors import TIMESTAMP, CursorTypeError
from connectors.errors import RecordError, TransientError
from connectors.reversals import reversal_text
from portal import audit
from syncs.models import ObjectType, RecordStatus, SyncRecord
from syncs.pair import system_name, writes_payments_back
from syncs.templatetags.status import day, money

PAID, VOIDED = "PAID", "VOIDED"
VIA_WORDS = {"poll": "polling the AP platform", "webhook": "webhook", "gap poll": "catching up after a webhook gap"}
# A claim older than this belongs to a worker that died mid-call; the share may be written again
# (the ERP connector looks its payment up by our reference before adding, so nothing doubles).
CLAIM_TTL = timedelta(minutes=15)


class PaymentInFlight(TransientError):
    """Another worker is writing this share right now; try again shortly."""


class HeldBack(RecordError):
    """Not written while an assumption the write relies on stands contradicted: the ERP's setup is in question, not
    the payment's data, so it is filed with the configuration problems."""

    error_class = "configuration"
    cause = "assumption_contradicted"


def apply_payment(integration, payment, *, erp=None, via="poll", actor="system:sync"):
    """Write one AP payment back to the ERP where it concerns bills this integration created.

    Returns counters. Every share is attempted; afterwards the first failure, if any, is raised
    (TransientError or RecordError) so a webhook task can retry and a poll can count it."""
    outcome = Counter()
    first_error = None
    allocations = dict(payment.allocations)
    for bill_id in payment.bill_ids:
        bill = SyncRecord.objects.filter(integration=integration, object_type=ObjectType.BILL, target_id=bill_id,
                                         status=RecordStatus.SYNCED).first()
        if bill is None:
            outcome["payments_ignored"] += 1
            continue
        share = replace(payment, amount=allocations.get(bill_id, payment.amount)) if allocations else payment
        try:
            outcome[_apply_to_bill(integration, bill, share, erp, via, actor)] += 1
        except (RecordError, TransientError) as exc:
            outcome["payments_failed"] += 1
            first_error = first_error or exc
    if first_error is not None:
        first_error.outcome = dict(outcome)
        raise first_error
    return dict(outcome)


def moment(text):
    """An AP update time, compared as a time: the same instant can be written with different offsets."""
    try:
        return TIMESTAMP.parse(text)
    except CursorTypeError:
        return datetime.min.replace(tzinfo=UTC)  # unreadable: older than anything readable


def _claim(integration, bill, payment):
    """Under the row lock: decide what the ERP should show, and claim the write. Returns (record,
    wanted) or (None, counter name) when there is nothing to write."""
    now = timezone.now()
    with transaction.atomic():
        record, _ = SyncRecord.objects.select_for_update().get_or_create(
            integration=integration, object_type=ObjectType.PAYMENT, source_id=f"{payment.payment_id}:{bill.target_id}",
            defaults={"source_ref": f"{payment.payment_id} for {bill.source_ref}", "number": bill.number,
                      "party": bill.party, "amount": payment.amount, "currency": payment.currency or bill.currency})
        if record.status == RecordStatus.IGNORED:
            return None, "payments_set_aside"  # a person set this share aside with a reason
        before = (dict(record.data), record.status)
        seen = record.data.get("updated_at", "")
        if seen and payment.updated_at and moment(payment.updated_at) < moment(seen):
            return None, "payments_stale"
        posted = record.data.get("posted")
        wanted = PAID if payment.paid else (VOIDED if posted == PAID and payment.reversed else None)
        newest = max((t for t in (seen, payment.updated_at) if t), key=moment, default="")
        record.data = {**record.data, "updated_at": newest, "status": payment.status, "marker": newest}
        if wanted is None or wanted == posted:
            record.status = record.status if posted else RecordStatus.SKIPPED
            if (record.data, record.status) != before:  # a re-read of what is known leaves the row (and its time)
                record.save()
            return None, "payments_unchanged"
        claim = record.data.get("claim_until")
        if claim and datetime.fromisoformat(claim) > now:
            record.save()
            raise PaymentInFlight(f"Payment {payment.payment_id} for bill {bill.target_id} is being written to "
                                  "the ERP by another worker.")
        record.data["claim_until"] = (now + CLAIM_TTL).isoformat()
        record.save()
        return record, wanted


def _post(integration, erp, bill, payment):
    """Write the share to the ERP, or only here when the ERP takes no payments (the plan says so)."""
    if not writes_payments_back(integration):
        return f"recorded here only: {system_name(integration.source)} does not take payments"
    stopped = stopped_capabilities(integration.source).get(can.WRITES_PAYMENTS_BACK)
    if stopped:  # a webhook's payment meets the stop the polled ones meet in the engine (Sync.stopped_by)
        raise HeldBack(f"Held back, not written to {system_name(integration.source)}: the last assumption check "
                       f"of {integration.source.name} found {', '.join(stopped)} contradicted.")
    if erp is not None:
        return erp.post_payment(bill.data.get("reference") or {}, payment)
    with integration.source.connector() as own:
        return own.post_payment(bill.data.get("reference") or {}, payment)


def _apply_to_bill(integration, bill, payment, erp, via, actor):
    record, wanted = _claim(integration, bill, payment)
    if record is None:
        return wanted
    error = reference = None
    try:
        reference = _post(integration, erp, bill, payment)
    except (RecordError, TransientError) as exc:
        error = exc
    with transaction.atomic():
        record = SyncRecord.objects.select_for_update().get(pk=record.pk)
        record.data.pop("claim_until", None)
        record.attempts += 1
        if error is not None:
            record.status = RecordStatus.FAILED
            record.error_class, record.cause, record.subject = error.error_class, error.cause, error.subject
            record.error_detail = str(error) if isinstance(error, HeldBack) else \
                f"Posting the payment to the ERP failed: {error}"
            record.save()
            audit.record("sync.payment.failed", actor=actor, tenant=integration.tenant, obj=record,
                         source_ref=bill.source_ref, target_id=payment.payment_id, message=record.error_detail)
        else:
            # Why it was undone, in words, whether or not the ERP keeps a text of its own.
            undone = {} if wanted == PAID else {"reason": reversal_text(payment)}
            what = f"Payment reversed ({undone['reason']})" if undone else "Paid"
            record.status = RecordStatus.SYNCED if wanted == PAID else RecordStatus.UNDONE
            record.target_id = payment.payment_id
            record.error_class = record.cause = record.subject = record.error_detail = ""
            record.data.update({"posted": wanted, "amount": str(payment.amount),
                                "date": payment.process_date.isoformat() if payment.process_date else "",
                                "erp_reference": reference, **undone})
            record.save()
            audit.record("sync.payment.written_back", actor=actor, tenant=integration.tenant, obj=record,
                         source_ref=bill.source_ref, target_id=payment.payment_id,
                         # Finance reads this on the invoice's page: money and the date as everywhere there.
                         message=f"{what}: "
                                 f"{money(payment.amount, payment.currency)}, "
                                 f"{f'dated {day(payment.process_date)}' if payment.process_date else 'without a date'}"
                                 f", seen by {VIA_WORDS.get(via, via)}. {system_name(integration.source)}: {reference}",
                         details={"transformation": {
                             "input": {"payment_id": payment.payment_id, "status": payment.status,
                                       "amount": str(payment.amount), "process_date": record.data["date"]},
                             "output": {"invoice": bill.data.get("reference"), "status": wanted, **undone}}})
    if error is not None:
        raise error
    return "payments_written_back" if wanted == PAID else "payments_reversed"
