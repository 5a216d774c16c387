"""Refused webhook requests: counted every time, kept as evidence once per kind and hour."""

import io
import logging
import threading

from django.db import OperationalError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from connectors.bill.webhooks import sign
from portal.fields import Undecryptable
from tests.webhooks.helpers import event_body, keeping_the_test_connection, make_subscription, post, signed_post
from webhooks import views
from webhooks.models import WebhookEvent, WebhookSubscription
from webhooks.tasks import process_event


def test_a_flood_of_refusals_keeps_one_row_per_kind_and_counts_every_request(client, local_subscription, settings,
                                                                             django_capture_on_commit_callbacks):
    settings.WEBHOOK_MAX_BODY_BYTES = 2000
    body = event_body("evt-forged")
    garbage = b"<html>not json</html>"
    kinds = [
        (lambda: post(client, local_subscription, body), 401),  # no signature header
        (lambda: post(client, local_subscription, body, sign("a-guessed-key", body)), 401),
        (lambda: signed_post(client, local_subscription, garbage), 400),
        (lambda: signed_post(client, local_subscription, b"x" * 2001), 413),
    ]
    statuses = [send() for _ in range(50) for send, _ in kinds]
    assert [r.status_code for r in statuses] == [status for _ in range(50) for _, status in kinds]

    rejected = WebhookEvent.objects.filter(status=WebhookEvent.REJECTED)
    assert sorted(rejected.values_list("rejection", flat=True)) == sorted(
        [WebhookEvent.MISSING_SIGNATURE, WebhookEvent.BAD_SIGNATURE, WebhookEvent.NOT_AN_EVENT, WebhookEvent.TOO_LARGE])
    assert rejected.get(rejection=WebhookEvent.NOT_AN_EVENT).raw_body == garbage.decode()
    assert rejected.get(rejection=WebhookEvent.TOO_LARGE).raw_body == "", "refused on its Content-Length, unread"
    assert rejected.get(rejection=WebhookEvent.BAD_SIGNATURE).raw_body == body.decode()[:views.EXCERPT]
    local_subscription.refresh_from_db()
    assert local_subscription.rejected_count == 200 and local_subscription.last_rejected_at is not None

    real = event_body("evt-real")
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_post(client, local_subscription, real)
    assert response.status_code == 200 and response.json()["status"] == "received"
    event = WebhookEvent.objects.get(event_id="evt-real")
    assert event.signature_ok and event.raw_body == real.decode()
    assert OrmQ.objects.count() == 1, "the real event was queued for processing"
    assert process_event(event.pk) == WebhookEvent.IGNORED
    local_subscription.refresh_from_db()
    assert local_subscription.rejected_count == 200, "an accepted event is not a refusal"


def test_evidence_is_kept_again_once_the_window_has_passed(client, local_subscription):
    body = event_body()
    post(client, local_subscription, body)
    WebhookEvent.objects.update(received_at=timezone.now() - views.REJECTION_EVIDENCE_WINDOW)
    post(client, local_subscription, body)
    post(client, local_subscription, body)
    assert WebhookEvent.objects.filter(rejection=WebhookEvent.MISSING_SIGNATURE).count() == 2
    local_subscription.refresh_from_db()
    assert local_subscription.rejected_count == 3


def test_each_subscription_keeps_its_own_count_and_evidence(client, local_subscription, tenant):
    other = make_subscription(tenant, name="BILL 2")
    body = event_body()
    for _ in range(3):
        post(client, local_subscription, body)
    post(client, other, body)
    local_subscription.refresh_from_db()
    other.refresh_from_db()
    assert (local_subscription.rejected_count, other.rejected_count) == (3, 1)
    assert WebhookEvent.objects.filter(subscription=other, rejection=WebhookEvent.MISSING_SIGNATURE).count() == 1


