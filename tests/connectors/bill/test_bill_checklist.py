"""Checklist: one test per documented BILL behaviour, each naming its source.

The BILL simulator must refuse what the real service refuses and answer as it answers; these tests hold it
(and the client, where it has a part) to BILL's published documentation (developer.bill.com, docs pages and
their .md twins) and its v3 OpenAPI definition (developer.bill.com/openapi/bill-v3-api.json, whose request and
response examples BILL also publishes as its "BILL v3 API" Postman collection). Where a test pins down a choice
the documentation leaves open, it says UNCONFIRMED and names the entry in docs/ASSUMPTIONS.md.
"""

import re
import threading
import uuid
from datetime import date
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from connectors.bill import client as bill_client
from connectors.bill.connector import BillConnector, payment_from_bill, vendor_key
from connectors.errors import DataError, Deferred
from connectors.limits import take_rate_token
from connectors.records import Invoice, InvoiceLine, Payment, Supplier
from sandbox.bill import simulator as bill_sandbox
from tests.connectors.bill.conftest import make_bill_connection

OTHER_ORG = "00802SANDBOXORG02"
ERROR_FIELDS = {"timestamp", "code", "severity", "category", "message"}


# --- helpers ------------------------------------------------------------------------------------------------
def login(sandbox, organization_id=bill_sandbox.ORG_ID, username=bill_sandbox.USERNAME,
          password=bill_sandbox.PASSWORD):
    response = requests.post(f"{sandbox.url}/bill/connect/v3/login", timeout=10, json={
        "username": username, "password": password, "organizationId": organization_id,
        "devKey": bill_sandbox.DEV_KEY})
    assert response.status_code == 200, response.text
    return {"sessionId": response.json()["sessionId"], "devKey": bill_sandbox.DEV_KEY}


def call(sandbox, method, path, headers, base="connect", **kwargs):
    return requests.request(method, f"{sandbox.url}/bill/{base}{path}", headers=headers, timeout=30, **kwargs)


def bill_error(response, status, code=None):
    """Assert BILL's error shape (https://developer.bill.com/docs/common-api-error-codes) and return it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and body, body
    error = body[0]
    assert set(error) == ERROR_FIELDS, error
    assert error["code"].startswith("BDC_") and error["severity"] == "ERROR"
    assert error["category"] in {"REQUEST", "APPLICATION", "SERVER", "DOWNSTREAM"}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00", error["timestamp"]), error
    if code:
        assert error["code"] == code, error
    return error


def vendor_body(n, **extra):
    return {"name": f"Vendor {n}", "shortName": f"S{n}", "accountType": "BUSINESS",
            "address": {"line1": "1 Main St", "city": "Austin", "zipOrPostalCode": "78701", "country": "US"},
            **extra}


def make_vendor(sandbox, headers, n=1, **extra):
    response = call(sandbox, "POST", "/v3/vendors", headers, json=vendor_body(n, **extra))
    assert response.status_code == 201, response.text
    return response.json()


def bill_body(vendor_id, number, amount=100):
    return {"vendorId": vendor_id, "dueDate": "2026-12-31", "invoice": {"invoiceNumber": number,
                                                                       "invoiceDate": "2026-12-01"},
            "billLineItems": [{"amount": amount, "description": "Paper"}]}


def make_bill(sandbox, headers, vendor_id, number="INV-1", amount=100):
    response = call(sandbox, "POST", "/v3/bills", headers, json=bill_body(vendor_id, number, amount))
    assert response.status_code == 201, response.text
    return response.json()


def list_vendors(sandbox, headers, **params):
    return call(sandbox, "GET", "/v3/vendors", headers, params=params)


@pytest.fixture
def headers(sandbox):
    return login(sandbox)


# --- filterable fields: https://developer.bill.com/docs/filterable-fields -----------------------------------
# The documented table, written out here from the docs page, independently of the simulator's copy.
DOCUMENTED_VENDOR_FILTERS = [
    ("id", "eq", '"009X"'), ("id", "ne", '"009X"'), ("id", "in", '"009X,009Y"'),
    ("archived", "eq", "false"), ("archived", "ne", "true"),
    ("name", "eq", '"Vendor 1"'), ("name", "sw", '"Ven"'),
    ("accountType", "eq", "BUSINESS"), ("accountType", "ne", "PERSON"), ("accountType", "in", '"BUSINESS,NONE"'),
    ("accountType", "nin", '"NONE,PERSON"'),
    ("address.country", "eq", "US"), ("address.country", "ne", "CA"),
    ("billCurrency", "eq", "USD"), ("billCurrency", "ne", "CAD"), ("billCurrency", "in", '"USD,CAD"'),
    ("billCurrency", "nin", '"CAD"'),
    ("paymentStatus", "eq", "PAID"), ("paymentStatus", "ne", "PAID"), ("paymentStatus", "in", '"PAID,UNPAID"'),
    ("paymentStatus", "nin", '"PAID"'),
    *[(field, op, '"2026-01-01T00:00:00.000Z"') for field in ("createdTime", "updatedTime")
      for op in ("gt", "gte", "lt", "lte")],
]
DOCUMENTED_BILL_FILTERS = [
    ("id", "eq", '"00nX"'), ("id", "ne", '"00nX"'), ("id", "in", '"00nX,00nY"'),
    ("archived", "eq", "false"), ("archived", "ne", "true"),
    ("vendorId", "eq", '"009X"'), ("vendorId", "in", '"009X,009Y"'),
    *[("dueDate", op, "2026-12-31") for op in ("gt", "gte", "lt", "lte")],
    ("paymentStatus", "eq", "PAID"), ("paymentStatus", "ne", "PAID"), ("paymentStatus", "in", '"PAID,UNPAID"'),
    *[(field, op, '"2026-01-01T00:00:00.000Z"') for field in ("createdTime", "updatedTime")
      for op in ("gt", "gte", "lt", "lte")],
    *[(f"classifications.{field}", op, '"0caX"') for field in ("chartOfAccountId", "accountingClassId",
                                                              "departmentId", "locationId")
      for op in ("eq", "ne", "in")],
]


def test_every_documented_vendor_filter_is_accepted(sandbox, headers):
    """Source: https://developer.bill.com/docs/filterable-fields ("Vendors and Customers" table)."""
    for field, op, value in DOCUMENTED_VENDOR_FILTERS:
        response = list_vendors(sandbox, headers, filters=f"{field}:{op}:{value}")
        assert response.status_code == 200, (field, op, response.text)


