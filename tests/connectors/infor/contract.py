"""What the contract suites need of Infor M3: a connection to its simulator, and a paged collection to read."""

from connectors.infor import m3
from tests.connectors.contracts import Contract
from tests.connectors.infor.conftest import make_infor_connection, seed_suppliers


class InforContract(Contract):
    system = "infor"
    wrong_credentials_message = "service account keys (saak/sask"
    token_lifetime_seconds = 7200

    def make_connection(self, tenant, sandbox, **overrides):
        return make_infor_connection(tenant, sandbox.url, **overrides)

    def wrong_credentials(self):
        return {"sask": "not-the-service-secret"}

    def seed_many(self, sandbox, count):
        seed_suppliers(sandbox, count)

    def read_many(self, connector):
        # The paged collection itself (CRS620MI/LstSuppliers), in pages of 10 read as key ranges: the transport under
        # test. Reading whole suppliers adds one address call per supplier (tests/connectors/infor/test_suppliers.py).
        pages = connector.client.pages(m3.SUPPLIERS, {}, "SUNO", "FRSU", "TOSU", 10)
        return [r["SUNO"] for page in pages for r in page]


CONTRACTS = (InforContract,)
