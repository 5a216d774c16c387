"""One endpoint for every system: /webhooks/<system>/<subscription id>/ finds the system's receiver through the
registry. BILL's subscriptions made before keep their URL, and webhooks/ names no system."""

import ast
import json
from pathlib import Path

import pytest
from django.urls import reverse

from connectors import capabilities as can
from connectors.base import BAD_SIGNATURE, Refusal, RemoteEvent, WebhookReceiver
from connectors.bill.webhooks import sign
from connectors.errors import ConfigurationError
from connectors.models import Connection
from connectors.registry import SYSTEMS
from connectors.spec import AP, System
from tests.webhooks.helpers import KEY, event_body
from webhooks import subscriptions
from webhooks.models import WebhookEvent, WebhookSubscription
from webhooks.tasks import process_event

WEBHOOKS = Path(__file__).resolve().parents[2] / "webhooks"


def test_an_existing_bill_subscription_is_still_answered_at_its_url(client, local_subscription, settings):
    # The URL BILL was given when the endpoint was BILL's alone, as subscriptions stored it then.
    settings.PUBLIC_URL = "https://portal.example.com"
    old_url = f"/webhooks/bill/{local_subscription.pk}/"
    assert subscriptions.notification_url(local_subscription) == "https://portal.example.com" + old_url
    body = event_body("evt-old-url")
    response = client.post(old_url, data=body, content_type="application/json",
                           HTTP_X_BILL_SHA_SIGNATURE=sign(KEY, body))
    assert response.status_code == 200 and response.json() == {"status": "received", "eventId": "evt-old-url"}
    assert WebhookEvent.objects.get(event_id="evt-old-url").signature_ok


@pytest.mark.parametrize("system", ["infor", "avidxchange", "nosuchsystem"])
def test_a_subscription_is_answered_only_under_its_own_system(client, local_subscription, system):
    body = event_body()
    response = client.post(f"/webhooks/{system}/{local_subscription.pk}/", data=body,
                           content_type="application/json", HTTP_X_BILL_SHA_SIGNATURE=sign(KEY, body))
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()
    local_subscription.refresh_from_db()
    assert local_subscription.rejected_count == 0, "a request for another system is no refusal of this one"


class TokenReceiver(WebhookReceiver):
    """A made-up system that pushes a JSON list of events, signed by the key itself in x-token."""

    events = ("thing.changed",)
    signature_header = "x-token"

    def verify(self, body, headers, subscription):
        return None if headers["x-token"] == subscription.security_key else Refusal(BAD_SIGNATURE, "Wrong token.")

    def parse(self, body):
        items = json.loads(body)
        if not isinstance(items, list):
            items = [items]
        return [RemoteEvent(event_id=item["id"], type=item["type"], raw=json.dumps(item), data=item,
                            object_ids={"thing": (item["thing"],)}) for item in items]

    def meaning(self, event, connection):
        return None


@pytest.fixture
def pushing_system(monkeypatch, tenant):
    """A system registered as every system is (one System, one registry entry) whose receiver is TokenReceiver."""
    system = System(id="pusher", label="Pusher", kind=AP, credential_fields=(),
                    capabilities=frozenset({can.PAYMENTS_BY_WEBHOOK}),
                    webhook_receiver_class_path=f"{__name__}.TokenReceiver")
    monkeypatch.setitem(SYSTEMS, system.id, system)
    connection = Connection.objects.create(tenant=tenant, system=system.id, name="Pusher")
    return WebhookSubscription.objects.create(connection=connection, name="p", notification_url="https://x.test/",
                                              security_key="token-1", remote_id="r1")


def test_another_system_is_received_through_its_own_receiver(client, pushing_system,
                                                             django_capture_on_commit_callbacks):
    url = reverse("webhook", args=["pusher", pushing_system.pk])
    assert url == f"/webhooks/pusher/{pushing_system.pk}/"
    body = json.dumps([{"id": "e1", "type": "thing.changed", "thing": "t1"},
                       {"id": "e2", "type": "thing.changed", "thing": "t2"}])
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(url, data=body, content_type="application/json", HTTP_X_TOKEN="token-1")
    assert response.status_code == 200 and response.json() == {"status": "received", "eventIds": ["e1", "e2"]}
    assert len(queued) == 2, "each event is queued on its own"
    events = list(WebhookEvent.objects.order_by("event_id"))
    assert [(e.event_id, e.event_type, json.loads(e.raw_body)["thing"]) for e in events] == [
        ("e1", "thing.changed", "t1"), ("e2", "thing.changed", "t2")]
    assert process_event(events[0].pk) == WebhookEvent.IGNORED
    events[0].refresh_from_db()
    assert events[0].reason == "Event type 'thing.changed' is not used by ml-connector."

    assert client.post(url, data=body, content_type="application/json", HTTP_X_TOKEN="token-1").json()["status"] \
        == "duplicate"
    refused = client.post(url, data=body, content_type="application/json", HTTP_X_TOKEN="guess")
    assert refused.status_code == 401 and refused.json() == {"error": "Wrong token."}
    assert client.post(url, data=body, content_type="application/json").json() == {"error": "Missing x-token header."}


def test_a_system_that_pushes_payments_names_its_receiver():
    with pytest.raises(ValueError, match="names no webhook receiver"):
        System(id="x", label="X", kind=AP, credential_fields=(), capabilities=frozenset({can.PAYMENTS_BY_WEBHOOK}))


def test_subscribing_a_connection_to_a_system_without_webhooks_says_so(tenant):
    connection = Connection.objects.create(tenant=tenant, system="avidxchange", name="AvidXchange")
    with pytest.raises(ConfigurationError, match="AvidXchange.* sends no webhooks"):
        subscriptions.subscribe(connection, "ops")


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_webhooks_imports_no_system():
    systems = {f"connectors.{system_id}" for system_id in SYSTEMS}
    found = {f"{path.relative_to(WEBHOOKS.parent)}: {module}" for path in WEBHOOKS.rglob("*.py")
             for module in imported_modules(path) if any(module == s or module.startswith(s + ".") for s in systems)}
    assert not found