def test_every_documented_bill_filter_is_accepted(sandbox, headers):
    """Source: https://developer.bill.com/docs/filterable-fields ("Bills and Invoices" table, with the
    classification ids of changelog 2025-02-18)."""
    for field, op, value in DOCUMENTED_BILL_FILTERS:
        response = call(sandbox, "GET", "/v3/bills", headers, params={"filters": f"{field}:{op}:{value}"})
        assert response.status_code == 200, (field, op, response.text)


@pytest.mark.parametrize("field", ["shortName", "accountNumber", "email", "additionalInfo.taxId", "taxId", "phone"])
def test_a_vendor_filter_on_an_undocumented_field_is_refused(sandbox, headers, field):
    """Source: https://developer.bill.com/docs/filterable-fields: shortName, accountNumber, email and taxId are
    not in the vendor table. Refused with BILL's error array; the code is UNCONFIRMED (ASSUMPTIONS B11)."""
    make_vendor(sandbox, headers)
    error = bill_error(list_vendors(sandbox, headers, filters=f'{field}:eq:"S1"'), 400, bill_sandbox.REQUEST_ERROR)
    assert field in error["message"]


def test_a_bill_filter_on_the_invoice_number_is_refused(sandbox, headers):
    """Source: https://developer.bill.com/docs/filterable-fields: invoice.invoiceNumber is not in the bill table
    (bills are found by vendorId and matched on invoice number by the caller)."""
    response = call(sandbox, "GET", "/v3/bills", headers, params={"filters": 'invoice.invoiceNumber:eq:"INV-1"'})
    bill_error(response, 400, bill_sandbox.REQUEST_ERROR)


@pytest.mark.parametrize("path,filters", [
    ("/v3/vendors", 'name:ne:"Vendor 1"'),  # name takes eq and sw
    ("/v3/vendors", "archived:in:true"),  # archived takes eq and ne
    ("/v3/vendors", 'createdTime:eq:"2026-01-01"'),  # times take ranges only
    ("/v3/vendors", 'id:sw:"009"'),
    ("/v3/vendors", 'address.country:in:"US,CA"'),
    ("/v3/bills", 'vendorId:ne:"009X"'),  # vendorId takes eq and in
    ("/v3/bills", 'paymentStatus:nin:"PAID"'),  # bills' paymentStatus takes eq, ne, in
    ("/v3/bills", "dueDate:eq:2026-12-31"),
])
def test_an_operator_the_field_does_not_take_is_refused(sandbox, headers, path, filters):
    """Source: https://developer.bill.com/docs/filterable-fields ("Available operators" per field)."""
    error = bill_error(call(sandbox, "GET", path, headers, params={"filters": filters}), 400,
                       bill_sandbox.REQUEST_ERROR)
    assert filters.split(":")[1] in error["message"]


def test_payment_filters(sandbox, headers):
    """Source: https://developer.bill.com/docs/filterable-fields ("Payments": id and vendorId take eq, ne, in)
    and changelog ("You can now filter payments by the transactionNumber field"). updatedTime is UNCONFIRMED for
    payments (ASSUMPTIONS B10): the client's poll relies on it. billId and status are not listed: refused."""
    for filters in ('id:in:"stpX,stpY"', 'vendorId:ne:"009X"', 'transactionNumber:eq:"TXN1"',
                    'updatedTime:gte:"2026-01-01T00:00:00.000Z"'):
        response = call(sandbox, "GET", "/v3/payments", headers, params={"filters": filters})
        assert response.status_code == 200, (filters, response.text)
    for filters in ('billId:eq:"00nX"', 'singleStatus:eq:"CLEARED"', 'vendorId:sw:"009"'):
        bill_error(call(sandbox, "GET", "/v3/payments", headers, params={"filters": filters}), 400)


