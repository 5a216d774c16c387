"""BILL webhook subscriptions: create or reuse, rotate the key, and keep them enabled."""

from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from connectors.errors import ConnectorError, DataError, RecordError, TransientError
from connectors.records import Unreadable
from portal import audit, jobs
from syncs.engine import describe_counters
from syncs.models import Integration
from syncs.payments import apply_payment
from webhooks.events import parse_event
from webhooks.models import WebhookEvent, WebhookSubscription

EVENTS = ["payment.updated", "payment.failed"]
MAX_PER_ORGANIZATION = 10
# Payments missed while a subscription was disabled are polled from a little before it went quiet.
GAP_MARGIN = timedelta(minutes=30)
# The check runs every 5 minutes; two missed checks mean the portal itself was not running.
DOWN_AFTER = timedelta(minutes=12)


def notification_url(subscription):
    return settings.PUBLIC_URL.rstrip("/") + reverse("bill-webhook", args=[subscription.pk])


def subscribe(connection, actor):
    """Make sure the connection has a working subscription for the events we need; return it."""
    with connection.connector() as connector:
        return _subscribe(connection, connector.client, actor)


def _subscribe(connection, client, actor):
    local = WebhookSubscription.objects.filter(connection=connection).first()
    if local and local.remote_id and local.security_key:
        remote = next((s for s in client.subscriptions() if s["id"] == local.remote_id), None)
        if remote is not None:
            if not remote["status"]["enabled"]:
                client.enable_subscription(local.remote_id)
            return local
        local.remote_id = ""  # deleted on BILL's side: create it again
    if local is None:
        local = WebhookSubscription(connection=connection, name=f"ml-connector {connection.tenant.slug}",
                                    events=EVENTS, notification_url="")
        local.save()
    local.notification_url = notification_url(local)
    existing = client.subscriptions()
    mine = next((s for s in existing if s["notificationUrl"] == local.notification_url), None)
    if mine is not None:
        # Ours on BILL's side but the key is lost here: a new key makes it usable again.
        local.remote_id = mine["id"]
        local.security_key = client.rotate_security_key(mine["id"])
        if not mine["status"]["enabled"]:
            client.enable_subscription(mine["id"])
    else:
        if len(existing) >= MAX_PER_ORGANIZATION:
            raise DataError(f"BILL allows {MAX_PER_ORGANIZATION} webhook subscriptions per organization and this one "
                            "has them all. Delete one in BILL first; until then payments arrive by polling.")
        # The idempotency key is the local row's id, so a retry after a crash gets the same subscription.
        created = client.create_subscription(local.name, EVENTS, local.notification_url,
                                             idempotency_key=str(local.pk))
        local.remote_id, local.security_key = created["id"], created["securityKey"]
    local.enabled, local.last_checked_at, local.disabled_since = True, timezone.now(), None
    local.save()
    audit.record("webhook.subscribed", actor=actor, tenant=connection.tenant, obj=local, target_id=local.remote_id,
                 message=f"Subscribed to {', '.join(EVENTS)} at {local.notification_url}")
    return local


def rotate_key(subscription, actor):
    with subscription.connection.connector() as connector, transaction.atomic():
        subscription.security_key = connector.client.rotate_security_key(subscription.remote_id)
        subscription.save(update_fields=["security_key"])
    audit.record("webhook.key_rotated", actor=actor, tenant=subscription.connection.tenant, obj=subscription,
                 target_id=subscription.remote_id)


def check(subscription, catch_up=False):
    """Re-enable a subscription BILL disabled, and fetch from BILL's event history what did not reach us
    (after a re-enable, after the portal was down, or when asked). Returns what it did."""
    with subscription.connection.connector() as connector:
        return _check(subscription, connector, catch_up)


def _check(subscription, connector, catch_up):
    now = timezone.now()
    remote = next((s for s in connector.client.subscriptions() if s["id"] == subscription.remote_id), None)
    if remote is None:
        subscription.enabled = False
        subscription.last_checked_at = now
        subscription.save(update_fields=["enabled", "last_checked_at"])
        return "missing"
    # No check for a while means this portal (and its endpoint) was down: events may have gone undelivered.
    was_down = subscription.last_checked_at is None or now - subscription.last_checked_at > DOWN_AFTER
    if remote["status"]["enabled"]:
        if catch_up or was_down:
            fetch_missed_events(subscription, connector.client)
        subscription.enabled, subscription.last_checked_at = True, now
        subscription.save(update_fields=["enabled", "last_checked_at"])
        return "enabled"
    quiet_since = subscription.disabled_since or subscription.last_checked_at or subscription.created_at
    connector.client.enable_subscription(subscription.remote_id)
    missed = fetch_missed_events(subscription, connector.client)
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
    audit.record("webhook.reenabled", actor="system:webhook", tenant=subscription.connection.tenant, obj=subscription,
                 target_id=subscription.remote_id,
                 message=f"BILL had disabled the subscription; re-enabled it, fetched {missed} missed event(s) from "
                         f"its history and polled payments since {quiet_since - GAP_MARGIN:%Y-%m-%d %H:%M}: "
                         f"{describe_counters(caught_up)}")
    return "reenabled"


def fetch_missed_events(subscription, client):
    """Store and queue every event in BILL's history for this subscription that we never stored. The event id
    is unique per connection, so an event that did arrive, or arrives again, is processed once. Returns how
    many were new."""
    new = unreadable = 0
    for item in client.event_history(subscription.remote_id):
        # The event id the endpoint dedups on is the body's own metadata.eventId.
        payload = item.get("payload") if isinstance(item, dict) else None
        try:
            event_id = str(parse_event(payload)["metadata"]["eventId"])
        except (TypeError, ValueError):
            unreadable += 1
            continue
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    connection=subscription.connection, subscription=subscription, event_id=event_id[:100],
                    event_type=str(item.get("type", ""))[:60], raw_body=payload, signature_ok=False,
                    reason="Fetched from BILL's event history (it had not reached the portal).")
        except IntegrityError:
            continue
        transaction.on_commit(lambda pk=event.pk: jobs.enqueue("process_webhook_event", pk,
                                                               task_name=f"webhook event {pk}"))
        new += 1
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        caught_up_at=timezone.now(), caught_up_events=F("caught_up_events") + new)
    if new or unreadable:
        audit.record("webhook.caught_up", actor="system:webhook", tenant=subscription.connection.tenant,
                     obj=subscription, target_id=subscription.remote_id,
                     message=f"{new} event(s) that had not reached the portal fetched from BILL's event history"
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
