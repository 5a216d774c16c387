"""What is Acumatica's own: the endpoint version check, sessions that hold licence slots, concurrency below the
slots, Balanced bills on request, unparsable values, and payments recorded, released, held and undone."""

import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from connectors import tokens
from connectors.acumatica.client import IN_FLIGHT_UNLIMITED_LICENCE, AcumaticaClient
from connectors.acumatica.system import HOLD_PAYMENTS, SIGN_IN_COOKIE
from connectors.errors import AuthError, ConfigurationError, DataError, TransientError
from connectors.models import ConnectionToken
from connectors.records import Invoice, Payment, Supplier, Unreadable
from portal.redaction import redact
from sandbox.acumatica import simulator as acumatica_sandbox
from tests.conftest import run_in_processes
from tests.connectors.acumatica.conftest import make_acumatica_connection


def open_sessions(sandbox):
    return sandbox.control("acumatica/sessions")


@pytest.fixture
def seeded(sandbox):
    sandbox.control("acumatica/seed-canonical")


def invoice(connector, number):
    return next(i for i in connector.approved_invoices() if i.invoice_number == number)


def paid(invoice_, amount=None, payment_id="stp0PAYMENT001"):
    return Payment(payment_id, ("00n-bill",), amount or invoice_.total, invoice_.currency, "CLEARED", True,
                   date(2026, 2, 2), "CHK 1042")


def voided(payment):
    return replace(payment, status="VOIDED", paid=False, reversed=True)


def checks(sandbox):
    return {(c["Type"], c["ReferenceNbr"]): c for c in sandbox.state("acumatica")["checks"]}


# --- the connection -------------------------------------------------------------------------------------------
def test_check_names_the_version_asked_for_and_the_versions_the_instance_serves(tenant, sandbox, seeded):
    connector = make_acumatica_connection(tenant, sandbox.url, options={"version": "23.100.001"}).connector()
    with pytest.raises(ConfigurationError) as excinfo:
        connector.check()
    assert "Default/23.100.001" in str(excinfo.value) and "it serves Default/24.200.001" in str(excinfo.value)


def test_a_call_to_a_version_not_served_says_what_to_check(tenant, sandbox, seeded):
    connector = make_acumatica_connection(tenant, sandbox.url, options={"version": "23.100.001"}).connector()
    with pytest.raises(ConfigurationError) as excinfo:
        connector.gl_accounts()
    assert "endpoint name and version" in str(excinfo.value)


def test_an_oauth_client_of_another_tenant_is_a_configuration_error(tenant, sandbox, seeded):
    other = acumatica_sandbox.CLIENT_ID.split("@")[0] + "@OTHER"
    connector = make_acumatica_connection(tenant, sandbox.url, client_id=other).connector()
    with pytest.raises(ConfigurationError) as excinfo:
        connector.check()
    assert "signs in to tenant OTHER" in str(excinfo.value) and "names tenant MLC" in str(excinfo.value)


def test_a_wrong_client_secret_is_named_without_showing_it(tenant, sandbox, seeded):
    secret = "not-the-client-secret-42"
    connector = make_acumatica_connection(tenant, sandbox.url, client_secret=secret).connector()
    with pytest.raises(AuthError) as excinfo:
        connector.check()
    assert "OAuth client ID or secret" in str(excinfo.value) and secret not in str(excinfo.value)


@pytest.mark.parametrize(("sign_in", "kind"), [("oauth", "oauth"), (SIGN_IN_COOKIE, "cookie")])
def test_each_sign_in_method_opens_its_own_kind_of_session(tenant, sandbox, seeded, sign_in, kind):
    make_acumatica_connection(tenant, sandbox.url, sign_in=sign_in).connector().check()
    assert [s["kind"] for s in open_sessions(sandbox)["sessions"]] == [kind]


def test_session_cookies_and_refresh_tokens_are_masked_wherever_they_show(tenant, sandbox, seeded):
    """Each cookie value alone and the refresh token are secrets too: a Set-Cookie header or a token answer
    quoted in a log line or an error must not show them."""
    oauth = make_acumatica_connection(tenant, sandbox.url, name="OAuth")
    cookie = make_acumatica_connection(tenant, sandbox.url, name="Cookie", sign_in=SIGN_IN_COOKIE)
    for connection in (oauth, cookie):
        connection.connector().check()
    stored = {c.name: json.loads(ConnectionToken.objects.get(connection=c).value) for c in (oauth, cookie)}
    refresh_token = stored["OAuth"]["extra"]["refresh_token"]
    cookie_values = [pair.partition("=")[2] for pair in stored["Cookie"]["value"].split("; ")]
    assert refresh_token and cookie_values
    for secret in [refresh_token, *cookie_values]:
        assert secret not in redact(f"Set-Cookie: x={secret}; path=/ or {{'tok': '{secret}'}}")


