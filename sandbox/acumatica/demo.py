"""The Acumatica demo: a distribution company's vendors, GL accounts, subaccounts and released AP bills in the
simulator, at a realistic volume and with the problems real customers have: a released bill in euros, a bill
coded to a subaccount nobody mapped, and a vendor on hold. seed_demo loads it and connects it to BILL."""

import random
from datetime import date, timedelta
from decimal import Decimal

import requests

from connectors.acumatica.system import RELEASE_PAYMENTS, SIGN_IN_OAUTH
from sandbox.acumatica import simulator as acumatica_sandbox

TENANT = ("acumatica-demo", "Demo Acumatica Distribution")
INTEGRATION = "Acumatica → BILL"

GL_ACCOUNTS = [("50000", "Cost of goods sold"), ("60000", "Freight in"), ("61000", "Office supplies"),
               ("62000", "Utilities"), ("63000", "Repairs and maintenance"), ("64000", "IT services"),
               ("65000", "Professional fees"), ("66000", "Janitorial"), ("67000", "Packaging")]
UNMAPPED_SUBACCOUNT = "900-000"
SUBACCOUNTS = [("000-000", "Company-wide"), ("100-000", "Operations"), ("200-000", "Sales"),
               ("300-000", "Administration"), (UNMAPPED_SUBACCOUNT, "Trade show 2026")]
BRANCHES = [("HQ", "Headquarters"), ("EAST", "East warehouse")]
DIMENSIONS = [("subaccount", code, name) for code, name in SUBACCOUNTS] + \
    [("location", code, name) for code, name in BRANCHES]
UNMAPPED = {("subaccount", UNMAPPED_SUBACCOUNT)}
INTEGRATION_OPTIONS = {}

VENDORS = 80
RELEASED_BILLS = 120
VENDOR_ON_HOLD = "V00012"
EURO_VENDOR = "V00027"
EURO_BILL = "EU-2026-0415"
UNMAPPED_BILL = "INV-700031"

WORDS = ["Acme", "Summit", "Pioneer", "Harbor", "Granite", "Cedar", "Atlas", "Beacon", "Crescent", "Delta",
         "Evergreen", "Frontier", "Keystone", "Liberty", "Meridian", "Northwind", "Orchard", "Prairie", "Quarry",
         "Redwood", "Sterling", "Tidewater", "Union", "Vanguard", "Westfield"]
TRADES = ["Paper", "Logistics", "Electric", "Packaging", "Metals", "Office Supply", "Freight", "Tooling",
          "Janitorial", "Plastics", "Chemicals", "IT Services"]
PLACES = [("TX", "Austin", "78701"), ("IL", "Chicago", "60601"), ("GA", "Atlanta", "30303"),
          ("OH", "Columbus", "43215"), ("WA", "Seattle", "98101")]

WALKTHROUGH = (
    "Demo Acumatica Distribution runs Acumatica → BILL against the Acumatica simulator (OAuth sign-in, endpoint "
    f"Default/24.200.001): {VENDORS} vendors and {RELEASED_BILLS} released AP bills become BILL vendors and "
    "bills, each line's GL account, subaccount (as a BILL department) and branch (as a BILL location) mapped. "
    f"Three records wait for a person: bill {EURO_BILL} is in euros and BILL pays in dollars only, bill "
    f"{UNMAPPED_BILL} has a line on subaccount {UNMAPPED_SUBACCOUNT} that nobody mapped, and vendor "
    f"{VENDOR_ON_HOLD} is on hold in Acumatica, so no BILL vendor is made for it and its bills wait. Pay a bill in "
    "BILL and the next run records an Acumatica AP payment applied to that bill, released, with BILL's payment id "
    "in Payment Ref.; void it in BILL and the Acumatica payment is voided. Every run signs out of Acumatica, so it "
    "never holds one of the licence's two API user slots.")