def test_key_problems_are_their_own_kinds(client, tenant):
    unset = make_subscription(tenant, name="no key", security_key=None)
    unreadable = make_subscription(tenant, name="old key")
    # What a key encrypted under a SALT_KEY no longer configured looks like when read back.
    WebhookSubscription.objects.filter(pk=unreadable.pk).update(security_key=Undecryptable("gAAAAAB-not-ours"))
    body = event_body()
    for subscription, kind in [(unset, WebhookEvent.NO_KEY), (unreadable, WebhookEvent.UNDECRYPTABLE_KEY)]:
        assert post(client, subscription, body, sign("anything", body)).status_code == 401
        assert WebhookEvent.objects.get(subscription=subscription).rejection == kind


class Unreadable(io.RawIOBase):
    """A request body that must not be touched."""

    def read(self, *args):
        raise AssertionError("the body was read")


def test_an_unsigned_request_is_refused_without_reading_its_body(local_subscription):
    request = RequestFactory().generic("POST", reverse("webhook", args=["bill", local_subscription.pk]),
                                       content_type="application/json", CONTENT_LENGTH=str(50 * 1024 * 1024),
                                       **{"wsgi.input": Unreadable()})
    response = views.webhook(request, system="bill", subscription_id=local_subscription.pk)
    assert response.status_code == 401, "refused for its missing signature, not for its declared size"
    assert not WebhookEvent.objects.exists(), "nothing is written before the answer is sent"
    with keeping_the_test_connection():
        response.close()  # what the WSGI server does once the answer is out
    evidence = WebhookEvent.objects.get()
    assert evidence.rejection == WebhookEvent.MISSING_SIGNATURE and evidence.raw_body == ""
    local_subscription.refresh_from_db()
    assert local_subscription.rejected_count == 1


def test_a_database_error_while_recording_a_refusal_is_logged_not_raised(client, local_subscription, monkeypatch,
                                                                          caplog):
    def locked(*args):
        raise OperationalError("database is locked")

    monkeypatch.setattr(views, "write_rejections", locked)
    with caplog.at_level(logging.ERROR, logger="webhooks"):
        response = post(client, local_subscription, event_body())
    assert response.status_code == 401
    assert "Could not record rejected webhook requests" in caplog.text
    monkeypatch.undo()
    post(client, local_subscription, event_body())
    local_subscription.refresh_from_db()
    assert local_subscription.rejected_count == 1, "the next refusal is written again"


def test_the_admin_shows_the_count_read_only(admin_client, local_subscription):
    for _ in range(7):
        post(admin_client, local_subscription, event_body())
    changelist = admin_client.get(reverse("admin:webhooks_webhooksubscription_changelist"))
    assert b"Rejected count" in changelist.content and b'<td class="field-rejected_count">7</td>' in changelist.content
    change = admin_client.get(reverse("admin:webhooks_webhooksubscription_change", args=[local_subscription.pk]))
    assert change.status_code == 200
    assert b'name="rejected_count"' not in change.content and b"field-rejected_count" in change.content


def test_refusals_arriving_while_one_is_written_join_its_next_batch(local_subscription, monkeypatch):
    ledger = views.RejectionLedger()
    writing, release, batches = threading.Event(), threading.Event(), []

    def slow_write(batch):
        batches.append({pk: entry.count for pk, entry in batch.items()})
        if len(batches) == 1:  # the first write waits, as for a lock a task worker holds
            writing.set()
            release.wait(10)

    monkeypatch.setattr(views, "write_rejections", slow_write)
    first = threading.Thread(target=ledger.add, args=(local_subscription, WebhookEvent.BAD_SIGNATURE, "r", b""))
    first.start()
    assert writing.wait(10)
    for _ in range(50):
        ledger.add(local_subscription, WebhookEvent.MISSING_SIGNATURE, "r", b"")  # returns without writing
    assert batches == [{local_subscription.pk: 1}]
    release.set()
    first.join(10)
    assert batches == [{local_subscription.pk: 1}, {local_subscription.pk: 50}]
