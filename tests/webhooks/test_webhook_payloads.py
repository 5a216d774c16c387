"""Signed events with unexpected contents: each ends failed with its reason in words, never stuck "received"."""

import logging
from decimal import Decimal

import pytest
from django_q.models import Schedule

from connectors.bill import webhooks as bill_webhooks
from connectors.bill.connector import payment_from_bill
from connectors.bill.webhooks import sign
from portal.models import AuditEntry
from tests.webhooks.helpers import bills, event_body, signed_post
from webhooks.models import WebhookEvent
from webhooks.tasks import process_event, replay_event

GOOD = {"id": "stpX", "billIds": ["00nX"], "amount": 5, "singleStatus": "CLEARED"}

BAD_PAYMENTS = {
    "amount-abc": ({**GOOD, "amount": "abc"}, "amount 'abc' is not a number"),
    "amount-nan": ({**GOOD, "amount": "NaN"}, "amount 'NaN' is not a number"),
    "allocation-amount": ({**GOOD, "billPayments": [{"billId": "00nX", "amount": "x"}]},
                          "billPayments[0].amount 'x' is not a number"),
    "payment-list": ([GOOD], "payment should be an object, got a list"),
    "bill-ids-string": ({**GOOD, "billIds": "00nX"}, "billIds should be a list, got a string"),
    "bill-id-number": ({**GOOD, "billIds": [42]}, "billIds[0] should be a string, got a number"),
    "disbursement-list": ({**GOOD, "disbursementInfo": []}, "disbursementInfo should be an object, got a list"),
    "check-number-fraction": ({**GOOD, "disbursementInfo": {"checkDisbursement": {"checkNumber": 12.5}}},
                              "checkNumber should be a string or a whole number, got a number 12.5"),
    "process-date-number": ({**GOOD, "processDate": 20261120}, "processDate 20261120 is not a date"),
    "updated-time-number": ({**GOOD, "updatedTime": 1764540000}, "updatedTime 1764540000 is not a timestamp"),
    "no-id": ({k: v for k, v in GOOD.items() if k != "id"}, "A BILL payment has no id"),
}


def received(client, subscription, body):
    assert signed_post(client, subscription, body).status_code == 200
    return WebhookEvent.objects.get(signature_ok=True)


def assert_failed_in_words(event, expected):
    event.refresh_from_db()
    assert event.status == WebhookEvent.FAILED
    assert expected in event.reason
    assert "Traceback" not in event.reason and "{" not in event.reason
    assert not Schedule.objects.filter(name__startswith=f"webhook-event-{event.pk}-retry").exists(), \
        "the same data will not parse later: no retry"
    assert AuditEntry.objects.filter(action="webhook.failed", object_id=str(event.pk)).exists()


@pytest.mark.parametrize("payment, expected", BAD_PAYMENTS.values(), ids=BAD_PAYMENTS.keys())
def test_a_payment_that_does_not_parse_fails_with_the_field_named(client, local_subscription, payment, expected):
    event = received(client, local_subscription, event_body(payment=payment))
    assert process_event(event.pk) == WebhookEvent.FAILED
    assert_failed_in_words(event, expected)
    assert replay_event(event, "ops") == WebhookEvent.FAILED, "replayable, and fails the same way"


@pytest.mark.parametrize("top, expected", [
    ({"payment": {"bills": {"id": "00nX"}}}, "payment.bills should be a list, got an object"),
    ({"payment": {"bills": [{"id": "00nX"}]}, "errors": ["no funds"]}, "errors[0] should be an object, got a string"),
    ({"payment": "00nX"}, "payment should be an object, got a string"),
], ids=["bills-object", "errors-strings", "payment-string"])
def test_a_failed_payment_event_that_does_not_parse_fails_with_the_field_named(client, local_subscription, top,
                                                                               expected):
    payment = top.pop("payment")
    event = received(client, local_subscription, event_body(event_type="payment.failed", payment=payment, **top))
    assert process_event(event.pk) == WebhookEvent.FAILED
    assert_failed_in_words(event, expected)


def test_an_unexpected_error_fails_the_event_in_words_and_logs_the_traceback(client, local_subscription,
                                                                             monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise KeyError("billId")

    monkeypatch.setattr(bill_webhooks, "payment_from_bill", broken)
    event = received(client, local_subscription, event_body())
    with caplog.at_level(logging.ERROR, logger="webhooks"):
        assert process_event(event.pk) == WebhookEvent.FAILED
    assert_failed_in_words(event, "unexpected KeyError")
    assert "billId" not in event.reason
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


def test_check_numbers_and_references_are_text():
    payment = payment_from_bill({**GOOD, "disbursementInfo": {"checkDisbursement": {"checkNumber": 10234}},
                                 "processDate": "2026-11-20", "updatedTime": "2026-11-20T10:00:00.000Z"})
    assert payment.reference == "10234" and payment.amount == Decimal("5")
    assert payment.process_date.isoformat() == "2026-11-20" and payment.updated_at == "2026-11-20T10:00:00+00:00"
    assert payment_from_bill({**GOOD, "transactionNumber": 778899}).reference == "778899"


def test_a_numeric_check_number_is_posted_to_the_erp_as_text(demo, sandbox, client):
    integration, subscription = demo
    bill = bills(sandbox)[0]
    payment = {"id": "stpCHECK1", "billIds": [bill["id"]], "amount": bill["amount"], "singleStatus": "CLEARED",
               "processDate": "2026-11-20", "disbursementInfo": {"checkDisbursement": {"checkNumber": 10234}}}
    body = event_body("evt-check", payment=payment, organization=integration.target.credentials["organization_id"])
    assert client.post(f"/webhooks/bill/{subscription.pk}/", data=body, content_type="application/json",
                       HTTP_X_BILL_SHA_SIGNATURE=sign(subscription.security_key, body)).status_code == 200
    event = WebhookEvent.objects.get(event_id="evt-check")
    assert process_event(event.pk) == WebhookEvent.PROCESSED, WebhookEvent.objects.get(pk=event.pk).reason
    posted = next(p for p in sandbox.state("infor")["payments"] if p["PYID"] == "stpCHECK1")
    assert posted["REFE"] == "10234"
