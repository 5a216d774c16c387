"""What the contract suites need of AvidXchange: a connection to its simulator over the API, or through the
transfer folder (file mode), and a paged collection to read."""

import tempfile

from django.conf import settings

from connectors import canonical
from connectors.avidxchange.system import MODE_FILES
from connectors.records import code_key
from tests.connectors.avidxchange.conftest import make_avidxchange_connection
from tests.connectors.contracts import AP, Contract

NO_SESSION = ("AvidXchange has no session or token to obtain, cache or renew: the company and user tokens are the "
              "credentials and go on every call (docs/ASSUMPTIONS.md X1).")


class AvidxchangeContract(Contract):
    system = "avidxchange"
    skips = {"test_token_is_cached_and_shared_by_connectors": NO_SESSION,
             "test_session_lost_mid_run_is_reauthenticated": NO_SESSION}
    wrong_credentials_message = "refused the user token"
    # The tokens do not expire with time: a month on, the same tokens still answer.
    token_lifetime_seconds = 30 * 24 * 3600

    def make_connection(self, tenant, sandbox, **overrides):
        return make_avidxchange_connection(tenant, sandbox.url, **overrides)

    def logins(self, sandbox):
        # Every call presents the tokens: each one is a sign-in.
        return sandbox.state(self.system)["calls"]

    def wrong_credentials(self):
        return {"user_token": "not-the-user-token"}

    def seed_many(self, sandbox, count):
        sandbox.control("avidxchange/seed", {"codes": {"GlAccount": [
            {"Code": str(6000 + n), "Name": f"Account {n}"} for n in range(count)]}})

    def read_many(self, connector):
        connector.client.page_size = 10
        return [account.id for account in connector.gl_accounts()]


class AvidxchangeFiles(AvidxchangeContract):
    """File mode. AvidXchange knows only the codes the connector published through the folder, so the GL accounts
    and departments are published first and their ids are what that answered (the codes themselves)."""

    variant = "files"
    suites = (AP,)

    def make_connection(self, tenant, sandbox, **overrides):
        # Inside the file-exchange root, which the suite keeps under pytest's base temp.
        folder = tempfile.mkdtemp(prefix="avidxchange-", dir=settings.FILE_EXCHANGE_ROOT)
        sandbox.control("avidxchange/files", {"folder": folder})
        return make_avidxchange_connection(tenant, sandbox.url, name="AvidXchange files", mode=MODE_FILES,
                                           folder=folder, **overrides)

    def canonical_ids(self, sandbox, connection):
        with connection.connector() as connector:
            published = connector.publish_codes([*canonical.GL_ACCOUNTS, *canonical.DEPARTMENTS])
        return {"gl_accounts": {a.code: published[code_key(a)] for a in canonical.GL_ACCOUNTS},
                "dimensions": {"department": {d.code: published[code_key(d)] for d in canonical.DEPARTMENTS}}}


CONTRACTS = (AvidxchangeContract, AvidxchangeFiles)
