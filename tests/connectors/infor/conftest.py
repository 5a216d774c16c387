import pytest

from connectors.models import Connection
from sandbox.infor import simulator as infor_sandbox


def make_infor_connection(tenant, url, name="Infor", company=infor_sandbox.COMPANY, division="AAA", **overrides):
    connection = Connection(tenant=tenant, system="infor", name=name,
                            options={"company": company, "division": division})
    connection.set_credentials({**infor_sandbox.ionapi_for(url), **overrides})
    connection.save()
    return connection


@pytest.fixture
def infor_connection(tenant, sandbox):
    return make_infor_connection(tenant, sandbox.url)
