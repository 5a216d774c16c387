"""Processing BILL webhook events (a django-q2 task), and keeping subscriptions alive."""

import json
import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from connectors.bill.connector import payment_from_bill
from connectors.errors import ConnectorError, DataError, TransientError
from portal import audit
from syncs.models import Integration, SyncRecord
from syncs.payments import apply_payment
from webhooks import subscriptions
from webhooks.models import WebhookEvent

logger = logging.getLogger("webhooks")
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(minutes=1)
ACTOR = "system:webhook"


def enqueue_processing(event, delay=None):
    """Queue the event's processing once the row is committed (never before: the worker would miss it)."""
    if delay is None:
        transaction.on_commit(lambda: async_task("webhooks.tasks.process_event", event.pk,
                                                 task_name=f"webhook event {event.pk}"))
    else:
        Schedule.objects.create(name=f"webhook-event-{event.pk}-retry-{event.attempts}",
                                func="webhooks.tasks.process_event", args=repr((event.pk,)),
                                schedule_type=Schedule.ONCE, repeats=1, next_run=timezone.now() + delay)


def process_event(event_pk):
    """Handle one stored event exactly once, whatever order and however often events arrive."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().select_related("connection__tenant").get(pk=event_pk)
        if event.status not in (WebhookEvent.RECEIVED, WebhookEvent.FAILED):
            return event.status
        event.attempts += 1
        event.save(update_fields=["attempts"])
    data = json.loads(event.raw_body)
    if isinstance(data, str):
        data = json.loads(data)
    try:
        status, reason = handle(event, data)
    except TransientError as exc:
        return fail(event, str(exc), retry=True)
    except (DataError, ConnectorError) as exc:
        # Repeating will not help until someone fixes the cause; then "Process failed events again".
        return fail(event, str(exc), retry=False)
    finish(event, status, reason)
    return status


def handle(event, data):
    integrations = list(Integration.objects.filter(target=event.connection).select_related("tenant", "source"))
    if event.event_type == "payment.updated":
        payment = payment_from_bill(data.get("payment") or {})
        outcome = {}
        for integration in integrations:
            for key, count in apply_payment(integration, payment, via="webhook", actor=ACTOR).items():
                outcome[key] = outcome.get(key, 0) + count
        if not integrations or set(outcome) <= {"payments_ignored"}:
            return WebhookEvent.IGNORED, (f"Payment {payment.payment_id} is for bill(s) {', '.join(payment.bill_ids)}, "
                                          "which ml-connector did not create.")
        return WebhookEvent.PROCESSED, json.dumps(outcome)
    if event.event_type == "payment.failed":
        bill_ids = [b.get("id") for b in (data.get("payment") or {}).get("bills") or [] if b.get("id")]
        errors = "; ".join(e.get("message", "") for e in data.get("errors") or []) or "no reason given"
        known = SyncRecord.objects.filter(integration__in=integrations, object_type="bill", target_id__in=bill_ids)
        if not known.exists():
            return WebhookEvent.IGNORED, f"Bill(s) {', '.join(bill_ids)} were not created by ml-connector."
        for record in known:
            audit.record("sync.payment.bill_payment_failed", actor=ACTOR, tenant=event.connection.tenant,
                         obj=record, source_ref=record.source_ref, target_id=record.target_id,
                         message=f"BILL could not pay bill {record.target_id}: {errors}")
        return WebhookEvent.PROCESSED, f"Payment failure noted on {known.count()} bill(s): {errors}"
    return WebhookEvent.IGNORED, f"Event type {event.event_type!r} is not used by ml-connector."


def finish(event, status, reason):
    WebhookEvent.objects.filter(pk=event.pk).update(status=status, reason=reason, processed_at=timezone.now())
    audit.record(f"webhook.{status}", actor=ACTOR, tenant=event.connection.tenant, obj=event,
                 target_id=event.event_id, message=reason)


def fail(event, reason, retry):
    event.refresh_from_db()
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.FAILED, reason=reason)
    audit.record("webhook.failed", actor=ACTOR, tenant=event.connection.tenant, obj=event, target_id=event.event_id,
                 message=f"Attempt {event.attempts}: {reason}")
    if retry and event.attempts < MAX_ATTEMPTS:
        enqueue_processing(event, delay=RETRY_BASE * 2 ** (event.attempts - 1))
    return WebhookEvent.FAILED


def replay_event(event, actor):
    """Process a failed event again now (admin)."""
    WebhookEvent.objects.filter(pk=event.pk, status=WebhookEvent.FAILED).update(attempts=0)
    audit.record("webhook.replay", actor=actor, tenant=event.connection.tenant, obj=event, target_id=event.event_id)
    return process_event(event.pk)


def check_subscriptions():
    """Scheduled: re-enable subscriptions BILL disabled, and poll payments over the gap."""
    return subscriptions.check_all()
