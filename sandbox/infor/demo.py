"""The main demo: a manufacturer on Infor CloudSuite (M3) paying its suppliers through BILL, loaded into the
simulators at a realistic volume with the problems real customers have (an unmapped GL account, a supplier
without a tax id, an invoice whose lines do not add up). It signs in to the BILL simulator's own organization,
which its controls act on unless told another, and its finance user sees the status page. seed_demo creates
the tenant, connections, BILL chart and integration from the names below."""

import random
import sys
from datetime import date, timedelta
from decimal import Decimal

import requests

from connectors.infor import m3
from sandbox import demo
from sandbox.bill import simulator as bill_sandbox
from sandbox.infor import simulator as infor_sandbox

TENANT = ("demo", "Demo Manufacturing")
INTEGRATION = "Infor → BILL"
FINANCE_USER = "demo-finance"
BILL_ORGANIZATION = bill_sandbox.ORG_ID
GL_ACCOUNTS = [("6000", "Raw materials"), ("6010", "Packaging"), ("6020", "Freight in"), ("6030", "Utilities"),
               ("6040", "Office supplies"), ("6050", "Repairs and maintenance"), ("6060", "IT services"),
               ("6070", "Janitorial"), ("6080", "Tooling"), ("6090", "Professional fees"),
               ("6999", "Miscellaneous expense")]
UNMAPPED_ACCOUNT = "6999"
DEPARTMENTS = [("100", "Operations"), ("200", "Sales"), ("300", "Administration")]
DIMENSIONS = [("department", code, name) for code, name in DEPARTMENTS]
UNMAPPED = {("gl_account", UNMAPPED_ACCOUNT)}
GL_NAMES = dict(GL_ACCOUNTS)
SUPPLIERS = 300
INVOICES = 400
# The problems. The supplier without a tax id has every 37th invoice and a few more.
SUPPLIER_WITHOUT_TAX_ID = "S10007"
FEWEST_SUPPLIERS = 7  # S10001 on, so that S10007 is among them
UNBALANCED_INVOICE = "INV-200017"
UNMAPPED_INVOICE = "INV-200031"
WALKTHROUGH = f"""\
Infor → BILL (tenant "{TENANT[1]}"). The integration {INTEGRATION} runs every minute.

1. {SUPPLIERS - 1} suppliers become BILL vendors; {SUPPLIER_WITHOUT_TAX_ID} has no tax id, so no vendor is made
   for it and its invoices fail saying so.
2. Invoice {UNMAPPED_INVOICE} fails with "GL account {UNMAPPED_ACCOUNT} is not mapped to a BILL account": add the
   rule for it (Work queue), then "Retry all in this group"; it goes through once.
3. Invoice {UNBALANCED_INVOICE}'s lines do not add up to its total: it fails until it is corrected in Infor.
4. Pay a bill in the BILL simulator (control `bill/pay`): the payment arrives by signed webhook and is posted
   on the Infor invoice."""

WORDS = ["Acme", "Summit", "Pioneer", "Harbor", "Granite", "Cedar", "Atlas", "Beacon", "Crescent", "Delta",
         "Evergreen", "Frontier", "Keystone", "Liberty", "Meridian", "Northwind", "Orchard", "Prairie", "Quarry",
         "Redwood", "Sterling", "Tidewater", "Union", "Vanguard", "Westfield"]
TRADES = ["Paper", "Logistics", "Electric", "Packaging", "Metals", "Office Supply", "Freight", "Tooling",
          "Janitorial", "Plastics", "Chemicals", "IT Services"]
STATES = [("TX", "Austin", "78701"), ("IL", "Chicago", "60601"), ("GA", "Atlanta", "30303"),
          ("OH", "Columbus", "43215"), ("WA", "Seattle", "98101")]


