"""A signed webhook body of any shape is stored, refused or failed with a reason, never stuck (issue "Production
that survives", §4): Hypothesis changes a few values anywhere in a real event body, or sends any JSON at all,
signed with the subscription's key; the endpoint answers without a server error, and processing each stored event
ends it processed, ignored or failed in words, never on the unexpected-error path (a bug of ours)."""

import json
import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.property.test_remote_data import MUTATIONS, VALUES, in_words, mutated
from tests.webhooks.helpers import event_body, make_subscription, signed_post
from webhooks.models import WebhookEvent
from webhooks.tasks import process_event

SAMPLES = [json.loads(event_body(event_type=kind)) for kind in ("payment.updated", "payment.failed",
                                                                 "vendor.updated", "bill.updated")]
BODIES = st.one_of(
    st.tuples(st.sampled_from(SAMPLES), MUTATIONS).map(lambda pair: json.dumps(mutated(*pair)).encode()),
    VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200))
ENDED = {WebhookEvent.PROCESSED, WebhookEvent.IGNORED, WebhookEvent.FAILED}


def test_a_signed_body_of_any_shape_ends_in_words(client, tenant, caplog, monkeypatch):
    subscription = make_subscription(tenant)
    monkeypatch.setattr("webhooks.views.enqueue_processing", lambda *args, **kwargs: None)
    monkeypatch.setattr("webhooks.tasks.enqueue_processing", lambda *args, **kwargs: None)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(BODIES)
    def property(body):
        caplog.clear()
        before = set(WebhookEvent.objects.values_list("pk", flat=True))
        response = signed_post(client, subscription, body)
        assert response.status_code < 500, response.content
        for event in WebhookEvent.objects.exclude(pk__in=before):
            if event.status == WebhookEvent.RECEIVED:
                process_event(event.pk)
                event.refresh_from_db()
            assert event.status in ENDED | {WebhookEvent.REJECTED}, f"{body!r} left the event {event.status}"
            if event.status != WebhookEvent.PROCESSED:
                assert in_words(event.reason), f"{body!r} ended {event.status} saying {event.reason!r}"
        unexpected = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not unexpected, f"{body!r} reached the unexpected-error path: {unexpected[0].getMessage()}"

    property()