# --- sessions hold licence slots ----------------------------------------------------------------------------
def test_closing_signs_out_and_drops_the_shared_session(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url)
    with connection.connector() as connector:
        connector.check()
        assert open_sessions(sandbox)["open"] == 1
    assert open_sessions(sandbox)["open"] == 0 and sandbox.state("acumatica")["logouts"] == 1
    assert ConnectionToken.objects.get(connection=connection).value is None


def test_every_session_a_connector_used_is_signed_out(tenant, sandbox, seeded):
    """A webhook task and a run share the connection's session: the first to finish signs it out, the other
    signs in again once, and signs that one out in turn."""
    connection = make_acumatica_connection(tenant, sandbox.url, sign_in=SIGN_IN_COOKIE)
    with connection.connector() as run:
        run.check()
        with connection.connector() as task:
            task.gl_accounts()
        assert open_sessions(sandbox)["open"] == 0
        assert run.gl_accounts()
        assert open_sessions(sandbox)["open"] == 1
    assert open_sessions(sandbox)["open"] == 0
    assert (sandbox.state("acumatica")["logins"], sandbox.state("acumatica")["logouts"]) == (2, 2)


def test_a_connector_that_made_no_call_signs_nothing_out(tenant, sandbox, seeded):
    with make_acumatica_connection(tenant, sandbox.url).connector():
        pass
    assert (sandbox.state("acumatica")["logins"], sandbox.state("acumatica")["logouts"]) == (0, 0)


def test_new_credentials_sign_the_cached_session_out(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url)
    connection.connector().check()
    connection.connector().forget_token()
    assert open_sessions(sandbox)["open"] == 0
    assert ConnectionToken.objects.get(connection=connection).value is None


def test_an_access_token_near_expiry_is_renewed_with_its_refresh_token(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url)
    connection.connector().check()
    ConnectionToken.objects.filter(connection=connection).update(expires_at=timezone.now() - timedelta(seconds=1))
    tokens._memory.clear()  # as a process that has not used the token yet sees it
    with connection.connector() as connector:
        connector.check()
        state = sandbox.state("acumatica")
        assert (state["logins"], state["refreshes"], open_sessions(sandbox)["open"]) == (1, 1, 1)
    assert open_sessions(sandbox)["open"] == 0


def test_calls_in_flight_keep_to_the_licence_s_concurrent_requests(tenant, sandbox):
    """The licence caps concurrent API requests apart from its API users, which count sessions (IDG, License
    Restrictions for API Users): a connection's workers share one session, so the slots do not cap its calls."""
    two = AcumaticaClient(make_acumatica_connection(tenant, sandbox.url, options={"concurrent_requests": "2"}))
    unset = AcumaticaClient(make_acumatica_connection(tenant, sandbox.url, name="Unset"))
    assert (two.http.concurrency, unset.http.concurrency) == (2, IN_FLIGHT_UNLIMITED_LICENCE)
    assert two.http.name == unset.http.name, "the limit is the instance's, whichever connection reaches it"
    assert two.http.rate is None
    limited = AcumaticaClient(make_acumatica_connection(tenant, sandbox.url, name="Limited",
                                                        options={"requests_per_minute": "300"}))
    assert limited.http.rate == (300, 60)


