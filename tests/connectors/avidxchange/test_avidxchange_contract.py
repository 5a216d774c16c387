import pytest

from connectors import canonical
from connectors.records import code_key
from tests.connectors.avidxchange.conftest import make_avidxchange_connection
from tests.connectors.contracts import ApContract, ConnectorContract

NO_SESSION = ("AvidXchange has no session or token to obtain, cache or renew: the company and user tokens are the "
              "credentials and go on every call (docs/ASSUMPTIONS.md X1).")


class TestAvidxchangeAp(ApContract):
    system = "avidxchange"


class TestAvidxchangeFilesAp(ApContract):
    """The same suite with the connection in file mode. AvidXchange knows only the codes the connector published
    through the folder, so the GL accounts and departments are published first and their ids are what that
    answered (the codes themselves)."""

    system = "avidxchange"

    @pytest.fixture
    def connection(self, files_connection):
        return files_connection

    @pytest.fixture
    def ids(self, connection):
        with connection.connector() as connector:
            published = connector.publish_codes([*canonical.GL_ACCOUNTS, *canonical.DEPARTMENTS])
        return {"gl_accounts": {a.code: published[code_key(a)] for a in canonical.GL_ACCOUNTS},
                "dimensions": {"department": {d.code: published[code_key(d)] for d in canonical.DEPARTMENTS}}}


class TestAvidxchange(ConnectorContract):
    system = "avidxchange"
    wrong_credentials_message = "refused the user token"

    def wrong_credentials(self):
        return {"user_token": "not-the-user-token"}

    def seed_many(self, sandbox, count):
        self.control(sandbox, "avidxchange/seed", {"codes": {"GlAccount": [
            {"Code": str(6000 + n), "Name": f"Account {n}"} for n in range(count)]}})

    def read_many(self, connector):
        connector.client.page_size = 10
        return [account.id for account in connector.gl_accounts()]

    # The contract's session tests, as they apply to tokens sent on every call.
    def test_check_makes_an_authenticated_call(self, tenant, sandbox):
        connector = make_avidxchange_connection(tenant, sandbox.url).connector()
        assert "Sandbox Manufacturing" in connector.check()
        state = sandbox.simulators[self.system].state()
        assert (state["calls"], state["refused_tokens"]) == (1, 0)

    def test_token_is_cached_and_shared_by_connectors(self):
        pytest.skip(NO_SESSION)

    def test_expired_token_is_renewed_without_failing(self, tenant, sandbox):
        connector = make_avidxchange_connection(tenant, sandbox.url).connector()
        connector.check()
        self.control(sandbox, "clock", {"advance_seconds": 30 * 24 * 3600})
        assert connector.check(), "the tokens do not expire with time"

    def test_session_lost_mid_run_is_reauthenticated(self):
        pytest.skip(NO_SESSION)
