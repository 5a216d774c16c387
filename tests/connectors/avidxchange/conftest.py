import pytest

from connectors.avidxchange.system import MODE_API, MODE_FILES
from connectors.models import Connection
from sandbox.avidxchange import simulator as avid_sandbox


def make_avidxchange_connection(tenant, url, name="AvidXchange", mode=MODE_API, folder="", options=None,
                                **overrides):
    """A connection to the simulator: API mode with the sandbox company's tokens, or file mode on `folder`."""
    credentials = {"company_token": avid_sandbox.COMPANY_TOKEN, "user_token": avid_sandbox.USER_TOKEN, **overrides}
    connection = Connection(tenant=tenant, system="avidxchange", name=name,
                            base_url=f"{url}/avidxchange" if mode == MODE_API else "",
                            options={"mode": mode, **({"folder": str(folder)} if folder else {}), **(options or {})})
    connection.set_credentials(credentials if mode == MODE_API else {})
    connection.save()
    return connection


@pytest.fixture
def avid_connection(tenant, sandbox):
    return make_avidxchange_connection(tenant, sandbox.url)


@pytest.fixture
def exchange_folder(tmp_path, sandbox):
    """A folder the simulator treats as the customer's transfer folder for the sandbox company."""
    folder = tmp_path / "avidxchange"
    folder.mkdir()
    sandbox.control("avidxchange/files", {"folder": str(folder)})
    return folder


@pytest.fixture
def files_connection(tenant, sandbox, exchange_folder):
    return make_avidxchange_connection(tenant, sandbox.url, name="AvidXchange files", mode=MODE_FILES,
                                       folder=exchange_folder)
