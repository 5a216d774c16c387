"""A connection check is for a person waiting: a short connect timeout, one attempt, and why the system could not be
reached in words (refused, nothing answering, a name that does not resolve, no answer after connecting)."""

import socket
from contextlib import contextmanager

import pytest
import requests
from django.urls import reverse
from django.utils.html import escape

from connectors import health
from connectors.health import check_connection
from connectors.models import Connection
from portal.models import AuditEntry
from tests.connectors.bill.conftest import make_bill_connection


@pytest.fixture
def sent(monkeypatch):
    """The timeout of every HTTP request the check sends, in order: one entry per attempt."""
    timeouts = []
    send = requests.Session.request

    def request(self, method, url, **kwargs):
        timeouts.append(kwargs.get("timeout"))
        return send(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", request)
    return timeouts


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def listening(backlog_full):
    """A socket that listens and never accepts. With its backlog full, new connections get no answer at all (a
    blackhole); otherwise the kernel takes them and nothing is ever said on them."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    waiting = []
    try:
        if backlog_full:
            for _ in range(4):
                pending = socket.socket()
                pending.setblocking(False)
                pending.connect_ex(("127.0.0.1", port))
                waiting.append(pending)
        yield port
    finally:
        for pending in waiting:
            pending.close()
        server.close()


def test_a_closed_port_is_reported_at_once_in_words_after_one_attempt(admin_client, tenant, sent):
    port = closed_port()
    connection = make_bill_connection(tenant, f"http://127.0.0.1:{port}")
    page = admin_client.post(reverse("admin:connectors_connection_changelist"),
                             {"action": "test_connection", "_selected_action": [connection.pk]}, follow=True)
    said = (f"Could not reach 127.0.0.1:{port}: the connection was refused, so nothing is listening at that address "
            "and port. Check the connection's URL, and that BILL (v3 API) is running there.")
    assert escape(said) in page.content.decode()
    assert len(sent) == 1, "one attempt, no retry chain"
    connect, read = sent[0]
    assert connect <= 5 and read <= 10, "a person waits for this"
    connection.refresh_from_db()
    assert (connection.health, connection.last_error) == (Connection.HEALTH_FAILING, said)
    assert AuditEntry.objects.get(action="connection.checked").message == said


def test_a_host_that_never_takes_the_connection_times_out_on_the_connect_timeout(tenant, sent, monkeypatch):
    monkeypatch.setattr(health, "CHECK_CONNECT_TIMEOUT", 0.2)
    with listening(backlog_full=True) as port:
        ok, message = check_connection(make_bill_connection(tenant, f"http://127.0.0.1:{port}"))
    assert not ok
    assert message == (f"Could not reach 127.0.0.1:{port}: nothing answered the connection within 0.2 s. Check the "
                       "connection's URL; a firewall in between, or BILL (v3 API) being down, does this too.")
    assert sent == [(0.2, health.CHECK_READ_TIMEOUT)], "one attempt, with the check's own timeouts"


def test_a_host_that_takes_the_connection_and_says_nothing_times_out_on_the_read_timeout(tenant, sent, monkeypatch):
    monkeypatch.setattr(health, "CHECK_READ_TIMEOUT", 0.2)
    with listening(backlog_full=False) as port:
        ok, message = check_connection(make_bill_connection(tenant, f"http://127.0.0.1:{port}"))
    assert not ok
    assert message == (f"127.0.0.1:{port} took the connection but answered nothing within 0.2 s: BILL (v3 API) may "
                       "be down or overloaded. Try again in a while.")
    assert sent == [(health.CHECK_CONNECT_TIMEOUT, 0.2)]


def test_a_name_that_does_not_resolve_says_so(tenant, sent, monkeypatch):
    def unknown(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    ok, message = check_connection(make_bill_connection(tenant, "https://bill.nowhere.example.com"))
    assert not ok and len(sent) == 1
    assert message == "Could not find bill.nowhere.example.com: the name does not resolve. Check the connection's URL."


def test_an_answer_from_the_system_still_says_what_it_answered(tenant, sandbox, sent):
    connection = make_bill_connection(tenant, sandbox.url, password="not-the-password")
    ok, message = check_connection(connection)
    assert not ok and "BDC_1101" in message, "the system's own refusal, not a reachability message"


def test_a_certificate_that_cannot_be_verified_is_said_in_words(tenant, sent):
    """A plain-HTTP server answering a TLS handshake stands in for a host whose certificate fails verification:
    requests raises the same SSLError for both."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        ok, message = check_connection(make_bill_connection(tenant, f"https://127.0.0.1:{port}"))
    finally:
        server.shutdown()
        server.server_close()
    assert not ok and len(sent) == 1
    assert message == (f"Could not talk to 127.0.0.1:{port} securely: its certificate could not be verified, so "
                       "nothing was sent. Check the connection's URL; a proxy in between that shows its own "
                       "certificate does this too.")
