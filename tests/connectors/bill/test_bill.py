"""BILL behaviour beyond the shared contract, over real HTTP against the BILL simulator."""

import base64
import hashlib
import hmac
import json
import logging
import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from connectors.errors import ConfigurationError, DataError, Deferred, TransientError
from connectors.models import Connection
from connectors.records import Address, Invoice, InvoiceLine, Supplier
from sandbox.bill import simulator as bill_sandbox
from sandbox.hub import serve_in_thread
from tests.connectors.bill.conftest import make_bill_connection


def org_objects(sandbox, kind):
    return sandbox.state("bill")["organizations"].get(bill_sandbox.ORG_ID, {}).get(kind, [])


def seed_accounts(sandbox):
    created = sandbox.control("bill/seed", {"chart_of_accounts": [
        {"name": "Office supplies", "account": {"type": "EXPENSE", "number": "6100"}},
        {"name": "Travel", "account": {"type": "EXPENSE", "number": "6200"}}]})
    return {a["account"]["number"]: a["id"] for a in created["chart-of-accounts"]}


SUPPLIER = Supplier(source_id="S-1001", name="Paper Co", tax_id="12-3456789",
                    address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"))


def invoice(number="INV-1", amount="120.50"):
    return Invoice(source_id=f"S-1001/{number}", supplier_id="S-1001", invoice_number=number,
                   invoice_date=date(2026, 11, 1), due_date=date(2026, 12, 1), total=Decimal(amount), currency="USD",
                   lines=(InvoiceLine(amount=Decimal(amount), gl_account="6100", description="Paper"),))


def test_session_expiring_mid_run_is_renewed_and_nothing_fails(bill_connection, sandbox):
    connector = bill_connection.connector()
    accounts = seed_accounts(sandbox)
    vendor_id = create_vendor(connector, SUPPLIER)
    sandbox.control("clock", {"advance_seconds": 36 * 60})  # 36 idle minutes: BILL drops the session
    bill_id = create_bill(connector, vendor_id, invoice(), {0: {"gl_account": accounts["6100"]}})
    assert bill_id.startswith("00n")
    assert sandbox.state("bill")["logins"] == 2
    bills = org_objects(sandbox, "bills")
    assert len(bills) == 1 and bills[0]["billLineItems"][0]["classifications"]["chartOfAccountId"] == accounts["6100"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_callers_never_exceed_three_in_flight(bill_connection, sandbox):
    seed_accounts(sandbox)
    sandbox.control("faults", {"system": "bill", "latency_ms": 20})
    bill_connection.connector().check()
    failures = []

    def worker():
        from django.db import connection as db

        try:
            connector = Connection.objects.get(pk=bill_connection.pk).connector()
            for _ in range(5):
                connector.gl_accounts()
        except Exception as exc:  # collected and asserted below
            failures.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = sandbox.state("bill")
    assert failures == []
    assert state["max_in_flight"] == 3
    assert state["rejected_concurrent"] == 0


def test_hourly_limit_defers_the_rest_of_the_work_to_the_next_hour(bill_connection, sandbox):
    connector = bill_connection.connector()
    sandbox.control("bill/account", {"hourly_limit": 2})
    connector.check()
    connector.gl_accounts()
    with pytest.raises(Deferred) as excinfo:
        connector.gl_accounts()
    assert excinfo.value.code == "BDC_1144"
    now = timezone.now()
    assert now < excinfo.value.until <= now + timedelta(hours=1)
    assert excinfo.value.until.minute == 0 and excinfo.value.until.second == 0


def test_retry_after_a_crash_between_create_and_record_makes_no_second_bill(bill_connection, sandbox):
    accounts = seed_accounts(sandbox)
    connector = bill_connection.connector()
    assert connector.find_vendors([SUPPLIER]) == {}
    vendor_id = create_vendor(connector, SUPPLIER)
    create_bill(connector, vendor_id, invoice(), {0: {"gl_account": accounts["6100"]}})
    # The worker dies here, before the ledger records the bill. The retry runs in a fresh connector.
    retry = Connection.objects.get(pk=bill_connection.pk).connector()
    vendor_again = retry.find_vendors([SUPPLIER])[SUPPLIER.source_id]
    bill_again = retry.find_bills([(vendor_again, invoice())])[invoice().source_id]
    assert vendor_again == vendor_id
    assert len(org_objects(sandbox, "vendors")) == 1
    bills = org_objects(sandbox, "bills")
    assert [b["id"] for b in bills] == [bill_again]


def test_untrusted_session_is_a_configuration_problem_not_a_relogin_loop(bill_connection, sandbox):
    accounts = seed_accounts(sandbox)
    connector = bill_connection.connector()
    vendor_id = create_vendor(connector, SUPPLIER)
    bill_id = create_bill(connector, vendor_id, invoice(), {0: {"gl_account": accounts["6100"]}})
    with pytest.raises(ConfigurationError) as excinfo:
        connector.client.http.json("POST", "/v3/payments", json={"billId": bill_id, "amount": 10})
    assert "BDC_1361" in str(excinfo.value)
    assert sandbox.state("bill")["logins"] == 1


def test_validation_errors_become_data_errors_on_the_record(bill_connection, sandbox):
    connector = bill_connection.connector()
    vendor_id = create_vendor(connector, SUPPLIER)
    refused = connector.create_bills([(vendor_id, invoice(), {0: {"gl_account": "0caDOESNOTEXIST"}})])
    assert isinstance(refused[invoice().source_id], DataError)
    assert "chartOfAccountId" in str(refused[invoice().source_id])
    assert org_objects(sandbox, "bills") == []


def test_refused_bulk_batch_falls_back_to_single_creates(bill_connection, sandbox):
    connector = bill_connection.connector()
    vendor_id = create_vendor(connector, SUPPLIER)
    good = connector.bill_payload(vendor_id, invoice("A"), {})
    bad = {**connector.bill_payload(vendor_id, invoice("B"), {}), "dueDate": "12/01/2026"}
    results = connector.client.create_bills_bulk([good, bad, connector.bill_payload(vendor_id, invoice("C"), {})])
    assert isinstance(results[1], DataError) and "dueDate" in str(results[1])
    assert [r["invoice"]["invoiceNumber"] for r in (results[0], results[2])] == ["A", "C"]
    assert sorted(b["invoice"]["invoiceNumber"] for b in org_objects(sandbox, "bills")) == ["A", "C"]


def test_bulk_vendor_limit_is_enforced_by_the_simulator(bill_connection, sandbox):
    connector = bill_connection.connector()
    payloads = [connector.vendor_payload(Supplier(source_id=f"S{n}", name=f"V{n}")) for n in range(21)]
    with pytest.raises(DataError) as excinfo:
        connector.client.http.json("POST", "/v3/vendors/bulk", json=payloads)
    assert "At most 20" in str(excinfo.value)
    created = connector.client.create_vendors_bulk(payloads)
    assert len(created) == 21 and len(org_objects(sandbox, "vendors")) == 21


def test_lists_filter_sort_and_page_like_bill(bill_connection, sandbox):
    connector = bill_connection.connector()
    for n in range(7):
        create_vendor(connector, Supplier(source_id=f"S{n}", name=f"Vendor {n}"))
    connector.client.page_size = 3
    names = [v["name"] for v in connector.client.list("/v3/vendors", sort="name:desc")]
    assert names == [f"Vendor {n}" for n in range(6, -1, -1)]
    assert connector.find_vendors([Supplier(source_id="S4", name="x")]) == {
        "S4": next(v["id"] for v in org_objects(sandbox, "vendors") if v["shortName"] == "S4")}
    response = requests.get(f"{sandbox.url}/bill/connect/v3/vendors", params={"max": 500},
                            headers={"sessionId": "x", "devKey": bill_sandbox.DEV_KEY}, timeout=10)
    assert response.status_code == 401 and response.json()[0]["code"] == "BDC_1109"


def test_login_limit_of_200_per_hour(sandbox):
    body = {"username": "nobody", "password": "x", "organizationId": bill_sandbox.ORG_ID,
            "devKey": bill_sandbox.DEV_KEY}
    sandbox.control("bill/account", {"login_limit": 3})
    codes = [requests.post(f"{sandbox.url}/bill/connect/v3/login", json=body, timeout=10).json()[0]["code"]
             for _ in range(4)]
    assert codes == ["BDC_1101", "BDC_1101", "BDC_1101", "BDC_1144"]


class Receiver:
    """A stand-in webhook endpoint on loopback that records what BILL's simulator sends."""

    def __init__(self, status=200):
        self.status = status
        self.received = []

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.received.append((environ.get("HTTP_X_BILL_SHA_SIGNATURE"), body))
        start_response(f"{self.status} X", [("Content-Type", "text/plain")])
        return [b""]


@pytest.fixture
def receiver():
    app = Receiver()
    server, url = serve_in_thread(app)
    app.url = url + "/hook"
    yield app
    server.shutdown()


def test_webhook_subscription_lifecycle_and_signed_delivery(bill_connection, sandbox, receiver):
    client = bill_connection.connector().client
    key = str(uuid.uuid4())
    sub = client.create_subscription("payments", ["payment.updated", "payment.failed"], receiver.url, key)
    again = client.create_subscription("payments", ["payment.updated", "payment.failed"], receiver.url, key)
    assert again["id"] == sub["id"] and sub["securityKey"]
    assert all("securityKey" not in s for s in client.subscriptions()), "the key is shown only once"
    with pytest.raises(DataError) as excinfo:
        client.create_subscription("dup", ["payment.failed", "payment.updated"], receiver.url)
    assert "same events" in str(excinfo.value)

    accounts = seed_accounts(sandbox)
    connector = bill_connection.connector()
    vendor_id = create_vendor(connector, SUPPLIER)
    bill_id = create_bill(connector, vendor_id, invoice(), {0: {"gl_account": accounts["6100"]}})
    sandbox.control("bill/pay", {"billId": bill_id})
    assert sandbox.control("bill/deliver")["delivered"] == 1
    signature, body = receiver.received[0]
    expected = base64.b64encode(hmac.new(sub["securityKey"].encode(), body, hashlib.sha256).digest()).decode()
    assert signature == expected
    event = json.loads(body)
    assert event["metadata"]["eventType"] == "payment.updated" and event["metadata"]["version"] == "1"
    # The payload's status is in the singleStatus vocabulary (docs/payment-webhook-notification-payloads).
    assert event["payment"]["billIds"] == [bill_id] and event["payment"]["status"] == "CLEARED"

    new_key = client.rotate_security_key(sub["id"])
    assert new_key != sub["securityKey"]


def test_failing_endpoint_gets_redeliveries_then_the_subscription_is_disabled(bill_connection, sandbox, receiver):
    receiver.status = 500
    client = bill_connection.connector().client
    sub = client.create_subscription("payments", ["bill.created"], receiver.url)
    connector = bill_connection.connector()
    vendor_id = create_vendor(connector, SUPPLIER)
    create_bill(connector, vendor_id, invoice(), {})
    attempts = 0
    for _ in range(bill_sandbox.MAX_DELIVERY_ATTEMPTS):
        attempts += sandbox.control("bill/deliver")["failed"]
        assert sandbox.control("bill/deliver")["failed"] == 0, "the next try waits for its backoff"
        sandbox.control("clock", {"advance_seconds": 3600})
    assert attempts == bill_sandbox.MAX_DELIVERY_ATTEMPTS == len(receiver.received)
    current = next(s for s in client.subscriptions() if s["id"] == sub["id"])
    assert current["status"]["enabled"] is False
    client.enable_subscription(sub["id"])
    assert next(s for s in client.subscriptions() if s["id"] == sub["id"])["status"]["enabled"] is True


def test_at_most_ten_subscriptions_per_organization(bill_connection, sandbox):
    client = bill_connection.connector().client
    for n in range(10):
        client.create_subscription(f"s{n}", ["bill.created"], f"https://hooks.example.com/{n}")
    with pytest.raises(DataError) as excinfo:
        client.create_subscription("eleventh", ["bill.created"], "https://hooks.example.com/11")
    assert "at most 10" in str(excinfo.value)


def test_admin_test_connection_action(admin_client, tenant, sandbox):
    good = make_bill_connection(tenant, sandbox.url, name="Good")
    bad_key = make_bill_connection(tenant, sandbox.url, name="Bad key", dev_key="wrong-developer-key")
    url = reverse("admin:connectors_connection_changelist")
    response = admin_client.post(url, {"action": "test_connection", "_selected_action": [good.pk, bad_key.pk]},
                                 follow=True)
    page = response.content.decode()
    assert f"Signed in to BILL organization {bill_sandbox.ORG_ID}" in page
    assert "rejected the developer key" in page
    assert "wrong-developer-key" not in page
    good.refresh_from_db()
    bad_key.refresh_from_db()
    assert good.health == Connection.HEALTH_OK
    assert bad_key.health == Connection.HEALTH_AUTH_FAILED and "developer key" in bad_key.last_error


def test_secrets_stay_out_of_logs(bill_connection, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    connector = bill_connection.connector()
    connector.check()
    connector.gl_accounts()
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (bill_sandbox.PASSWORD, bill_sandbox.DEV_KEY):
        assert secret not in text


def test_sync_token_sign_in_keeps_its_session_for_hours(tenant, sandbox):
    connection = make_bill_connection(tenant, sandbox.url, name="Sync token", sign_in="sync_token",
                                      username=bill_sandbox.SYNC_TOKEN_NAME, password=bill_sandbox.SYNC_TOKEN_VALUE)
    connector = connection.connector()
    connector.check()
    sandbox.control("clock", {"advance_seconds": 6 * 3600})  # idle far past 35 minutes, well within 48 hours
    connector.gl_accounts()
    assert sandbox.state("bill")["logins"] == 1
    token = connection.token
    assert token.expires_at - timezone.now() > timedelta(hours=40)


def create_vendor(connector, supplier):
    return connector.create_vendors([supplier])[supplier.source_id]


def create_bill(connector, vendor_id, inv, coding):
    result = connector.create_bills([(vendor_id, inv, coding)])[inv.source_id]
    if isinstance(result, Exception):
        raise result
    return result


def test_a_vendor_made_in_this_run_has_no_bills_to_list_before_its_first(bill_connection, sandbox):
    """A first run's bills go to vendors it has just made: listing their bills is a round trip that can find
    nothing. A vendor found rather than made (one made before a crash) still has its bills listed."""
    accounts = seed_accounts(sandbox)
    coding = {0: {"gl_account": accounts["6100"]}}
    connector = bill_connection.connector()
    vendor_id = create_vendor(connector, SUPPLIER)
    calls = sandbox.state("bill")["calls"]
    assert connector.find_bills([(vendor_id, invoice())]) == {}
    assert sandbox.state("bill")["calls"] == calls
    create_bill(connector, vendor_id, invoice(), coding)

    later = Connection.objects.get(pk=bill_connection.pk).connector()
    found = later.find_vendors([SUPPLIER])[SUPPLIER.source_id]
    calls = sandbox.state("bill")["calls"]
    assert later.find_bills([(found, invoice())]) == {invoice().source_id: org_objects(sandbox, "bills")[0]["id"]}
    assert sandbox.state("bill")["calls"] > calls


def test_a_new_vendors_bill_answered_by_an_error_is_looked_up_before_it_is_sent_again(bill_connection, sandbox):
    """BILL made the bill but its answer was a server error: the vendor is new, yet its bills are listed, so the bill
    is found rather than made twice."""
    accounts = seed_accounts(sandbox)
    connector = bill_connection.connector()
    vendor_id = create_vendor(connector, SUPPLIER)
    send = connector.client.http.json

    def made_but_answered_500(method, path, **kwargs):
        answer = send(method, path, **kwargs)
        if path.endswith("/bills/bulk"):
            raise TransientError("BILL HTTP 500: injected after the bill was made", status=500)
        return answer

    connector.client.http.json = made_but_answered_500
    result = connector.create_bills([(vendor_id, invoice(), {0: {"gl_account": accounts["6100"]}})])
    assert isinstance(result[invoice().source_id], TransientError)
    connector.client.http.json = send
    made = org_objects(sandbox, "bills")
    assert connector.find_bills([(vendor_id, invoice())]) == {invoice().source_id: made[0]["id"]}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_vendor_list_begun_ahead_is_the_one_find_vendors_uses(bill_connection, sandbox):
    """A first read begins listing BILL's vendors while the ERP's suppliers are read (steps.suppliers): find_vendors
    then matches on that list and lists nothing again; an error the listing met is raised by find_vendors."""
    made = create_vendor(bill_connection.connector(), SUPPLIER)
    connector = Connection.objects.get(pk=bill_connection.pk).connector()
    connector.begin_vendor_lookup()
    connector._vendor_listing.result(timeout=30)
    calls = sandbox.state("bill")["calls"]
    assert connector.find_vendors([SUPPLIER]) == {SUPPLIER.source_id: made}
    assert sandbox.state("bill")["calls"] == calls

    failing = Connection.objects.get(pk=bill_connection.pk).connector()
    failing.client.vendors = lambda **kwargs: (_ for _ in ()).throw(TransientError("BILL HTTP 503: injected"))
    failing.begin_vendor_lookup()
    with pytest.raises(TransientError, match="injected"):
        failing.find_vendors([SUPPLIER])
