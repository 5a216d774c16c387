"""BILL webhooks: the simulator delivers real signed events to the live portal."""

import json

from django.urls import reverse
from django_q.models import OrmQ, Schedule

from connectors.bill.webhooks import sign
from portal.models import AuditEntry
from sandbox.bill import simulator as bill_sandbox
from syncs.engine import run_integration
from tests.webhooks.helpers import bills, event_body, post
from webhooks import subscriptions
from webhooks.models import WebhookEvent
from webhooks.tasks import process_event, replay_event


def process_received():
    """What the task cluster does with the queued events."""
    for pk in WebhookEvent.objects.filter(status=WebhookEvent.RECEIVED).order_by("pk").values_list("pk", flat=True):
        process_event(pk)


def test_paid_bill_reaches_infor_once_despite_redelivery_and_disorder(demo, sandbox):
    first, second, third = bills(sandbox)[:3]
    sandbox.control("bill/deliver")  # drain the bill.created backlog (not subscribed: nothing to send)
    paid = sandbox.control("bill/pay", {"billId": first["id"], "processDate": "2026-11-20"})
    sandbox.control("bill/pay", {"billId": second["id"]})
    voided = sandbox.control("bill/pay", {"billId": third["id"]})
    sandbox.control("bill/payment-status", {"paymentId": voided["id"], "singleStatus": "VOIDED"})
    outcome = sandbox.control("bill/deliver", {"repeat": 3, "reverse": True})
    assert outcome["failed"] == 0 and outcome["delivered"] == 4
    assert WebhookEvent.objects.filter(signature_ok=True).count() == 4, "redeliveries are stored once"
    assert OrmQ.objects.count() == 4, "processing was queued after commit, once per event"
    process_received()
    infor = sandbox.state("infor")
    assert sorted(p["PYID"] for p in infor["payments"]) == sorted([paid["id"], second_payment_id(sandbox, second)])
    first_invoice = next(i for i in infor["invoices"] if i["SINO"] == first["invoice"]["invoiceNumber"])
    recorded = next(p for p in infor["payments"] if p["PYID"] == paid["id"])
    assert recorded["PYDT"] == "20261120" and recorded["PYAM"] == str(first_invoice["CUAM"])
    assert first_invoice["PYST"] == "PAID"
    third_invoice = next(i for i in infor["invoices"] if i["SINO"] == third["invoice"]["invoiceNumber"])
    assert third_invoice["PYST"] == "OPEN", "a payment voided before we saw it paid is never posted"
    # Delivered again later, and polled as well: still exactly once.
    for event in WebhookEvent.objects.all():
        process_event(event.pk)
    run_integration(demo[0].pk)
    assert len(sandbox.state("infor")["payments"]) == 2


def second_payment_id(sandbox, bill):
    payments = sandbox.state("bill")["organizations"][bill_sandbox.ORG_ID]["payments"]
    return next(p["id"] for p in payments if p["billId"] == bill["id"])


def test_invalid_requests_are_rejected_and_nothing_is_processed(client, local_subscription, settings):
    body = event_body()
    good = sign("the-security-key", body)
    cases = [
        (post(client, local_subscription, body, "bm90IHRoZSBzaWduYXR1cmU="), 401),  # bad signature
        (post(client, local_subscription, body.replace(b'"amount": 5', b'"amount": 5000'), good), 401),  # tampered
        (post(client, local_subscription, body, sign("another-key", body)), 401),  # wrong key
        (post(client, local_subscription, body), 401),  # missing header
        (post(client, local_subscription, b"{not json", sign("the-security-key", b"{not json")), 400),
    ]
    for not_an_id in ("e" * 101, {"a": 1}, True):  # cut to fit, or no id at all, two events could become one
        odd = event_body(event_id=not_an_id)
        cases.append((post(client, local_subscription, odd, sign("the-security-key", odd)), 400))
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    cases.append((post(client, local_subscription, body, good), 413))
    settings.WEBHOOK_MAX_BODY_BYTES = 256 * 1024
    unknown = client.post("/webhooks/bill/00000000-0000-4000-8000-000000000000/", data=body,
                          content_type="application/json", HTTP_X_BILL_SHA_SIGNATURE=good)
    cases.append((unknown, 404))
    assert [r.status_code for r, _ in cases] == [status for _, status in cases]
    rejected = WebhookEvent.objects.filter(status=WebhookEvent.REJECTED)
    assert sorted(rejected.values_list("rejection", flat=True)) == [
        WebhookEvent.BAD_SIGNATURE, WebhookEvent.MISSING_SIGNATURE, WebhookEvent.NOT_AN_EVENT, WebhookEvent.TOO_LARGE]
    assert not WebhookEvent.objects.exclude(status=WebhookEvent.REJECTED).exists()
    assert all(len(e.raw_body) <= 500 and e.reason and e.event_id == "" for e in rejected)
    local_subscription.refresh_from_db()
    assert local_subscription.rejected_count == 9, "every refusal counts, the unknown subscription's none"
    assert OrmQ.objects.count() == 0
    assert post(client, local_subscription, body, good).status_code == 200, "the real event is not blocked"


def test_signature_over_the_minified_body_is_accepted(client, local_subscription):
    body = event_body("evt-min")
    minified = json.dumps(json.loads(body), separators=(",", ":")).encode()
    response = post(client, local_subscription, body, sign("the-security-key", minified))
    assert response.status_code == 200
    assert WebhookEvent.objects.get(event_id="evt-min").signature_ok