# --- date formats: https://developer.bill.com/docs/search-op-with-lists and /docs/filterable-fields ----------
def test_the_five_documented_date_formats_filter_created_time(sandbox, headers):
    """Source: https://developer.bill.com/docs/search-op-with-lists: createdTime/updatedTime take
    yyyy-MM-dd'T'HH:mm:ss.SSSX, yyyy-MM-dd'T'HH:mm:ss.SSS, yyyy-MM-dd'T'HH:mm:ss, yyyy-MM-dd'T'HH:mm and
    yyyy-MM-dd. Each value is compared as the instant it names (a value without offset read as UTC is
    UNCONFIRMED, ASSUMPTIONS B12)."""
    vendor = make_vendor(sandbox, headers)
    created = timezone.datetime.fromisoformat(vendor["createdTime"].replace("Z", "+00:00"))
    day = created.date().isoformat()
    tomorrow = (created.date() + timezone.timedelta(days=1)).isoformat()
    minute = created.strftime("%Y-%m-%dT%H:%M")
    cases = {
        f'"{day}T00:00:00.000Z"': True, f'"{tomorrow}T00:00:00.000Z"': False,
        f'"{day}T00:00:00.000+00:00"': True, f'"{tomorrow}T00:00:00.000+0000"': False,
        f'"{day}T00:00:00.000"': True, f'"{tomorrow}T00:00:00.000"': False,
        f'"{day}T00:00:00"': True, f'"{tomorrow}T00:00:00"': False,
        f'"{minute}"': True, f'"{tomorrow}T00:00"': False,
        f'"{day}"': True, f'"{tomorrow}"': False,
        f"{day}": True,  # the quotes of BILL's examples are optional
    }
    for value, found in cases.items():
        response = list_vendors(sandbox, headers, filters=f"createdTime:gte:{value}")
        assert response.status_code == 200, (value, response.text)
        assert [v["id"] for v in response.json()["results"]] == ([vendor["id"]] if found else []), value
    # An offset moves the instant: 23:00 the day before at -01:00 is midnight UTC.
    previous = (created.date() - timezone.timedelta(days=1)).isoformat()
    response = list_vendors(sandbox, headers, filters=f'createdTime:lt:"{previous}T23:00:00.000-01:00"')
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("value", [
    '"2026-01-01 00:00:00"',  # Python's str(datetime): a space, not T
    '"2026-01-01T00:00:00+00:00"',  # an offset without milliseconds: only .SSSX carries one
    '"2026-01-01T00:00:00Z"',
    '"2026-01-01T00:00:00.00Z"',  # two digits of milliseconds
    '"2026-01-01T00"',
    '"01/02/2026"',
    '"1767225600"',
    '"2026-02-30"',  # the right shape, not a real date
])
def test_an_undocumented_date_format_is_refused(sandbox, headers, value):
    """Source: https://developer.bill.com/docs/filterable-fields (the five formats; nothing else)."""
    error = bill_error(list_vendors(sandbox, headers, filters=f"updatedTime:gte:{value}"), 400,
                       bill_sandbox.REQUEST_ERROR)
    assert "updatedTime" in error["message"]


def test_the_client_writes_times_in_the_first_documented_format():
    """Source: https://developer.bill.com/docs/search-op-with-lists (yyyy-MM-dd'T'HH:mm:ss.SSSX, as in every
    example: "2025-09-01T00:00:00.000Z"). Milliseconds are cut, never rounded up."""
    moment = timezone.datetime(2026, 9, 1, 12, 30, 15, 999999, tzinfo=timezone.get_fixed_timezone(120))
    assert bill_client.bill_time(moment) == "2026-09-01T10:30:15.999Z"
    assert bill_client.filter_value(bill_client.bill_time(moment)) == '"2026-09-01T10:30:15.999Z"'
    assert bill_client.filter_value(False) == "false"


def test_the_clients_lookups_use_only_documented_filters(bill_connection, sandbox):
    """Source: https://developer.bill.com/docs/filterable-fields: the hot path (vendors by createdTime, bills by
    vendorId, payments by updatedTime) runs against the strict simulator, which refuses anything else."""
    connector = bill_connection.connector()
    supplier = Supplier(source_id="S-1", name="Paper Co", tax_id="12-3456789")
    vendor_id = connector.create_vendors([supplier])["S-1"]
    assert connector.find_vendors([supplier]) == {"S-1": vendor_id}
    assert connector.find_vendors([supplier]) == {"S-1": vendor_id}  # the second lookup filters on createdTime
    invoice = Invoice(source_id="S-1/INV-1", supplier_id="S-1", invoice_number="INV-1",
                      invoice_date=date(2026, 11, 1), due_date=date(2026, 12, 1), total=Decimal("10"),
                      currency="USD", lines=(InvoiceLine(amount=Decimal("10"), gl_account="", description="x"),))
    bill_id = connector.create_bills([(vendor_id, invoice, {})])["S-1/INV-1"]
    assert connector.find_bills([(vendor_id, invoice)]) == {"S-1/INV-1": bill_id}
    assert list(connector.payments(since=timezone.now() - timezone.timedelta(days=1))) == []


# --- lists: https://developer.bill.com/docs/search-op-with-lists, reference/listvendors ---------------------
def test_lists_page_by_20_by_default_and_up_to_100(sandbox, headers):
    """Source: https://developer.bill.com/reference/listvendors and the OpenAPI parameter max (int32, 1 to 100;
    "By default, you get 20 results"). The envelope is {nextPage, prevPage, results} with opaque cursors."""
    response = call(sandbox, "POST", "/v3/vendors/bulk", headers, json=[vendor_body(n) for n in range(20)])
    assert response.status_code == 201
    response = call(sandbox, "POST", "/v3/vendors/bulk", headers, json=[vendor_body(n) for n in range(20, 25)])
    assert response.status_code == 201
    first = list_vendors(sandbox, headers).json()
    assert set(first) == {"results", "nextPage"} and len(first["results"]) == 20
    second = list_vendors(sandbox, headers, page=first["nextPage"]).json()
    assert set(second) == {"results", "prevPage"} and len(second["results"]) == 5
    back = list_vendors(sandbox, headers, page=second["prevPage"]).json()
    assert back["results"] == first["results"]
    assert {v["id"] for v in first["results"] + second["results"]} == {v["id"] for v in
                                                                          list_vendors(sandbox, headers,
                                                                                       max=100).json()["results"]}


