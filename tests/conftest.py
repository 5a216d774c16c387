"""Shared fixtures: real HTTP servers on loopback for the simulators and for the portal."""

import json

import pytest
from django.db import connection as db_connection

from connectors.sandbox import SandboxHub, serve_in_thread, wsgi_app
from portal.models import Tenant

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


@pytest.fixture
def tenant(db):
    return Tenant.objects.create(name="Acme Corp", slug="acme")


@pytest.fixture(scope="session")
def sandbox_hub():
    return SandboxHub()


@pytest.fixture(scope="session")
def sandbox_server(sandbox_hub):
    server, url = serve_in_thread(wsgi_app(sandbox_hub))
    yield url
    server.shutdown()


@pytest.fixture
def sandbox(sandbox_hub, sandbox_server):
    """The simulators behind real HTTP, reset before each test. `.url` is their base address."""
    sandbox_hub.reset()
    sandbox_hub.url = sandbox_server
    yield sandbox_hub
    sandbox_hub.reset()


@pytest.fixture
def is_postgres():
    return db_connection.vendor == "postgresql"
