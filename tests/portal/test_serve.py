"""`manage.py serve` (what `make run` starts): its web server's access log shows no query string."""

import os
import socket
import subprocess
import sys
import threading
import time

import requests

from portal.management.commands.serve import web_command


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A server starting on a slow, busy machine may take this long to answer its first request.
STARTUP_DEADLINE = 60
POLL_INTERVAL = 0.1


def answered(url, process, deadline=STARTUP_DEADLINE, timeout=5):
    """True once the server answers, False if it exited or `deadline` seconds passed first. Until then any failed
    request is asked again: refused before the server listens, or timed out while it is still loading."""
    give_up = time.monotonic() + deadline
    while process.poll() is None and (left := give_up - time.monotonic()) > 0:
        try:
            requests.get(url, timeout=min(timeout, left))
            return True
        except requests.RequestException:
            time.sleep(POLL_INTERVAL)
    return False


class Running:
    """A process that has not exited, for a server that is a thread of the test."""

    @staticmethod
    def poll():
        return None


def test_a_server_that_first_answers_too_slowly_is_asked_again():
    """Its first request times out (a ReadTimeout, not a refusal), as on a machine busy loading the server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        silent, done = [], threading.Event()

        def serve():
            first, _ = listener.accept()
            silent.append(first)  # held open, never answered
            second, _ = listener.accept()
            second.recv(4096)
            second.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            second.close()
            done.set()

        threading.Thread(target=serve, daemon=True).start()
        try:
            assert answered(f"http://127.0.0.1:{listener.getsockname()[1]}/", Running(), deadline=10, timeout=0.5)
            assert done.wait(5)
        finally:
            for connection in silent:
                connection.close()


def test_the_access_log_keeps_paths_but_never_query_strings(tmp_path):
    port = free_port()
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    log = tmp_path / "access.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(web_command(sys.executable, "127.0.0.1", port), stdout=out,
                                  stderr=subprocess.STDOUT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            assert answered(f"{base}/login/", server), log.read_text()
            requests.get(f"{base}/sandbox/syspro/SYSPROWCFService/Rest/Logon",
                         params={"Operator": "OP", "OperatorPassword": "op-pw-s3cr3t"}, timeout=10)
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = log.read_text()
    assert "/sandbox/syspro/SYSPROWCFService/Rest/Logon" in text, text
    assert "op-pw-s3cr3t" not in text and "OperatorPassword" not in text
    assert "Control socket" not in text, "no per-user control socket for a second server to take over"
