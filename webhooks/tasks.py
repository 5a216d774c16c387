"""Processing stored webhook events (a django-q2 task), whichever system sent them, and keeping subscriptions
alive. What an event means is its system's receiver's to say (connectors.base.WebhookReceiver.meaning)."""

import logging
from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from connectors.base import PaymentFailed
from connectors.errors import ConnectorError, Deferred
from connectors.records import Payment
from portal import audit, jobs
from portal.fields import CredentialsUnreadable
from syncs.ledger import RETRY_CLASSES
from syncs.models import Integration, SyncRecord
from syncs.payments import apply_payment
from syncs.run import describe_counters
from webhooks import subscriptions
from webhooks.models import WebhookEvent

logger = logging.getLogger("webhooks")
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(minutes=1)
# An event still waiting this long after it arrived was never queued, or its task was lost (requeue_stranded); the
# subscription check runs every five minutes.
STRANDED_AFTER = timedelta(minutes=5)
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
    receiver = event.connection.spec.webhook_receiver()
    if receiver is None:
        return fail(event, f"{event.connection.spec.label} no longer receives webhooks in ml-connector.", retry=False)
    try:
        # What is stored is one event's own text (WebhookReceiver.parse's contract).
        remote = receiver.parse(event.raw_body)[0]
    except (ValueError, IndexError) as exc:  # json's errors are ValueErrors too
        return fail(event, f"The stored body is not a {event.connection.spec.label} event ({exc}).", retry=False)
    try:
        status, reason = handle(event, receiver.meaning(remote, event.connection))
    except CredentialsUnreadable as exc:
        return fail(event, str(exc), retry=False)
    except Deferred as exc:
        # The ERP or the AP platform asked us to stop until a given time: come back then, not at the usual backoff.
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


def handle(event, meaning):
    if isinstance(meaning, str):
        # The receiver's words for an event that is not this connection's to act on (another account's).
        return WebhookEvent.IGNORED, meaning
    integrations = list(Integration.objects.filter(target=event.connection).select_related("tenant", "source"))
    if isinstance(meaning, Payment):
        payment = meaning
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
    if isinstance(meaning, PaymentFailed):
        known = SyncRecord.objects.filter(integration__in=integrations, object_type="bill",
                                          target_id__in=meaning.bill_ids)
        if not known.exists():
            named = ", ".join(meaning.bill_ids) or "(none named)"
            return WebhookEvent.IGNORED, f"Bill(s) {named} were not created by ml-connector."
        for record in known:
            audit.record("sync.payment.bill_payment_failed", actor=ACTOR, tenant=event.connection.tenant,
                         obj=record, source_ref=record.source_ref, target_id=record.target_id,
                         message=f"{event.connection.spec.label} could not pay bill {record.target_id}: "
                                 f"{meaning.reason}")
        return WebhookEvent.PROCESSED, f"Payment failure noted on {known.count()} bill(s): {meaning.reason}"
    return WebhookEvent.IGNORED, f"Event type {event.event_type!r} is not used by ml-connector."


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
    """Scheduled: re-enable subscriptions their system disabled, and poll payments over the gap; then queue again
    the events stored but never processed."""
    results = subscriptions.check_all()
    stranded = requeue_stranded()
    if stranded:
        results["events_queued_again"] = stranded
    return results


def requeue_stranded():
    """Queue again each event still 'received' STRANDED_AFTER after it arrived, with tries left: the web process
    died between storing it and queueing it (its sender, answered no 200, sends it again and meets a duplicate,
    which queues nothing), or the broker lost the task. process_event takes an event once however often it is
    queued. Returns how many."""
    stranded = list(WebhookEvent.objects.filter(
        status=WebhookEvent.RECEIVED, received_at__lt=timezone.now() - STRANDED_AFTER,
        attempts__lt=MAX_ATTEMPTS).values_list("pk", flat=True))
    for pk in stranded:
        jobs.enqueue("process_webhook_event", pk, task_name=f"webhook event {pk}")
    if stranded:
        logger.warning("%d stored webhook event(s) never processed were queued again", len(stranded))
    return len(stranded)
