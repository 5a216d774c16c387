"""POST /webhooks/<system>/<subscription id>/: the system's receiver verifies and parses; here the body is read
within its limit, refusals are counted, events stored and queued, and the sender answered. No remote call is made
here."""

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors.registry import SYSTEMS
from webhooks.models import WebhookEvent, WebhookSubscription
from webhooks.tasks import enqueue_processing

logger = logging.getLogger("webhooks")
EXCERPT = 500
# One stored example of each kind of refusal per subscription and hour is enough to diagnose a
# misconfigured sender (a rotated key, a proxy that strips the signature header), while a flood of
# forged requests costs one row an hour instead of one per request. Every refusal is still counted.
REJECTION_EVIDENCE_WINDOW = timedelta(hours=1)


class Rejection(JsonResponse):
    """A refusal that is written down only once the server has sent it (close() runs after the last byte):
    recording it waits for the database, and the refused sender need not."""

    def __init__(self, subscription, kind, status, reason, body=b""):
        super().__init__({"error": reason}, status=status)
        self.rejection = (subscription, kind, reason, body)

    def close(self):
        try:
            rejections.add(*self.rejection)
        except DatabaseError:
            logger.exception("Could not record rejected webhook requests for subscription %s", self.rejection[0].pk)
        finally:
            super().close()


@dataclass
class Pending:
    connection_id: int
    count: int = 0
    last_at: datetime | None = None
    evidence: dict = field(default_factory=dict)  # kind -> (reason, body excerpt), the first seen


class RejectionLedger:
    """Refusals not yet written down, per process.

    On SQLite, writing waits for the database's one write lock, which every task worker's transaction takes as
    well. If each refusal waited for it after answering, a flood would still tie up every server thread and real
    events would queue for a thread. So one refusal writes, and those arriving meanwhile add themselves to its
    next batch and return at once: a flood holds at most one thread per process. Counts not yet written when a
    process dies are lost; that is the price of not making real events wait.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pending = {}
        self._writing = False

    def add(self, subscription, kind, reason, body):
        with self._lock:
            entry = self._pending.setdefault(subscription.pk, Pending(subscription.connection_id))
            entry.count += 1
            entry.last_at = timezone.now()
            entry.evidence.setdefault(kind, (reason, body[:EXCERPT]))
            if self._writing:
                return
            self._writing = True
        try:
            while batch := self._take():
                write_rejections(batch)
        except BaseException:
            with self._lock:
                self._writing = False
            raise

    def _take(self):
        with self._lock:
            batch, self._pending = self._pending, {}
            self._writing = bool(batch)
            return batch


def write_rejections(batch):
    for subscription_id, entry in batch.items():
        with transaction.atomic():
            # The counter's row lock also makes writers in other processes take turns per subscription, so at
            # most one of them finds no evidence of a kind and stores it.
            WebhookSubscription.objects.filter(pk=subscription_id).update(
                rejected_count=F("rejected_count") + entry.count, last_rejected_at=entry.last_at)
            for kind, (reason, excerpt) in entry.evidence.items():
                seen = WebhookEvent.objects.filter(
                    subscription_id=subscription_id, status=WebhookEvent.REJECTED, rejection=kind,
                    received_at__gte=timezone.now() - REJECTION_EVIDENCE_WINDOW).exists()
                if not seen:
                    WebhookEvent.objects.create(connection_id=entry.connection_id, subscription_id=subscription_id,
                                                status=WebhookEvent.REJECTED, rejection=kind, reason=reason,
                                                raw_body=excerpt.decode("utf-8", "replace"))
                    logger.warning("Webhook for subscription %s rejected (%s): %s [further refusals of this kind "
                                   "within the hour are only counted]", subscription_id, kind, reason)


rejections = RejectionLedger()


class UnreadableBody(Exception):
    pass


def read_body(request, limit):
    """The body, never more than limit + 1 bytes of it (one more than allowed tells us it is too large)."""
    environ = request.environ
    if environ.get("wsgi.input_terminated"):
        # gunicorn (production) sets this: wsgi.input ends where the body ends, chunked bodies arrive
        # dechunked, and there may be no Content-Length. Django's own stream would stop at the missing
        # Content-Length and hand us an empty body, so read the server's stream directly.
        stream = environ["wsgi.input"]
    elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        # wsgiref (runserver, the test servers) passes the chunk framing through undecoded and Django reads
        # nothing without a Content-Length: refuse plainly instead of checking a signature against nothing.
        raise UnreadableBody("This server cannot read a chunked body; send it with a Content-Length.")
    else:
        stream = request  # ends at the Content-Length
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@csrf_exempt
@require_POST
def webhook(request, system, subscription_id):
    spec = SYSTEMS.get(system)
    receiver = spec.webhook_receiver() if spec else None
    subscription = WebhookSubscription.objects.filter(pk=subscription_id, connection__system=system).first()
    if receiver is None or subscription is None:
        return JsonResponse({"error": "Unknown subscription."}, status=404)
    # Decided on the headers alone: an unsigned request is refused before a byte of its body is read.
    refusal = receiver.refuse_unread(request.headers, subscription)
    if refusal is not None:
        return Rejection(subscription, refusal.kind, refusal.status, refusal.reason)
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    too_large = f"Body larger than {limit} bytes."
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return Rejection(subscription, WebhookEvent.UNREADABLE_BODY, 400, "Content-Length is not a number.")
    if declared > limit:
        return Rejection(subscription, WebhookEvent.TOO_LARGE, 413, too_large)
    try:
        body = read_body(request, limit)
    except UnreadableBody as exc:
        return Rejection(subscription, WebhookEvent.UNREADABLE_BODY, 411, str(exc))
    if len(body) > limit:
        return Rejection(subscription, WebhookEvent.TOO_LARGE, 413, too_large, body)
    refusal = receiver.verify(body, request.headers, subscription)
    if refusal is not None:
        return Rejection(subscription, refusal.kind, refusal.status, refusal.reason, body)
    try:
        events = receiver.parse(body)
        if not events:
            raise ValueError("it holds no event")
    except ValueError as exc:  # UnicodeDecodeError is one too
        return Rejection(subscription, WebhookEvent.NOT_AN_EVENT, 400,
                         f"Signed, but not a {spec.label} event: {exc}", body)
    statuses = [store(subscription, event) for event in events]
    status = "received" if "received" in statuses else "duplicate"
    if len(events) == 1:
        return JsonResponse({"status": status, "eventId": events[0].event_id})
    return JsonResponse({"status": status, "eventIds": [event.event_id for event in events]})


def store(subscription, event):
    """Store a verified event and queue its processing; "duplicate" when the connection already has it."""
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(
                connection_id=subscription.connection_id, subscription=subscription, event_id=event.event_id[:100],
                event_type=event.type[:60], raw_body=event.raw, signature_ok=True)
            enqueue_processing(stored)
    except IntegrityError:
        return "duplicate"
    return "received"
