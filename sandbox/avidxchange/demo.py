"""The Infor → AvidXchange demo: a tenant of its own, an Infor tenant of its own in the Infor simulator (so it
never meets the main Infor → BILL demo), and an AvidXchange company of its own.

What it shows:
- the Infor GL accounts and departments published to AvidXchange as code lists (nothing to map by hand);
- an invoice whose payee AvidXchange holds inactive (vendor enrolment put it on hold), refused in words, and
  sent by a replay once the payee is active again (control `avidxchange/payee-status`);
- invoices with their images, streamed from Infor Document Management to AvidXchange;
- payments settled in AvidXchange written back to Infor, and one returned by the bank afterwards (NACHA R01,
  insufficient funds), reversed in Infor with its reason in words, the day and the trace number: pay() after the
  first run settles five invoices and has the bank return one of them five minutes later.
"""

import base64
import random
from datetime import date, timedelta
from decimal import Decimal

import requests

from connectors.infor import idm, m3
from sandbox.infor import simulator as infor_sandbox

TENANT = ("avid-demo", "Demo Infor + AvidXchange")
INTEGRATION = "Infor → AvidXchange"
PARTNER = "infor"
INTEGRATION_OPTIONS = {}

INFOR_TENANT = "MLC_AVD"
COMPANY_ID = "AVX-DEMO"
COMPANY_TOKEN = "avid-demo-company-token"
USER_TOKEN = "avid-demo-user-token"
# The supplier whose payee AvidXchange holds inactive: its invoices wait until it is active again.
ON_HOLD = "S20004"
# Why the bank returns the demo's ACH payment: the commonest ACH return, R01 Insufficient funds.
RETURN_CODE = "R01"
SUPPLIERS = 24
INVOICES = 60
IMAGES = 12  # invoices with an image in IDM
GL_ACCOUNTS = [("6000", "Raw materials"), ("6020", "Freight in"), ("6040", "Office supplies"),
               ("6050", "Repairs and maintenance"), ("6060", "IT services"), ("6070", "Janitorial")]
DEPARTMENTS = [("100", "Operations"), ("200", "Sales"), ("300", "Administration")]
NAMES = ["Harbor", "Summit", "Cedar", "Northwind", "Maple", "Granite", "Atlas", "Beacon", "Delta", "Frontier",
         "Keystone", "Liberty"]
TRADES = ["Paper", "Freight", "Janitorial", "IT Services", "Tooling", "Metals"]
CITIES = [("TX", "Austin", "78701"), ("IL", "Chicago", "60606"), ("GA", "Atlanta", "30303"),
          ("WA", "Seattle", "98101")]

WALKTHROUGH = (
    "Run the integration once. Its plan publishes Infor's GL accounts and departments to AvidXchange as code lists, "
    "makes a payee for each Infor supplier, and sends the approved invoices with their images from Infor Document "
    f"Management. Supplier {ON_HOLD}'s invoices fail: AvidXchange holds its payee inactive. Activate it with POST "
    f"/_control/avidxchange/payee-status {{\"company\": \"{COMPANY_ID}\", \"ExternalId\": \"{ON_HOLD}\", "
    "\"Status\": \"Active\"} and replay the failed records: they go through. Pay some invoices in AvidXchange (the "
    "demo's pay step settles five by ACH); the next run writes them to Infor. A few minutes later the bank returns "
    f"one of them ({RETURN_CODE}, insufficient funds), and the run after that reverses it in Infor with the reason in "
    "words, the day and the trace number."
)


