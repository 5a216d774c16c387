"""A BILL event is acted on only through the connection of the organization it names (metadata.organizationId): one
signed with our key but naming another organization is stored and ignored in words, never written back."""

import json

import pytest

from connectors.bill.webhooks import BillWebhookReceiver
from connectors.models import Connection
from portal.models import AuditEntry
from sandbox.bill import simulator as bill_sandbox
from tests.webhooks.helpers import bills, event_body, signed_post
from tests.webhooks.test_bill_samples import ORGANIZATION, sample
from webhooks.models import WebhookEvent
from webhooks.tasks import process_event

OTHER_ORG = "008IFSDEMO0000000"


def test_an_event_naming_another_organization_is_ignored_and_never_written_back(demo, sandbox, client):
    _, subscription = demo
    sandbox.control("bill/deliver")  # the bill.created backlog (not subscribed: nothing to send)
    sandbox.control("bill/pay", {"billId": bills(sandbox)[0]["id"]})
    assert sandbox.control("bill/deliver")["delivered"] == 1
    genuine = WebhookEvent.objects.get(event_type="payment.updated")
    forged = json.loads(genuine.raw_body)
    assert forged["metadata"]["organizationId"] == bill_sandbox.ORG_ID
    forged["metadata"].update(eventId="evt-other-org", organizationId=OTHER_ORG)
    body = json.dumps(forged).encode()

    response = signed_post(client, subscription, body, key=subscription.security_key)

    assert response.status_code == 200, "a permanent refusal answered otherwise would be sent again and again"
    assert response.json() == {"status": "received", "eventId": "evt-other-org"}
    event = WebhookEvent.objects.get(event_id="evt-other-org")
    assert process_event(event.pk) == WebhookEvent.IGNORED
    event.refresh_from_db()
    assert event.reason == (f"The event is about BILL organization {OTHER_ORG}, not {bill_sandbox.ORG_ID} that this "
                            "connection reaches: nothing was done with it.")
    assert sandbox.state("infor")["payments"] == []
    assert AuditEntry.objects.get(action="webhook.ignored").message == event.reason
    assert process_event(genuine.pk) == WebhookEvent.PROCESSED, "the organization's own event is still acted on"
    assert len(sandbox.state("infor")["payments"]) == 1


@pytest.mark.parametrize("organization", [bill_sandbox.ORG_ID, None])
def test_an_event_of_the_connections_organization_or_naming_none_is_read_as_before(client, local_subscription,
                                                                                     organization):
    connection = local_subscription.connection
    connection.set_credentials({"organization_id": bill_sandbox.ORG_ID})
    connection.save()
    body = json.loads(event_body("evt-own"))
    if organization is None:
        del body["metadata"]["organizationId"]
    else:
        body["metadata"]["organizationId"] = organization
    signed_post(client, local_subscription, json.dumps(body).encode())
    event = WebhookEvent.objects.get(event_id="evt-own")
    assert process_event(event.pk) == WebhookEvent.IGNORED
    event.refresh_from_db()
    assert event.reason == "Payment stpX is for bill(s) 00nX, which ml-connector did not create."


@pytest.mark.parametrize("event_type", ["payment.updated", "payment.failed"])
def test_a_published_sample_read_through_another_organizations_connection_means_nothing(event_type):
    connection = Connection(system="bill", name="BILL")
    connection.set_credentials({"organization_id": OTHER_ORG})
    receiver = BillWebhookReceiver()
    [event] = receiver.parse(sample(event_type))
    assert receiver.meaning(event, connection) == (
        f"The event is about BILL organization {ORGANIZATION}, not {OTHER_ORG} that this connection reaches: nothing "
        "was done with it.")
