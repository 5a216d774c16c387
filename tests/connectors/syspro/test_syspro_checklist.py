"""Checklist: one test per documented SYSPRO behaviour the simulator and the client rely on, each naming its
source. SYSPRO publishes little about e.net's REST wire format; where the only source is a public client,
the test says so, and where a test pins down a choice no source settles it says UNCONFIRMED and names the
entry in docs/ASSUMPTIONS.md (Y1 to Y9).

Sources:
- [ruby] wildland/syspro-ruby: lib/syspro/logon.rb, logoff.rb, get_logon_profile.rb, api_operations/query.rb
  (every call `request(:get, …)`), business_objects/schemas/comfnd.xml.erb (the COMFND XmlIn).
- [flowgear] Flowgear's SYSPRO node, https://help.flowgear.net/articles/nodes/syspro (UseMutex: one call at a
  time on a session; the WCF service is required from SYSPRO 8; e.net licences per operator).
- [odata-help] https://help.syspro.com/syspro-8-2023/topics/syspro-services/syspro-odata-service/
  syspro-odata-service.htm (OData 4.0, read-only, HTTP Basic over HTTPS).
- [inspectdb] a public Django inspectdb of a SYSPRO company database (skerberjr1/webportal,
  syspro_web/models.py): the tables, columns and lengths in connectors/syspro/tables.py.
- [odata-abnf] OData ABNF Construction Rules 4.01 (literals, operators).
"""

import base64
import re
import xml.etree.ElementTree as ET

import pytest
import requests

from connectors.syspro import client as syspro_client
from connectors.syspro import tables
from sandbox.syspro import simulator as syspro_sandbox
from tests.connectors.syspro.conftest import make_syspro_connection

GUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def enet(sandbox, path, method="GET", **params):
    return requests.request(method, f"{syspro_sandbox.enet_url(sandbox.url)}/{path}", params=params, timeout=10)


def logon(sandbox, **overrides):
    params = {"Operator": syspro_sandbox.OPERATOR, "OperatorPassword": syspro_sandbox.OPERATOR_PASSWORD,
              "CompanyId": syspro_sandbox.COMPANY_ID, "CompanyPassword": syspro_sandbox.COMPANY_PASSWORD,
              **overrides}
    return enet(sandbox, "Logon", **params)


def comfnd(sandbox, guid, table="ApSupplier", where="", rows=10, columns=("Supplier",), order=("Supplier",)):
    xml = (f'<Query xmlns:xsd="http://www.w3.org/2001/XMLSchema-instance" '
           f'xsd:noNamespaceSchemaLocation="COMFND.XSD"><TableName>{table}</TableName><ReturnRows>{rows}</ReturnRows>'
           f'<Columns>{"".join(f"<Column>{c}</Column>" for c in columns)}</Columns>'
           f'<Where>{where}</Where><OrderBy>{"".join(f"<Column>{c}</Column>" for c in order)}</OrderBy></Query>')
    return enet(sandbox, "Query/Query", UserId=guid, BusinessObject="COMFND", XmlIn=xml)


def expression(column, condition, value, andor="And", open_="", close=""):
    return (f"<Expression><OpenBracket>{open_}</OpenBracket><AndOr>{andor}</AndOr><Column>{column}</Column>"
            f"<Condition>{condition}</Condition><Value>{value}</Value><CloseBracket>{close}</CloseBracket>"
            "</Expression>")


def odata(sandbox, entity_set, auth=(syspro_sandbox.OPERATOR, syspro_sandbox.OPERATOR_PASSWORD), **params):
    return requests.get(f"{syspro_sandbox.odata_url(sandbox.url)}/{entity_set}", params=params, auth=auth, timeout=10)


@pytest.fixture
def guid(sandbox):
    return logon(sandbox).text


@pytest.fixture
def seeded(sandbox):
    sandbox.control("syspro/seed-canonical")


# --- e.net REST ---------------------------------------------------------------------------------------------
def test_logon_answers_the_session_id_as_plain_text(sandbox):
    """[ruby] logon.rb: GET Logon with Operator, OperatorPassword, CompanyId, CompanyPassword; the body is the
    UserId GUID."""
    response = logon(sandbox)
    assert response.status_code == 200 and GUID.fullmatch(response.text)


