"""What the contract suites need of IFS Cloud: a connection to its simulator, and a paged collection to read."""

from tests.connectors.contracts import Contract
from tests.connectors.ifs.conftest import make_ifs_connection


class IfsContract(Contract):
    system = "ifs"
    wrong_credentials_message = "IAM client ID or secret"
    token_lifetime_seconds = 180

    def make_connection(self, tenant, sandbox, **overrides):
        return make_ifs_connection(tenant, sandbox.url, **overrides)

    def wrong_credentials(self):
        return {"client_secret": "not-the-client-secret"}

    def seed_many(self, sandbox, count):
        sandbox.control("ifs/seed", {"suppliers": [
            {"SupplierId": f"S{n:04d}", "Name": f"Supplier {n}", "AssociationNo": f"12-{n:07d}", "CurrencyCode": "USD"}
            for n in range(count)]})

    def read_many(self, connector):
        # The paged collection itself, in windows of 10: the transport under test. Reading whole suppliers adds
        # two detail calls each (test_ifs.py).
        suppliers = connector.sets["suppliers"]
        return [row["SupplierId"] for row in connector.client.collection(suppliers, page_size=10)]


CONTRACTS = (IfsContract,)
