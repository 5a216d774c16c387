"""What the canonical suites share: the system under test, its connection, its simulator's controls."""

import pytest
import requests
from django.utils.module_loading import import_string

from connectors.cursors import TIMESTAMP
from connectors.registry import get_system


def make_connection(system, tenant, sandbox, **overrides):
    """A saved connection to `system`'s simulator, made by the `make_<id>_connection(tenant, url)`
    that every system's tests/connectors/<id>/conftest.py defines."""
    factory = import_string(f"tests.connectors.{system}.conftest.make_{system}_connection")
    return factory(tenant, sandbox.url, **overrides)


def control(sandbox, path, payload=None):
    """POST /_control/<path>: a simulator's action (`bill/pay`) or the hub's (`faults`, `clock`)."""
    response = requests.post(f"{sandbox.url}/_control/{path}", json=payload or {}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


class SystemContract:
    system = ""

    @pytest.fixture
    def connection(self, tenant, sandbox):
        return make_connection(self.system, tenant, sandbox)

    def cursor_type(self, connector, stream):
        return connector.cursor_types.get(stream, TIMESTAMP)

    def require(self, capability):
        spec = get_system(self.system)
        if capability not in spec.capabilities:
            pytest.skip(f"{spec.label} does not declare {capability} (connectors/{self.system}/system.py)")
