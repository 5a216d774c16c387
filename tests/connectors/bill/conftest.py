import pytest

from connectors.models import Connection
from sandbox.bill import simulator as bill_sandbox


def make_bill_connection(tenant, url, name="BILL", **overrides):
    credentials = {"sign_in": "user", "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD,
                   "organization_id": bill_sandbox.ORG_ID, "dev_key": bill_sandbox.DEV_KEY, **overrides}
    # The canonical seed has a Canadian supplier billed in CAD: this organization pays internationally.
    connection = Connection(tenant=tenant, system="bill", name=name, base_url=f"{url}/bill/connect",
                            options={"currencies": "USD, CAD"})
    connection.set_credentials(credentials)
    connection.save()
    return connection


@pytest.fixture
def bill_connection(tenant, sandbox):
    return make_bill_connection(tenant, sandbox.url)
