"""The IFS Cloud demo: an industrial equipment maker on IFS Cloud paying its suppliers through BILL, loaded
into the simulator at a realistic volume with the problems such a customer has: a supplier whose e-mail
address is changed in IFS at the moment BILL's edit is written back, an invoice whose row is locked in IFS
when it is to be marked as transferred, a PO reference longer than most AP platforms keep, an invoice coded
to an account nobody mapped, and a blocked supplier. seed_demo creates the tenant, connections,
BILL chart and integration from the names below."""

import random
from datetime import date, timedelta
from decimal import Decimal

import requests

from connectors.ifs import projections as p
from sandbox.ifs import simulator as ifs_sandbox

TENANT = ("ifs-demo", "Demo IFS Industries")
INTEGRATION = "IFS → BILL"
COMPANY = "IFS10"
GL_ACCOUNTS = [("6000", "Raw materials"), ("6010", "Castings and forgings"), ("6020", "Freight in"),
               ("6100", "Electricity"), ("6200", "Repairs and maintenance"), ("6300", "Tooling"),
               ("6400", "Office supplies"), ("6500", "IT services"), ("6600", "Consulting fees"),
               ("6700", "Safety equipment"), ("7999", "Suspense")]
DIMENSIONS = [("department", "D100", "Machining"), ("department", "D200", "Assembly"),
              ("department", "D300", "Administration"), ("project", "P2601", "Line 3 retrofit"),
              ("project", "P2602", "Warehouse expansion")]
UNMAPPED_ACCOUNT = "7999"
UNMAPPED = {("gl_account", UNMAPPED_ACCOUNT)}
INTEGRATION_OPTIONS = {}
SUPPLIERS = 100
INVOICES = 150
# The problems, each on one record.
BOTH_SIDES_SUPPLIER = "S1012"
IFS_SIDE_EMAIL = "remittance@s1012-ifs-side.test"
LOCKED_INVOICE = "INV-30017"
LONG_PO_INVOICE = "INV-30023"
LONG_PO = "PO-2026-004211/BLANKET-REL-07/SITE-HOUSTON/PLANT-3/LINE-12/REV-B"
UNMAPPED_INVOICE = "INV-30031"
BLOCKED_SUPPLIER = "S1044"
PRELIMINARY_INVOICES = 5  # not authorized yet: never read
WALKTHROUGH = f"""\
IFS Cloud → BILL (tenant "{TENANT[1]}"). Run "Sync now" on the integration {INTEGRATION}.

1. {SUPPLIERS - 1} suppliers become BILL vendors; {BLOCKED_SUPPLIER} is blocked for use in IFS and set aside.
2. Invoice {UNMAPPED_INVOICE} fails with "GL account {UNMAPPED_ACCOUNT} is not mapped": add the mapping rule,
   then Replay; it goes through once.
3. Each bill created is marked as transferred in IFS (its Transfer Status). {LOCKED_INVOICE}'s row is locked in
   IFS: the bill is created, the mark waits ("locked in IFS") and is retried on later runs.
4. {LONG_PO_INVOICE} carries a {len(LONG_PO)}-character PO reference; see what BILL keeps of it.
5. Edit vendor {BOTH_SIDES_SUPPLIER}'s e-mail address in BILL, then Sync now: the edit is written back to IFS,
   where someone changes the same address at that moment. IFS keeps its value, and the conflict is in the
   audit trail with both values (IFS wins a contact field both sides changed)."""

WORDS = ["Atlas", "Boreal", "Cobalt", "Dynamo", "Ember", "Forge", "Granite", "Helix", "Iron", "Juniper",
         "Kestrel", "Lumen", "Magnet", "Nordic", "Onyx", "Piston", "Quartz", "Rotor", "Stellar", "Titan"]
TRADES = [("Castings", "6010"), ("Steel", "6000"), ("Freight", "6020"), ("Power", "6100"), ("Maintenance", "6200"),
          ("Tooling", "6300"), ("Office", "6400"), ("Systems", "6500"), ("Consulting", "6600"), ("Safety", "6700")]
PLACES = [("Houston", "TX", "77002"), ("Tulsa", "OK", "74103"), ("Wichita", "KS", "67202"),
          ("Little Rock", "AR", "72201"), ("Shreveport", "LA", "71101"), ("Amarillo", "TX", "79101")]


