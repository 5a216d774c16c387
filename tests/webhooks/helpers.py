"""What the webhook tests share: posts to a subscription's endpoint, BILL event bodies, the simulator's bills."""

import json
from contextlib import contextmanager

from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse

from connectors.bill.webhooks import sign
from connectors.models import Connection
from sandbox.bill import simulator as bill_sandbox
from webhooks.models import WebhookSubscription

KEY = "the-security-key"


def post(client, subscription, body, signature=None, **extra):
    headers = {"HTTP_X_BILL_SHA_SIGNATURE": signature} if signature is not None else {}
    return client.post(reverse("webhook", args=["bill", subscription.pk]), data=body, content_type="application/json",
                       **headers, **extra)


def signed_post(client, subscription, body, key=KEY):
    return post(client, subscription, body, sign(key, body))


def event_body(event_id="evt-1", payment=None, event_type="payment.updated", organization="008x", **top):
    if payment is None:
        payment = {"id": "stpX", "billIds": ["00nX"], "amount": 5, "singleStatus": "CLEARED"}
    return json.dumps({"metadata": {"eventId": event_id, "subscriptionId": "sub1", "organizationId": organization,
                                    "eventType": event_type, "version": "1"},
                       "payment": payment, **top}, indent=2).encode()


def make_subscription(tenant, name="BILL", **fields):
    connection = Connection.objects.create(tenant=tenant, system="bill", name=name)
    return WebhookSubscription.objects.create(**{"connection": connection, "name": "s",
                                                 "notification_url": "https://x.test/", "security_key": KEY,
                                                 "remote_id": "sub1", **fields})


def bills(sandbox):
    return sorted(sandbox.state("bill")["organizations"][bill_sandbox.ORG_ID]["bills"],
                  key=lambda b: b["invoice"]["invoiceNumber"])


@contextmanager
def keeping_the_test_connection():
    """As Django's test client does: a finished request would otherwise close the test's database connection
    (a no-op for in-memory SQLite, the end of the test's transaction on PostgreSQL)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