def infor_data(today=None, seed=42, invoices=INVOICES, suppliers=SUPPLIERS):
    """Suppliers, GL accounts and approved invoices for the Infor simulator (M3 field names). The
    benchmarks ask for other sizes; the demo and the tests take the default."""
    if suppliers < FEWEST_SUPPLIERS:
        raise ValueError(f"The demo needs at least {FEWEST_SUPPLIERS} suppliers: one of its problems is supplier "
                         f"{SUPPLIER_WITHOUT_TAX_ID}.")
    count, supplier_count = invoices, suppliers
    rng = random.Random(seed)
    today = today or date.today()
    suppliers = []
    for n in range(supplier_count):
        suno = f"S{10001 + n}"
        state, town, postal = rng.choice(STATES)
        tax_id = f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}"
        suppliers.append({"SUNO": suno, "SUNM": f"{rng.choice(WORDS)} {rng.choice(TRADES)} {n + 1}",
                          "TINO": "" if suno == SUPPLIER_WITHOUT_TAX_ID else tax_id,
                          "CUCD": "USD", "CSCD": "US", "ADR1": f"{rng.randint(1, 9999)} Main St", "TOWN": town,
                          "ECAR": state, "PONO": postal, "STAT": "20",
                          # Most suppliers have an AP e-mail address (CRS111, type 04); a few have none.
                          **({"EMAL": f"ap@{suno.lower()}.example.com"} if n % 10 != 9 else {})})
    accounts = [{"AITP": m3.ACCOUNT_DIMENSION, "AITM": code, "TX40": name} for code, name in GL_ACCOUNTS]
    accounts += [{"AITP": m3.DEPARTMENT_DIMENSION, "AITM": code, "TX40": name} for code, name in DEPARTMENTS]
    mapped = [code for code, _ in GL_ACCOUNTS if code != UNMAPPED_ACCOUNT]
    invoices = []
    for n in range(count):
        number = f"INV-{200001 + n}"
        invoice_date = today - timedelta(days=rng.randint(1, 30))
        lines, total = [], Decimal("0.00")
        for line_no in range(1, rng.randint(1, 3) + 1):
            amount = Decimal(rng.randint(2000, 500000)) / 100
            account = UNMAPPED_ACCOUNT if number == UNMAPPED_INVOICE and line_no == 1 else rng.choice(mapped)
            lines.append({"LINO": line_no, m3.ACCOUNT_FIELD: account, m3.DEPARTMENT_FIELD: rng.choice(DEPARTMENTS)[0],
                          "LNAM": str(amount),
                          "LNDE": f"{GL_NAMES[account]} {line_no}",
                          "PUNO": f"PO{rng.randint(100000, 999999)}" if rng.random() < 0.4 else ""})
            total += amount
        if number == UNBALANCED_INVOICE:
            total += Decimal("100.00")
        supplier = suppliers[rng.randrange(supplier_count)]["SUNO"] if n % 37 else SUPPLIER_WITHOUT_TAX_ID
        invoices.append({"DIVI": "AAA", "YEA4": invoice_date.year, "JRNO": 5000 + n // 100, "JSNO": n % 100 + 1,
                         "SPYN": "", "SUNO": supplier,
                         "SINO": number, "IVDT": invoice_date.strftime("%Y%m%d"),
                         "DUDT": (invoice_date + timedelta(days=30)).strftime("%Y%m%d"), "CUCD": "USD",
                         "CUAM": str(total), "APRV": "1", "lines": lines})
    return {"suppliers": suppliers, "accounts": accounts, "invoices": invoices}


def seed(sandbox_url, today=None, invoices=INVOICES, suppliers=SUPPLIERS):
    """Load the demo data into the Infor simulator's own tenant."""
    # A benchmark's 50,000 invoices take the simulator a while to take in.
    response = requests.post(f"{sandbox_url}/_control/infor/seed",
                             json=infor_data(today, invoices=invoices, suppliers=suppliers), timeout=600)
    response.raise_for_status()
    return response.json()


def seed_sandboxes(sandbox_url, invoices=INVOICES, suppliers=SUPPLIERS):
    """Both simulators loaded as seed_demo loads them, with `invoices` approved invoices and `suppliers` suppliers
    (the benchmarks ask for other sizes); returns BILL's ids: {"gl": {code: id}, "departments": {code: id}}."""
    seed(sandbox_url, invoices=invoices, suppliers=suppliers)
    targets = demo.seed_bill_organization(sandbox_url, BILL_ORGANIZATION, sys.modules[__name__])
    ids = {"gl": {}, "departments": {}}
    for (kind, code), (_, target) in targets.items():
        ids["gl" if kind == "gl_account" else "departments"][code] = target
    return ids


def connection(sandbox_url):
    # Named as it always was, so a database seeded before keeps the one Infor connection.
    return {"name": "Infor M3 (sandbox)", "base_url": "", "credentials": infor_sandbox.ionapi_for(sandbox_url),
            "options": {"company": infor_sandbox.COMPANY, "division": "AAA"}}
