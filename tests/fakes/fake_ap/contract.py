"""What the contract suites need of the fake AP platform: a connection to it, and the canonical chart, payments and
state kept in its book (tests/fakes/world.py) instead of behind a simulator's controls."""

from decimal import Decimal

from connectors import canonical
from connectors.models import Connection
from connectors.records import Dimension, GlAccount
from tests.connectors.contracts import CONNECTOR, Contract
from tests.fakes import world


class FakeApContract(Contract):
    system = "fake_ap"
    skips = {CONNECTOR: "the fake AP platform is in memory and has no HTTP transport to sign in, page or fail"}

    def make_connection(self, tenant, sandbox, **overrides):
        return Connection.objects.create(tenant=tenant, system=self.system, name="Fake AP")

    def seed_canonical(self, sandbox, **options):
        """The canonical chart under the platform's own ids, as BILL numbers its accounts; answers those ids."""
        book = world.ap()
        book.gl_accounts = [GlAccount(code=a.code, name=a.name, active=a.active, id=f"gl-{a.code}")
                            for a in canonical.GL_ACCOUNTS]
        book.dimensions = [Dimension(kind=d.kind, code=d.code, name=d.name, active=d.active, id=f"{d.kind}-{d.code}")
                           for d in canonical.DEPARTMENTS]
        dimensions = {}
        for d in book.dimensions:
            dimensions.setdefault(d.kind, {})[d.code] = d.id
        return {"gl_accounts": {a.code: a.id for a in book.gl_accounts}, "dimensions": dimensions}

    def canonical_state(self, sandbox):
        book = world.ap()
        accounts = {a.id: a.code for a in book.gl_accounts}
        departments = {d.id: d.code for d in book.dimensions if d.kind == "department"}

        def line(item):
            return {"amount": canonical.amount_text(item["amount"]), "gl_account": accounts[item["gl_account"]],
                    "department": departments.get(item.get("department"), "")}

        return {"vendors": [{"id": vendor_id, "name": v["name"], "tax_id": v["tax_id"]}
                            for vendor_id, v in book.vendors.items()],
                "bills": [{"id": bill_id, "vendor_id": b["vendor_id"], "invoice_number": b["number"],
                           "invoice_date": b["invoice_date"], "due_date": b["due_date"],
                           "amount": canonical.amount_text(b["amount"]), "lines": [line(i) for i in b["lines"]]}
                          for bill_id, b in book.bills.items()]}

    def pay(self, sandbox, bill_id, amount=None):
        return world.ap().pay(bill_id, amount=Decimal(amount) if amount else None)


CONTRACTS = (FakeApContract,)