WORKER = """
from connectors.models import Connection
with Connection.objects.get(pk=CONNECTION_ID).connector() as connector:
    for _ in range(3):
        assert len(connector.gl_accounts()) == 6
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_calls_in_flight_across_processes_keep_to_the_licence(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url, sign_in=SIGN_IN_COOKIE,
                                           options={"concurrent_requests": "1"})
    sandbox.control("acumatica/account", {"max_concurrent_requests": 1})
    sandbox.control("faults", {"system": "acumatica", "latency_ms": 30})
    connection.connector().check()
    results = run_in_processes(WORKER.replace("CONNECTION_ID", str(connection.pk)), count=3)
    for code, out, err in results:
        assert code == 0, out + err[-2000:]
    assert sandbox.state("acumatica")["max_in_flight"] == 1 and sandbox.state("acumatica")["rate_limited"] == 0


# --- reading ------------------------------------------------------------------------------------------------
def test_balanced_bills_are_read_only_when_the_connection_opts_in(tenant, sandbox, seeded):
    sandbox.control("acumatica/seed", {"bills": [
        {"Vendor": "V1001", "VendorRef": "INV-2001", "Date": "2026-01-20", "DueDate": "2026-02-19", "Amount": "10.00",
         "CurrencyID": "USD", "Status": "Balanced", "Details": [{"Account": "6000", "Amount": "10.00"}]}]})
    default = make_acumatica_connection(tenant, sandbox.url).connector()
    assert "INV-2001" not in {i.invoice_number for i in default.approved_invoices()}
    opted = make_acumatica_connection(tenant, sandbox.url, name="Opted", options={"include_balanced": "yes"})
    assert "INV-2001" in {i.invoice_number for i in opted.connector().approved_invoices()}
    assert "INV-2001" in {i.number for i in opted.connector().open_invoices()}


def test_a_branch_on_a_line_is_its_location(tenant, sandbox, seeded):
    sandbox.control("acumatica/seed", {"bills": [
        {"Vendor": "V1001", "VendorRef": "INV-2002", "Date": "2026-01-20", "DueDate": "2026-02-19", "Amount": "10.00",
         "CurrencyID": "USD", "Details": [{"Account": "6000", "Subaccount": "200", "Branch": "EAST",
                                           "Amount": "10.00"}]}]})
    read = invoice(make_acumatica_connection(tenant, sandbox.url).connector(), "INV-2002")
    assert read.lines[0].dimensions == {"subaccount": "200", "location": "EAST"}


def test_a_value_that_does_not_parse_fails_that_record_only(tenant, sandbox, seeded, monkeypatch):
    simulator = sandbox.simulators["acumatica"]
    present = simulator.present

    def corrupt(schema, record, *args, **kwargs):
        body = present(schema, record, *args, **kwargs)
        if record.get("VendorRef") == "INV-1002":
            body["Amount"] = {"value": "twelve"}
        if record.get("VendorID") == "V1004":
            body["LastModifiedDateTime"] = {"value": "yesterday"}
        return body

    monkeypatch.setattr(simulator, "present", corrupt)
    connector = make_acumatica_connection(tenant, sandbox.url).connector()
    invoices = list(connector.approved_invoices())
    [bad] = [i for i in invoices if isinstance(i, Unreadable)]
    assert (bad.object_type, bad.source_id) == ("bill", "Bill/000002")
    assert "INV-1002" in bad.source_ref and "Bill.Amount is 'twelve', which is not a decimal" in bad.reason
    assert len([i for i in invoices if isinstance(i, Invoice)]) == 7
    suppliers = list(connector.suppliers())
    assert [s.source_id for s in suppliers if isinstance(s, Unreadable)] == ["V1004"]
    assert len([s for s in suppliers if isinstance(s, Supplier)]) == 5


# --- payments back ------------------------------------------------------------------------------------------
def test_a_payment_is_recorded_once_whoever_posts_it(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url)
    with connection.connector() as connector:
        bill = invoice(connector, "INV-1002")
        first = connector.post_payment(bill.reference, paid(bill))
        again = connector.post_payment(bill.reference, paid(bill))
    assert "applied to bill 000002, released" in first and "already recorded" in again
    assert "of 740.25 USD applied" in first, "the amount as the finance pages show it: this text is shown there"
    [check] = checks(sandbox).values()
    assert (check["PaymentRef"], check["Status"], check["ApplicationDate"][:10]) == \
        ("stp0PAYMENT001", "Closed", "2026-02-02")
    assert "CHK 1042" in check["Description"]


def test_payments_on_hold_wait_for_a_person_and_a_reversal_deletes_them(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url, options={"release_payments": HOLD_PAYMENTS})
    with connection.connector() as connector:
        bill = invoice(connector, "INV-1002")
        assert "on hold for review" in connector.post_payment(bill.reference, paid(bill))
        [check] = checks(sandbox).values()
        assert (check["Status"], check["Hold"]) == ("On Hold", True)
        assert "deleted" in connector.post_payment(bill.reference, voided(paid(bill)))
        assert checks(sandbox) == {}
        assert "nothing" in connector.post_payment(bill.reference, voided(paid(bill)))
    assert sandbox.control("acumatica/canonical-state") == {"payments": []}


def test_a_reversal_of_a_payment_a_person_released_waits_for_them_to_release_the_void(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url, options={"release_payments": HOLD_PAYMENTS})
    released = make_acumatica_connection(tenant, sandbox.url, name="Releasing")
    with released.connector() as connector:
        bill = invoice(connector, "INV-1002")
        connector.post_payment(bill.reference, paid(bill))
    with connection.connector() as connector:
        assert "waits for a person" in connector.post_payment(bill.reference, voided(paid(bill)))
        assert "waits for a person" in connector.post_payment(bill.reference, voided(paid(bill)))
    found = checks(sandbox)
    assert found[("Voided Payment", "000001")]["Status"] == "Balanced"
    assert found[("Payment", "000001")]["Status"] == "Closed"


def test_a_payment_made_again_after_a_void_is_a_new_payment(tenant, sandbox, seeded):
    with make_acumatica_connection(tenant, sandbox.url).connector() as connector:
        bill = invoice(connector, "INV-1002")
        connector.post_payment(bill.reference, paid(bill))
        assert "voided" in connector.post_payment(bill.reference, voided(paid(bill)))
        assert "already voided" in connector.post_payment(bill.reference, voided(paid(bill)))
        assert "released" in connector.post_payment(bill.reference, paid(bill))
    assert sorted((c["Type"], c["Status"]) for c in checks(sandbox).values()) == \
        [("Payment", "Closed"), ("Payment", "Voided"), ("Voided Payment", "Closed")]


def test_a_release_lost_after_the_payment_was_saved_is_done_by_the_next_attempt(tenant, sandbox, seeded, monkeypatch):
    connector = make_acumatica_connection(tenant, sandbox.url).connector()
    bill = invoice(connector, "INV-1002")
    invoke = connector.client.invoke

    def lost(entity, action, record_id):
        raise TransientError("Acumatica: connection reset")

    monkeypatch.setattr(connector.client, "invoke", lost)
    with pytest.raises(TransientError):
        connector.post_payment(bill.reference, paid(bill))
    assert [c["Status"] for c in checks(sandbox).values()] == ["Balanced"]
    monkeypatch.setattr(connector.client, "invoke", invoke)
    assert "released" in connector.post_payment(bill.reference, paid(bill))
    assert [c["Status"] for c in checks(sandbox).values()] == ["Closed"]


def test_each_bill_of_a_payment_gets_its_share(tenant, sandbox, seeded):
    with make_acumatica_connection(tenant, sandbox.url).connector() as connector:
        first, second = invoice(connector, "INV-1002"), invoice(connector, "INV-1009")
        payment = paid(first, amount=first.total + second.total)
        connector.post_payment(first.reference, replace(payment, amount=first.total))
        connector.post_payment(second.reference, replace(payment, amount=second.total))
    assert sorted((p["invoice_number"], p["amount"]) for p in sandbox.control("acumatica/canonical-state")[
        "payments"]) == [("INV-1002", "740.25"), ("INV-1009", "512.80")]


@pytest.mark.parametrize(("change", "words"), [
    ({"amount": Decimal("99999.00")}, "at most the bill's balance"),
    ({"payment_id": "x" * 41}, "longer than Acumatica's Payment Ref."),
])
def test_a_payment_acumatica_cannot_take_fails_with_the_reason(tenant, sandbox, seeded, change, words):
    with make_acumatica_connection(tenant, sandbox.url).connector() as connector:
        bill = invoice(connector, "INV-1002")
        with pytest.raises(DataError) as excinfo:
            connector.post_payment(bill.reference, replace(paid(bill), **change))
    assert words in str(excinfo.value)
    assert checks(sandbox) == {}


def test_a_vendor_put_on_hold_takes_no_payment(tenant, sandbox, seeded):
    with make_acumatica_connection(tenant, sandbox.url).connector() as connector:
        bill = invoice(connector, "INV-1002")
        sandbox.control("acumatica/update-vendor", {"VendorID": "V1002", "Status": "On Hold"})
        with pytest.raises(DataError) as excinfo:
            connector.post_payment(bill.reference, paid(bill))
    assert "Vendor: The vendor status is 'On Hold'" in str(excinfo.value)


def test_open_invoices_are_what_is_left_to_pay(tenant, sandbox, seeded):
    with make_acumatica_connection(tenant, sandbox.url).connector() as connector:
        partly, fully = invoice(connector, "INV-1002"), invoice(connector, "INV-1009")
        connector.post_payment(partly.reference, paid(partly, amount=Decimal("40.25")))
        connector.post_payment(fully.reference, paid(fully, payment_id="stp0PAYMENT002"))
        items = {item.number: item for item in connector.open_invoices()}
    assert (items["INV-1002"].amount, items["INV-1002"].total) == (Decimal("700.00"), Decimal("740.25"))
    assert "INV-1009" not in items and "INV-1008" not in items, "paid, and on hold"


def test_the_instance_is_reached_only_through_its_own_url(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url)
    client = connection.connector().client
    assert client.entity_url == f"{sandbox.url}/acumatica/entity/Default/24.200.001"
    assert requests.get(f"{sandbox.url}/acumatica/entity", timeout=10).status_code == 401


def test_a_create_answered_without_saying_what_was_made_is_a_passing_error_not_a_crash(tenant, sandbox, seeded,
                                                                                     monkeypatch):
    """The record may exist now: the next attempt looks it up by our reference before creating it again."""
    with make_acumatica_connection(tenant, sandbox.url).connector() as connector:
        client = connector.client
        monkeypatch.setattr(client.http, "json", lambda *args, **kwargs: {})
        with pytest.raises(TransientError, match="does not say which"):
            client.create("Check", {"Type": "Payment"})
