"""The SYSPRO demo: a food manufacturer on SYSPRO 8 paying its suppliers through BILL, loaded into the
simulator at a realistic volume with the problems such a customer has: an invoice coded to a ledger code
nobody mapped yet, and a supplier on hold. seed_demo creates the tenant, connections, BILL chart
and integration from the names below."""

import random
from datetime import date, timedelta
from decimal import Decimal

import requests

from connectors.syspro import tables
from sandbox.syspro import simulator as syspro_sandbox

TENANT = ("syspro-demo", "Demo SYSPRO Foods")
INTEGRATION = "SYSPRO → BILL"
# Ledger codes as this company's finance team writes them: account, then department.
GL_ACCOUNTS = [("5000-100", "Raw ingredients, Production"), ("5010-100", "Packaging materials, Production"),
               ("5100-100", "Freight in, Production"), ("5200-100", "Repairs and maintenance, Production"),
               ("5300-100", "Utilities, Production"), ("6100-200", "Marketing, Sales"),
               ("6150-200", "Trade show costs, Sales"), ("6200-300", "Office supplies, Administration"),
               ("6300-300", "IT services, Administration"), ("6400-300", "Professional fees, Administration"),
               ("4000-100", "Purchases, ingredients for resale, Production")]
DIMENSIONS = [("department", "100", "Production"), ("department", "200", "Sales"),
              ("department", "300", "Administration")]
UNMAPPED_CODE = "4000-100"
UNMAPPED = {("gl_account", UNMAPPED_CODE)}
INTEGRATION_OPTIONS = {}
SUPPLIERS = 80
INVOICES = 120
SUPPLIER_ON_HOLD = "FRE0015"
UNMAPPED_INVOICE = "SI-70031"
HELD_INVOICE = "SI-70044"  # held back in SYSPRO (InvoiceStatus H) before it was sent: never sent, no record
WALKTHROUGH = f"""\
SYSPRO → BILL (tenant "{TENANT[1]}"). Run "Sync now" on the integration {INTEGRATION}.

1. Invoice {UNMAPPED_INVOICE} fails with "GL account {UNMAPPED_CODE} is not mapped to a BILL account": its
   distribution line is coded to ledger code {UNMAPPED_CODE}, which no mapping rule covers yet. Nothing is
   sent to BILL for it.
2. Supplier {SUPPLIER_ON_HOLD} is on hold in SYSPRO: it is set aside (no BILL vendor while it is), and its
   invoices wait, saying why.
3. In the admin, add a mapping rule on the integration: GL account {UNMAPPED_CODE} → the BILL account
   "Purchases, ingredients for resale, Production".
4. On the integration's failed records, choose Replay. {UNMAPPED_INVOICE} goes through, once: replaying or
   syncing again creates no second bill.

SYSPRO takes no payments back: payments made in BILL are recorded in ml-connector only."""

NAMES = ["Prairie", "Harvest", "Golden", "Valley", "Riverside", "Summit", "Heritage", "Orchard", "Meadow",
         "Northern", "Coastal", "Evergreen", "Sunrise", "Highland", "Cedar", "Maple"]
TRADES = [("Mills", "5000-100"), ("Dairy", "5000-100"), ("Packaging", "5010-100"), ("Freight", "5100-100"),
          ("Refrigeration", "5200-100"), ("Energy", "5300-100"), ("Media", "6100-200"), ("Events", "6150-200"),
          ("Office Supply", "6200-300"), ("IT Services", "6300-300"), ("Advisors", "6400-300")]
PLACES = [("Minneapolis", "MN", "55401"), ("Des Moines", "IA", "50309"), ("Omaha", "NE", "68102"),
          ("Madison", "WI", "53703"), ("Fargo", "ND", "58102"), ("Sioux Falls", "SD", "57104")]