def infor_data(today=None):
    today = today or date.today()
    rng = random.Random(20260)
    suppliers = []
    for n in range(SUPPLIERS):
        state, town, postal = rng.choice(CITIES)
        suppliers.append({"SUNO": f"S{20001 + n}", "SUNM": f"{rng.choice(NAMES)} {rng.choice(TRADES)} {n + 1}",
                          "TINO": f"{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}", "CUCD": "USD",
                          "CSCD": "US", "ECAR": state, "TOWN": town, "PONO": postal,
                          "ADR1": f"{rng.randint(1, 9999)} Market St", "STAT": "20"})
    accounts = [{"AITP": m3.ACCOUNT_DIMENSION, "AITM": code, "TX40": name} for code, name in GL_ACCOUNTS]
    accounts += [{"AITP": m3.DEPARTMENT_DIMENSION, "AITM": code, "TX40": name} for code, name in DEPARTMENTS]
    invoices = []
    for n in range(INVOICES):
        invoice_date = today - timedelta(days=rng.randint(1, 20))
        lines = [{"LINO": line, m3.ACCOUNT_FIELD: rng.choice(GL_ACCOUNTS)[0], m3.DEPARTMENT_FIELD:
                  rng.choice(DEPARTMENTS)[0], "LNAM": str(Decimal(rng.randint(5000, 250000)) / 100),
                  "LNDE": f"Line {line}"} for line in range(1, rng.randint(1, 3) + 1)]
        supplier = ON_HOLD if n % 10 == 3 else suppliers[rng.randrange(SUPPLIERS)]["SUNO"]
        invoices.append({"DIVI": "AAA", "YEA4": invoice_date.year, "JRNO": 8000, "JSNO": n + 1, "SUNO": supplier,
                         "SINO": f"INV-{300001 + n}", "IVDT": invoice_date.strftime("%Y%m%d"),
                         "DUDT": (invoice_date + timedelta(days=30)).strftime("%Y%m%d"), "CUCD": "USD",
                         "CUAM": str(sum(Decimal(x["LNAM"]) for x in lines)), "APRV": "1", "lines": lines})
    documents = [{"DIVI": "AAA", "SUNO": i["SUNO"], "SINO": i["SINO"], "filename": f"{i['SINO']}.pdf",
                  "mimetype": "application/pdf",
                  "content_base64": base64.b64encode(invoice_pdf(i)).decode()} for i in invoices[:IMAGES]]
    return {"tenant": INFOR_TENANT, "suppliers": suppliers, "accounts": accounts, "invoices": invoices,
            "documents": documents}


def invoice_pdf(invoice):
    """A small, valid one-page PDF naming the invoice: what a scanned image stands in for."""
    text = f"Invoice {invoice['SINO']} of supplier {invoice['SUNO']}, {invoice['CUAM']} {invoice['CUCD']}"
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def post(sandbox_url, path, payload):
    response = requests.post(f"{sandbox_url}/_control/{path}", json=payload, timeout=60)
    response.raise_for_status()
    return response.json()


def seed(sandbox_url, today=None):
    """Load both simulators for this demo: the Infor tenant, and the AvidXchange company with the payee on hold."""
    data = infor_data(today)
    post(sandbox_url, "infor/tenant", {"tenant": INFOR_TENANT})
    counts = post(sandbox_url, "infor/seed", data)
    post(sandbox_url, "avidxchange/account", {"company_id": COMPANY_ID, "company_name": "Demo Infor Manufacturing",
                                              "company_token": COMPANY_TOKEN, "user_token": USER_TOKEN,
                                              "user_name": "ap-integration@demo.test"})
    held = next(s for s in data["suppliers"] if s["SUNO"] == ON_HOLD)
    post(sandbox_url, "avidxchange/seed", {"company": COMPANY_ID, "payees": [{
        "ExternalId": ON_HOLD, "Name": held["SUNM"], "TaxId": held["TINO"], "Status": "Inactive",
        "Address": {"Line1": held["ADR1"], "City": held["TOWN"], "State": held["ECAR"], "PostalCode": held["PONO"],
                    "Country": held["CSCD"]}}]})
    return counts


def seeded(sandbox_url):
    response = requests.post(f"{sandbox_url}/_control/infor/tenant-state", json={"tenant": INFOR_TENANT}, timeout=30)
    return response.status_code == 200 and bool(response.json()["suppliers"])


def pay(sandbox_url, count=5, return_after_seconds=300):
    """A payment run in AvidXchange after the first sync: `count` invoices settled by ACH, the last of them returned
    by the bank `return_after_seconds` later (while the simulators serve in the background), for RETURN_CODE."""
    return post(sandbox_url, "avidxchange/settle-open", {"company": COMPANY_ID, "count": count,
                                                         "return_one_after_seconds": return_after_seconds,
                                                         "return_code": RETURN_CODE})


def connection(sandbox_url):
    return {"base_url": f"{sandbox_url}/avidxchange",
            "credentials": {"company_token": COMPANY_TOKEN, "user_token": USER_TOKEN},
            "options": {"mode": "api"}}


def partner_connection(sandbox_url):
    return {"base_url": "", "credentials": infor_sandbox.ionapi_for(sandbox_url, tenant=INFOR_TENANT),
            "options": {"company": infor_sandbox.COMPANY, "division": "AAA", "document_store": idm.DOCUMENT_STORE}}

