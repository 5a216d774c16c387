"""POST /webhooks/bill/<subscription id>/: verify, store, answer. No remote call is made here."""

import json
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.fields import Undecryptable
from webhooks.models import WebhookEvent, WebhookSubscription
from webhooks.signature import HEADER, verify
from webhooks.tasks import enqueue_processing

logger = logging.getLogger("webhooks")
EXCERPT = 500


def reject(subscription, status, reason, body):
    WebhookEvent.objects.create(connection=subscription.connection, subscription=subscription,
                                status=WebhookEvent.REJECTED, reason=reason,
                                raw_body=body[:EXCERPT].decode("utf-8", "replace"))
    logger.warning("Webhook for subscription %s rejected: %s", subscription.pk, reason)
    return JsonResponse({"error": reason}, status=status)


def parse_event(body):
    """The event as a dict; BILL may send the payload JSON-escaped as a string, so parse twice then."""
    data = json.loads(body)
    if isinstance(data, str):
        data = json.loads(data)
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        raise ValueError("no metadata object")
    if not data["metadata"].get("eventId"):
        raise ValueError("metadata.eventId is missing")
    return data


@csrf_exempt
@require_POST
def bill_webhook(request, subscription_id):
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return JsonResponse({"error": "Content-Length is not a number."}, status=400)
    if declared > limit:
        return JsonResponse({"error": f"Body larger than {limit} bytes."}, status=413)
    subscription = WebhookSubscription.objects.select_related("connection").filter(pk=subscription_id).first()
    if subscription is None:
        return JsonResponse({"error": "Unknown subscription."}, status=404)
    body = request.body
    if len(body) > limit:
        return JsonResponse({"error": f"Body larger than {limit} bytes."}, status=413)
    key = subscription.security_key
    if isinstance(key, Undecryptable):
        return reject(subscription, 401, "The subscription's security key cannot be decrypted here.", body)
    signature = request.headers.get(HEADER, "")
    if not signature:
        return reject(subscription, 401, f"Missing {HEADER} header.", body)
    if not verify(key, body, signature):
        return reject(subscription, 401, "Signature does not match the body.", body)
    try:
        data = parse_event(body)
    except (UnicodeDecodeError, ValueError) as exc:
        return reject(subscription, 400, f"Signed, but not a BILL event: {exc}", body)
    metadata = data["metadata"]
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                connection=subscription.connection, subscription=subscription, event_id=str(metadata["eventId"])[:100],
                event_type=str(metadata.get("eventType", ""))[:60], raw_body=body.decode("utf-8"), signature_ok=True)
            enqueue_processing(event)
    except IntegrityError:
        return JsonResponse({"status": "duplicate", "eventId": metadata["eventId"]})
    return JsonResponse({"status": "received", "eventId": metadata["eventId"]})
