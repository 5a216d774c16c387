"""Webhook subscriptions and the events received through them, whichever system sends them."""

import uuid

from django.db import models

from connectors import base
from connectors.models import Connection
from portal.fields import GuardedEncryptedTextField


class WebhookSubscription(models.Model):
    """A webhook subscription on a connection's system; its UUID is in the path the system posts to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="webhook_subscriptions")
    remote_id = models.CharField(max_length=100, blank=True, help_text="The system's subscription id.")
    name = models.CharField(max_length=100)
    events = models.JSONField(default=list)
    notification_url = models.URLField(max_length=500)
    enabled = models.BooleanField(default=True)
    security_key = GuardedEncryptedTextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    disabled_since = models.DateTimeField(null=True, blank=True,
                                          help_text="When the system was last seen to have disabled it.")
    rejected_count = models.PositiveBigIntegerField(
        default=0, editable=False,
        help_text="Requests refused as unsigned, wrongly signed or unreadable, all counted; only the first of each "
                  "kind per hour is kept as a rejected event.")
    last_rejected_at = models.DateTimeField(null=True, blank=True, editable=False)
    caught_up_at = models.DateTimeField(null=True, blank=True, editable=False,
                                        help_text="When the system's event history was last read for missed events.")
    caught_up_events = models.PositiveIntegerField(
        default=0, editable=False,
        help_text="Events found in the system's history that had not reached us, all counted.")

    class Meta:
        ordering = ["connection", "name"]

    def __str__(self):
        return f"{self.name} ({self.connection})"

    @property
    def tenant(self):
        return self.connection.tenant


class WebhookEvent(models.Model):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"
    REJECTED = "rejected"
    STATUSES = [(RECEIVED, "Received"), (PROCESSED, "Processed"), (IGNORED, "Ignored"), (FAILED, "Failed"),
                (REJECTED, "Rejected")]
    # Why a request was refused: rejected events are kept one per kind, subscription and hour.
    # The kinds are the receiver contract's (connectors.base): a system's receiver names them.
    MISSING_SIGNATURE = base.MISSING_SIGNATURE
    NO_KEY = base.NO_KEY
    UNDECRYPTABLE_KEY = base.UNDECRYPTABLE_KEY
    UNREADABLE_BODY = base.UNREADABLE_BODY
    TOO_LARGE = base.TOO_LARGE
    BAD_SIGNATURE = base.BAD_SIGNATURE
    NOT_AN_EVENT = base.NOT_AN_EVENT
    REJECTIONS = base.REFUSALS

    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="webhook_events")
    subscription = models.ForeignKey(WebhookSubscription, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="webhook_events")
    event_id = models.CharField(max_length=100, blank=True)
    event_type = models.CharField(max_length=60, blank=True)
    raw_body = models.TextField(blank=True, help_text="Whole for accepted events; a bounded excerpt for rejected ones.")
    signature_ok = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=STATUSES, default=RECEIVED)
    rejection = models.CharField(max_length=20, choices=REJECTIONS, blank=True)
    reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # Rejected requests carry no trusted event id, so they must not block the real event.
            models.UniqueConstraint(fields=["connection", "event_id"], condition=~models.Q(event_id=""),
                                    name="one_event_per_connection"),
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="event_status_time"),
            models.Index(fields=["connection", "-received_at"], name="event_connection_time"),
            # Every refused request asks whether its kind already has evidence this hour.
            models.Index(fields=["subscription", "rejection", "-received_at"], name="event_rejection_time",
                         condition=models.Q(status="rejected")),
        ]

    def __str__(self):
        return f"{self.event_type or 'event'} {self.event_id or self.pk} ({self.status})"
