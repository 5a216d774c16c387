"""What `make run` prints on a first start: the passwords it made, last and in a box, with the simulators' own
access lines kept out of the terminal; and the one message a wrong password gets on /login/."""

import io
import re
import subprocess
import sys

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from portal.management.commands import serve
from tests.portal.test_serve import free_port

BOX_RULE = re.compile(r"^\+-+\+$", re.MULTILINE)


@pytest.fixture
def first_start(db, tmp_path, monkeypatch, capfd, settings):
    """`manage.py serve` on an empty database: its real web server (whose output reaches this test's stdout, as
    it reaches the terminal), the demo seeded into the simulators it serves; only the task cluster is stood in
    for, by a process that ends at once, which ends the command."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setattr(serve, "sandbox_log_path", lambda: str(tmp_path / "log" / "sandbox-access.log"))
    # The web server's own database (it only serves /login/ and the simulators here), kept out of the checkout.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'web.sqlite3'}")
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("OPS_PASSWORD", raising=False)
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    started = {}
    real_popen = subprocess.Popen

    def popen(argv, **kwargs):
        if "qcluster" in argv:
            started["tasks"] = kwargs.get("env", {})
            return real_popen([sys.executable, "-c", ""])
        return real_popen(argv, **kwargs)

    monkeypatch.setattr(serve.subprocess, "Popen", popen)
    port = free_port()
    settings.PUBLIC_URL = f"http://127.0.0.1:{port}"  # as `make run` has it: BILL's webhooks come back here
    capfd.readouterr()
    call_command("serve", host="127.0.0.1", port=str(port))
    out, err = capfd.readouterr()
    return out, err, started, tmp_path / "log" / "sandbox-access.log"


def test_the_passwords_come_last_in_a_box_and_the_simulators_stay_out_of_the_terminal(first_start):
    out, err, started, sandbox_log = first_start
    rules = [m.start() for m in BOX_RULE.finditer(out)]
    assert len(rules) == 2, out
    assert out[rules[1]:].strip() == out[rules[1]:].splitlines()[0], "nothing is printed after the box"
    box = out[rules[0]:]
    logins = dict(re.findall(r"^\|\s+(ops|demo-ops|demo-finance)\s+\w+\s+(\S+)", box, re.MULTILINE))
    assert set(logins) == {"ops", "demo-ops", "demo-finance"}, box
    assert all(authenticate(username=name, password=password) for name, password in logins.items())
    assert all(out.count(password) == 1 for password in logins.values()), "each password is printed once, in the box"
    assert "Demo ready: integration 'Infor → BILL'" in out[:rules[0]], "the box comes after the demo is seeded"
    assert "/sandbox/" not in out and "/sandbox/" not in err
    kept = sandbox_log.read_text()
    assert "POST /sandbox/bill/connect/v3/login" in kept and "GET /sandbox/infor/MLC_AVD/IDM/api/items/search" in kept
    assert "?" not in kept, "the simulators' lines keep paths, never query strings"
    assert started["tasks"]["LOG_LEVEL"] == "WARNING", "the task cluster's chatter stays out of the terminal too"


def test_a_second_start_makes_no_password_and_shows_no_box(db, monkeypatch):
    monkeypatch.delenv("OPS_PASSWORD", raising=False)
    first, second = io.StringIO(), io.StringIO()
    call_command("bootstrap_ops_user", stdout=first)
    call_command("bootstrap_ops_user", stdout=second)
    assert BOX_RULE.search(first.getvalue()) and "ops" in first.getvalue()
    assert second.getvalue() == ""


def test_a_chosen_password_is_named_never_printed(db, monkeypatch):
    monkeypatch.setenv("OPS_PASSWORD", "chosen-by-ops-Secret-1")
    out = io.StringIO()
    call_command("bootstrap_ops_user", stdout=out)
    assert "chosen-by-ops-Secret-1" not in out.getvalue() and "from OPS_PASSWORD" in out.getvalue()
    assert authenticate(username="ops", password="chosen-by-ops-Secret-1")
