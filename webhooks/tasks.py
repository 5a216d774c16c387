"""Processing BILL webhook events (a django-q2 task), and keeping subscriptions alive."""

import logging
from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from connectors.bill.connector import bill_list, bill_object, bill_text, payment_from_bill
from connectors.errors import ConnectorError, DataError, Deferred
from portal import audit, jobs
from portal.fields import CredentialsUnreadable
from syncs.engine import RETRY_CLASSES, describe_counters
from syncs.models import Integration, SyncRecord
from syncs.payments import apply_payment
from webhooks import subscriptions
from webhooks.events import parse_event
from webhooks.models import WebhookEvent

logger = logging.getLogger("webhooks")
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(minutes=1)
ACTOR = "system:webhook"


def enqueue_processing(event, delay=None):
    """Queue the event's processing once the row is committed (never before: the worker would miss it)."""
    if delay is None:
        transaction.on_commit(lambda: jobs.enqueue("process_webhook_event", event.pk,
                                                   task_name=f"webhook event {event.pk}"))
    else:
        Schedule.objects.create(name=f"webhook-event-{event.pk}-retry-{event.attempts}",
                                func=jobs.func_for("process_webhook_event"), args=repr((event.pk,)),
                                schedule_type=Schedule.ONCE, repeats=1, next_run=timezone.now() + delay)




def process_event(event_pk):
    """Handle one stored event exactly once, whatever order and however often events arrive."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().select_related("connection__tenant").get(pk=event_pk)
        if event.status not in (WebhookEvent.RECEIVED, WebhookEvent.FAILED):
            return event.status
        event.attempts += 1
        event.save(update_fields=["attempts"])
    try:
        data = parse_event(event.raw_body)
    except ValueError as exc:  # json's errors are ValueErrors too
        return fail(event, f"The stored body is not a BILL event ({exc}).", retry=False)
    try:
        status, reason = handle(event, data)
    except CredentialsUnreadable as exc:
        return fail(event, str(exc), retry=False)
    except Deferred as exc:
        # The ERP or BILL asked us to stop until a given time: come back then, not at the usual backoff.
        return fail(event, str(exc), retry=True, delay=max(exc.until - timezone.now(), RETRY_BASE))
    except ConnectorError as exc:
        # Passing causes (a timeout, a conflict, a lock) are tried again with backoff; the others wait for
        # someone to fix the cause, then "Process failed events again".
        return fail(event, str(exc), retry=exc.error_class in RETRY_CLASSES)
    except Exception as exc:
        # A bug, not a property of the event: the traceback goes to the log for whoever fixes it, the event
        # says so in words and waits to be processed again instead of staying "received" for ever.
        logger.exception("Webhook event %s (%s) stopped on an unexpected error", event.pk, event.event_type)
        return fail(event, f"Processing stopped on an unexpected {type(exc).__name__} in ml-connector (the "
                           f"traceback is in the task log under webhook event {event.pk}). Once that is "
                           "fixed, process the event again.", retry=False)
    finish(event, status, reason)
    return status


def event_payment(event, body):
    """The event's payment. An event names the bills a payment covers but not each one's amount: for a
    payment of several bills the payment is read again from BILL, which gives the shares. An event carries no
    voidInfo either: an undone payment is read again for why and when it was voided (docs/ASSUMPTIONS.md B21)."""
    try:
        payment = payment_from_bill(body)
        if not payment.reversed:
            return payment
        payment_id = payment.payment_id
    except DataError as exc:
        payment_id = body.get("id") if isinstance(body, dict) else None
        if exc.field != "billPayments" or not isinstance(payment_id, str) or not payment_id:
            raise
    with event.connection.connector() as connector:
        return connector.payment(payment_id)


def handle(event, data):
    integrations = list(Integration.objects.filter(target=event.connection).select_related("tenant", "source"))
    if event.event_type == "payment.updated":
        payment = event_payment(event, data.get("payment"))
        if not payment.bill_ids:
            return WebhookEvent.IGNORED, f"Payment {payment.payment_id} names no bill."
        outcome, first_error = Counter(), None
        for integration in integrations:
            # Every integration on this connection gets its share, even when another one's ERP refused.
            try:
                outcome.update(apply_payment(integration, payment, via="webhook", actor=ACTOR))
            except ConnectorError as exc:
                outcome.update(getattr(exc, "outcome", {}))
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        if not integrations or set(outcome) <= {"payments_ignored"}:
            return WebhookEvent.IGNORED, (f"Payment {payment.payment_id} is for bill(s) {', '.join(payment.bill_ids)}, "
                                          "which ml-connector did not create.")
        return WebhookEvent.PROCESSED, describe_counters(outcome).capitalize() + "."
    if event.event_type == "payment.failed":
        bill_ids, errors = failed_payment(data)
        known = SyncRecord.objects.filter(integration__in=integrations, object_type="bill", target_id__in=bill_ids)
        if not known.exists():
            named = ", ".join(bill_ids) or "(none named)"
            return WebhookEvent.IGNORED, f"Bill(s) {named} were not created by ml-connector."
        for record in known:
            audit.record("sync.payment.bill_payment_failed", actor=ACTOR, tenant=event.connection.tenant,
                         obj=record, source_ref=record.source_ref, target_id=record.target_id,
                         message=f"BILL could not pay bill {record.target_id}: {errors}")
        return WebhookEvent.PROCESSED, f"Payment failure noted on {known.count()} bill(s): {errors}"
    return WebhookEvent.IGNORED, f"Event type {event.event_type!r} is not used by ml-connector."


def failed_payment(data):
    """(bill ids, BILL's reasons in one line) of a payment.failed event, whose payment has no id yet."""
    where = "BILL payment.failed event"
    payment = bill_object(data.get("payment"), "payment", where)
    bill_ids = []
    for n, bill in enumerate(bill_list(payment.get("bills"), "payment.bills", where)):
        bill_id = bill_text(bill_object(bill, f"payment.bills[{n}]", where).get("id"), f"payment.bills[{n}].id", where)
        if bill_id:
            bill_ids.append(bill_id)
    messages = [bill_text(bill_object(error, f"errors[{n}]", where).get("message"), f"errors[{n}].message", where)
                for n, error in enumerate(bill_list(data.get("errors"), "errors", where))]
    return bill_ids, "; ".join(m for m in messages if m) or "no reason given"


def finish(event, status, reason):
    WebhookEvent.objects.filter(pk=event.pk).update(status=status, reason=reason, processed_at=timezone.now())
    audit.record(f"webhook.{status}", actor=ACTOR, tenant=event.connection.tenant, obj=event,
                 target_id=event.event_id, message=reason)


def fail(event, reason, retry, delay=None):
    event.refresh_from_db()
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.FAILED, reason=reason)
    audit.record("webhook.failed", actor=ACTOR, tenant=event.connection.tenant, obj=event, target_id=event.event_id,
                 message=f"Attempt {event.attempts}: {reason}")
    if retry and event.attempts < MAX_ATTEMPTS:
        enqueue_processing(event, delay=delay or RETRY_BASE * 2 ** (event.attempts - 1))
    return WebhookEvent.FAILED


def replay_event(event, actor):
    """Process a failed event again now (admin)."""
    WebhookEvent.objects.filter(pk=event.pk, status=WebhookEvent.FAILED).update(attempts=0)
    audit.record("webhook.replay", actor=actor, tenant=event.connection.tenant, obj=event, target_id=event.event_id)
    return process_event(event.pk)


def check_subscriptions():
    """Scheduled: re-enable subscriptions BILL disabled, and poll payments over the gap."""
    return subscriptions.check_all()