def ifs_data(today=None, seed=26):
    """The `seed` payload for the IFS simulator: suppliers with an address and communication methods, accounts,
    code part values (B departments, C projects) and supplier invoices with their posting lines, dated in the
    last 45 days."""
    rng = random.Random(seed)
    today = today or date.today()
    suppliers, trades = [], {}
    for n in range(SUPPLIERS):
        supplier_id = f"S{1001 + n}"
        (city, state, zip_code), (trade, account) = rng.choice(PLACES), rng.choice(TRADES)
        trades[supplier_id] = account
        methods = [{"AddressId": "1", "MethodId": p.EMAIL, "Value": f"ap@{supplier_id.lower()}.test"}]
        if rng.random() < 0.7:
            methods.append({"AddressId": "1", "MethodId": p.PHONE,
                            "Value": f"+1 918 555 {rng.randint(1000, 9999)}"})
        suppliers.append({"SupplierId": supplier_id, "Name": f"{rng.choice(WORDS)} {trade} {n + 1}",
                          "AssociationNo": f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}",
                          "CurrencyCode": "USD", "BlockedForUse": supplier_id == BLOCKED_SUPPLIER,
                          "addresses": [{"AddressId": "1", "Address1": f"{rng.randint(10, 9999)} Industrial Blvd",
                                         "City": city, "State": state, "ZipCode": zip_code, "Country": "US"}],
                          "comm_methods": methods})
    accounts = [{"Company": COMPANY, "Account": code, "Description": name, "AccntType": "COST",
                 "ValidUntil": "2099-12-31"} for code, name in GL_ACCOUNTS]
    parts = {"department": "B", "project": "C"}
    values = [{"Company": COMPANY, "CodePart": parts[kind], "CodePartValue": code, "Description": name,
               "ValidUntil": "2099-12-31"} for kind, code, name in DIMENSIONS]
    departments = [code for kind, code, _ in DIMENSIONS if kind == "department"]
    projects = [code for kind, code, _ in DIMENSIONS if kind == "project"]
    payable = [s["SupplierId"] for s in suppliers if not s["BlockedForUse"]]
    invoices = []
    for n in range(INVOICES + PRELIMINARY_INVOICES):
        number = f"INV-{30001 + n}"
        supplier_id = rng.choice(payable)
        invoice_date = today - timedelta(days=rng.randint(1, 45))
        po = LONG_PO if number == LONG_PO_INVOICE else (f"PO{rng.randint(400000, 499999)}" if rng.random() < 0.4
                                                        else "")
        lines, total = [], Decimal("0.00")
        for line_no in range(1, rng.randint(1, 3) + 1):
            amount = Decimal(rng.randint(5000, 1500000)) / 100
            account = UNMAPPED_ACCOUNT if number == UNMAPPED_INVOICE and line_no == 1 else (
                trades[supplier_id] if line_no == 1 else rng.choice(GL_ACCOUNTS[:-1])[0])
            lines.append({"CodeA": account, "CodeB": rng.choice(departments),
                          "CodeC": rng.choice(projects) if rng.random() < 0.2 else "", "CurrAmount": str(amount),
                          "Text": f"{dict(GL_ACCOUNTS)[account]}, line {line_no}", "PoRefNumber": po})
            total += amount
        state = "Preliminary" if n >= INVOICES else ("PartlyPaid" if n % 29 == 5 else "Posted")
        open_amount = (total / 2).quantize(Decimal("0.01")) if state == "PartlyPaid" else total
        invoices.append({"Company": COMPANY, "InvoiceId": 500001 + n, "InvoiceNo": number, "Identity": supplier_id,
                         "InvoiceDate": invoice_date.isoformat(),
                         "DueDate": (invoice_date + timedelta(days=30)).isoformat(), "Currency": "USD",
                         "GrossAmount": str(total), "OpenAmount": str(open_amount), "PoRefNumber": po,
                         "Objstate": state, "lines": lines})
    return {"suppliers": suppliers, "accounts": accounts, "code_part_values": values, "invoices": invoices}


def control(sandbox_url, action, payload):
    response = requests.post(f"{sandbox_url}/_control/ifs/{action}", json=payload, timeout=60)
    response.raise_for_status()
    return response.json()


def seed(sandbox_url, today=None):
    """Load the demo into the IFS simulator, then set up its problems: the locked invoice row, and the person
    who changes supplier BOTH_SIDES_SUPPLIER's e-mail address in IFS when our next write to it arrives."""
    data = ifs_data(today)
    counts = control(sandbox_url, "seed", data)
    locked = next(i for i in data["invoices"] if i["InvoiceNo"] == LOCKED_INVOICE)
    control(sandbox_url, "lock", {"set": "invoices", "key": {"Company": COMPANY, "InvoiceId": locked["InvoiceId"]}})
    control(sandbox_url, "edit-on-next-write", {"source_id": BOTH_SIDES_SUPPLIER, "email": IFS_SIDE_EMAIL})
    return counts


def connection(sandbox_url):
    return {"base_url": f"{sandbox_url.rstrip('/')}/ifs",
            "credentials": {"realm": ifs_sandbox.REALM, "client_id": ifs_sandbox.CLIENT_ID,
                            "client_secret": ifs_sandbox.CLIENT_SECRET},
            "options": {"company": COMPANY}}