@pytest.mark.parametrize("params", [{"max": 101}, {"max": 0}, {"max": "ten"}, {"page": "not-a-cursor"},
                                    {"sort": "name:up"}])
def test_paging_parameters_out_of_range_are_refused(sandbox, headers, params):
    """Source: OpenAPI list parameters (max: 1 to 100; page: a nextPage/prevPage value), /docs/search-op-with-lists
    (sort=field:asc|desc). Refusing rather than capping max is UNCONFIRMED (ASSUMPTIONS B13)."""
    bill_error(list_vendors(sandbox, headers, **params), 400, bill_sandbox.REQUEST_ERROR)


def test_subscriptions_list_pages_one_way(bill_connection, sandbox, headers):
    """Source: https://developer.bill.com/reference/getallsubscriptions: max 1 to 100 (default 20), nextPage
    only ("you cannot retrieve the previous page"), results in a list. The client follows nextPage."""
    client = bill_connection.connector().client
    made = {client.create_subscription(f"s{n}", ["bill.created"], f"https://hooks.example.com/{n}")["id"]
            for n in range(5)}
    pages, params = [], {"max": 2}
    while True:
        body = call(sandbox, "GET", "/v3/subscriptions", headers, base="connect-events", params=params).json()
        assert "prevPage" not in body and isinstance(body["results"], list)
        pages.append(body["results"])
        if not body.get("nextPage"):
            break
        params = {"max": 2, "page": body["nextPage"]}
    assert [len(p) for p in pages] == [2, 2, 1]
    assert {s["id"] for p in pages for s in p} == made
    assert all("securityKey" not in s for p in pages for s in p)
    client.page_size = 2
    assert {s["id"] for s in client.subscriptions()} == made
    bill_error(call(sandbox, "GET", "/v3/subscriptions", headers, base="connect-events", params={"max": 101}), 400)


# --- status codes of creates: BILL's v3 OpenAPI (Postman collection responses) ------------------------------
def test_creates_answer_201_and_webhook_calls_200(sandbox, headers):
    """Sources: OpenAPI responses of POST /v3/vendors, /v3/bills, /v3/bills/bulk, /v3/classifications/* ("201
    Created"); https://developer.bill.com/docs/webhook-api-error-responses ("an HTTP 200 response code for each
    successful request", POST /v3/subscriptions included). POST /v3/vendors/bulk answering 201 like bills/bulk is
    UNCONFIRMED (ASSUMPTIONS B14)."""
    vendor = make_vendor(sandbox, headers)
    bulk = call(sandbox, "POST", "/v3/vendors/bulk", headers, json=[vendor_body(2), vendor_body(3)])
    assert bulk.status_code == 201 and [v["name"] for v in bulk.json()] == ["Vendor 2", "Vendor 3"]
    assert call(sandbox, "POST", "/v3/bills", headers, json=bill_body(vendor["id"], "A")).status_code == 201
    bills = call(sandbox, "POST", "/v3/bills/bulk", headers, json=[bill_body(vendor["id"], "B"),
                                                                   bill_body(vendor["id"], "C")])
    assert bills.status_code == 201 and [b["invoice"]["invoiceNumber"] for b in bills.json()] == ["B", "C"]
    account = call(sandbox, "POST", "/v3/classifications/chart-of-accounts", headers,
                   json={"name": "Paper", "account": {"type": "EXPENSE", "number": "6100"}})
    assert account.status_code == 201
    subscription = call(sandbox, "POST", "/v3/subscriptions", headers | {"X-Idempotent-Key": str(uuid.uuid4())},
                        base="connect-events", json={"name": "s", "status": {"enabled": True},
                                                     "events": [{"type": "bill.created", "version": "1"}],
                                                     "notificationUrl": "https://hooks.example.com/x"})
    assert subscription.status_code == 200 and subscription.json()["securityKey"]


def test_bulk_creates_are_all_or_nothing_within_their_limits(sandbox, headers):
    """Sources: https://developer.bill.com/reference/createbulkvendor (20 a request) and the OpenAPI description of
    POST /v3/bills/bulk ("up to 100 bills"; "If any bill creation is not successful, the entire request fails")."""
    vendor = make_vendor(sandbox, headers)
    bill_error(call(sandbox, "POST", "/v3/vendors/bulk", headers, json=[vendor_body(n) for n in range(21)]), 400)
    bad = [bill_body(vendor["id"], "A"), {**bill_body(vendor["id"], "B"), "dueDate": "12/31/2026"}]
    bill_error(call(sandbox, "POST", "/v3/bills/bulk", headers, json=bad), 400)
    bill_error(call(sandbox, "POST", "/v3/bills/bulk", headers,
                    json=[bill_body(vendor["id"], f"N{n}") for n in range(101)]), 400)
    organization = sandbox.state("bill")["organizations"][bill_sandbox.ORG_ID]
    assert len(organization["vendors"]) == 1 and organization["bills"] == []


