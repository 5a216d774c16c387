import pytest

from connectors.models import Connection
from sandbox.ifs import simulator as ifs_sandbox


def make_ifs_connection(tenant, url, name="IFS", options=None, **credential_overrides):
    connection = Connection(tenant=tenant, system="ifs", name=name, base_url=f"{url}/ifs",
                            options={"company": ifs_sandbox.COMPANY, **(options or {})})
    connection.set_credentials({"realm": ifs_sandbox.REALM, "client_id": ifs_sandbox.CLIENT_ID,
                                "client_secret": ifs_sandbox.CLIENT_SECRET, **credential_overrides})
    connection.save()
    return connection


@pytest.fixture
def ifs_connection(tenant, sandbox):
    return make_ifs_connection(tenant, sandbox.url)
