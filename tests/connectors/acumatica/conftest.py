import pytest

from connectors.acumatica.system import RELEASE_PAYMENTS, SIGN_IN_OAUTH
from connectors.models import Connection
from sandbox.acumatica import simulator as acumatica_sandbox

OPTIONS = {"endpoint": "Default", "version": "24.200.001", "release_payments": RELEASE_PAYMENTS}


def acumatica_credentials(sign_in=SIGN_IN_OAUTH, **overrides):
    return {"sign_in": sign_in, "username": acumatica_sandbox.USERNAME, "password": acumatica_sandbox.PASSWORD,
            "tenant": acumatica_sandbox.TENANT, "branch": "", "client_id": acumatica_sandbox.CLIENT_ID,
            "client_secret": acumatica_sandbox.CLIENT_SECRET, **overrides}


def make_acumatica_connection(tenant, url, name="Acumatica", options=None, **overrides):
    """A connection to the simulator: OAuth sign-in and payments released, unless told otherwise."""
    connection = Connection(tenant=tenant, system="acumatica", name=name, base_url=f"{url}/acumatica",
                            options={**OPTIONS, **(options or {})})
    connection.set_credentials(acumatica_credentials(**overrides))
    connection.save()
    return connection


@pytest.fixture
def acumatica_connection(tenant, sandbox):
    return make_acumatica_connection(tenant, sandbox.url)