# --- headers and errors: https://developer.bill.com/docs/webhook-api-error-responses, common-api-error-codes -
def test_missing_auth_headers_are_400_and_invalid_ones_401(sandbox, headers):
    """Source: https://developer.bill.com/docs/webhook-api-error-responses (400: devKey and/or sessionId is
    missing; 401: devKey and/or sessionId is invalid). The same rule on the AP/AR API, and the 400's code, are
    UNCONFIRMED (ASSUMPTIONS B11)."""
    for base, path in (("connect-events", "/v3/subscriptions"), ("connect", "/v3/vendors")):
        bill_error(call(sandbox, "GET", path, {"devKey": bill_sandbox.DEV_KEY}, base=base), 400)
        bill_error(call(sandbox, "GET", path, {"sessionId": headers["sessionId"]}, base=base), 400)
        bill_error(call(sandbox, "GET", path, {**headers, "sessionId": "not-a-session"}, base=base), 401, "BDC_1109")
        bill_error(call(sandbox, "GET", path, {**headers, "devKey": "another-key"}, base=base), 401, "BDC_1102")
        assert call(sandbox, "GET", path, headers, base=base).status_code == 200


@pytest.mark.parametrize("key", [None, "not-a-uuid", str(uuid.uuid1())], ids=["missing", "not-a-uuid", "uuid1"])
def test_the_idempotency_key_must_be_a_uuid4(sandbox, headers, key):
    """Source: https://developer.bill.com/docs/webhook-api-error-responses (400: the idempotent key is missing, is
    not in the UUID4 format, or is invalid)."""
    extra = {"X-Idempotent-Key": key} if key else {}
    response = call(sandbox, "POST", "/v3/subscriptions", headers | extra, base="connect-events",
                    json={"name": "s", "status": {"enabled": True}, "notificationUrl": "https://hooks.example.com/x",
                          "events": [{"type": "bill.created", "version": "1"}]})
    error = bill_error(response, 400)
    assert "X-Idempotent-Key" in error["message"]


def test_an_unknown_path_is_404_bdc_1121(sandbox, headers):
    """Source: https://developer.bill.com/docs/faq (BDC_1121 "API not supported." for a wrong path)."""
    bill_error(call(sandbox, "GET", "/v3/no-such-things", headers), 404, "BDC_1121")


def test_login_answers_the_documented_fields(sandbox):
    """Source: OpenAPI POST /v3/login response (organizationId, sessionId, trusted, userId); wrong credentials
    are BDC_1101 and an unknown developer key BDC_1102 (https://developer.bill.com/docs/faq)."""
    response = requests.post(f"{sandbox.url}/bill/connect/v3/login", timeout=10, json={
        "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD,
        "organizationId": bill_sandbox.ORG_ID, "devKey": bill_sandbox.DEV_KEY})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"organizationId", "sessionId", "trusted", "userId"} and body["trusted"] is False
    wrong = dict(username=bill_sandbox.USERNAME, password="nope", organizationId=bill_sandbox.ORG_ID,
                 devKey=bill_sandbox.DEV_KEY)
    bill_error(requests.post(f"{sandbox.url}/bill/connect/v3/login", json=wrong, timeout=10), 400, "BDC_1101")
    bill_error(requests.post(f"{sandbox.url}/bill/connect/v3/login", json={**wrong, "devKey": "x"}, timeout=10),
               400, "BDC_1102")


# --- limits: https://developer.bill.com/docs/api-rate-limits -------------------------------------------------
def test_the_documented_limits_are_the_simulators_defaults(sandbox):
    """Source: https://developer.bill.com/docs/api-rate-limits (20000 requests per developer key per hour; POST
    /v3/login 200 per developer key per hour; 3 concurrent requests per developer key per organization). The
    client keeps under the first two with a margin."""
    assert sandbox.state("bill")["limits"] == {"login_limit": 200, "hourly_limit": 20000}
    assert bill_sandbox.CONCURRENT_LIMIT == 3 == bill_client.CONCURRENT_CALLS
    assert bill_client.CALLS_PER_HOUR <= 20000 and bill_client.LOGINS_PER_HOUR <= 200


def test_the_hourly_limit_counts_every_organization_of_a_developer_key(sandbox):
    """Source: https://developer.bill.com/docs/api-rate-limits ("The number of API requests per developer key per
    hour"; BDC_1144 "Max number of allowed requests per hour reached", category DOWNSTREAM; "All subsequent API
    requests must wait until the beginning of the next hour"). The webhook API answers it with 429
    (/docs/webhook-api-error-responses); the AP/AR API's status is UNCONFIRMED (ASSUMPTIONS B1)."""
    # Start at the top of an hour, so "the next hour" is an hour away whatever time the suite runs at.
    sandbox.control("clock", {"advance_seconds": 3600 - sandbox.clock.time() % 3600 + 1})
    sandbox.control("bill/account", {"username": "other@sandbox.test", "password": "pw", "organizationId": OTHER_ORG})
    first, second = login(sandbox), login(sandbox, OTHER_ORG, "other@sandbox.test", "pw")
    sandbox.control("bill/account", {"hourly_limit": 4})
    for session in (first, second, first, second):
        assert list_vendors(sandbox, session).status_code == 200
    error = bill_error(list_vendors(sandbox, second), bill_sandbox.LIMIT_STATUS, "BDC_1144")
    assert error["category"] == "DOWNSTREAM" and "per hour" in error["message"]
    bill_error(call(sandbox, "GET", "/v3/subscriptions", first, base="connect-events"), 429, "BDC_1144")
    assert sandbox.state("bill")["rejected_hourly"] == 2
    now = sandbox.clock.time()
    sandbox.control("clock", {"advance_seconds": 3600 - now % 3600 + 1})  # the beginning of the next hour
    # A new session: the old one may have gone idle for longer than BILL keeps one, depending on the hour.
    assert list_vendors(sandbox, login(sandbox)).status_code == 200


