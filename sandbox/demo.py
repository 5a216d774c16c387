"""The demo: a tenant with Infor → BILL against the simulators, with data at a realistic volume and
the problems real customers have (an unmapped GL account, a supplier without a tax id, an invoice
whose lines do not add up)."""

import importlib
import random
from datetime import date, timedelta
from decimal import Decimal

import requests

from connectors.infor import m3
from connectors.registry import SYSTEMS

WORDS = ["Acme", "Summit", "Pioneer", "Harbor", "Granite", "Cedar", "Atlas", "Beacon", "Crescent", "Delta",
         "Evergreen", "Frontier", "Keystone", "Liberty", "Meridian", "Northwind", "Orchard", "Prairie", "Quarry",
         "Redwood", "Sterling", "Tidewater", "Union", "Vanguard", "Westfield"]
TRADES = ["Paper", "Logistics", "Electric", "Packaging", "Metals", "Office Supply", "Freight", "Tooling",
          "Janitorial", "Plastics", "Chemicals", "IT Services"]
STATES = [("TX", "Austin", "78701"), ("IL", "Chicago", "60601"), ("GA", "Atlanta", "30303"),
          ("OH", "Columbus", "43215"), ("WA", "Seattle", "98101")]
GL_ACCOUNTS = [("6000", "Raw materials"), ("6010", "Packaging"), ("6020", "Freight in"), ("6030", "Utilities"),
               ("6040", "Office supplies"), ("6050", "Repairs and maintenance"), ("6060", "IT services"),
               ("6070", "Janitorial"), ("6080", "Tooling"), ("6090", "Professional fees"),
               ("6999", "Miscellaneous expense")]
UNMAPPED_ACCOUNT = "6999"
DEPARTMENTS = [("100", "Operations"), ("200", "Sales"), ("300", "Administration")]
SUPPLIER_WITHOUT_TAX_ID = "S10007"
GL_NAMES = dict(GL_ACCOUNTS)
DEPARTMENT_NAMES = dict(DEPARTMENTS)
UNBALANCED_INVOICE = "INV-200017"
UNMAPPED_INVOICE = "INV-200031"
SUPPLIERS = 300
INVOICES = 400


def infor_data(today=None, seed=42, invoices=INVOICES):
    """Suppliers, GL accounts and approved invoices for the Infor simulator (M3 field names). The
    benchmarks ask for more invoices; the demo and the tests take the default."""
    count = invoices
    rng = random.Random(seed)
    today = today or date.today()
    suppliers = []
    for n in range(SUPPLIERS):
        suno = f"S{10001 + n}"
        state, town, postal = rng.choice(STATES)
        tax_id = f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}"
        suppliers.append({"SUNO": suno, "SUNM": f"{rng.choice(WORDS)} {rng.choice(TRADES)} {n + 1}",
                          "TINO": "" if suno == SUPPLIER_WITHOUT_TAX_ID else tax_id,
                          "CUCD": "USD", "CSCD": "US", "ADR1": f"{rng.randint(1, 9999)} Main St", "TOWN": town,
                          "ECAR": state, "PONO": postal, "STAT": "20"})
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
                          "LNDE": f"{dict(GL_ACCOUNTS)[account]} {line_no}",
                          "PUNO": f"PO{rng.randint(100000, 999999)}" if rng.random() < 0.4 else ""})
            total += amount
        if number == UNBALANCED_INVOICE:
            total += Decimal("100.00")
        supplier = suppliers[rng.randrange(SUPPLIERS)]["SUNO"] if n % 37 else SUPPLIER_WITHOUT_TAX_ID
        invoices.append({"DIVI": "AAA", "YEA4": invoice_date.year, "JRNO": 5000 + n // 100, "JSNO": n % 100 + 1,
                         "SPYN": "", "SUNO": supplier,
                         "SINO": number, "IVDT": invoice_date.strftime("%Y%m%d"),
                         "DUDT": (invoice_date + timedelta(days=30)).strftime("%Y%m%d"), "CUCD": "USD",
                         "CUAM": str(total), "APRV": "1", "lines": lines})
    return {"suppliers": suppliers, "accounts": accounts, "invoices": invoices}


def bill_data():
    return {"chart_of_accounts": [{"name": name, "account": {"type": "EXPENSE", "number": code}}
                                  for code, name in GL_ACCOUNTS],
            "departments": [{"name": name} for _, name in DEPARTMENTS]}