def test_event_for_a_bill_we_did_not_create_is_ignored_with_the_reason(client, local_subscription):
    body = event_body("evt-foreign")
    post(client, local_subscription, body, sign("the-security-key", body))
    event = WebhookEvent.objects.get(event_id="evt-foreign")
    assert process_event(event.pk) == WebhookEvent.IGNORED
    event.refresh_from_db()
    assert "did not create" in event.reason


def test_disabled_subscription_is_reenabled_and_missed_payments_caught_up(demo, sandbox):
    integration, subscription = demo
    sandbox.control("bill/disable-subscription", {"id": subscription.remote_id})
    bill = bills(sandbox)[0]
    sandbox.control("bill/pay", {"billId": bill["id"]})
    assert sandbox.control("bill/deliver")["delivered"] == 0, "BILL sends nothing while disabled"
    assert subscriptions.check_all() == {str(subscription.pk): "reenabled"}
    remote = sandbox.state("bill")["subscriptions"][0]
    assert remote["status"]["enabled"] is True
    assert [p["SINO"] for p in sandbox.state("infor")["invoices"] if p["PYST"] == "PAID"] == \
        [bill["invoice"]["invoiceNumber"]]
    assert AuditEntry.objects.filter(action="webhook.reenabled").exists()


def test_subscribing_again_reuses_the_subscription_and_rotation_changes_the_key(demo, sandbox, client):
    integration, subscription = demo
    again = subscriptions.subscribe(integration.target, "ops")
    assert again.pk == subscription.pk and len(sandbox.state("bill")["subscriptions"]) == 1
    old_key = subscription.security_key
    subscriptions.rotate_key(subscription, "ops")
    subscription.refresh_from_db()
    assert subscription.security_key != old_key
    body = event_body("evt-rot")
    assert post(client, subscription, body, sign(old_key, body)).status_code == 401
    assert post(client, subscription, body, sign(subscription.security_key, body)).status_code == 200


def test_failed_write_back_is_retried_later_then_replayable(demo, sandbox):
    bill = bills(sandbox)[0]
    sandbox.control("bill/pay", {"billId": bill["id"]})
    sandbox.control("bill/deliver")
    sandbox.control("faults", {"system": "infor", "error_rate": 1})
    event = WebhookEvent.objects.get(event_type="payment.updated")
    assert process_event(event.pk) == WebhookEvent.FAILED
    assert Schedule.objects.filter(name__startswith=f"webhook-event-{event.pk}-retry").exists()
    sandbox.control("faults", {"system": "infor"})
    assert replay_event(event, "ops") == WebhookEvent.PROCESSED
    assert len(sandbox.state("infor")["payments"]) == 1


def test_check_now_from_the_admin_is_audited_with_its_actor(demo, sandbox, admin_client, admin_user):
    _, subscription = demo
    sandbox.control("bill/disable-subscription", {"id": subscription.remote_id})
    page = admin_client.post(reverse("admin:webhooks_webhooksubscription_changelist"),
                             {"action": "check_now", "_selected_action": [subscription.pk]}, follow=True)
    assert "BILL (v3 API) had disabled it; re-enabled" in page.content.decode()
    entry = AuditEntry.objects.get(action="webhook.checked")
    assert entry.actor == admin_user.username and "re-enabled" in entry.message


def test_events_that_never_reached_the_portal_are_fetched_from_bills_history_once(demo, sandbox):
    integration, subscription = demo
    bill = bills(sandbox)[0]
    sandbox.control("bill/deliver")
    with subscription.connection.connector() as connector:  # the portal "down": nothing listens there
        connector.client.update_subscription(subscription.remote_id, {"notificationUrl": "http://127.0.0.1:9/"})
        paid = sandbox.control("bill/pay", {"billId": bill["id"]})
        assert sandbox.control("bill/deliver")["failed"] == 1
        connector.client.update_subscription(subscription.remote_id,
                                             {"notificationUrl": subscription.notification_url})
    assert subscriptions.check(subscription, catch_up=True) == "enabled"
    process_received()
    fetched = WebhookEvent.objects.get(event_type="payment.updated", signature_ok=False)
    assert fetched.status == WebhookEvent.PROCESSED, fetched.reason
    assert [p["PYID"] for p in sandbox.state("infor")["payments"]] == [paid["id"]]
    subscription.refresh_from_db()
    assert subscription.caught_up_events == 1 and subscription.caught_up_at is not None
    subscriptions.check(subscription, catch_up=True)
    subscription.refresh_from_db()
    assert subscription.caught_up_events == 1, "an event already stored is not fetched again"
    assert len(sandbox.state("infor")["payments"]) == 1


def test_a_payment_of_two_bills_posts_each_bills_own_share_to_infor(demo, sandbox):
    by_vendor = {}
    for bill in bills(sandbox):
        by_vendor.setdefault(bill["vendorId"], []).append(bill)
    first, second = next(pair for pair in by_vendor.values() if len(pair) >= 2)[:2]
    sandbox.control("bill/deliver")
    payment = sandbox.control("bill/pay", {"bills": [{"billId": first["id"], "amount": "100.00"},
                                                      {"billId": second["id"], "amount": "30.25"}]})
    assert sandbox.control("bill/deliver")["delivered"] == 1
    process_received()
    event = WebhookEvent.objects.get(event_type="payment.updated")
    assert event.status == WebhookEvent.PROCESSED, event.reason
    infor = sandbox.state("infor")
    numbers = {invoice["KEY"]: invoice["SINO"] for invoice in infor["invoices"]}
    posted = {numbers[p["KEY"]]: p for p in infor["payments"] if p["PYID"] == payment["id"]}
    assert {number: posted[number]["PYAM"] for number in posted} == {
        first["invoice"]["invoiceNumber"]: "100.00", second["invoice"]["invoiceNumber"]: "30.25"}
