"""What the contract suites need of SYSPRO 8: a connection to its simulator with the tables read over OData (the
main one, which the pairs use) or through e.net's COMFND query (a site without OData, and the transport of the
e.net session)."""

from connectors.syspro import tables
from tests.connectors.contracts import CONNECTOR, ERP, Contract
from tests.connectors.syspro.conftest import make_syspro_connection, seed_suppliers


class SysproContract(Contract):
    system = "syspro"
    # The transport of an OData read is the OData client kit's (tests/connectors/test_odata.py); the session
    # that signs in, and that every write goes through, is e.net's: its transport suite is the variant's below.
    suites = (ERP,)

    def make_connection(self, tenant, sandbox, **overrides):
        return make_syspro_connection(tenant, sandbox.url, **overrides)


class SysproOverEnet(SysproContract):
    """The e.net session: reads go through COMFND on it, a page of 10 rows a call."""

    variant = "over e.net"
    suites = (CONNECTOR, ERP)
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


CONTRACTS = (SysproContract, SysproOverEnet)