def data(today=None, seed=11):
    """The simulator's `seed` payload: vendors, GL accounts, subaccounts and bills in Acumatica's field names."""
    rng = random.Random(seed)
    today = today or date.today()
    vendors = []
    for n in range(1, VENDORS + 1):
        vendor_id = f"V{n:05d}"
        state, city, postal = rng.choice(PLACES)
        name = f"{rng.choice(WORDS)} {rng.choice(TRADES)} {n}"
        euro = vendor_id == EURO_VENDOR
        vendors.append({
            "VendorID": vendor_id, "VendorName": name, "LegalName": f"{name} LLC",
            "Status": "On Hold" if vendor_id == VENDOR_ON_HOLD else "Active", "VendorClass": "DEFAULT",
            "CurrencyID": "EUR" if euro else "USD", "Terms": "30D", "PaymentMethod": rng.choice(("CHECK", "ACH")),
            "TaxRegistrationID": f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}",
            "MainContact": {"Email": f"ar@vendor{n}.test", "Phone1": f"+1 512 555 {n:04d}",
                            "Address": {"AddressLine1": f"{rng.randint(1, 9999)} Main St", "City": city,
                                        "State": state, "PostalCode": postal, "Country": "US"}
                            if not euro else {"AddressLine1": "12 Rue de la Paix", "City": "Paris",
                                              "PostalCode": "75002", "Country": "FR"}}})
    mapped = [code for code, _ in SUBACCOUNTS if code != UNMAPPED_SUBACCOUNT]
    names = dict(GL_ACCOUNTS)
    paying = [v["VendorID"] for v in vendors if v["VendorID"] not in (EURO_VENDOR, VENDOR_ON_HOLD)]
    bills = []
    # Released bills, then a few saved but not released (Balanced) and on hold, which are not read.
    for n, status in enumerate(["Open"] * RELEASED_BILLS + ["Balanced"] * 6 + ["On Hold"] * 4, 1):
        number = f"INV-{700000 + n}"
        vendor = VENDOR_ON_HOLD if n in (12, 64) else rng.choice(paying)
        currency = "USD"
        if n == 57:
            number, vendor, currency = EURO_BILL, EURO_VENDOR, "EUR"
        bill_date = today - timedelta(days=rng.randint(1, 30))
        lines = []
        for line_no in range(1, rng.randint(1, 3) + 1):
            account = rng.choice(GL_ACCOUNTS)[0]
            subaccount = UNMAPPED_SUBACCOUNT if number == UNMAPPED_BILL and line_no == 1 else rng.choice(mapped)
            lines.append({"Account": account, "Subaccount": subaccount, "Branch": rng.choice(BRANCHES)[0],
                          "Amount": str(Decimal(rng.randint(2000, 500000)) / 100),
                          "TransactionDescription": f"{names[account]} {line_no}",
                          **({"POOrderNbr": f"PO{rng.randint(100000, 999999)}"} if rng.random() < 0.3 else {})})
        total = sum(Decimal(line["Amount"]) for line in lines)
        bills.append({"ReferenceNbr": f"{n:06d}", "Vendor": vendor, "VendorRef": number,
                      "Date": bill_date.isoformat(), "DueDate": (bill_date + timedelta(days=30)).isoformat(),
                      "Amount": str(total), "CurrencyID": currency, "Status": status, "BranchID": "HQ",
                      "LocationID": "MAIN", "Terms": "30D", "PostPeriod": bill_date.strftime("%m%Y"),
                      "Description": f"Vendor invoice {number}", "Details": lines})
    return {"vendors": vendors,
            "accounts": [{"AccountCD": code, "Description": name, "Type": "Expense"} for code, name in GL_ACCOUNTS],
            "subaccounts": [{"SubaccountCD": code, "Description": name} for code, name in SUBACCOUNTS],
            "bills": bills}


def seed(sandbox_url, today=None):
    """Load the demo into the Acumatica simulator served at `sandbox_url`; safe to repeat (a simulator that
    already holds the demo is left as it is, payments recorded included)."""
    state = requests.get(f"{sandbox_url}/_control/state", params={"system": "acumatica"}, timeout=60)
    state.raise_for_status()
    if any(v["VendorID"] == VENDOR_ON_HOLD for v in state.json()["vendors"]):
        return {"seeded": False}
    response = requests.post(f"{sandbox_url}/_control/acumatica/seed", json=data(today), timeout=60)
    response.raise_for_status()
    return {"seeded": True, **response.json()}


def connection(sandbox_url):
    """The demo tenant's Acumatica connection: the simulator's OAuth client, payments released."""
    return {"base_url": f"{sandbox_url}/acumatica",
            "credentials": {"sign_in": SIGN_IN_OAUTH, "username": acumatica_sandbox.USERNAME,
                            "password": acumatica_sandbox.PASSWORD, "tenant": acumatica_sandbox.TENANT, "branch": "",
                            "client_id": acumatica_sandbox.CLIENT_ID, "client_secret": acumatica_sandbox.CLIENT_SECRET},
            "options": {"endpoint": "Default", "version": "24.200.001",
                        "release_payments": RELEASE_PAYMENTS, "include_balanced": "no", "base_currency": "USD"}}
