"""The HTTP client rides through a fault storm (connectors/http.py): a 429 waits as its Retry-After says, up to
CONNECTOR_MAX_RETRY_AFTER, before it defers; five attempts carry a call through four failures of any passing
kind; a call that may have acted is never repeated unless its connector says it is safe; and fan_out keeps what
the calls that went through returned."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.errors import ConnectorError, Deferred, TransientError
from connectors.http import HttpClient, Unsafe, fan_out


class Scripted:
    """A server on loopback answering each request with the next (status, headers) of its script, then 200."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.answer()

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.answer()

            def answer(self):
                owner.requests.append((self.command, self.headers.get("Authorization")))
                status, headers = owner.script.pop(0) if owner.script else (200, {})
                body = b'{"ok": true}' if status == 200 else b'{"error": "injected"}'
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(*script):
        servers.append(Scripted(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


class Session:
    """An auth hook whose session the server may expire: a 401 asks for a new one."""

    def __init__(self):
        self.issued = 0

    def headers(self):
        return {"Authorization": f"Bearer s{self.issued}"}, f"s{self.issued}"

    def invalidate(self, token):
        self.issued += 1


def client(url, slept, **kwargs):
    return HttpClient("storm", base_url=url, auth=Session(), sleep=slept.append, max_attempts=5, **kwargs)


def test_a_call_rides_through_four_passing_failures_and_a_429_waits_as_told(serve, settings):
    settings.CONNECTOR_MAX_RETRY_AFTER = 30
    server = serve((429, {"Retry-After": "7"}), (500, {}), (401, {}), (503, {}), (429, {}))
    slept = []
    http = client(server.url, slept)
    assert http.json("GET", "/things") == {"ok": True}
    assert slept[0] == 7.0, "the wait the 429 asked for"
    assert len(slept) == 4 and http.retries == 4
    assert len(server.requests) == 6  # five attempts, one of them signed in again after a 401
    assert server.requests[3][1] == "Bearer s1"


def test_a_retry_after_beyond_the_cap_defers_without_waiting(serve, settings):
    settings.CONNECTOR_MAX_RETRY_AFTER = 30
    server = serve((429, {"Retry-After": "120"}))
    slept = []
    with pytest.raises(Deferred, match="asked to wait 120 s"):
        client(server.url, slept).json("GET", "/things")
    assert slept == [] and len(server.requests) == 1


def test_a_call_that_may_have_acted_is_not_repeated_unless_its_connector_says_so(serve):
    server = serve((429, {"Retry-After": "1"}), (500, {}))
    slept = []
    http = client(server.url, slept)
    with pytest.raises(Unsafe):
        http.json("POST", "/bills", json={"n": 1})  # a 429 did nothing: sent again; a 500 may have: not
    assert len(server.requests) == 2 and slept == [1.0]
    server.script = [(500, {})]
    assert http.json("POST", "/bills/1/archive", idempotent=True) == {"ok": True}


def test_five_attempts_are_all_a_call_gets(serve):
    server = serve(*[(500, {})] * 5)
    with pytest.raises(TransientError, match="HTTP 500"):
        client(server.url, []).json("GET", "/things")
    assert len(server.requests) == 5


@pytest.mark.parametrize("workers", [1, 3])
def test_fan_out_keeps_what_the_calls_that_went_through_returned(workers, monkeypatch):
    """Before, one failed bulk call discarded the results of those that succeeded: 220 vendors made in BILL, all
    300 marked failed."""
    from connectors import http

    # In threads, as on a database file (the suite's in-memory one keeps fan_out to one chunk at a time).
    monkeypatch.setattr(http.db_connection, "is_in_memory_db", lambda: False, raising=False)

    def work(chunk):
        if chunk == "second":
            raise TransientError("BILL HTTP 500: injected")
        return f"{chunk} made"

    done = fan_out(work, ["first", "second", "third"], workers, keep=ConnectorError)
    assert done[0] == "first made" and done[2] == "third made"
    assert isinstance(done[1], TransientError)
    with pytest.raises(TransientError):
        fan_out(work, ["first", "second"], workers)  # kept only when the caller asks
