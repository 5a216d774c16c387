"""Shared fixtures: real HTTP servers on loopback for the simulators and for the portal, and the in-memory fake
ERP and AP platform the engine's own tests run on."""

import json

import pytest
import requests
from django.db import connection as db_connection

from connectors.registry import registered
from portal.models import Tenant
from sandbox.hub import SandboxHub, serve_in_thread, wsgi_app
from tests.fakes import world
from tests.fakes.fake_ap.system import SYSTEM as FAKE_AP
from tests.fakes.fake_erp.system import SYSTEM as FAKE_ERP

SAMPLE_IONAPI = {
    "ti": "ACME_TST",
    "cn": "ml-connector",
    "dt": "12",
    "ci": "ACME_TST~clientid123",
    "cs": "client-secret-VALUE-9f8e7d",
    "iu": "https://mingle-ionapi.inforcloudsuite.com",
    "pu": "https://mingle-sso.inforcloudsuite.com:443/ACME_TST/as/",
    "oa": "authorization.oauth2",
    "ot": "token.oauth2",
    "or": "revoke_token.oauth2",
    "ev": "U147858101",
    "v": "1.0",
    "saak": "ACME_TST#service-access-KEY-1a2b3c",
    "sask": "service-secret-KEY-4d5e6f",
}


@pytest.fixture
def ionapi_text():
    return json.dumps(SAMPLE_IONAPI)


@pytest.fixture(autouse=True)
def forget_tokens_in_memory():
    """Test databases hand out the same connection ids again; a token kept in memory must not cross tests."""
    from connectors import tokens

    tokens._memory.clear()
    yield
    tokens._memory.clear()


@pytest.fixture(autouse=True)
def lock_files_in_tmp(settings, tmp_path_factory):
    """Keep the suite's lock files out of the checkout, and each test's apart: on SQLite the rate counters are
    files there, and a test starts with none spent, as it starts with no database rows."""
    settings.LOCK_DIR = str(tmp_path_factory.mktemp("locks"))
    # Every test's tmp_path is under the base temp, so file exchanges made there are inside the root.
    settings.FILE_EXCHANGE_ROOT = str(tmp_path_factory.getbasetemp())


@pytest.fixture
def tenant(db):
    return Tenant.objects.create(name="Acme Corp", slug="acme")


@pytest.fixture
def ops(client, tenant):
    """Olivia, a staff member of the Ops group (not a superuser) who operates the tenant, signed in."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from portal.models import Membership
    from portal.roles import OPS_GROUP

    user = get_user_model().objects.create_user("olivia", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=user, tenant=tenant, role=Membership.OPS)
    client.force_login(user)
    return user


@pytest.fixture(scope="session")
def sandbox_hub():
    return SandboxHub()


@pytest.fixture(scope="session")
def sandbox_server(sandbox_hub):
    server, url = serve_in_thread(wsgi_app(sandbox_hub))
    yield url
    server.shutdown()


class Sandbox:
    """The test session's hub, with its controls called over HTTP as the demo and the benches call them."""

    def __init__(self, hub, url):
        self.hub = hub
        self.url = url

    def __getattr__(self, name):
        return getattr(self.hub, name)

    def control(self, path, payload=None):
        """POST /_control/<path>: a simulator's action (`bill/pay`) or the hub's (`faults`, `clock`)."""
        response = requests.post(f"{self.url}/_control/{path}", json=payload or {}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def state(self, system):
        """One simulator's whole state, as GET /_control/state?system=<id> answers it."""
        response = requests.get(f"{self.url}/_control/state", params={"system": system}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def sandbox(sandbox_hub, sandbox_server):
    """The simulators behind real HTTP, reset before each test: `.url` is their base address, `.control()`
    and `.state()` their controls; anything else is the hub's."""
    sandbox_hub.reset()
    sandbox_hub.url = sandbox_server
    yield Sandbox(sandbox_hub, sandbox_server)
    sandbox_hub.reset()


@pytest.fixture
def fakes():
    """The in-memory fake ERP and AP platform (tests/fakes/), registered for this test only, over empty books:
    `.erp()` and `.ap()` are their books (tests/fakes/world.py)."""
    world.reset()
    with registered(FAKE_ERP, FAKE_AP):
        yield world
    world.reset()


@pytest.fixture
def fake_demo(fakes, db, monkeypatch):
    """The main demo's integration on the fake pair (tests/fakes/demo.py), its books seeded; queued tasks run in
    this process, through a real worker."""
    from django_q.conf import Conf

    from tests.fakes import demo

    monkeypatch.setattr(Conf, "SYNC", True)
    return demo.integration()


@pytest.fixture
def is_postgres():
    return db_connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def run_in_processes(script, count, env_extra=None, timeout=120):
    """Run a Python snippet in `count` separate processes against the test database (or each snippet of a
    list in a process of its own); return their results."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.db import connection as db

    root = Path(__file__).resolve().parents[1]
    settings_dict = db.settings_dict
    url = (f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}"
           f"/{settings_dict['NAME']}")
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "portal.settings", "DEBUG": "1",
           **(env_extra or {})}
    prologue = "import django; django.setup()\n"
    scripts = script if isinstance(script, list) else [script] * count
    procs = [subprocess.Popen([sys.executable, "-c", prologue + each], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for each in scripts]
    return [(p.wait(timeout=timeout), p.stdout.read(), p.stderr.read()) for p in procs]