def test_errors_are_text_beginning_with_error_and_http_200(sandbox):
    """[ruby] logon.rb raises AuthenticationError when the body matches /^(ERROR)/; errors come as 200."""
    response = logon(sandbox, OperatorPassword="wrong-password")
    assert response.status_code == 200 and response.text.startswith("ERROR")
    assert "wrong-password" not in response.text


def test_logoff_answers_0_and_ends_the_session(sandbox, guid, seeded):
    """[ruby] logoff.rb: GET Logoff?UserId=; "0" is success. A call on the ended session is an ERROR text
    (UNCONFIRMED, Y3: its words)."""
    assert enet(sandbox, "Logoff", UserId=guid).text == "0"
    answer = comfnd(sandbox, guid)
    assert answer.text.startswith("ERROR") and "not logged on" in answer.text
    assert syspro_client.enet_error(answer.text) is not None


def test_every_call_is_a_get(sandbox, guid):
    """[ruby] every api_operation is request(:get, …): the service takes no other method."""
    assert enet(sandbox, "Logon", method="POST").status_code == 405
    assert enet(sandbox, "Query/Query", method="POST", UserId=guid).status_code == 405


def test_sessions_end_after_the_idle_timeout(sandbox, guid, seeded):
    """UNCONFIRMED (Y3): a session without calls for the site's timeout ends (simulated: 1,200 s)."""
    sandbox.control("clock", {"advance_seconds": syspro_sandbox.SESSION_TIMEOUT - 10})
    assert "<Row>" in comfnd(sandbox, guid).text  # a call resets the idle time
    sandbox.control("clock", {"advance_seconds": syspro_sandbox.SESSION_TIMEOUT + 1})
    assert comfnd(sandbox, guid).text.startswith("ERROR")


def test_sessions_hold_a_licence_until_logged_off(sandbox):
    """[flowgear] e.net licences are configured per operator, and an open session holds one; logging off frees
    it (reference notes, "Sessions count against e.net licences: log off")."""
    sandbox.control("syspro/account", {"licences": 2})
    first, _ = logon(sandbox).text, logon(sandbox).text
    refused = logon(sandbox)
    assert refused.text.startswith("ERROR") and "licence" in refused.text
    assert sandbox.control("syspro/sessions")["open"] == 2
    enet(sandbox, "Logoff", UserId=first)
    assert GUID.fullmatch(logon(sandbox).text)


def test_the_client_makes_one_call_at_a_time_on_its_session(tenant, sandbox):
    """[flowgear] UseMutex: concurrent requests on one e.net session are not safe. Every worker shares one
    session, so the client holds one slot for it across every process."""
    connector = make_syspro_connection(tenant, sandbox.url).connector()
    assert connector.http.concurrency == 1


def test_the_session_travels_as_the_userid_parameter_only(tenant, sandbox, seeded, monkeypatch):
    """[ruby] query.rb sends UserId as a query parameter; the client's session header never leaves."""
    sent = []
    original = requests.Session.send

    def spy(self, request, **kwargs):
        sent.append(request)
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", spy)
    connector = make_syspro_connection(tenant, sandbox.url, odata=False).connector()
    list(connector.client.rows(tables.GL_ACCOUNTS))
    query = next(r for r in sent if "/Query/Query" in r.url)
    assert re.search(r"[?&]UserId=[0-9A-F-]{36}(&|$)", query.url)
    assert syspro_client.SESSION_HEADER not in query.headers


def test_comfnd_takes_the_documented_xmlin(sandbox, guid, seeded):
    """[ruby] comfnd.xml.erb: TableName, ReturnRows, Columns/Column, Where/Expression (OpenBracket, AndOr, Column,
    Condition, Value, CloseBracket), OrderBy/Column. UNCONFIRMED (Y8): the answer's shape, <Row>s of columns."""
    where = (expression("Supplier", "GT", "V1001", open_="(") + expression("Supplier", "LT", "V1004", close=")")
             + expression("OnHold", "EQ", "Y", andor="Or"))
    root = ET.fromstring(comfnd(sandbox, guid, where=where, columns=("Supplier", "OnHold")).text)
    assert [row.findtext("Supplier") for row in root.iter("Row")] == ["V1002", "V1003", "V1006"]
    assert root.findtext("HeaderDetails/ReturnRows") == "3"