def test_the_login_limit_counts_per_developer_key_and_hour(sandbox):
    """Source: https://developer.bill.com/docs/api-rate-limits ("The API login (POST /v3/login) rate limit is 200
    per developer key per hour"; BDC_1144)."""
    sandbox.control("bill/account", {"username": "other@sandbox.test", "password": "pw", "organizationId": OTHER_ORG,
                                     "login_limit": 3})
    login(sandbox)
    login(sandbox, OTHER_ORG, "other@sandbox.test", "pw")
    login(sandbox)
    refused = requests.post(f"{sandbox.url}/bill/connect/v3/login", timeout=10, json={
        "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD, "organizationId": bill_sandbox.ORG_ID,
        "devKey": bill_sandbox.DEV_KEY})
    assert bill_error(refused, bill_sandbox.LIMIT_STATUS, "BDC_1144")["category"] == "DOWNSTREAM"
    now = sandbox.clock.time()
    sandbox.control("clock", {"advance_seconds": 3600 - now % 3600 + 1})
    login(sandbox)


def test_a_fourth_call_in_flight_is_refused_with_bdc_1322(sandbox, headers):
    """Source: https://developer.bill.com/docs/api-rate-limits (3 concurrent requests per developer key per
    organization; BDC_1322 "Max number of concurrent requests per organization reached.")."""
    sandbox.control("faults", {"system": "bill", "latency_ms": 600})
    start = threading.Barrier(4)
    answers = []

    def one():
        start.wait()
        answers.append(list_vendors(sandbox, headers))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in answers if r.status_code != 200]
    assert len(refused) == 1 and sum(r.status_code == 200 for r in answers) == 3
    bill_error(refused[0], bill_sandbox.LIMIT_STATUS, "BDC_1322")
    assert sandbox.state("bill")["max_in_flight"] == 3


@pytest.mark.django_db
def test_the_client_keeps_one_hourly_budget_per_developer_key(tenant, sandbox, monkeypatch):
    """Source: https://developer.bill.com/docs/api-rate-limits (per developer key, whatever the organization).
    Every call of every connection with the key takes a token from one counter (shared by every process); a
    spent budget defers the work to the next hour without calling BILL. Here the budget is cut to the four calls
    two connections make to check themselves."""
    monkeypatch.setattr(bill_client, "CALLS_PER_HOUR", 4)
    sandbox.control("bill/account", {"username": "other@sandbox.test", "password": "pw", "organizationId": OTHER_ORG})
    first = make_bill_connection(tenant, sandbox.url, name="First")
    second = make_bill_connection(tenant, sandbox.url, name="Second", organization_id=OTHER_ORG,
                                  username="other@sandbox.test", password="pw")
    a, b = first.connector(), second.connector()
    a.check()
    b.check()
    key = bill_client.budget_key("calls", bill_sandbox.DEV_KEY)
    assert bill_sandbox.DEV_KEY not in key and b.http.rate_key == key
    assert a.http.calls + b.http.calls == 4  # two logins and two calls, one counter
    before = sandbox.state("bill")["calls"]
    with pytest.raises(Deferred) as excinfo:
        b.gl_accounts()
    assert excinfo.value.until.minute == 0 and excinfo.value.until > timezone.now()
    assert sandbox.state("bill")["calls"] == before, "BILL was not called"


@pytest.mark.django_db
def test_the_client_keeps_under_the_login_limit(tenant, sandbox):
    """Source: https://developer.bill.com/docs/api-rate-limits (200 logins per developer key per hour). The
    client's login takes a token from a counter per developer key first."""
    connector = make_bill_connection(tenant, sandbox.url).connector()
    for _ in range(bill_client.LOGINS_PER_HOUR):  # logins spent by other tenants and processes this hour
        take_rate_token(bill_client.budget_key("logins", bill_sandbox.DEV_KEY), bill_client.LOGINS_PER_HOUR, 3600)
    with pytest.raises(Deferred):
        connector.check()
    assert sandbox.state("bill")["logins"] == 0


# --- payments: OpenAPI GET /v3/payments, /docs/payment-webhook-notification-payloads ------------------------
def two_bill_payment(sandbox, headers):
    vendor = make_vendor(sandbox, headers)
    first = make_bill(sandbox, headers, vendor["id"], "INV-1", 100)
    second = make_bill(sandbox, headers, vendor["id"], "INV-2", 80)
    payment = sandbox.control("bill/pay", {"bills": [{"billId": first["id"], "amount": "100.00"},
                                                     {"billId": second["id"], "amount": "30.25"}]})
    return first, second, payment


