"""Stored credentials never leave for a new address, and outside the sandbox they go to public https hosts only.

The first tests replay the security probe: an admin changes where a connection's secrets are sent, leaves the
secret fields blank (the form keeps the stored ones), saves, presses "Test connection", and a listener on
loopback records what arrives."""

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.connection
from django.core.exceptions import ValidationError
from django.urls import reverse

from connectors.bill.connector import BillConnector
from connectors.errors import AuthError, ConfigurationError, TransientError
from connectors.health import check_connection
from connectors.http import HttpClient
from connectors.models import Connection, ConnectionToken
from connectors.spec import https_url
from portal.models import AuditEntry
from sandbox.bill import simulator as bill_sandbox
from sandbox.syspro import simulator as syspro_sandbox
from tests.conftest import SAMPLE_IONAPI

BILL_PASSWORD = "probe-PASSWORD-4417"
BILL_DEVKEY = "probe-DEVKEY-8812"
CHANGELIST = reverse("admin:connectors_connection_changelist")


class Listener:
    """An HTTP server on loopback that answers 401 to everything and keeps every request it received, whole."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                text = f"{self.requestline}\n{self.headers}\n{body}"
                scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
                if scheme == "Basic":
                    text += "\n" + base64.b64decode(value).decode("utf-8", "replace")
                received.append(text)
                payload = b"{}"
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def everything(self):
        return "\n".join(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def outside_sandbox(settings):
    settings.SANDBOX_ENABLED = False


def add_url(system):
    return reverse("admin:connectors_connection_add") + f"?system={system}"


def change_url(connection):
    return reverse("admin:connectors_connection_change", args=[connection.pk])


def bill_post(tenant, **overrides):
    return {"tenant": tenant.pk, "name": "BILL", "base_url": "https://gateway.stage.bill.com/connect",
            "sign_in": "user", "username": "ap@acme.test", "password": BILL_PASSWORD,
            "organization_id": "00801ABCDEF", "dev_key": BILL_DEVKEY, "currencies": "USD", **overrides}


def syspro_post(tenant, sandbox_url, **overrides):
    return {"tenant": tenant.pk, "name": "SYSPRO", "base_url": syspro_sandbox.enet_url(sandbox_url),
            "operator": syspro_sandbox.OPERATOR, "operator_password": syspro_sandbox.OPERATOR_PASSWORD,
            "company_id": syspro_sandbox.COMPANY_ID, "company_password": syspro_sandbox.COMPANY_PASSWORD,
            "odata_user": "", "odata_password": "", "odata_url": syspro_sandbox.odata_url(sandbox_url), **overrides}


def press_test_connection(admin_client, connection):
    return admin_client.post(CHANGELIST, {"action": "test_connection", "_selected_action": [connection.pk]},
                             follow=True)


def leaked(listener, **secrets):
    """The names of the secrets that reached the listener (never their values, which would show in the output)."""
    received = listener.everything()
    return [name for name, value in secrets.items() if value in received]


def address_entries():
    return list(AuditEntry.objects.filter(action="connection.address_changed").order_by("id"))


# --- the probe -------------------------------------------------------------------------------------------------


def test_a_new_bill_base_url_with_blank_secrets_never_receives_the_stored_ones(admin_client, tenant, listener):
    old = Listener()
    try:
        assert admin_client.post(add_url("bill"), bill_post(tenant, base_url=f"{old.url}/connect")).status_code == 302
        connection = Connection.objects.get()
        response = admin_client.post(change_url(connection),
                                     bill_post(tenant, base_url=f"{listener.url}/connect", password="", dev_key=""))
        press_test_connection(admin_client, connection)
    finally:
        old.close()

    assert leaked(listener, password=BILL_PASSWORD, devKey=BILL_DEVKEY) == []
    assert listener.received == [], "nothing at all is sent to the new address"
    assert response.status_code == 200, "the form asks again instead of saving"
    page = response.content.decode()
    assert (f"The base URL changed from {old.url}/connect to {listener.url}/connect, so the stored password, or "
            "sync token value is not sent there: enter it again.") in page
    assert "so the stored developer key is not sent there: enter it again." in page
    assert "Leave blank to keep the stored value" not in page, "the form does not contradict its own error"
    connection.refresh_from_db()
    assert connection.base_url == f"{old.url}/connect", "nothing was saved"
    assert connection.credentials["password"] == BILL_PASSWORD, "nothing stored was lost"
    assert address_entries() == []


def test_a_new_syspro_odata_url_with_blank_secrets_never_receives_the_operator_password(admin_client, tenant, sandbox,
                                                                                       listener):
    assert admin_client.post(add_url("syspro"), syspro_post(tenant, sandbox.url)).status_code == 302
    connection = Connection.objects.get()
    response = admin_client.post(change_url(connection), syspro_post(
        tenant, sandbox.url, odata_url=f"{listener.url}/odata", operator_password="", company_password=""))
    press_test_connection(admin_client, connection)

    assert leaked(listener, operator_password=syspro_sandbox.OPERATOR_PASSWORD,
                  company_password=syspro_sandbox.COMPANY_PASSWORD) == []
    assert listener.received == []
    assert response.status_code == 200
    page = response.content.decode()
    assert (f"The OData service URL changed from {syspro_sandbox.odata_url(sandbox.url)} to {listener.url}/odata, "
            "so the stored operator password is not sent there: enter it again.") in page
    assert "so the stored company password is not sent there" in page
    connection.refresh_from_db()
    assert connection.options["odata_url"] == syspro_sandbox.odata_url(sandbox.url)


# --- a change with the secrets typed again ----------------------------------------------------------------------


def test_secrets_typed_again_save_the_new_address_and_the_change_is_audited(admin_client, tenant, admin_user):
    assert admin_client.post(add_url("bill"), bill_post(tenant)).status_code == 302
    connection = Connection.objects.get()
    response = admin_client.post(change_url(connection),
                                 bill_post(tenant, base_url="https://gateway.prod.bill.com/connect/"))
    assert response.status_code == 302, response.content.decode()[:3000]
    connection.refresh_from_db()
    assert connection.base_url == "https://gateway.prod.bill.com/connect"

    [entry] = address_entries()
    assert entry.actor == admin_user.username and entry.tenant == tenant
    assert entry.object_id == str(connection.pk)
    assert entry.details == {"field": "base_url", "old": "https://gateway.stage.bill.com/connect",
                             "new": "https://gateway.prod.bill.com/connect"}
    assert entry.message == ("The base URL changed from https://gateway.stage.bill.com/connect to "
                             "https://gateway.prod.bill.com/connect.")
    everything = json.dumps([[e.details, e.message, e.object_repr] for e in AuditEntry.objects.all()])
    assert BILL_PASSWORD not in everything and BILL_DEVKEY not in everything


def test_a_secret_typed_again_for_one_of_two_leaves_the_other_asked_for(admin_client, tenant):
    admin_client.post(add_url("bill"), bill_post(tenant))
    connection = Connection.objects.get()
    response = admin_client.post(change_url(connection), bill_post(
        tenant, base_url="https://gateway.prod.bill.com/connect", dev_key=""))
    assert response.status_code == 200
    page = response.content.decode()
    assert "so the stored developer key is not sent there: enter it again." in page
    assert "stored password, or sync token value is not sent there" not in page, "the password was typed again"


def test_an_unchanged_address_keeps_the_stored_secrets_as_before(admin_client, tenant):
    admin_client.post(add_url("bill"), bill_post(tenant))
    connection = Connection.objects.get()
    response = admin_client.post(change_url(connection), bill_post(tenant, password="", dev_key="", username="x@y.z"))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.credentials["password"] == BILL_PASSWORD
    assert address_entries() == []


def test_the_session_of_the_old_address_is_not_presented_at_the_new_one(admin_client, tenant, sandbox, listener,
                                                                        monkeypatch):
    """Even when ending it at the old address fails (the old system unreachable, say)."""
    bill = {"sign_in": "user", "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD,
            "organization_id": bill_sandbox.ORG_ID, "dev_key": bill_sandbox.DEV_KEY}
    assert admin_client.post(add_url("bill"), bill_post(tenant, base_url=f"{sandbox.url}/bill/connect",
                                                        **bill)).status_code == 302
    connection = Connection.objects.get()
    assert check_connection(connection)[0], "signed in at the old address"
    session_id = json.loads(ConnectionToken.objects.get(connection=connection).value)["value"]

    def unreachable(_connector):
        raise TransientError("the old address does not answer")

    monkeypatch.setattr(BillConnector, "forget_token", unreachable)
    response = admin_client.post(change_url(connection), bill_post(tenant, base_url=f"{listener.url}/connect",
                                                                   **bill))
    assert response.status_code == 302, response.content.decode()[:3000]
    press_test_connection(admin_client, connection)
    assert listener.received, "the new address was tried, with the secrets the person typed again"
    assert leaked(listener, session=session_id) == []


def test_a_new_ionapi_file_carries_its_secrets_and_its_address_change_is_audited(admin_client, tenant):
    data = {"tenant": tenant.pk, "name": "Infor", "base_url": "", "ionapi_text": json.dumps(SAMPLE_IONAPI),
            "company": "100", "division": "AAA"}
    assert admin_client.post(add_url("infor"), data).status_code == 302
    connection = Connection.objects.get()
    moved = {**SAMPLE_IONAPI, "iu": "https://mingle-ionapi.eu1.inforcloudsuite.com"}
    response = admin_client.post(change_url(connection), {**data, "ionapi_text": json.dumps(moved)})
    assert response.status_code == 302, response.content.decode()[:3000]
    [entry] = address_entries()
    assert entry.details == {"field": "iu", "old": SAMPLE_IONAPI["iu"], "new": moved["iu"]}
    assert entry.message == (f"The iu of the ION API credentials (.ionapi file) changed from {SAMPLE_IONAPI['iu']} "
                             f"to {moved['iu']}.")
    dumped = json.dumps(entry.details) + entry.message
    for key in ("cs", "saak", "sask"):
        assert SAMPLE_IONAPI[key] not in dumped


def test_a_blank_ionapi_with_a_new_base_url_asks_for_the_file_again(admin_client, tenant):
    data = {"tenant": tenant.pk, "name": "Infor", "base_url": "", "ionapi_text": json.dumps(SAMPLE_IONAPI),
            "company": "100", "division": "AAA"}
    admin_client.post(add_url("infor"), data)
    connection = Connection.objects.get()
    response = admin_client.post(change_url(connection),
                                 {**data, "ionapi_text": "", "base_url": "https://elsewhere.example.com"})
    assert response.status_code == 200
    assert ("The base URL changed from (none) to https://elsewhere.example.com, so the file stored for ION API "
            "credentials (.ionapi file) is not sent there: upload or paste it again.") in response.content.decode()


# --- the URL rules outside the sandbox -------------------------------------------------------------------------

REFUSED = [
    ("https://127.0.0.1/connect", "names its host by IP address (127.0.0.1)"),
    ("https://169.254.169.254/latest/meta-data", "names its host by IP address (169.254.169.254)"),
    ("https://10.0.0.1", "names its host by IP address (10.0.0.1)"),
    ("https://192.168.1.20:8443/erp", "names its host by IP address (192.168.1.20)"),
    ("https://[::1]/erp", "names its host by IP address (::1)"),
    ("https://[::ffff:127.0.0.1]/erp", "names its host by IP address (::ffff:127.0.0.1)"),
    ("https://[fe80::1]/erp", "names its host by IP address (fe80::1)"),
    ("https://0.0.0.0", "names its host by IP address (0.0.0.0)"),
    ("https://224.0.0.1", "names its host by IP address (224.0.0.1)"),
    ("https://8.8.8.8", "names its host by IP address (8.8.8.8)"),
    ("https://2130706433/", "2130706433 is not a public DNS name"),
    ("https://127.1/", "127.1 is not a public DNS name"),
    ("https://0x7f.0.0.1/", "0x7f.0.0.1 is not a public DNS name"),
    ("https://localhost:8443", "localhost is not a public DNS name"),
    ("https://intranet/erp", "intranet is not a public DNS name"),
    ("https://erp.local", "erp.local is a name reserved for private networks"),
    ("https://metadata.google.internal", "metadata.google.internal is a name reserved for private networks"),
    ("https://acme.test", "acme.test is a name reserved for private networks"),
    ("http://erp.acme.com", "is not an https:// URL"),
    ("http://127.0.0.1:8000/sandbox/bill/connect", "is not an https:// URL"),
    ("https://ops:hunter2-pw@erp.acme.com", "carries a user name or password"),
]


@pytest.mark.parametrize("url, words", REFUSED)
def test_outside_the_sandbox_a_url_must_be_https_to_a_public_dns_name(outside_sandbox, url, words):
    with pytest.raises(ValidationError) as refused:
        https_url(url)
    message = " ".join(refused.value.messages)
    assert words in message
    assert "hunter2-pw" not in message


@pytest.mark.parametrize("url", ["https://acme.ifs.cloud", "https://syspro.acme.com:40000/SYSPROWCFService/Rest",
                                 "https://mingle-sso.inforcloudsuite.com:443/ACME_TST/as/"])
def test_outside_the_sandbox_public_https_names_are_accepted(outside_sandbox, url):
    https_url(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/sandbox/bill/connect", "http://localhost:8100/x",
                                 "http://[::1]:8100/x", "https://acme.test"])
def test_in_the_sandbox_loopback_http_works_as_before(url):
    https_url(url)


def test_the_admin_form_refuses_an_ip_literal_outside_the_sandbox(outside_sandbox, admin_client, tenant):
    response = admin_client.post(add_url("ifs"), {
        "tenant": tenant.pk, "name": "IFS", "base_url": "https://169.254.169.254", "realm": "acme",
        "client_id": "mlc", "client_secret": "s3cret-VALUE", "company": "10"})
    assert response.status_code == 200
    assert "names its host by IP address (169.254.169.254)" in response.content.decode()
    assert not Connection.objects.exists()


def test_the_admin_form_refuses_a_private_odata_url_outside_the_sandbox(outside_sandbox, admin_client, tenant):
    response = admin_client.post(add_url("syspro"), syspro_post(
        tenant, "https://unused", base_url="https://syspro.acme.com/SYSPROWCFService/Rest",
        odata_url="https://10.0.0.1/odata"))
    assert response.status_code == 200
    assert "names its host by IP address (10.0.0.1)" in response.content.decode()
    assert not Connection.objects.exists()


def test_an_ionapi_file_pointing_at_loopback_is_refused_outside_the_sandbox(outside_sandbox, admin_client, tenant):
    response = admin_client.post(add_url("infor"), {
        "tenant": tenant.pk, "name": "Infor", "base_url": "", "company": "100",
        "ionapi_text": json.dumps({**SAMPLE_IONAPI, "pu": "https://127.0.0.1/ACME_TST/as/"})})
    assert response.status_code == 200
    assert "In the .ionapi file, pu: &#x27;https://127.0.0.1/ACME_TST/as/&#x27; names its host by IP address" in \
        response.content.decode()


# --- documented hosts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("system, post, url, words", [
    ("bill", bill_post, "https://gateway.bill.com/connect",
     "gateway.bill.com is not an address BILL (v3 API) documents for its API; use one of gateway.prod.bill.com, "
     "gateway.stage.bill.com."),
    ("bill", bill_post, "https://bill.attacker-example.com/connect", "bill.attacker-example.com is not an address"),
    ("avidxchange", lambda tenant, **o: {"tenant": tenant.pk, "name": "AvidXchange", "mode": "api",
                                         "company_token": "c-TOKEN-1", "user_token": "u-TOKEN-1", **o},
     "https://api.avidxchange.com", "api.avidxchange.com is not an address AvidXchange documents for its API; use "
                                    "one of apistore.avidxchange.net."),
])
def test_a_vendor_fixed_address_refuses_any_undocumented_host(outside_sandbox, admin_client, tenant, system, post,
                                                               url, words):
    response = admin_client.post(add_url(system), post(tenant, base_url=url))
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not Connection.objects.exists()


@pytest.mark.parametrize("system, post, url", [
    ("bill", bill_post, "https://gateway.prod.bill.com/connect"),
    ("bill", bill_post, "https://gateway.stage.bill.com/connect"),
    ("avidxchange", lambda tenant, **o: {"tenant": tenant.pk, "name": "AvidXchange", "mode": "api",
                                         "company_token": "c-TOKEN-1", "user_token": "u-TOKEN-1", **o},
     "https://apistore.avidxchange.net/avidconnect"),
])
def test_a_documented_host_is_accepted(outside_sandbox, admin_client, tenant, system, post, url):
    response = admin_client.post(add_url(system), post(tenant, base_url=url))
    assert response.status_code == 302, response.content.decode()[:3000]


def test_a_stored_connection_to_an_undocumented_host_is_refused_when_used(outside_sandbox, tenant):
    connection = Connection(tenant=tenant, system="bill", name="BILL", base_url="https://bill.attacker-example.com/x")
    connection.set_credentials({"sign_in": "user", "username": "u", "password": BILL_PASSWORD,
                                "organization_id": "00801", "dev_key": BILL_DEVKEY})
    connection.save()
    ok, message = check_connection(connection)
    assert not ok
    assert message == ("The connection's base URL cannot be used: bill.attacker-example.com is not an address BILL "
                       "(v3 API) documents for its API; use one of gateway.prod.bill.com, gateway.stage.bill.com.")


# --- names resolving to private addresses, at connect time ----------------------------------------------------


@pytest.fixture
def dns(monkeypatch):
    """A resolver answering from a table, and a record of every address a socket was opened to (none is)."""
    table, opened = {}, []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            return real(host, port, *args, **kwargs)
        family = socket.AF_INET6 if ":" in table[host] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (table[host], port))]

    def create_connection(address, *args, **kwargs):
        opened.append(address)
        raise ConnectionRefusedError("refused by the test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return table, opened


@pytest.mark.parametrize("address, kind", [("10.1.2.3", "a private address"), ("127.0.0.1", "a loopback address"),
                                           ("169.254.169.254", "a link-local address"),
                                           ("::1", "a loopback address"), ("0.0.0.0", "an unspecified address"),
                                           ("100.64.0.1", "not a public address")])
def test_a_name_resolving_to_a_non_public_address_is_refused_before_connecting(outside_sandbox, dns, address, kind):
    table, opened = dns
    table["erp.acme-corp.com"] = address
    client = HttpClient("probe", base_url="https://erp.acme-corp.com", max_attempts=1, sleep=lambda _s: None)
    with pytest.raises(ConfigurationError) as refused:
        client.request("POST", "/login", json={"password": BILL_PASSWORD})
    assert str(refused.value) == (f"erp.acme-corp.com resolves to {address}, {kind}: ml-connector sends credentials "
                                  "only to public https:// addresses, so nothing was sent. Check the connection's URL "
                                  "and the DNS record of erp.acme-corp.com.")
    assert opened == []


def test_the_socket_goes_to_the_address_that_was_checked(outside_sandbox, dns):
    """No second lookup between the check and the connection: an answer that changes (DNS rebinding) is not used."""
    table, opened = dns
    table["erp.acme-corp.com"] = "93.184.216.34"
    client = HttpClient("probe", base_url="https://erp.acme-corp.com:8443", max_attempts=1, sleep=lambda _s: None)
    with pytest.raises(Exception):  # noqa: B017 (the test's socket refuses every connection)
        client.request("GET", "/ping")
    assert opened == [("93.184.216.34", 8443)]


def test_test_connection_says_why_a_private_resolution_was_refused(outside_sandbox, dns, admin_client, tenant):
    table, opened = dns
    table["erp.acme-corp.com"] = "169.254.169.254"
    response = admin_client.post(add_url("ifs"), {
        "tenant": tenant.pk, "name": "IFS", "base_url": "https://erp.acme-corp.com", "realm": "acme",
        "client_id": "mlc", "client_secret": "s3cret-VALUE", "company": "10"})
    assert response.status_code == 302, response.content.decode()[:3000]
    connection = Connection.objects.get()
    page = press_test_connection(admin_client, connection).content.decode()
    assert "erp.acme-corp.com resolves to 169.254.169.254, a link-local address" in page
    assert opened == []
    connection.refresh_from_db()
    assert connection.health == Connection.HEALTH_FAILING


def test_in_the_sandbox_loopback_is_reached_as_before(listener):
    client = HttpClient("probe", base_url=listener.url, max_attempts=1)
    with pytest.raises(AuthError):
        client.request("GET", "/v3/login/session", authenticate=False)
    assert len(listener.received) == 1


class Redirector:
    """Answers every request with a 302 to `target` (an absolute URL or a path)."""

    def __init__(self, target):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_redirect_to_another_address_is_refused_and_the_headers_never_reach_it(listener):
    redirector = Redirector(f"{listener.url}/stolen")
    try:
        client = HttpClient("probe", base_url=redirector.url, max_attempts=1)
        with pytest.raises(ConfigurationError, match="redirect to 127.0.0.1:.*not sent to another address"):
            client.request("GET", "/v3/vendors", headers={"devKey": BILL_DEVKEY, "sessionId": BILL_PASSWORD},
                           authenticate=False)
    finally:
        redirector.close()
    assert listener.received == []
