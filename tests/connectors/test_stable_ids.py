"""The simulators keep their data in memory: after a restart the demo is loaded again, and the same data must get
the same ids, or the mapping rules people made would point at accounts that no longer exist."""

import pytest
import requests

from sandbox import demo
from sandbox.bill import simulator as bill_sandbox
from sandbox.hub import SandboxHub, serve_in_thread, wsgi_app
from sandbox.ifs import demo as ifs_demo
from sandbox.infor import demo as infor_demo


@pytest.fixture
def start_simulators():
    """Starts the simulators as a restart does: a new hub, nothing in memory. Returns their base address."""
    servers = []

    def start():
        server, url = serve_in_thread(wsgi_app(SandboxHub()))
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()


def bill_session(url):
    response = requests.post(f"{url}/bill/connect/v3/login", timeout=30, json={
        "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD,
        "organizationId": bill_sandbox.ORG_ID, "devKey": bill_sandbox.DEV_KEY})
    response.raise_for_status()
    return {"sessionId": response.json()["sessionId"], "devKey": bill_sandbox.DEV_KEY}


def vendor(short_name, name):
    return {"name": name, "shortName": short_name, "address": {"line1": "1 Main St", "city": "Austin",
                                                               "stateOrProvince": "TX", "zipOrPostalCode": "78701",
                                                               "country": "US"}}


def control(url, action, payload):
    response = requests.post(f"{url}/_control/{action}", json=payload, timeout=60)
    response.raise_for_status()
    return response.json()


def load_alike(url):
    """What `make run` and a first sync do: the demo's accounts and departments, vendors and a bill made through
    BILL's API, an AvidXchange company's code lists and payees, Acumatica's records. Returns every id, by what
    each object is."""
    ids = infor_demo.seed_sandboxes(url, invoices=5)
    ids["ifs organization"] = demo.seed_bill_organization(url, demo.bill_organization(ifs_demo.TENANT[0]), ifs_demo)
    headers = bill_session(url)
    # Two vendors with one short name are two vendors: each keeps its own id, the same one each time.
    made = requests.post(f"{url}/bill/connect/v3/vendors/bulk", headers=headers, timeout=30, json=[
        vendor("S10001", "Harbor Paper"), vendor("S10002", "Summit Freight"), vendor("S10002", "Summit Freight")])
    made.raise_for_status()
    ids["vendors"] = [v["id"] for v in made.json()]
    bill = requests.post(f"{url}/bill/connect/v3/bills", headers=headers, timeout=30, json={
        "vendorId": ids["vendors"][0], "dueDate": "2026-01-31",
        "invoice": {"invoiceNumber": "INV-1", "invoiceDate": "2026-01-01"},
        "billLineItems": [{"amount": 10, "classifications": {"chartOfAccountId": ids["gl"]["6000"]}},
                          {"amount": 5}]})
    bill.raise_for_status()
    ids["bill"] = [bill.json()["id"], *(line["id"] for line in bill.json()["billLineItems"])]
    ids["payments"] = [control(url, "bill/pay", {"billId": ids["bill"][0], "amount": 4})["id"] for _ in range(2)]
    ids["avidxchange"] = control(url, "avidxchange/seed", {
        "codes": {"GlAccount": [{"Code": "6000", "Name": "Raw materials"}]},
        "payees": [{"ExternalId": "S10001", "Name": "Harbor Paper", "Address": {"Line1": "1 Main St",
                                                                                "City": "Austin"}}]})
    control(url, "acumatica/seed-canonical", {})
    acumatica = requests.get(f"{url}/_control/state", params={"system": "acumatica"}, timeout=30).json()
    ids["acumatica"] = {kind: {str(r.get("VendorID") or r.get("AccountCD")): r["id"] for r in acumatica[kind]}
                        for kind in ("vendors", "accounts")}
    return ids


def test_two_fresh_simulators_loaded_alike_give_the_same_ids(start_simulators):
    first, second = load_alike(start_simulators()), load_alike(start_simulators())
    assert first == second
    assert first["gl"]["6999"] and first["departments"]["100"] and first["avidxchange"]["payees"]["S10001"]
    assert len(set(first["vendors"])) == 3, "a second vendor of the same name still has an id of its own"
    assert len(set(first["bill"])) == 3 and len(set(first["payments"])) == 2
    main = set(first["gl"].values())
    other = {target for _, target in first["ifs organization"].values()}
    assert main and other and not main & other, "an account of another organization has another id"
