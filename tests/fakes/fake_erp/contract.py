"""What the contract suites need of the fake ERP: a connection to it, and the canonical seed and state kept in its
book (tests/fakes/world.py) instead of behind a simulator's controls."""

from connectors import canonical
from connectors.models import Connection
from connectors.records import Invoice
from tests.connectors.contracts import CONNECTOR, Contract
from tests.fakes import world


def invoice_record(seed):
    """A canonical invoice as the fake ERP's book holds it."""
    source_id = f"{seed.supplier_id}/{seed.number}"
    return Invoice(source_id=source_id, supplier_id=seed.supplier_id, invoice_number=seed.number,
                   invoice_date=seed.invoice_date, due_date=seed.due_date, total=seed.total, currency=seed.currency,
                   lines=seed.lines, reference={"id": source_id})


class FakeErpContract(Contract):
    system = "fake_erp"
    skips = {
        CONNECTOR: "the fake ERP is in memory and has no HTTP transport to sign in, page or fail",
        "test_an_unreadable_value_becomes_an_unreadable_record":
            "the fake's book holds parsed records, so it has no raw value that a reader could fail to parse",
    }

    def make_connection(self, tenant, sandbox, **overrides):
        return Connection.objects.create(tenant=tenant, system=self.system, name="Fake ERP")

    def seed_canonical(self, sandbox, **options):
        book = world.erp()
        book.gl_accounts = list(canonical.GL_ACCOUNTS)
        book.dimensions = list(canonical.DEPARTMENTS)
        # The book holds approved invoices only: an invoice not approved is one the ERP would never hand over.
        book.add(*canonical.SUPPLIERS, *(invoice_record(seed) for seed in canonical.APPROVED_INVOICES))
        return {"suppliers": len(book.suppliers), "invoices": len(book.invoices)}

    def canonical_state(self, sandbox):
        book = world.erp()
        return {"payments": [{"payment_id": payment_id, "invoice_number": book.invoices[p["invoice"]].invoice_number,
                              "supplier_id": book.invoices[p["invoice"]].supplier_id,
                              "amount": canonical.amount_text(p["amount"]), "status": p["status"]}
                             for payment_id, p in book.payments.items()]}

    def change_supplier(self, sandbox, source_id, **changes):
        world.erp().change_supplier(source_id, **changes)


CONTRACTS = (FakeErpContract,)
