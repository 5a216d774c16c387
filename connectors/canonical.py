"""The canonical seed: one small company's data, in no system's terms, for the contract suites.

Every simulator loads it through one control and translates it into its own shapes; a simulator is
the one place that knows both. The suites (tests/connectors/contracts/, tests/syncs/test_pairs.py)
then check each connector and each pair against this one description, so a new system is held to
the same expectations by a single subclass line per suite.

The data is fixed: same ids, names, dates and amounts on every load. It carries the problems real
customers have: invoice UNMAPPED_INVOICE has a line on GL account UNMAPPED_ACCOUNT (which the pair
suite leaves unmapped), supplier SUPPLIER_WITHOUT_TAX_ID has no tax id, and the lines of
UNBALANCED_INVOICE do not add up to its total. One invoice is not approved and must never be read;
one supplier is inactive.

Controls every simulator answers in canonical terms (`POST /_control/<system>/<action>`, JSON):

ERP simulators
- `seed-canonical` `{}`: load SUPPLIERS, GL_ACCOUNTS, DEPARTMENTS and INVOICES (the supplier ids are
  the ERP's own supplier numbers). `{"unreadable": true}` also loads UNREADABLE_INVOICE with a value
  no reader of that system can parse; a simulator with no way to hold one answers 400. Answers the
  counts loaded.
- `canonical-supplier` `{"source_id", <Supplier field>: value, ...}`: change a supplier as a person
  would in the ERP (it counts as changed for incremental reads). Answers `{"source_id"}`.
- `canonical-invoice` `{"supplier_id", "number", "approved"?, "held"?}`: approve an invoice, or hold
  (`true`) or release (`false`) one approved before, as AP would in the ERP (it counts as changed).
  Answers `{"supplier_id", "number"}`.
- `canonical-state` `{}`: `{"payments": [{"payment_id", "invoice_number", "supplier_id", "amount",
  "status": "PAID" | "VOIDED"}]}`, the payments recorded against invoices.

AP simulators
- `seed-canonical` `{}`: load GL_ACCOUNTS (every one, UNMAPPED_ACCOUNT too) and DEPARTMENTS as the
  platform's chart of accounts and dimensions. Answers the platform's ids:
  `{"gl_accounts": {code: id}, "dimensions": {"department": {code: id}}}`.
- `canonical-pay` `{"bill_id", "amount"?}`: pay a bill (in full unless an amount is given) as a
  person would in the platform. Answers `{"payment_id"}`.
- `canonical-state` `{}`: `{"vendors": [{"id", "name", "tax_id"}], "bills": [{"id", "vendor_id",
  "invoice_number", "invoice_date", "due_date", "amount", "lines": [{"amount", "gl_account",
  "department"}]}]}`, with GL accounts and departments as canonical codes.

Amounts travel as decimal strings with two places, dates as yyyy-mm-dd.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from connectors.records import Address, Dimension, GlAccount, InvoiceLine, Supplier

SUPPLIER_WITHOUT_TAX_ID = "V1003"
INACTIVE_SUPPLIER = "V1006"
UNMAPPED_ACCOUNT = "6999"
UNMAPPED_INVOICE = "INV-1005"
UNBALANCED_INVOICE = "INV-1006"
UNAPPROVED_INVOICE = "INV-1008"

SUPPLIERS = (
    Supplier("V1001", "Harbor Paper Co", tax_id="74-1234567", email="ar@harborpaper.test", phone="+1 512 555 0101",
             address=Address("100 Congress Ave", "", "Austin", "TX", "78701", "US")),
    Supplier("V1002", "Summit Freight LLC", tax_id="36-7654321", email="billing@summitfreight.test",
             address=Address("233 S Wacker Dr", "", "Chicago", "IL", "60606", "US")),
    Supplier(SUPPLIER_WITHOUT_TAX_ID, "Cedar Janitorial", phone="+1 404 555 0133",
             address=Address("55 Peachtree St", "", "Atlanta", "GA", "30303", "US")),
    Supplier("V1004", "Northwind IT Services", tax_id="91-2468013", email="invoices@northwind.test",
             address=Address("400 Pine St", "", "Seattle", "WA", "98101", "US")),
    Supplier("V1005", "Maple Tooling Ltd", tax_id="123456789", currency="CAD", email="ar@mapletooling.test",
             address=Address("200 Bay St", "", "Toronto", "ON", "M5J 2J2", "CA")),
    Supplier(INACTIVE_SUPPLIER, "Granite Metals", tax_id="31-1357911", active=False,
             address=Address("10 High St", "", "Columbus", "OH", "43215", "US")),
)

GL_ACCOUNTS = (
    GlAccount("6000", "Raw materials"),
    GlAccount("6100", "Freight in"),
    GlAccount("6200", "Office supplies"),
    GlAccount("6300", "IT services"),
    GlAccount("6400", "Janitorial"),
    GlAccount(UNMAPPED_ACCOUNT, "Miscellaneous expense"),
)

DEPARTMENTS = (
    Dimension("department", "100", "Operations"),
    Dimension("department", "200", "Sales"),
    Dimension("department", "300", "Administration"),
)


@dataclass(frozen=True)
class SeedInvoice:
    """A supplier invoice as the ERP holds it. Its id in the ERP is the simulator's to choose; the
    invoice number and supplier identify it across systems."""

    number: str
    supplier_id: str
    invoice_date: date
    total: Decimal
    lines: tuple[InvoiceLine, ...]
    currency: str = "USD"
    approved: bool = True

    @property
    def due_date(self):
        return self.invoice_date + timedelta(days=30)


def line(amount, gl_account, department, description, po_number=""):
    return InvoiceLine(amount=Decimal(amount), gl_account=gl_account, description=description,
                       dimensions={"department": department}, po_number=po_number)


def invoice(number, supplier_id, day, *lines, total=None, **fields):
    return SeedInvoice(number, supplier_id, date(2026, 1, day),
                       Decimal(total) if total else sum((x.amount for x in lines), Decimal("0.00")), lines, **fields)


INVOICES = (
    invoice("INV-1001", "V1001", 5, line("1250.00", "6000", "100", "Kraft paper rolls"),
            line("89.90", "6200", "300", "Copier paper")),
    invoice("INV-1002", "V1002", 6, line("740.25", "6100", "100", "Inbound freight, week 1")),
    invoice("INV-1003", "V1004", 7, line("3200.00", "6300", "300", "Managed services, January", "PO100245"),
            line("410.00", "6200", "200", "Headsets", "PO100245"), line("18.75", "6000", "100", "Cable ties")),
    invoice("INV-1004", "V1005", 8, line("5120.40", "6000", "100", "Die set"), currency="CAD"),
    invoice(UNMAPPED_INVOICE, "V1001", 9, line("64.00", UNMAPPED_ACCOUNT, "300", "Coffee service"),
            line("120.00", "6200", "300", "Toner")),
    invoice(UNBALANCED_INVOICE, "V1002", 12, line("300.00", "6100", "100", "Inbound freight, week 2"),
            line("45.50", "6100", "200", "Courier"), total="445.50"),
    invoice("INV-1007", SUPPLIER_WITHOUT_TAX_ID, 13, line("980.00", "6400", "300", "Office cleaning, January")),
    invoice(UNAPPROVED_INVOICE, "V1004", 14, line("150.00", "6300", "200", "Software licence"), approved=False),
    invoice("INV-1009", "V1002", 15, line("512.80", "6100", "200", "Inbound freight, week 3")),
)

# Loaded only on request, with a value its system cannot parse (an impossible date, say).
UNREADABLE_INVOICE = invoice("INV-1010", "V1004", 16, line("77.00", "6300", "300", "Domain renewal"))

APPROVED_INVOICES = tuple(i for i in INVOICES if i.approved)
# Invoices of the supplier without a tax id: no vendor can be made for them until it has one.
NO_TAX_ID_INVOICES = frozenset(i.number for i in APPROVED_INVOICES if i.supplier_id == SUPPLIER_WITHOUT_TAX_ID)
# What a pair cannot send until someone fixes the cause.
PROBLEM_INVOICES = frozenset({UNMAPPED_INVOICE, UNBALANCED_INVOICE}) | NO_TAX_ID_INVOICES
GOOD_INVOICES = tuple(i for i in APPROVED_INVOICES if i.number not in PROBLEM_INVOICES)


def amount_text(value):
    """An amount as the canonical controls write it."""
    return str(Decimal(str(value)).quantize(Decimal("0.01")))
