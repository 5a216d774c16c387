"""Webhook subscriptions, whichever system sends the events: create or reuse, rotate the key, keep them enabled,
and catch up on events that never reached us. What is said to the system goes through its receiver."""

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from connectors.errors import ConfigurationError, ConnectorError, RecordError, TransientError
from connectors.records import Unreadable
from portal import audit, jobs
from syncs.models import Integration
from syncs.payments import apply_payment
from syncs.run import describe_counters
from webhooks.models import WebhookEvent, WebhookSubscription

# Payments missed while a subscription was disabled are polled from a little before it went quiet.
GAP_MARGIN = timedelta(minutes=30)
# The check runs every 5 minutes; two missed checks mean the portal itself was not running.
DOWN_AFTER = timedelta(minutes=12)


def receiver_of(connection):
    """The connection's system's webhook receiver; ConfigurationError, in words, when the system pushes no events."""
    receiver = connection.spec.webhook_receiver()
    if receiver is None:
        raise ConfigurationError(f"{connection.spec.label} sends no webhooks.")
    return receiver


def notification_url(subscription):
    return settings.PUBLIC_URL.rstrip("/") + reverse("webhook", args=[subscription.connection.system, subscription.pk])


def subscribe(connection, actor):
    """Make sure the connection has a working subscription for the events we need; return it."""
    receiver = receiver_of(connection)
    with connection.connector() as connector:
        return _subscribe(connection, connector, receiver, actor)


def _subscribe(connection, connector, receiver, actor):
    local = WebhookSubscription.objects.filter(connection=connection).first()
    if local and local.remote_id and local.security_key:
        enabled = receiver.check(connector, local.remote_id)
        if enabled is not None:
            if not enabled:
                receiver.enable(connector, local.remote_id)
            return local
        local.remote_id = ""  # deleted on the system's side: create it again
    if local is None:
        local = WebhookSubscription(connection=connection, name=f"ml-connector {connection.tenant.slug}",
                                    events=list(receiver.events), notification_url="")
        local.save()
    local.notification_url = notification_url(local)
    # The idempotency key is the local row's id, so a retry after a crash gets the same subscription.
    local.remote_id, local.security_key = receiver.subscribe(connector, local.name, local.notification_url,
                                                             idempotency_key=str(local.pk))
    local.enabled, local.last_checked_at, local.disabled_since = True, timezone.now(), None
    local.save()
    audit.record("webhook.subscribed", actor=actor, tenant=connection.tenant, obj=local, target_id=local.remote_id,
                 message=f"Subscribed to {', '.join(receiver.events)} at {local.notification_url}")
    return local


def rotate_key(subscription, actor):
    receiver = receiver_of(subscription.connection)
    with subscription.connection.connector() as connector, transaction.atomic():
        subscription.security_key = receiver.rotate_key(connector, subscription.remote_id)
        subscription.save(update_fields=["security_key"])
    audit.record("webhook.key_rotated", actor=actor, tenant=subscription.connection.tenant, obj=subscription,
                 target_id=subscription.remote_id)


def check(subscription, catch_up=False):
    """Re-enable a subscription the system disabled, and fetch from its event history what did not reach us
    (after a re-enable, after the portal was down, or when asked). Returns what it did."""
    receiver = receiver_of(subscription.connection)
    with subscription.connection.connector() as connector:
        return _check(subscription, connector, receiver, catch_up)


def _check(subscription, connector, receiver, catch_up):
    now = timezone.now()
    enabled = receiver.check(connector, subscription.remote_id)
    if enabled is None:
        subscription.enabled = False
        subscription.last_checked_at = now
        subscription.save(update_fields=["enabled", "last_checked_at"])
        return "missing"
    # No check for a while means this portal (and its endpoint) was down: events may have gone undelivered.
    was_down = subscription.last_checked_at is None or now - subscription.last_checked_at > DOWN_AFTER
    if enabled:
        if catch_up or was_down:
            fetch_missed_events(subscription, connector, receiver)
        subscription.enabled, subscription.last_checked_at = True, now
        subscription.save(update_fields=["enabled", "last_checked_at"])
        return "enabled"
    quiet_since = subscription.disabled_since or subscription.last_checked_at or subscription.created_at
    receiver.enable(connector, subscription.remote_id)
    missed = fetch_missed_events(subscription, connector, receiver)
    caught_up = Counter()
    for integration in Integration.objects.filter(target=subscription.connection).select_related("tenant", "source"):
        for payment in connector.payments(quiet_since - GAP_MARGIN):
            if isinstance(payment, Unreadable):
                caught_up["payments_unreadable"] += 1  # the scheduled poll files it as a failed record
                continue
            try:
                caught_up.update(apply_payment(integration, payment, via="gap poll"))
            except (RecordError, TransientError) as exc:
                # Each failed share is on its ledger row; the scheduled poll retries the passing ones.
                caught_up.update(getattr(exc, "outcome", {"payments_failed": 1}))
    subscription.enabled, subscription.disabled_since, subscription.last_checked_at = True, None, now
    subscription.save(update_fields=["enabled", "disabled_since", "last_checked_at"])
    label = subscription.connection.spec.label
    audit.record("webhook.reenabled", actor="system:webhook", tenant=subscription.connection.tenant, obj=subscription,
                 target_id=subscription.remote_id,
                 message=f"{label} had disabled the subscription; re-enabled it, fetched {missed} missed event(s) "
                         f"from its history and polled payments since {quiet_since - GAP_MARGIN:%Y-%m-%d %H:%M}: "
                         f"{describe_counters(caught_up)}")
    return "reenabled"


def fetch_missed_events(subscription, connector, receiver):
    """Store and queue every event in the system's history for this subscription that we never stored. The event id
    is unique per connection, so an event that did arrive, or arrives again, is processed once. Returns how
    many were new."""
    label = subscription.connection.spec.label
    new = unreadable = 0
    for event in receiver.history(connector, subscription.remote_id):
        if isinstance(event, Unreadable):
            unreadable += 1
            continue
        try:
            with transaction.atomic():
                stored = WebhookEvent.objects.create(
                    connection=subscription.connection, subscription=subscription, event_id=event.event_id[:100],
                    event_type=event.type[:60], raw_body=event.raw, signature_ok=False,
                    reason=f"Fetched from {label}'s event history (it had not reached the portal).")
        except IntegrityError:
            continue
        transaction.on_commit(lambda pk=stored.pk: jobs.enqueue("process_webhook_event", pk,
                                                                task_name=f"webhook event {pk}"))
        new += 1
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        caught_up_at=timezone.now(), caught_up_events=F("caught_up_events") + new)
    if new or unreadable:
        audit.record("webhook.caught_up", actor="system:webhook", tenant=subscription.connection.tenant,
                     obj=subscription, target_id=subscription.remote_id,
                     message=f"{new} event(s) that had not reached the portal fetched from {label}'s event history"
                     + (f"; {unreadable} history item(s) held no readable event and were left" if unreadable else ""))
    return new


def check_all():
    results = {}
    for subscription in WebhookSubscription.objects.exclude(remote_id="").select_related("connection__tenant"):
        try:
            results[str(subscription.pk)] = check(subscription)
        except ConnectorError as exc:
            results[str(subscription.pk)] = f"error: {exc}"
    return results