def test_comfnd_returns_at_most_returnrows(sandbox, guid, seeded):
    root = ET.fromstring(comfnd(sandbox, guid, rows=2).text)
    assert len(list(root.iter("Row"))) == 2


@pytest.mark.parametrize(("xml_change", "words"), [
    ({"table": "ApSupplierX"}, "Table 'ApSupplierX' not found"),
    ({"columns": ("Supplier", "Colour")}, "Column 'Colour' not found"),
    ({"where": expression("Supplier", "LIKE", "V%")}, "Condition 'LIKE' is not valid"),
    ({"where": expression("TimeStamp", "GT", "yesterday")}, "not numeric for column TimeStamp"),
    ({"where": expression("Supplier", "EQ", "V1001", open_="(")}, "brackets"),
    ({"rows": 0}, "ReturnRows '0'"),
])
def test_comfnd_refuses_what_the_table_does_not_have(sandbox, guid, seeded, xml_change, words):
    """UNCONFIRMED (Y8): the conditions beyond the ruby client's EQ; we take EQ NE GT GE LT LE, and refuse
    other tokens, unknown tables and columns, and values of the wrong type, with an ERROR text."""
    answer = comfnd(sandbox, guid, **xml_change)
    assert answer.status_code == 200 and answer.text.startswith("ERROR") and words in answer.text


def test_comfnd_dates_are_yyyy_mm_dd(sandbox, guid, seeded):
    """UNCONFIRMED (Y8): date values in COMFND conditions and answers are written yyyy-mm-dd."""
    good = comfnd(sandbox, guid, table="ApInvoice", where=expression("InvoiceDate", "GE", "2026-01-13"),
                  columns=("Invoice", "InvoiceDate"), order=("Supplier", "Invoice"))
    assert {r.findtext("InvoiceDate") for r in ET.fromstring(good.text).iter("Row")} <= \
        {"2026-01-13", "2026-01-14", "2026-01-15"}
    bad = comfnd(sandbox, guid, table="ApInvoice", where=expression("InvoiceDate", "GE", "13/01/2026"))
    assert bad.text.startswith("ERROR") and "yyyy-mm-dd" in bad.text


def test_the_profile_names_the_company_and_local_currency(sandbox, guid):
    """Reference notes §4.1: GetLogonProfile returns XML with CompanyName, OperatorCode, LocalCurrencyCode…"""
    root = ET.fromstring(enet(sandbox, "GetLogonProfile", UserId=guid).text)
    assert root.findtext("CompanyName") == syspro_sandbox.COMPANY_NAME
    assert root.findtext("LocalCurrencyCode") == syspro_sandbox.LOCAL_CURRENCY


# --- OData -------------------------------------------------------------------------------------------------------
def test_odata_takes_basic_auth_only(sandbox, seeded):
    """[odata-help]: clients authenticate with HTTP Basic over HTTPS, as an operator set up for OData."""
    assert odata(sandbox, "ApSupplier", auth=None).status_code == 401
    assert odata(sandbox, "ApSupplier", auth=(syspro_sandbox.OPERATOR, "wrong")).status_code == 401
    token = base64.b64encode(f"{syspro_sandbox.OPERATOR}:{syspro_sandbox.OPERATOR_PASSWORD}".encode()).decode()
    response = requests.get(f"{syspro_sandbox.odata_url(sandbox.url)}/ApSupplier", timeout=10,
                            headers={"Authorization": f"Basic {token}"})
    assert response.status_code == 200 and response.headers["OData-Version"] == "4.0"
    assert response.json()["@odata.context"] == "$metadata#ApSupplier"


def test_odata_is_read_only(sandbox):
    """[odata-help]: read-only for ISVs."""
    response = requests.post(f"{syspro_sandbox.odata_url(sandbox.url)}/ApSupplier", json={}, timeout=10,
                             auth=(syspro_sandbox.OPERATOR, syspro_sandbox.OPERATOR_PASSWORD))
    assert response.status_code == 405


