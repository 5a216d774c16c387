"""The shared suites, over OData and over e.net."""

import pytest

from connectors.syspro import tables
from tests.connectors.contracts import ConnectorContract, ErpContract
from tests.connectors.syspro.conftest import make_syspro_connection, seed_suppliers


class TestSysproErp(ErpContract):
    system = "syspro"


class TestSysproErpOverEnet(ErpContract):
    """The same contract with the tables read through e.net's COMFND query (a site without OData)."""

    system = "syspro"

    @pytest.fixture
    def connection(self, tenant, sandbox):
        return make_syspro_connection(tenant, sandbox.url, odata=False)


class TestSyspro(ConnectorContract):
    """The transport of the e.net session: reads go through COMFND on it, a page of 10 rows a call."""

    system = "syspro"
    wrong_credentials_message = "SYSPRO refused the logon"
    token_lifetime_seconds = 1200  # the simulator's session timeout (idle seconds)
    # e.net answers XML (its OData path answers JSON and says "not JSON", test_syspro.py).
    malformed_message = "not XML"

    def make_connection(self, tenant, sandbox, **overrides):
        return make_syspro_connection(tenant, sandbox.url, odata=False, **overrides)

    def wrong_credentials(self):
        return {"operator_password": "not-the-operator-password"}

    def seed_many(self, sandbox, count):
        seed_suppliers(sandbox, count)

    def read_many(self, connector):
        return [row["Supplier"] for row in connector.client.rows(tables.SUPPLIERS, page_size=10)]
