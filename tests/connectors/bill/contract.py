"""What the contract suites need of BILL: a connection to its simulator, and a paged collection to read."""

from tests.connectors.bill.conftest import make_bill_connection
from tests.connectors.contracts import Contract


class BillContract(Contract):
    system = "bill"
    wrong_credentials_message = "user name or password"
    token_lifetime_seconds = 35 * 60

    def make_connection(self, tenant, sandbox, **overrides):
        return make_bill_connection(tenant, sandbox.url, **overrides)

    def wrong_credentials(self):
        return {"password": "not-the-password"}

    def seed_many(self, sandbox, count):
        sandbox.control("bill/seed", {"chart_of_accounts": [
            {"name": f"Account {n}", "account": {"type": "EXPENSE", "number": str(6000 + n)}} for n in range(count)]})

    def read_many(self, connector):
        connector.client.page_size = 10
        return [account.id for account in connector.gl_accounts()]


CONTRACTS = (BillContract,)
