import pytest

from connectors.models import Connection
from sandbox.infor import simulator as infor_sandbox


def make_infor_connection(tenant, url, name="Infor", company=infor_sandbox.COMPANY, division="AAA", **overrides):
    connection = Connection(tenant=tenant, system="infor", name=name,
                            options={"company": company, "division": division})
    connection.set_credentials({**infor_sandbox.ionapi_for(url), **overrides})
    connection.save()
    return connection


def seed_suppliers(sandbox, count, **extra):
    sandbox.control("infor/seed", {"suppliers": [
        {"SUNO": f"S{n:04d}", "SUNM": f"Supplier {n}", "TINO": f"12-{n:07d}", "CUCD": "USD", "CSCD": "US", **extra}
        for n in range(count)]})


@pytest.fixture
def infor_connection(tenant, sandbox):
    return make_infor_connection(tenant, sandbox.url)
