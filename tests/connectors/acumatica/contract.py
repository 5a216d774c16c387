"""What the contract suites need of Acumatica, for both sign-ins: a connection to its simulator, a paged
collection to read, and the canonical departments under Acumatica's own kind, subaccount."""

from connectors.acumatica.system import SIGN_IN_COOKIE
from tests.connectors.acumatica.conftest import make_acumatica_connection
from tests.connectors.contracts import CONNECTOR, Contract


class AcumaticaContract(Contract):
    """OAuth 2.0 (resource-owner password grant); an access token lives an hour."""

    system = "acumatica"
    skips = {"test_an_unreadable_value_becomes_an_unreadable_record": (
        "Acumatica's contract API sends every value in the type its endpoint declares (checked against the "
        "definition in test_acumatica_schema.py); the simulator holds no value the connector cannot read. "
        "Unparsable values are tested on their own in test_acumatica.py.")}
    wrong_credentials_message = "user name or password"
    token_lifetime_seconds = 3600
    # Acumatica codes the canonical departments as subaccounts: same codes, its own kind.
    dimension_kinds = {"department": "subaccount"}

    def make_connection(self, tenant, sandbox, **overrides):
        return make_acumatica_connection(tenant, sandbox.url, **overrides)

    def wrong_credentials(self):
        return {"password": "not-the-password"}

    def seed_many(self, sandbox, count):
        sandbox.control("acumatica/seed", {"vendors": [
            {"VendorID": f"V{n:05d}", "VendorName": f"Vendor {n}"} for n in range(count)]})

    def read_many(self, connector):
        connector.client.page_size = 10
        return [s.source_id for s in connector.suppliers()]


class AcumaticaSessionSignIn(AcumaticaContract):
    """Session sign-in: a cookie session that ends after 20 idle minutes."""

    variant = "session sign-in"
    suites = (CONNECTOR,)
    wrong_credentials_message = "user name, password, tenant or branch"
    token_lifetime_seconds = 20 * 60

    def make_connection(self, tenant, sandbox, **overrides):
        return super().make_connection(tenant, sandbox, **{"sign_in": SIGN_IN_COOKIE, **overrides})


CONTRACTS = (AcumaticaContract, AcumaticaSessionSignIn)