def test_a_payment_of_two_bills_carries_each_bills_amount(bill_connection, sandbox, headers):
    """Source: OpenAPI GET /v3/payments and GET /v3/payments/{paymentId} (billPayments[]: {id, billId, amount},
    BILL-generated allocation ids begin with blp, https://developer.bill.com/docs/bill-generated-ids). The client
    reads each bill's share from billPayments[].amount."""
    first, second, payment = two_bill_payment(sandbox, headers)
    listed = call(sandbox, "GET", "/v3/payments", headers).json()["results"]
    assert [p["id"] for p in listed] == [payment["id"]]
    shares = {s["billId"]: s["amount"] for s in listed[0]["billPayments"]}
    assert shares == {first["id"]: 100.0, second["id"]: 30.25}
    assert all(s["id"].startswith("blp") for s in listed[0]["billPayments"])
    polled = [p for p in bill_connection.connector().payments() if isinstance(p, Payment)]
    assert len(polled) == 1
    assert polled[0].amount == Decimal("130.25")
    assert dict(polled[0].allocations) == {first["id"]: Decimal("100.0"), second["id"]: Decimal("30.25")}
    read_again = bill_connection.connector().payment(payment["id"])
    assert dict(read_again.allocations) == dict(polled[0].allocations)
    bills = {b["id"]: b for b in call(sandbox, "GET", "/v3/bills", headers).json()["results"]}
    assert (bills[first["id"]]["paymentStatus"], bills[second["id"]]["dueAmount"]) == ("PAID", 49.75)


def test_a_payment_event_names_its_bills_but_not_their_amounts(sandbox, headers):
    """Source: https://developer.bill.com/docs/payment-webhook-notification-payloads (payment fields: id, billIds,
    transactionNumber, status, createdBy, createdTime, updatedTime, processDate, funding, disbursement, vendor,
    billingType; status in the singleStatus vocabulary). With no per-bill amount, a payment of several bills
    cannot be posted from the event alone: it is refused with the reason, and read again by id."""
    _, _, payment = two_bill_payment(sandbox, headers)
    body = bill_sandbox.BillSimulator.payment_event(sandbox.simulators["bill"].orgs[bill_sandbox.ORG_ID]
                                                    ["payments"][payment["id"]])
    assert set(body) == {"id", "billIds", "transactionNumber", "status", "createdBy", "createdTime", "updatedTime",
                         "processDate", "funding", "disbursement", "vendor", "billingType"}
    assert body["status"] == "CLEARED" and len(body["billIds"]) == 2
    with pytest.raises(DataError) as excinfo:
        payment_from_bill(body)
    assert excinfo.value.field == "billPayments" and "GET /v3/payments/{paymentId}" in str(excinfo.value)
    single = payment_from_bill({**body, "billIds": body["billIds"][:1]})
    assert single.amount == Decimal("130.25") and single.paid


@pytest.mark.parametrize("single_status,paid,undone", [
    ("CLEARED", True, False),
    ("SCHEDULED", False, False),
    ("DELIVERED", False, False),
    ("VOIDED", False, True),
    ("CANCELED", False, True),
    ("FUNDING_FAILED_VOIDED", False, True),
    ("DISBURSEMENT_FAILED_ACTION_NEEDED", False, True),  # returned after CLEARED, not voided yet
    ("DISBURSEMENT_FAILED_VENDOR_BANK_REJECTED", False, True),
    ("FUNDS_ESCHEATED", False, False),
])
def test_payment_states_mean_what_bills_list_says(bill_connection, sandbox, headers, single_status, paid, undone):
    """Source: https://developer.bill.com/docs/single-status-payment-values (CLEARED: settled by the vendor bank;
    DISBURSEMENT_FAILED_*: returned but not voided; VOIDED, CANCELED, FUNDING_FAILED_VOIDED). PAID is not in the
    list (ASSUMPTIONS B4)."""
    vendor = make_vendor(sandbox, headers)
    bill = make_bill(sandbox, headers, vendor["id"])
    payment = sandbox.control("bill/pay", {"billId": bill["id"]})
    sandbox.control("bill/payment-status", {"paymentId": payment["id"], "singleStatus": single_status})
    [read] = [p for p in bill_connection.connector().payments() if isinstance(p, Payment)]
    assert (read.status, read.paid, read.reversed) == (single_status, paid, undone)


def test_paid_is_not_a_paid_state():
    """Source: https://developer.bill.com/docs/single-status-payment-values (no PAID among the values;
    ASSUMPTIONS B4)."""
    payment = payment_from_bill({"id": "stpX", "billIds": ["00nX"], "amount": 5, "status": "PAID"})
    assert not payment.paid and not payment.reversed