def sandbox_seeded(sandbox_url, organization_id):
    state = requests.get(f"{sandbox_url}/_control/state", params={"system": "bill"}, timeout=30).json()
    return bool(state["organizations"].get(organization_id, {}).get("chart-of-accounts"))


def seed_sandboxes(sandbox_url, invoices=INVOICES):
    """Load the demo data into fresh simulators; return BILL's ids: {"gl": {code: id}, "departments": {...}}."""
    for system, payload in (("infor", infor_data(invoices=invoices)), ("bill", bill_data())):
        response = requests.post(f"{sandbox_url}/_control/{system}/seed", json=payload, timeout=60)
        response.raise_for_status()
        if system == "bill":
            created = response.json()
    return bill_ids(created["chart-of-accounts"], created["departments"])


def bill_ids(accounts, departments):
    names = dict((name, code) for code, name in DEPARTMENTS)
    return {"gl": {a["account"]["number"]: a["id"] for a in accounts},
            "departments": {names[d["name"]]: d["id"] for d in departments if d["name"] in names}}


def bill_ids_from_state(sandbox_url, organization_id):
    org = requests.get(f"{sandbox_url}/_control/state", params={"system": "bill"}, timeout=30).json()[
        "organizations"][organization_id]
    return bill_ids(org["chart-of-accounts"], org["departments"])


# --- the other systems' demo tenants -----------------------------------------------------------------------
# A system adds a demo tenant by a `demo` module in its folder (connectors/<id>/demo.py): TENANT (slug, name),
# INTEGRATION (its name), seed(sandbox_url), connection(sandbox_url), and, for an ERP shown with BILL,
# GL_ACCOUNTS, DIMENSIONS and UNMAPPED, which become a BILL organization of its own and the mapping rules;
# an AP platform's demo names its ERP as PARTNER and gives partner_connection(sandbox_url).
# BILL has no subaccounts or projects: those dimensions are carried as accounting classes.
BILL_DIMENSIONS = {"department": "departments", "location": "locations", "class": "accounting_classes",
                   "subaccount": "accounting_classes", "project": "accounting_classes"}
BILL_KINDS = {"departments": "department", "locations": "location", "accounting-classes": "class"}


def demo_modules():
    """{system id: its demo module} for every system in the registry that has one."""
    found = {}
    for system_id in SYSTEMS:
        try:
            found[system_id] = importlib.import_module(f"sandbox.{system_id}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"sandbox.{system_id}.demo":
                raise
    return found


def bill_organization(slug):
    """The BILL simulator organization of a demo tenant: an id in BILL's shape (008 + 14 characters)."""
    return ("008" + "".join(c for c in slug.upper() if c.isalnum()) + "0" * 14)[:17]


def seed_bill_organization(sandbox_url, org_id, module):
    """A BILL organization with the demo ERP's accounts and dimensions, and a user to sign in with. Returns
    {(kind, code): (BILL kind, BILL id)}."""
    from sandbox.bill import simulator as bill_sandbox

    requests.post(f"{sandbox_url}/_control/bill/account", timeout=30, json={
        "organizationId": org_id, "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD}
    ).raise_for_status()
    payload = {"organizationId": org_id,
               "chart_of_accounts": [{"name": name, "account": {"type": "EXPENSE", "number": code}}
                                     for code, name in module.GL_ACCOUNTS]}
    for kind, code, name in module.DIMENSIONS:
        payload.setdefault(BILL_DIMENSIONS[kind], []).append({"name": f"{code} {name}"})
    response = requests.post(f"{sandbox_url}/_control/bill/seed", json=payload, timeout=60)
    response.raise_for_status()
    return bill_targets(response.json(), module)


def bill_targets(created, module):
    targets = {("gl_account", a["account"]["number"]): ("gl_account", a["id"])
               for a in created.get("chart-of-accounts", [])}
    by_name = {(BILL_KINDS[kind], d["name"]): d["id"] for kind in BILL_KINDS for d in created.get(kind, [])}
    for kind, code, name in module.DIMENSIONS:
        bill_kind = BILL_KINDS[BILL_DIMENSIONS[kind].replace("_", "-")]
        if (bill_kind, f"{code} {name}") in by_name:
            targets[(kind, code)] = (bill_kind, by_name[(bill_kind, f"{code} {name}")])
    return targets


def bill_targets_from_state(sandbox_url, org_id, module):
    org = requests.get(f"{sandbox_url}/_control/state", params={"system": "bill"}, timeout=30).json()[
        "organizations"].get(org_id)
    return bill_targets(org or {}, module)
