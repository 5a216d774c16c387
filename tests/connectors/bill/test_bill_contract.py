from tests.connectors.contracts import ApContract, ConnectorContract


class TestBillAp(ApContract):
    system = "bill"


class TestBillConnector(ConnectorContract):
    system = "bill"
    wrong_credentials_message = "user name or password"
    token_lifetime_seconds = 35 * 60

    def wrong_credentials(self):
        return {"password": "not-the-password"}

    def seed_many(self, sandbox, count):
        self.control(sandbox, "bill/seed", {"chart_of_accounts": [
            {"name": f"Account {n}", "account": {"type": "EXPENSE", "number": str(6000 + n)}} for n in range(count)]})

    def read_many(self, connector):
        connector.client.page_size = 10
        return [account.id for account in connector.gl_accounts()]
