"""BILL's receiver reads each sample payload BILL publishes (tests/webhooks/fixtures/bill/, sources in its README):
the generic event it makes of it, and what the event means to ml-connector."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import PaymentFailed
from connectors.bill.webhooks import BillWebhookReceiver
from connectors.models import Connection
from connectors.records import Payment

SAMPLES = Path(__file__).parent / "fixtures" / "bill"
PAYMENT = "stp02ABCDEFGHIJ01234"
BILL, OTHER_BILL = "00n02ABCDEFGHIJ05678", "00n02ABCDEFGHIJ05679"
VENDOR = "00902ABCDEFGHIJ07777"
ORGANIZATION = "00802ABCDEFGHIJK1234"

# event type: (event id, object ids, occurred at)
EXPECTED = {
    "payment.updated": ("3f1c2a9e-5b7d-4e21-9c3a-8d6f0b2e4a71",
                        {"payment": (PAYMENT,), "bill": (BILL,), "vendor": (VENDOR,)},
                        datetime(2026, 12, 17, 23, 56, 52, 127000, tzinfo=UTC)),
    "payment.failed": ("9a7d4c1e-2f3b-4c8a-a6d5-0e1f2b3c4d5e",
                       {"bill": (BILL, OTHER_BILL), "vendor": (VENDOR,)},
                       datetime(2026, 12, 16, 23, 56, 52, 127000, tzinfo=UTC)),
    "bill.created": ("6c2e8a41-0d9f-4b37-8e15-a2c4f6b8d0e2", {"bill": (BILL,), "vendor": (VENDOR,)},
                     datetime(2026, 12, 15, 23, 15, 23, 127000, tzinfo=UTC)),
    "vendor.created": ("0e5b7d93-1a2c-4f68-b9d0-3c4e5f6a7b8c", {"vendor": (VENDOR,)},
                       datetime(2026, 12, 15, 22, 53, 15, 127000, tzinfo=UTC)),
}


def sample(event_type):
    return (SAMPLES / f"{event_type}.json").read_bytes()


def samples_connection():
    """The samples' organization's connection, unsaved: these events are read from the event alone."""
    connection = Connection(system="bill", name="BILL")
    connection.set_credentials({"organization_id": ORGANIZATION})
    return connection


def test_every_sample_has_its_expectations():
    assert sorted(p.stem for p in SAMPLES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("event_type", EXPECTED)
def test_each_sample_parses_into_one_generic_event(event_type):
    body = sample(event_type)
    [event] = BillWebhookReceiver().parse(body)
    event_id, object_ids, occurred_at = EXPECTED[event_type]
    assert (event.event_id, event.type, event.object_ids, event.occurred_at) == (
        event_id, event_type, object_ids, occurred_at)
    assert event.raw == body.decode(), "what is stored is the body as it came"
    assert BillWebhookReceiver().parse(event.raw) == [event], "the stored text reads back as the same event"


@pytest.mark.parametrize("event_type", EXPECTED)
def test_a_sample_sent_json_escaped_reads_the_same(event_type):
    body = sample(event_type)
    [escaped] = BillWebhookReceiver().parse(json.dumps(body.decode()).encode())
    [plain] = BillWebhookReceiver().parse(body)
    assert (escaped.event_id, escaped.type, escaped.object_ids, escaped.occurred_at, escaped.data) == (
        plain.event_id, plain.type, plain.object_ids, plain.occurred_at, plain.data)


def test_a_scheduled_payment_means_a_payment_not_yet_paid():
    receiver = BillWebhookReceiver()
    [event] = receiver.parse(sample("payment.updated"))
    # One bill and not undone: read from the event alone, so BILL is not called.
    payment = receiver.meaning(event, samples_connection())
    assert isinstance(payment, Payment)
    assert (payment.payment_id, payment.bill_ids, payment.amount, payment.currency, payment.status, payment.paid,
            payment.process_date.isoformat(), payment.reference) == (
        PAYMENT, (BILL,), Decimal("228.99"), "USD", "SCHEDULED", False, "2026-12-17", "TXN-2026-0001")


def test_a_failed_payment_names_its_bills_and_bills_reasons():
    receiver = BillWebhookReceiver()
    [event] = receiver.parse(sample("payment.failed"))
    assert receiver.meaning(event, samples_connection()) == PaymentFailed(
        (BILL, OTHER_BILL), "Bank account is inactive.; Bill ID not found.")


@pytest.mark.parametrize("event_type", ["bill.created", "vendor.created"])
def test_events_ml_connector_does_not_use_mean_nothing(event_type):
    receiver = BillWebhookReceiver()
    [event] = receiver.parse(sample(event_type))
    assert receiver.meaning(event, samples_connection()) is None