def syspro_data(today=None, seed=7):
    """The `seed` payload for the SYSPRO simulator: suppliers with addresses, GL accounts, departments, and
    invoices with their distribution lines, dated in the last 45 days."""
    rng = random.Random(seed)
    today = today or date.today()
    suppliers, addresses, trades = [], [], {}
    for n in range(SUPPLIERS):
        trade, code = TRADES[n % len(TRADES)]
        supplier = f"{trade[:3].upper()}{n + 1:04d}"
        city, state, postal = rng.choice(PLACES)
        trades[supplier] = code
        suppliers.append({"Supplier": supplier, "SupplierName": f"{rng.choice(NAMES)} {trade} {n + 1}",
                          "Telephone": f"+1 612 555 {rng.randint(1000, 9999)}",
                          "Email": f"ar@{trade.lower().replace(' ', '')}{n + 1}.example",
                          "Currency": "USD", "TaxRegnNum": f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}",
                          "OnHold": tables.ON_HOLD if supplier == SUPPLIER_ON_HOLD else "N"})
        addresses.append({"Supplier": supplier, "SupAddr1": f"{rng.randint(10, 9999)} Commerce Dr",
                          "SupAddr3": city, "SupAddr4": state, "SupAddr5": "US", "SupPostalCode": postal})
    codes = list(trades)
    invoices, lines = [], []
    for n in range(INVOICES):
        number = f"SI-{70001 + n}"
        supplier = SUPPLIER_ON_HOLD if n % 40 == 14 else rng.choice(codes)
        invoice_date = today - timedelta(days=rng.randint(1, 45))
        amounts = [Decimal(rng.randint(5000, 900000)) / 100 for _ in range(rng.randint(1, 3))]
        total = sum(amounts, Decimal("0.00"))
        invoices.append({"Supplier": supplier, "Invoice": number, "InvoiceDate": invoice_date.isoformat(),
                         "DueDate": (invoice_date + timedelta(days=30)).isoformat(), "Reference": f"PO {4500 + n}",
                         "OrigInvValue": str(total), "MthInvBal1": str(total), "Currency": "USD",
                         "InvoiceStatus": tables.HELD_STATUS if number == HELD_INVOICE else ""})
        for line_no, amount in enumerate(amounts, 1):
            code = UNMAPPED_CODE if number == UNMAPPED_INVOICE and line_no == 1 else trades[supplier]
            lines.append({"Supplier": supplier, "Invoice": number, "DistrLine": line_no, "ExpenseGlCode": code,
                          "DistrValue": str(amount), "Comment": f"{dict(GL_ACCOUNTS)[code].split(',')[0]}",
                          "Department": code.split("-")[1]})
    return {tables.SUPPLIERS.name: suppliers, tables.SUPPLIER_ADDRESSES.name: addresses,
            tables.GL_ACCOUNTS.name: [{"GlCode": code, "Description": name, "AccountType": "E"}
                                      for code, name in GL_ACCOUNTS],
            tables.DEPARTMENTS.name: [{"Department": code, "Description": name} for _, code, name in DIMENSIONS],
            tables.INVOICES.name: invoices, tables.DISTRIBUTION.name: lines}


def seed(sandbox_url, today=None):
    """Load the demo data into the SYSPRO simulator served at `sandbox_url`; safe to repeat (rows are keyed)."""
    response = requests.post(f"{sandbox_url}/_control/syspro/seed", json=syspro_data(today), timeout=60)
    response.raise_for_status()
    return response.json()


def connection(sandbox_url):
    """The demo connection's fields: e.net at the simulator, tables read over its OData service."""
    return {"base_url": syspro_sandbox.enet_url(sandbox_url),
            "credentials": {"operator": syspro_sandbox.OPERATOR, "operator_password": syspro_sandbox.OPERATOR_PASSWORD,
                            "company_id": syspro_sandbox.COMPANY_ID,
                            "company_password": syspro_sandbox.COMPANY_PASSWORD},
            "options": {"odata_url": syspro_sandbox.odata_url(sandbox_url)}}