def test_remote_fields_have_the_openapi_types(sandbox, headers):
    """Source: OpenAPI response schemas of GET /v3/vendors/{id}, /v3/bills/{id}, /v3/payments/{id} (amounts are
    numbers, ids strings with BILL's prefixes, archived a boolean, dates yyyy-MM-dd, times ISO 8601 with
    milliseconds), and https://developer.bill.com/docs/bill-generated-ids (009, 00n, stp)."""
    _, second, payment = two_bill_payment(sandbox, headers)
    vendor = call(sandbox, "GET", f"/v3/vendors/{second['vendorId']}", headers).json()
    bill = call(sandbox, "GET", f"/v3/bills/{second['id']}", headers).json()
    paid = call(sandbox, "GET", f"/v3/payments/{payment['id']}", headers).json()
    times = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
    assert vendor["id"].startswith("009") and vendor["archived"] is False and times.fullmatch(vendor["createdTime"])
    assert bill["id"].startswith("00n") and date.fromisoformat(bill["dueDate"])
    for field in ("amount", "paidAmount", "dueAmount"):
        assert isinstance(bill[field], int | float) and not isinstance(bill[field], bool), field
    assert isinstance(bill["billLineItems"][0]["amount"], float)
    assert paid["id"].startswith("stp") and isinstance(paid["amount"], float)
    assert date.fromisoformat(paid["processDate"]) and times.fullmatch(paid["updatedTime"])
    assert isinstance(paid["singleStatus"], str) and isinstance(paid["billPayments"], list)
    assert "currency" not in paid, "not a field of the payment object"


def test_a_vendor_create_checks_the_documented_constraints(sandbox, headers):
    """Source: https://developer.bill.com/reference/createvendor (OpenAPI body of POST /v3/vendors: name required,
    length between 1 and 100; shortName length at most 40; address object required). The client cuts its key
    to 40 characters (connectors/bill/connector.py VENDOR_KEY_LENGTH) and always sends an address."""
    body = vendor_body(1)
    for wrong, field in (({**body, "name": "x" * 101}, "name"), ({**body, "shortName": "S" * 41}, "shortName"),
                         ({k: v for k, v in body.items() if k != "address"}, "address")):
        assert field in bill_error(call(sandbox, "POST", "/v3/vendors", headers, json=wrong), 400)["message"]
    assert call(sandbox, "POST", "/v3/vendors", headers, json={**body, "shortName": "S" * 40}).status_code == 201
    assert len(vendor_key("V" * 60)) == 40
    assert "address" in BillConnector.__new__(BillConnector).vendor_payload(Supplier(source_id="S", name="N"))


def test_creating_a_payment_needs_a_trusted_session_and_answers_201(sandbox, headers):
    """Sources: https://developer.bill.com/docs/ap-payments (POST /v3/payments needs an MFA-trusted session; one
    billId), OpenAPI response of POST /v3/payments (201). The refusal's code and status, BDC_1361 and 403, come
    from a public client's sandbox log (UNCONFIRMED in BILL's own pages)."""
    vendor = make_vendor(sandbox, headers)
    bill = make_bill(sandbox, headers, vendor["id"])
    body = {"billId": bill["id"], "amount": 40, "processDate": "2026-12-01",
            "fundingAccount": {"type": "BANK_ACCOUNT", "id": "bac01SANDBOX"}}
    bill_error(call(sandbox, "POST", "/v3/payments", headers, json=body), 403, "BDC_1361")
    trusted = requests.post(f"{sandbox.url}/bill/connect/v3/login", timeout=10, json={
        "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD, "organizationId": bill_sandbox.ORG_ID,
        "devKey": bill_sandbox.DEV_KEY, "rememberMeId": bill_sandbox.REMEMBER_ME_ID, "device": "ml-connector"}).json()
    assert trusted["trusted"] is True
    response = call(sandbox, "POST", "/v3/payments", {"sessionId": trusted["sessionId"],
                                                      "devKey": bill_sandbox.DEV_KEY}, json=body)
    assert response.status_code == 201, response.text
    assert [(s["billId"], s["amount"]) for s in response.json()["billPayments"]] == [(bill["id"], 40.0)]


@pytest.mark.parametrize("reader,listing,field", [
    ("gl_accounts", [{"id": "0caX", "name": "Paper", "archived": "no", "account": {"number": "6100"}}], "archived"),
    ("gl_accounts", [{"id": 7, "name": "Paper", "account": {"number": "6100"}}], "id"),
    ("find_vendors", [{"id": "009X", "shortName": ["S-1"], "createdTime": "2026-01-01T00:00:00.000Z"}], "shortName"),
    ("find_vendors", [{"id": "009X", "shortName": "S-1", "createdTime": "yesterday"}], "createdTime"),
    ("find_bills", [{"id": "00nX", "vendorId": "009X", "invoice": "INV-1"}], "invoice"),
])
def test_every_remote_field_the_client_reads_is_parsed_by_type(bill_connection, monkeypatch, reader, listing, field):
    """Source: the OpenAPI response schemas (id and shortName strings, archived a boolean, createdTime a date-time,
    invoice an object). A value of another type is a DataError naming the field, never a crash or a silent match."""
    connector = bill_connection.connector()
    monkeypatch.setattr(connector.client, "chart_of_accounts", lambda: listing)
    monkeypatch.setattr(connector.client, "vendors", lambda created_since=None: iter(listing))
    monkeypatch.setattr(connector.client, "bills_of_vendors", lambda ids: iter(listing))
    call_reader = {"gl_accounts": lambda: connector.gl_accounts(),
                   "find_vendors": lambda: connector.find_vendors([Supplier(source_id="S-1", name="x")]),
                   "find_bills": lambda: connector.find_bills([("009X", Invoice(
                       source_id="S-1/INV-1", supplier_id="S-1", invoice_number="INV-1", invoice_date=date(2026, 1, 1),
                       due_date=date(2026, 2, 1), total=Decimal("1"), currency="USD", lines=()))])}[reader]
    with pytest.raises(DataError) as excinfo:
        call_reader()
    assert field in str(excinfo.value)
