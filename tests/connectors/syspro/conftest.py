import pytest

from connectors.models import Connection
from connectors.syspro import tables
from sandbox.syspro import simulator as syspro_sandbox


def make_syspro_connection(tenant, url, name="SYSPRO", odata=True, **overrides):
    """A connection to the simulator: tables read over OData (the default), or through e.net with odata=False."""
    connection = Connection(tenant=tenant, system="syspro", name=name, base_url=syspro_sandbox.enet_url(url),
                            options={"odata_url": syspro_sandbox.odata_url(url)} if odata else {})
    connection.set_credentials({"operator": syspro_sandbox.OPERATOR,
                                "operator_password": syspro_sandbox.OPERATOR_PASSWORD,
                                "company_id": syspro_sandbox.COMPANY_ID,
                                "company_password": syspro_sandbox.COMPANY_PASSWORD, **overrides})
    connection.save()
    return connection


def seed_suppliers(sandbox, count):
    sandbox.control("syspro/seed", {tables.SUPPLIERS.name: [
        {"Supplier": f"S{n:05d}", "SupplierName": f"Supplier {n}", "TaxRegnNum": f"12-{n:07d}", "Currency": "USD"}
        for n in range(count)]})


@pytest.fixture
def syspro_connection(tenant, sandbox):
    return make_syspro_connection(tenant, sandbox.url)


@pytest.fixture
def enet_connection(tenant, sandbox):
    return make_syspro_connection(tenant, sandbox.url, odata=False)
