"""How the endpoint reads bodies: chunked or not, under gunicorn (production) and wsgiref (runserver), and
never more than WEBHOOK_MAX_BODY_BYTES + 1 bytes of them."""

import io
import socket
import threading
from urllib.parse import urlsplit

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory
from django.urls import reverse
from gunicorn.config import Config
from gunicorn.http import RequestParser, wsgi

from connectors.bill.webhooks import sign
from tests.webhooks.helpers import KEY, event_body, keeping_the_test_connection, make_subscription
from webhooks import views
from webhooks.models import WebhookEvent

PEER = ("127.0.0.1", 50000)


def raw_request(subscription, headers, body=b""):
    lines = [f"POST {reverse('webhook', args=['bill', subscription.pk])} HTTP/1.1", "Host: testserver",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body, size=1000):
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def through_gunicorn(raw):
    """One request served the way gunicorn's workers serve it (its parser, WSGI environ and response writer)
    over a socket, in this thread so the test database is visible. Returns (status, body)."""
    cfg = Config()
    with keeping_the_test_connection():
        return _through_gunicorn(cfg, raw)


def _through_gunicorn(cfg, raw):
    server_end, client_end = socket.socketpair()
    # A view that waits for body bytes the client never sends fails the test instead of hanging it.
    server_end.settimeout(5)
    sender = threading.Thread(target=client_end.sendall, args=(raw,))
    sender.start()
    try:
        request = next(RequestParser(cfg, server_end, PEER))
        response, environ = wsgi.create(request, server_end, PEER, ("127.0.0.1", 8000), cfg)
        result = WSGIHandler()(environ, response.start_response)
        try:
            for data in result:
                response.write(data)
            response.close()
        finally:
            result.close()
    finally:
        sender.join()
        server_end.close()
    answer = b"".join(iter(lambda: client_end.recv(65536), b""))
    client_end.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_a_chunked_event_is_read_whole_under_gunicorn(local_subscription):
    body = event_body("evt-chunked") + b" " * 3000  # several chunks
    status, answer = through_gunicorn(raw_request(
        local_subscription, {"Transfer-Encoding": "chunked", "x-bill-sha-signature": sign(KEY, body)}, chunked(body)))
    assert status == 200, answer
    assert WebhookEvent.objects.get(event_id="evt-chunked").raw_body == body.decode()


def test_a_chunked_body_over_the_limit_is_refused_under_gunicorn(local_subscription, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2000
    body = b"x" * 5000
    status, _ = through_gunicorn(raw_request(
        local_subscription, {"Transfer-Encoding": "chunked", "x-bill-sha-signature": sign(KEY, body)}, chunked(body)))
    assert status == 413
    assert WebhookEvent.objects.get().rejection == WebhookEvent.TOO_LARGE


def test_an_unsigned_request_is_answered_before_its_body_arrives(local_subscription):
    # Content-Length promises 1000 bytes and 10 come: reading the body would wait for the rest.
    status, _ = through_gunicorn(raw_request(local_subscription, {"Content-Length": "1000"}, b'{"metadata"'))
    assert status == 401
    assert WebhookEvent.objects.get().rejection == WebhookEvent.MISSING_SIGNATURE


class Endless(io.RawIOBase):
    """A request stream with more in it than anyone should read; counts what was read."""

    def __init__(self):
        self.consumed = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = b"x" * len(buffer)
        self.consumed += len(buffer)
        return len(buffer)


@pytest.mark.parametrize("content_length", [None, "10"], ids=["absent", "lying"])
def test_a_body_is_never_read_past_the_limit(local_subscription, settings, content_length):
    settings.WEBHOOK_MAX_BODY_BYTES = 2000
    stream = Endless()
    extra = {"wsgi.input": stream, "wsgi.input_terminated": True, "HTTP_X_BILL_SHA_SIGNATURE": "c2lnbmVk"}
    if content_length:
        extra["CONTENT_LENGTH"] = content_length
    request = RequestFactory().generic("POST", reverse("webhook", args=["bill", local_subscription.pk]),
                                       content_type="application/json", **extra)
    response = views.webhook(request, system="bill", subscription_id=local_subscription.pk)
    assert response.status_code == 413
    assert 2000 < stream.consumed <= 2001


@pytest.fixture
def live_subscription(live_server, tenant):
    return make_subscription(tenant)


def test_a_chunked_body_is_refused_plainly_where_the_server_cannot_dechunk(live_server, live_subscription):
    # Django's development server (wsgiref) hands the application neither the dechunked body nor a length.
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(raw_request(live_subscription, {"Transfer-Encoding": "chunked", "Connection": "close",
                                                     "x-bill-sha-signature": "c2lnbmVk"}))
        answer = b"".join(iter(lambda: conn.recv(65536), b""))  # the server closes once it has recorded the refusal
    assert answer.startswith(b"HTTP/1.1 411 "), answer
    assert b"Content-Length" in answer.partition(b"\r\n\r\n")[2]
    assert WebhookEvent.objects.get().rejection == WebhookEvent.UNREADABLE_BODY
