"""The main demo's story on the fake pair, at a tenth of its volume: a tenant with Fake ERP → Fake AP, suppliers and
approved invoices with the problems real customers have (a supplier without a tax id, an unmapped GL account, an
invoice whose lines do not add up), and the mapping rules the demo confirms."""

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from connectors.models import Connection
from connectors.records import Address, Dimension, GlAccount, Invoice, InvoiceLine, Supplier
from portal.models import Tenant
from syncs import reference
from syncs.models import Integration, MappingRule
from tests.fakes import world

GL_ACCOUNTS = [("6000", "Raw materials"), ("6010", "Packaging"), ("6020", "Freight in"), ("6030", "Utilities"),
               ("6040", "Office supplies"), ("6999", "Miscellaneous expense")]
GL_NAMES = dict(GL_ACCOUNTS)
UNMAPPED_ACCOUNT = "6999"
DEPARTMENTS = [("100", "Operations"), ("200", "Sales"), ("300", "Administration")]
SUPPLIERS = 12
INVOICES = 40
SUPPLIER_WITHOUT_TAX_ID = "S10007"
UNBALANCED_INVOICE = "INV-200017"
UNMAPPED_INVOICE = "INV-200031"
INTEGRATION = "Fake ERP → Fake AP"


def suppliers():
    rng = random.Random(42)
    return [Supplier(source_id=f"S{10001 + n}", name=f"Supplier {n + 1}",
                     tax_id="" if f"S{10001 + n}" == SUPPLIER_WITHOUT_TAX_ID else f"{rng.randint(10, 99)}-{n:07d}",
                     email=f"ap{n + 1}@supplier.test", address=Address(line1=f"{n + 1} Main St", city="Austin",
                                                                       region="TX", postal_code="78701", country="US"))
            for n in range(SUPPLIERS)]


def invoices():
    """Approved invoices; every ninth is the supplier without a tax id's, the rest spread over the others."""
    rng = random.Random(42)
    today = timezone.localdate()
    mapped = [code for code, _ in GL_ACCOUNTS if code != UNMAPPED_ACCOUNT]
    others = [s.source_id for s in suppliers() if s.source_id != SUPPLIER_WITHOUT_TAX_ID]
    out = []
    for n in range(INVOICES):
        number = f"INV-{200001 + n}"
        lines = []
        for line_no in range(rng.randint(1, 3)):
            account = UNMAPPED_ACCOUNT if number == UNMAPPED_INVOICE and line_no == 0 else rng.choice(mapped)
            lines.append(InvoiceLine(amount=Decimal(rng.randint(2000, 500000)).scaleb(-2), gl_account=account,
                                     description=f"{GL_NAMES[account]} {line_no + 1}",
                                     dimensions={"department": rng.choice(DEPARTMENTS)[0]}))
        total = sum((line.amount for line in lines), Decimal("0.00"))
        if number == UNBALANCED_INVOICE:
            total += Decimal("100.00")
        supplier = SUPPLIER_WITHOUT_TAX_ID if n % 9 == 0 else others[n % len(others)]
        invoice_date = today - timedelta(days=n % 30 + 1)
        out.append(Invoice(source_id=number, supplier_id=supplier, invoice_number=number, invoice_date=invoice_date,
                           due_date=invoice_date + timedelta(days=30), total=total, currency="USD",
                           lines=tuple(lines), reference={"id": number}))
    return out


def seed_erp():
    """The demo's suppliers, chart and invoices in the fake ERP's book."""
    book = world.erp()
    book.add(*suppliers(), *invoices())
    book.gl_accounts = [GlAccount(code=code, name=name) for code, name in GL_ACCOUNTS]
    book.dimensions = [Dimension(kind="department", code=code, name=name) for code, name in DEPARTMENTS]


def seed_ap():
    """The same chart in the fake AP platform's book, under its own ids."""
    book = world.ap()
    book.gl_accounts = [GlAccount(code=code, name=name, id=f"gl-{code}") for code, name in GL_ACCOUNTS]
    book.dimensions = [Dimension(kind="department", code=name, name=name, id=f"dep-{code}")
                       for code, name in DEPARTMENTS]


def integration():
    """The demo tenant's integration over freshly seeded books, every code mapped and confirmed but the unmapped
    account, with both sides' reference data loaded as the demo loads them."""
    tenant = Tenant.objects.create(slug="demo", name="Demo Manufacturing")
    seed_erp()
    seed_ap()
    made = Integration.objects.create(
        tenant=tenant, name=INTEGRATION, interval_minutes=1,
        source=Connection.objects.create(tenant=tenant, system="fake_erp", name="Fake ERP"),
        target=Connection.objects.create(tenant=tenant, system="fake_ap", name="Fake AP"))
    for code, name in GL_ACCOUNTS:
        if code != UNMAPPED_ACCOUNT:
            MappingRule.objects.create(integration=made, kind=MappingRule.GL_ACCOUNT, source_code=code,
                                       target_kind=MappingRule.GL_ACCOUNT, target_id=f"gl-{code}", source_label=name,
                                       target_label=name, confirmed=True)
    for code, name in DEPARTMENTS:
        MappingRule.objects.create(integration=made, kind=MappingRule.DEPARTMENT, source_code=code,
                                   target_kind=MappingRule.DEPARTMENT, target_id=f"dep-{code}", source_label=name,
                                   target_label=name, confirmed=True)
    reference.load_both(made)
    return made


def expected_failures():
    """The invoices the first run fails: the supplier without a tax id's, the unbalanced and the unmapped one."""
    no_tax = {i.source_id for i in invoices() if i.supplier_id == SUPPLIER_WITHOUT_TAX_ID}
    return no_tax | {UNBALANCED_INVOICE, UNMAPPED_INVOICE}
