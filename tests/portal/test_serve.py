"""`manage.py serve` (what `make run` starts): its web server's access log shows no query string."""

import os
import socket
import subprocess
import sys

import requests

from portal.management.commands.serve import web_command


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answered(url, process):
    """True once the server answers, False if it exited first."""
    while process.poll() is None:
        try:
            requests.get(url, timeout=2)
            return True
        except requests.ConnectionError:
            continue
    return False


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
