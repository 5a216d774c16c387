"""The web process killed while BILL's webhooks arrive (issue "Production that survives", §3), on the Infor → BILL
demo: BILL sends an event again until it is answered 200 (its simulator backs off exponentially, then disables the
subscription, as https://developer.bill.com/docs/working-with-bill-webhooks says), so an event the dead process never
answered comes back and is stored once; one stored but never queued (killed between the two) is queued again by the
subscription check; one BILL gave up on is fetched from its event history. Every event is processed once, and each
payment reaches Infor once."""

import io
from datetime import timedelta

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.utils import timezone
from django_q.conf import Conf
from pytest_django.live_server_helper import LiveServer

from sandbox.bill import simulator as bill_sandbox
from syncs.engine import run_integration
from syncs.models import Integration, RunStatus
from tests.webhooks.helpers import bills
from webhooks import tasks, views
from webhooks.models import WebhookEvent, WebhookSubscription


class WebProcess:
    """The portal's web process on a port of its own, which the test kills and starts again on the same port."""

    def __init__(self):
        self.server = None
        self.port = 0
        self.die_after_storing = False
        self.died = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        process = self

        class Handler(StaticFilesHandler):
            def __call__(self, environ, start_response):
                answer = super().__call__(environ, start_response)
                if process.died and process.die_after_storing:
                    # Killed after the event was stored, before it was queued and answered: no 200 reaches BILL.
                    process.die_after_storing = False
                    answer.close()
                    raise SystemError("the web process was killed")
                return answer

        self.server = LiveServer(f"127.0.0.1:{self.port}", start=False)
        self.server.thread.static_handler = Handler
        self.server.start()
        self.port = self.server.thread.port

    def stop(self):
        self.server.stop()
        self.server = None


@pytest.fixture
def web(transactional_db, settings):
    process = WebProcess()
    process.start()
    settings.PUBLIC_URL = process.url
    yield process
    if process.server is not None:
        process.stop()


@pytest.fixture
def killable_store(web, monkeypatch):
    """While `web.die_after_storing` is set, the next event stored is not queued: the process dies first."""
    queue = views.enqueue_processing

    def enqueue_unless_dying(event, delay=None):
        if web.die_after_storing:
            web.died += 1
            return
        queue(event, delay)

    monkeypatch.setattr(views, "enqueue_processing", enqueue_unless_dying)


@pytest.fixture
def demo(web, killable_store, sandbox, monkeypatch):
    """The Infor → BILL demo after its first run, subscribed to BILL's payment events at the web process; tasks run
    where they are queued, as a worker would run them."""
    monkeypatch.setattr(Conf, "SYNC", True)
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=io.StringIO())
    integration = Integration.objects.get(name="Infor → BILL")
    assert run_integration(integration.pk).status == RunStatus.PARTIAL
    sandbox.control("bill/deliver")  # what happened before: nothing subscribed to it
    return integration, WebhookSubscription.objects.get()


def deliver(sandbox):
    return sandbox.control("bill/deliver")


def later(sandbox, seconds=3600):
    sandbox.control("clock", {"advance_seconds": seconds})


def test_the_web_process_killed_while_webhooks_arrive_processes_each_event_once(demo, sandbox, web, monkeypatch):
    integration, subscription = demo
    first, second, third, fourth = bills(sandbox)[:4]

    def pay(bill):
        return sandbox.control("bill/pay", {"billId": bill["id"]})["id"]

    paid = [pay(first)]
    assert deliver(sandbox)["delivered"] == 1

    # Killed while the second payment's event arrives: stored, neither queued nor answered.
    paid.append(pay(second))
    web.die_after_storing = True
    assert deliver(sandbox)["failed"] == 1 and web.died == 1
    web.stop()
    paid.append(pay(third))
    assert deliver(sandbox)["failed"] == 1, "nothing listens: the third payment's event fails too"

    # Started again: BILL's retries bring both back once their backoff has passed; the second is a duplicate.
    web.start()
    later(sandbox)
    assert deliver(sandbox) == {"delivered": 2, "failed": 0, "pending": 0}

    # Down for longer than BILL keeps trying: it disables the subscription and sends no more.
    web.stop()
    paid.append(pay(fourth))
    for _ in range(bill_sandbox.MAX_DELIVERY_ATTEMPTS):
        deliver(sandbox)
        later(sandbox)
    assert sandbox.state("bill")["subscriptions"][0]["status"]["enabled"] is False
    web.start()
    assert deliver(sandbox)["delivered"] == 0

    # The scheduled subscription check, a while later: re-enabled, the missed event fetched from BILL's history,
    # and the event stored but never queued queued again.
    moment = timezone.now() + tasks.STRANDED_AFTER * 2
    monkeypatch.setattr(timezone, "now", lambda: moment)
    checked = tasks.check_subscriptions()
    assert checked == {str(subscription.pk): "reenabled", "events_queued_again": 1}

    events = WebhookEvent.objects.filter(event_type="payment.updated")
    assert events.count() == len(paid) == len(set(events.values_list("event_id", flat=True)))
    assert sorted(events.values_list("status", "attempts")) == [(WebhookEvent.PROCESSED, 1)] * len(paid)
    assert events.filter(signature_ok=False).count() == 1, "one came from the event history"
    posted = [p["PYID"] for p in sandbox.state("infor")["payments"]]
    assert sorted(posted) == sorted(paid), "each payment reached Infor once"
    again = run_integration(integration.pk)
    assert again.counters.get("payments_written_back", 0) == 0, "the poll finds them done"
    assert len(sandbox.state("infor")["payments"]) == len(paid)


def test_only_events_waiting_past_the_cutoff_with_tries_left_are_queued_again(local_subscription, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.jobs, "enqueue", lambda name, pk, **options: queued.append(pk))

    def event(n, status=WebhookEvent.RECEIVED, attempts=0):
        return WebhookEvent.objects.create(connection=local_subscription.connection, subscription=local_subscription,
                                           event_id=f"evt-{n}", event_type="payment.updated", signature_ok=True,
                                           status=status, attempts=attempts)

    stranded, killed_while_processing = event(1), event(2, attempts=1)
    event(3, status=WebhookEvent.PROCESSED, attempts=1)
    event(4, status=WebhookEvent.FAILED, attempts=2)  # its own retry is scheduled (tasks.fail)
    event(5, attempts=tasks.MAX_ATTEMPTS)
    moment = timezone.now() + tasks.STRANDED_AFTER + timedelta(seconds=1)
    fresh = event(6)
    WebhookEvent.objects.filter(pk=fresh.pk).update(received_at=moment - timedelta(seconds=2))
    monkeypatch.setattr(timezone, "now", lambda: moment)
    assert tasks.requeue_stranded() == 2
    assert sorted(queued) == sorted([stranded.pk, killed_while_processing.pk])
