"""IFS Cloud held to the shared suites: the ERP contract and the transport contract."""

import requests

from tests.connectors.contracts import ConnectorContract, ErpContract


class TestIfsErp(ErpContract):
    system = "ifs"


def seed_suppliers(sandbox, count):
    response = requests.post(f"{sandbox.url}/_control/ifs/seed", timeout=30, json={"suppliers": [
        {"SupplierId": f"S{n:04d}", "Name": f"Supplier {n}", "AssociationNo": f"12-{n:07d}", "CurrencyCode": "USD"}
        for n in range(count)]})
    assert response.status_code == 200, response.text


class TestIfs(ConnectorContract):
    system = "ifs"
    wrong_credentials_message = "IAM client ID or secret"
    token_lifetime_seconds = 180

    def wrong_credentials(self):
        return {"client_secret": "not-the-client-secret"}

    def seed_many(self, sandbox, count):
        seed_suppliers(sandbox, count)

    def read_many(self, connector):
        # The paged collection itself, in windows of 10: the transport under test. Reading whole suppliers adds
        # two detail calls each (test_ifs.py).
        suppliers = connector.sets["suppliers"]
        return [row["SupplierId"] for row in connector.client.collection(suppliers, page_size=10)]
