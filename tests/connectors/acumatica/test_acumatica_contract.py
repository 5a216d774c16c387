"""Acumatica held to the shared suites: the ERP contract and the transport contract, for both sign-ins."""

from dataclasses import replace

from connectors import canonical
from connectors.acumatica.system import SIGN_IN_COOKIE
from connectors.records import Invoice
from tests.connectors.contracts import ConnectorContract, ErpContract

# Acumatica codes the canonical departments as subaccounts: same codes, its own kind.
KINDS = {"department": "subaccount"}


def in_acumatica_terms(line):
    return replace(line, dimensions={KINDS.get(kind, kind): code for kind, code in line.dimensions.items()})


class TestAcumaticaErp(ErpContract):
    system = "acumatica"
    unreadable_skip_reason = ("Acumatica's contract API sends every value in the type its endpoint declares "
                              "(checked against the definition in test_acumatica_schema.py); the simulator holds "
                              "no value the connector cannot read. Unparsable values are tested on their own in "
                              "test_acumatica.py.")

    # The two tests below are the contract's, with the canonical departments in Acumatica's kind, subaccount.
    def test_approved_invoices_are_read_with_their_lines_as_seeded(self, connector):
        read = list(connector.approved_invoices())
        assert all(isinstance(i, Invoice) for i in read), read
        by_number = {i.invoice_number: i for i in read}
        assert len(by_number) == len(read) == len({i.source_id for i in read})
        assert set(by_number) == {i.number for i in canonical.APPROVED_INVOICES}
        for seed in canonical.APPROVED_INVOICES:
            got = by_number[seed.number]
            assert (got.supplier_id, got.invoice_date, got.due_date, got.total, got.currency) == \
                (seed.supplier_id, seed.invoice_date, seed.due_date, seed.total, seed.currency), seed.number
            assert got.lines == tuple(in_acumatica_terms(line) for line in seed.lines), seed.number

    def test_departments_are_the_seeded_ones(self, connector):
        assert sorted((d.kind, d.code, d.name, d.active) for d in connector.dimensions()) == \
            sorted((KINDS[d.kind], d.code, d.name, d.active) for d in canonical.DEPARTMENTS)


class AcumaticaTransport(ConnectorContract):
    system = "acumatica"

    def seed_many(self, sandbox, count):
        self.control(sandbox, "acumatica/seed", {"vendors": [
            {"VendorID": f"V{n:05d}", "VendorName": f"Vendor {n}"} for n in range(count)]})

    def read_many(self, connector):
        connector.client.page_size = 10
        return [s.source_id for s in connector.suppliers()]


class TestAcumatica(AcumaticaTransport):
    """OAuth 2.0 (resource-owner password grant); an access token lives an hour."""

    wrong_credentials_message = "user name or password"
    token_lifetime_seconds = 3600

    def wrong_credentials(self):
        return {"password": "not-the-password"}


class TestAcumaticaSessionSignIn(AcumaticaTransport):
    """Session sign-in: a cookie session that ends after 20 idle minutes."""

    wrong_credentials_message = "user name, password, tenant or branch"
    token_lifetime_seconds = 20 * 60

    def make_connection(self, tenant, sandbox, **overrides):
        return super().make_connection(tenant, sandbox, **{"sign_in": SIGN_IN_COOKIE, **overrides})

    def wrong_credentials(self):
        return {"password": "not-the-password"}