@pytest.mark.parametrize(("filter_", "words"), [
    ("Colour eq 'red'", "Could not find a property named 'Colour'"),
    ("TimeStamp gt '2001'", "incompatible types"),
    ("InvoiceDate gt 2026-01-05T00:00:00", "has no time zone"),
    ("TimeStamp add 1 gt 2", "not supported"),
])
def test_odata_refuses_what_an_odata_service_refuses(sandbox, seeded, filter_, words):
    """[odata-abnf] and Microsoft's OData stack: unknown properties, mistyped literals, DateTimeOffset literals
    without an offset and arithmetic operators are refused with 400 and an OData error object."""
    response = odata(sandbox, "ApInvoice", **{"$filter": filter_})
    assert response.status_code == 400 and words in response.json()["error"]["message"]


def test_odata_has_no_undocumented_entity_sets(sandbox):
    response = odata(sandbox, "ApSupplierSecret")
    assert response.status_code == 404 and "error" in response.json()


def test_the_client_writes_rowversions_and_keys_as_odata_literals(tenant, sandbox, seeded, monkeypatch):
    """UNCONFIRMED (Y2): TimeStamp is an Edm.Int64 over OData; the client compares it with a bare integer."""
    asked = []
    connector = make_syspro_connection(tenant, sandbox.url).connector()
    original = connector.client.odata.json

    def spy(method, path, **kwargs):
        asked.append(kwargs.get("params") or "")
        return original(method, path, **kwargs)

    monkeypatch.setattr(connector.client.odata, "json", spy)
    list(connector.suppliers(since=2001))
    assert any("$filter=TimeStamp%20gt%202001" in params for params in asked), asked


# --- tables --------------------------------------------------------------------------------------------------------
def test_the_rowversion_grows_on_every_write(sandbox, seeded):
    """[inspectdb]: TimeStamp on every table is a SQL Server rowversion, unique and growing with each write."""
    held = sandbox.simulators["syspro"].state()["tables"]
    stamps = [row["TimeStamp"] for rows in held.values() for row in rows]
    assert len(stamps) == len(set(stamps))
    before = max(stamps)
    sandbox.control("syspro/canonical-supplier", {"source_id": "V1001", "phone": "+1 512 555 0199"})
    after = {r["Supplier"]: r["TimeStamp"] for r in sandbox.simulators["syspro"].state()["tables"]["ApSupplier"]}
    assert after["V1001"] > before


def test_columns_hold_what_syspro_holds(sandbox):
    """[inspectdb]: SupplierName is 50 characters; InvoiceDate a date; OrigInvValue an amount."""
    too_long = requests.post(f"{sandbox.url}/_control/syspro/seed", timeout=10,
                             json={"ApSupplier": [{"Supplier": "X1", "SupplierName": "N" * 51}]})
    assert too_long.status_code == 400 and "at most 50" in too_long.text
    bad_date = requests.post(f"{sandbox.url}/_control/syspro/seed", timeout=10,
                             json={"ApInvoice": [{"Supplier": "X1", "Invoice": "I1", "InvoiceDate": "05/01/2026"}]})
    assert bad_date.status_code == 400 and "not a date" in bad_date.text


def test_balance_is_kept_by_ageing_month(tenant, sandbox, seeded):
    """[inspectdb]: ApInvoice has no InvoiceBal; what is outstanding is MthInvBal1 + MthInvBal2 + MthInvBal3,
    so an invoice whose balance sits in an older month is still open."""
    sandbox.control("syspro/update", {"table": "ApInvoice", "key": ["V1002", "INV-1002"],
                                      "changes": {"MthInvBal1": "0", "MthInvBal3": "40.25"}})
    with make_syspro_connection(tenant, sandbox.url).connector() as connector:
        open_items = {i.number: i.amount for i in connector.open_invoices()}
        read = {i.invoice_number for i in connector.approved_invoices()}
    assert str(open_items["INV-1002"]) == "40.25" and "INV-1002" in read
