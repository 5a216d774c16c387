"""Checklist: one test per documented Acumatica behaviour the connector relies on, each naming its source.

The simulator must refuse what Acumatica refuses and answer as it answers; these tests hold it (and the client,
where it has a part) to the sources below. Where a test pins down a choice the sources leave open, it says
UNCONFIRMED and names the entry in docs/ASSUMPTIONS.md.

Sources
- IDG: Acumatica's Integration Development Guide, as published in MYOB Advanced's copy,
  help.myob.com.au/advanced/Docs/Published/IntegrationDevelopmentGuide/<page>.html.
- OPENAPI: Acumatica's OpenAPI definition of Default/24.200.001 (connectors/acumatica/default-24.200.001.openapi.json,
  from github.com/Acumatica/AcumaticaRESTAPIClientForCSharp, EndpointDefinitions/Default_24.200.001).
- CLIENT: that official C# client (Acumatica.RESTClient: AuthApi, ApiClientExtensions, Credentials.cs).
- PASS_CULTURE: github.com/pass-culture/pass-culture-main, api/src/pcapi/core/finance/backend/cegid.py and
  api/tests/core/finance/test_backends.py, an integration of an Acumatica-based ERP.
- EASY: PyPI easy-acumatica (github.com/Nioron07/Easy-Acumatica), src/easy_acumatica/client.py.
- AIRBYTE: github.com/fauxpasonics/airbyte-source-acumatica, source_acumatica/source.py.
- CLEO: support.cleo.com/hc/en-us/articles/360052081593-API-related-Info-Acumatica.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.core.exceptions import ValidationError
from django.utils import timezone

from connectors.acumatica.system import SIGN_IN_COOKIE, client_id
from connectors.errors import Deferred
from sandbox.acumatica import simulator as acumatica_sandbox
from tests.connectors.acumatica.conftest import make_acumatica_connection

IDG = "https://help.myob.com.au/advanced/Docs/Published/IntegrationDevelopmentGuide/"
ENTITY = "/acumatica/entity/Default/24.200.001"
HTTP_ERROR_KEYS = {"message", "exceptionMessage", "exceptionType", "stackTrace", "modelState", "messageDetail"}


# --- helpers ------------------------------------------------------------------------------------------------
def login(sandbox, **body):
    return requests.post(f"{sandbox.url}/acumatica/entity/auth/login", timeout=10, json={
        "name": acumatica_sandbox.USERNAME, "password": acumatica_sandbox.PASSWORD,
        "tenant": acumatica_sandbox.TENANT, **body})


def session(sandbox):
    response = login(sandbox)
    assert response.status_code == 204, response.text
    return {"Cookie": f".ASPXAUTH={response.cookies['.ASPXAUTH']}"}


def token(sandbox, **form):
    return requests.post(f"{sandbox.url}/acumatica/identity/connect/token", timeout=10, data={
        "grant_type": "password", "client_id": acumatica_sandbox.CLIENT_ID,
        "client_secret": acumatica_sandbox.CLIENT_SECRET, "username": acumatica_sandbox.USERNAME,
        "password": acumatica_sandbox.PASSWORD, "scope": "api offline_access", **form})


def get(sandbox, headers, path, **params):
    return requests.get(f"{sandbox.url}{ENTITY}{path}", headers=headers, params=params, timeout=10)


def http_error(response, status):
    """The definition's HttpError: message, exceptionMessage, exceptionType, stackTrace, modelState..."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, dict) and set(body) <= HTTP_ERROR_KEYS and body.get("message"), body
    return body


@pytest.fixture
def seeded(sandbox):
    sandbox.control("acumatica/seed-canonical")


@pytest.fixture
def headers(sandbox, seeded):
    return session(sandbox)


# --- sign-in: IDG IntegrationDev_RESTExample_Basic_Login, OAuthOIDC_ResourceOwner_AccessToken ----------------
def test_sign_in_answers_204_with_a_session_cookie_that_authenticates_calls(sandbox, seeded):
    """IDG Login: POST /entity/auth/login with name, password, tenant (and branch) answers 204 No Content and
    sets the session's cookies, which go with every later call."""
    response = login(sandbox, branch="EAST")
    assert response.status_code == 204 and not response.content
    assert ".ASPXAUTH" in response.cookies
    assert get(sandbox, {"Cookie": f".ASPXAUTH={response.cookies['.ASPXAUTH']}"}, "/Vendor").status_code == 200


def test_sign_out_ends_the_session(sandbox, headers):
    """IDG Login: POST /entity/auth/logout closes the session (and frees its API user slot)."""
    assert requests.post(f"{sandbox.url}/acumatica/entity/auth/logout", headers=headers, timeout=10).status_code == 204
    http_error(get(sandbox, headers, "/Vendor"), 401)
    assert sandbox.control("acumatica/sessions")["open"] == 0


def test_a_call_without_a_session_is_401(sandbox, seeded):
    """OPENAPI: every operation answers 401 ContractBasedControllerBase_401, "The user is not logged in"."""
    http_error(get(sandbox, {}, "/Vendor"), 401)
    http_error(get(sandbox, {"Cookie": ".ASPXAUTH=NOT-A-SESSION"}, "/Vendor"), 401)


def test_tenant_and_company_together_are_refused(sandbox):
    """CLIENT Credentials.cs (and its issue #19): company is the older name of tenant; giving both is an error."""
    http_error(login(sandbox, company=acumatica_sandbox.TENANT), 400)
    assert login(sandbox, tenant=None, company=acumatica_sandbox.TENANT).status_code == 204


def test_wrong_credentials_are_refused(sandbox):
    """IDG Login. UNCONFIRMED (docs AC7): the status (401) and wording of the refusal."""
    http_error(login(sandbox, password="wrong"), 401)
    http_error(login(sandbox, tenant="OTHER"), 401)
    http_error(login(sandbox, branch="NOWHERE"), 401)


def test_the_password_grant_issues_a_bearer_token_and_a_refresh_token_only_with_offline_access(sandbox, seeded):
    """IDG OAuthOIDC_ResourceOwner_AccessToken: POST /identity/connect/token, grant_type=password with the client id
    and secret, user name and password and the api scope; offline_access asks for a refresh token."""
    body = token(sandbox).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["refresh_token"]
    assert get(sandbox, {"Authorization": f"Bearer {body['access_token']}"}, "/Vendor").status_code == 200
    assert "refresh_token" not in token(sandbox, scope="api").json()
    assert token(sandbox, scope="offline_access").json() == {"error": "invalid_scope"}
    assert token(sandbox, password="wrong").json()["error"] == "invalid_grant"
    assert token(sandbox, client_secret="wrong").json()["error"] == "invalid_client"


def test_a_refresh_token_is_spent_when_used(sandbox):
    """IDG OAuth: grant_type=refresh_token issues a new access token. UNCONFIRMED (docs AC7): refresh tokens
    rotate, the old one spent (keboola's Acumatica component stores the new one)."""
    first = token(sandbox).json()
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    second = token(sandbox, **form).json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert token(sandbox, **form).json() == {"error": "invalid_grant"}


def test_the_client_id_names_the_tenant_after_the_at(sandbox):
    """IDG OAuth: a client id is the connected application's GUID, @, and the tenant it signs in to."""
    client_id(acumatica_sandbox.CLIENT_ID)
    with pytest.raises(ValidationError):
        client_id("ml-connector")
    other_tenant = acumatica_sandbox.CLIENT_ID.split("@")[0] + "@OTHER"
    assert token(sandbox, client_id=other_tenant).json() == {"error": "invalid_client"}


# --- licence limits: IDG IS__con_License_Restrictions_API_Users, IS__con_Limitation_of_API_Connections; CLEO -----
def test_a_sign_in_beyond_the_licence_s_api_users_is_refused_until_one_signs_out(sandbox, seeded):
    """IDG License Restrictions for API Users: a licence caps the Web Services API users signed in at once (a trial
    licence 2), and a sign-in beyond it is refused; CLIENT maps "API Login Limit" to 429. UNCONFIRMED (docs AC8):
    that status and the body."""
    first, _ = session(sandbox), token(sandbox)
    body = http_error(login(sandbox), 429)
    assert "API Login Limit" in body["exceptionMessage"]
    assert token(sandbox).status_code == 429
    requests.post(f"{sandbox.url}/acumatica/entity/auth/logout", headers=first, timeout=10)
    assert login(sandbox).status_code == 204


def test_an_idle_session_ends_on_the_simulated_clock(sandbox, headers):
    """UNCONFIRMED (docs AC7): a session idle for 20 minutes ends, and frees its slot."""
    sandbox.control("clock", {"advance_seconds": 19 * 60})
    assert get(sandbox, headers, "/Vendor").status_code == 200
    sandbox.control("clock", {"advance_seconds": 20 * 60 + 1})
    http_error(get(sandbox, headers, "/Vendor"), 401)
    assert sandbox.control("acumatica/sessions")["open"] == 0


def test_calls_over_the_licence_s_request_limit_get_429(sandbox, headers):
    """IDG License Restrictions (API requests per minute) and CLEO: "When API calls are declined by Acumatica due
    to throttling ... fail with a 429 status code"."""
    sandbox.control("acumatica/account", {"requests_per_minute": 2})
    assert [get(sandbox, headers, "/Vendor").status_code for _ in range(3)] == [200, 200, 429]
    sandbox.control("clock", {"advance_seconds": 60})
    assert get(sandbox, headers, "/Vendor").status_code == 200


# --- URLs and endpoints: IDG (URL of the contract-based REST API), EASY -----------------------------------------
def test_the_url_names_the_endpoint_and_its_version_and_another_version_is_not_served(sandbox, headers):
    """IDG: {instance}/entity/{endpoint name}/{endpoint version}/{entity}. UNCONFIRMED (docs AC1): a version the
    instance does not serve answers 404."""
    assert get(sandbox, headers, "/Bill").status_code == 200
    response = requests.get(f"{sandbox.url}/acumatica/entity/Default/23.100.001/Bill", headers=headers, timeout=10)
    http_error(response, 404)


def test_get_entity_lists_the_endpoints_and_their_versions(sandbox, headers):
    """EASY _populate_endpoint_info: GET {instance}/entity answers {"endpoints": [{"name", "version", ...}]}."""
    body = requests.get(f"{sandbox.url}/acumatica/entity", headers=headers, timeout=10).json()
    assert {"name": "Default", "version": "24.200.001"}.items() <= body["endpoints"][0].items()


# --- the entity format: OPENAPI, PASS_CULTURE -------------------------------------------------------------------
def test_every_field_is_a_value_object_and_an_empty_one_is_an_empty_object(sandbox, headers):
    """OPENAPI: StringValue, DecimalValue... are {"value", "error"}; PASS_CULTURE's payloads show empty fields as {}
    and the Entity base's id, rowNumber, note and custom, with _links."""
    vendor = next(v for v in get(sandbox, headers, "/Vendor").json() if v["VendorID"] == {"value": "V1003"})
    assert vendor["TaxRegistrationID"] == {} and vendor["VendorName"] == {"value": "Cedar Janitorial"}
    assert {"id", "rowNumber", "note", "custom", "_links"} <= set(vendor)
    bill = get(sandbox, headers, "/Bill").json()[0]
    assert isinstance(bill["Amount"]["value"], float) and bill["Hold"] == {"value": False}


def test_a_list_is_a_bare_json_array(sandbox, headers):
    """OPENAPI GetList: 200 answers {"type": "array", "items": {"$ref": Entity}}; the contract API has no nextLink
    (keboola's and AIRBYTE's clients stop at a short page)."""
    assert isinstance(get(sandbox, headers, "/Account").json(), list)


def test_details_and_linked_entities_come_only_when_expanded(sandbox, headers):
    """OPENAPI $expand: "The linked and detail entities that should be expanded"; PASS_CULTURE asks for
    $expand=Details on bills and MainContact/Address on vendors."""
    assert "Details" not in get(sandbox, headers, "/Bill").json()[0]
    assert get(sandbox, headers, "/Bill", **{"$expand": "Details"}).json()[0]["Details"][0]["Account"]
    plain, expanded = get(sandbox, headers, "/Vendor").json()[0], \
        get(sandbox, headers, "/Vendor", **{"$expand": "MainContact/Address"}).json()[0]
    assert "MainContact" not in plain
    assert expanded["MainContact"]["Address"]["City"] == {"value": "Austin"}
    http_error(get(sandbox, headers, "/Vendor", **{"$expand": "VendorName"}), 400)


def test_only_the_documented_query_options_are_taken(sandbox, headers):
    """OPENAPI components.parameters: a list takes $select, $filter, $expand, $custom, $skip and $top, and no
    $orderby or $count."""
    http_error(get(sandbox, headers, "/Vendor", **{"$orderby": "VendorID"}), 400)
    http_error(get(sandbox, headers, "/Vendor", **{"$count": "true"}), 400)
    assert get(sandbox, headers, "/Vendor", **{"$custom": "Document.UsrField"}).status_code == 200


def test_select_returns_only_the_fields_named(sandbox, headers):
    """OPENAPI $select: "The fields of the entity to be returned"."""
    vendor = get(sandbox, headers, "/Vendor", **{"$select": "VendorID,Status"}).json()[0]
    assert set(vendor) - {"id", "rowNumber", "note", "custom", "_links"} == {"VendorID", "Status"}
    http_error(get(sandbox, headers, "/Vendor", **{"$select": "Nope"}), 400)


def test_top_and_skip_window_a_list_in_key_order(sandbox, headers):
    """OPENAPI $top and $skip. UNCONFIRMED (docs AC6): records come in key order."""
    ids = [v["VendorID"]["value"] for v in get(sandbox, headers, "/Vendor").json()]
    assert ids == sorted(ids)
    window = get(sandbox, headers, "/Vendor", **{"$top": "2", "$skip": "1"}).json()
    assert [v["VendorID"]["value"] for v in window] == ids[1:3]


def test_filter_takes_datetimeoffset_literals(sandbox, headers):
    """AIRBYTE and the IDG's $filter examples: LastModifiedDateTime gt datetimeoffset'...'; a bare DateTimeOffset
    literal (OData v4 style) is refused, and so is a property the entity does not have."""
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    found = get(sandbox, headers, "/Vendor", **{"$filter": f"LastModifiedDateTime gt datetimeoffset'{since}'"})
    assert len(found.json()) == 6
    http_error(get(sandbox, headers, "/Vendor", **{"$filter": f"LastModifiedDateTime gt {since}"}), 400)
    http_error(get(sandbox, headers, "/Vendor", **{"$filter": "Nope eq 'x'"}), 400)
    assert [b["VendorRef"]["value"] for b in get(sandbox, headers, "/Bill", **{
        "$filter": "VendorRef eq 'INV-1002'"}).json()] == ["INV-1002"]


# --- writes and actions: OPENAPI, CLIENT ------------------------------------------------------------------------
def payment(bill_number, amount=100.0, ref="stp-check-1"):
    return {"Type": {"value": "Payment"}, "Vendor": {"value": "V1002"}, "PaymentRef": {"value": ref},
            "Hold": {"value": False}, "Details": [{"DocType": {"value": "Bill"},
                                                  "ReferenceNbr": {"value": bill_number},
                                                  "AmountPaid": {"value": amount}}]}


def bill_of(sandbox, number):
    return next(b for b in sandbox.simulators["acumatica"].state()["bills"] if b["VendorRef"] == number)


def put(sandbox, headers, body, **extra):
    return requests.put(f"{sandbox.url}{ENTITY}/Check", headers={**headers, **extra}, json=body, timeout=10)


def test_put_with_if_none_match_star_only_inserts(sandbox, headers):
    """CLIENT ApiClientExtensions.ComposePutHeaders: If-None-Match: * inserts only, If-Match: * updates only; a
    PUT whose condition fails answers 412 (OPENAPI PutEntity_412)."""
    created = put(sandbox, headers, payment(bill_of(sandbox, "INV-1002")["ReferenceNbr"]), **{"If-None-Match": "*"})
    assert created.status_code == 200
    again = {**payment("x"), "ReferenceNbr": created.json()["ReferenceNbr"]}
    http_error(put(sandbox, headers, again, **{"If-None-Match": "*"}), 412)
    http_error(put(sandbox, headers, {**payment("x"), "ReferenceNbr": {"value": "999999"}}, **{"If-Match": "*"}),
               412)


def test_a_value_not_wrapped_or_of_the_wrong_type_is_refused(sandbox, headers):
    """OPENAPI: every field is a value object of its type. UNCONFIRMED (docs AC10): Acumatica answers 400 with
    modelState; a field the entity does not have is refused too."""
    bill_number = bill_of(sandbox, "INV-1002")["ReferenceNbr"]
    assert "modelState" in http_error(put(sandbox, headers, {**payment(bill_number), "Vendor": "V1002"}), 400)
    http_error(put(sandbox, headers, {**payment(bill_number), "Hold": {"value": "no"}}), 400)
    http_error(put(sandbox, headers, {**payment(bill_number), "Amount": {"value": 1}}), 400)
    assert put(sandbox, headers, {**payment(bill_number), "PaymentAmount": {"value": "100.00"}}).status_code == 200, \
        "a decimal may come as a numeric string (PASS_CULTURE sends amounts as text)"


def test_a_record_with_errors_is_echoed_422_with_each_field_s_error(sandbox, headers):
    """OPENAPI PutEntity 422: "The data specified in the request is invalid", the entity echoed back; CLIENT
    CollectErrorsFromEntity reads the field errors; PASS_CULTURE treats 422 as bad data."""
    response = put(sandbox, headers, payment(bill_of(sandbox, "INV-1002")["ReferenceNbr"], amount=99999.0))
    assert response.status_code == 422
    assert "balance" in response.json()["Details"][0]["AmountPaid"]["error"]


def test_an_action_answers_202_with_a_location_polled_until_204(sandbox, headers):
    """OPENAPI InvokeAction_202 ("in progress", Location) and InvokeAction_204 ("completed"); IDG
    IntegrationDev_RESTExample_Basic_Action_Execution; CLIENT WaitActionCompletion polls the Location.
    UNCONFIRMED (docs AC11): the Location's form, and how long an action runs."""
    check = put(sandbox, headers, payment(bill_of(sandbox, "INV-1002")["ReferenceNbr"])).json()
    url = f"{sandbox.url}{ENTITY}/Check/ReleaseCheck"
    started = requests.post(url, headers=headers, json={"entity": {"id": check["id"]}}, timeout=10)
    assert started.status_code == 202 and started.headers["Location"]
    status_url = requests.compat.urljoin(url, started.headers["Location"])
    assert [requests.get(status_url, headers=headers, timeout=10).status_code for _ in range(2)] == [202, 204]


def test_a_record_missing_by_id_is_reported_by_its_exception_type(sandbox, headers):
    """OPENAPI GetById answers only 200, 401 and 500; PASS_CULTURE reads a missing record from the exception type
    PX.Api.ContractBased.NoEntitySatisfiesTheConditionException."""
    body = http_error(get(sandbox, headers, "/Check/0f8fad5b-d9cb-469f-a165-70867728950e"), 500)
    assert body["exceptionType"] == "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException"


def test_released_bills_are_open_until_paid_and_then_closed(sandbox, headers):
    """The bill statuses On Hold, Balanced, Open and Closed (docs.bankwards.com/09_acumatica.html; PASS_CULTURE
    releases a Balanced bill with ReleaseBill to make it Open): a released bill is Open while it has a balance."""
    statuses = {b["VendorRef"]["value"]: b["Status"]["value"] for b in get(sandbox, headers, "/Bill").json()}
    assert statuses["INV-1002"] == "Open" and statuses["INV-1008"] == "On Hold"
    bill = bill_of(sandbox, "INV-1002")
    check = put(sandbox, headers, payment(bill["ReferenceNbr"], amount=float(Decimal(bill["Amount"])))).json()
    requests.post(f"{sandbox.url}{ENTITY}/Check/ReleaseCheck", headers=headers, json={"entity": {"id": check["id"]}},
                  timeout=10)
    assert bill_of(sandbox, "INV-1002")["Status"] == "Closed"
    assert "INV-1002" not in [b["VendorRef"]["value"] for b in get(sandbox, headers, "/Bill", **{
        "$filter": "Status eq 'Open'"}).json()]


def test_voiding_a_released_payment_adds_a_voided_payment_that_reopens_the_bill(sandbox, headers):
    """Check's actions ReleaseCheck and VoidCheck (OPENAPI). UNCONFIRMED (docs AC9): the void is a Voided Payment
    document with the payment's number, balanced, which undoes the payment once released."""
    bill = bill_of(sandbox, "INV-1002")
    check = put(sandbox, headers, payment(bill["ReferenceNbr"])).json()
    for action, entity_id in (("ReleaseCheck", check["id"]), ("VoidCheck", check["id"])):
        requests.post(f"{sandbox.url}{ENTITY}/Check/{action}", headers=headers, json={"entity": {"id": entity_id}},
                      timeout=10)
    void = get(sandbox, headers, "/Check", **{"$filter": "Type eq 'Voided Payment'"}).json()[0]
    assert void["ReferenceNbr"] == check["ReferenceNbr"] and void["Status"] == {"value": "Balanced"}
    requests.post(f"{sandbox.url}{ENTITY}/Check/ReleaseCheck", headers=headers, json={"entity": {"id": void["id"]}},
                  timeout=10)
    assert bill_of(sandbox, "INV-1002")["Balance"] == bill["Amount"]
    assert {c["Type"]: c["Status"] for c in sandbox.simulators["acumatica"].state()["checks"]} == \
        {"Payment": "Voided", "Voided Payment": "Closed"}


# --- the client's part ------------------------------------------------------------------------------------------
def test_the_client_waits_out_the_api_login_limit_then_defers(tenant, sandbox, seeded):
    """CLIENT maps "API Login Limit" to 429: waited out with backoff, then the work is deferred, never failed."""
    session(sandbox), session(sandbox)
    connector = make_acumatica_connection(tenant, sandbox.url).connector()
    with pytest.raises(Deferred) as excinfo:
        connector.check()
    assert "every API user slot of the licence is in use" in str(excinfo.value)
    assert connector.http.retries > 0


def test_the_client_signs_in_again_once_after_a_401(tenant, sandbox, seeded):
    """EASY retry_on_idle_logout and PASS_CULTURE: a 401 means the session ended; sign in again and repeat."""
    connector = make_acumatica_connection(tenant, sandbox.url, sign_in=SIGN_IN_COOKIE).connector()
    connector.check()
    sandbox.control("clock", {"advance_seconds": 21 * 60})
    assert connector.gl_accounts()
    assert sandbox.simulators["acumatica"].state()["logins"] == 2


def test_the_client_pages_by_key(tenant, sandbox, monkeypatch):
    """CLEO: page with $filter on the key and $top rather than $skip, which drifts when records change between
    pages. A vendor changed while the list is read is neither skipped nor read twice."""
    sandbox.control("acumatica/seed", {"vendors": [{"VendorID": f"V{n:03d}", "VendorName": f"Vendor {n}"}
                                                   for n in range(25)]})
    connector = make_acumatica_connection(tenant, sandbox.url).connector()
    connector.client.page_size = 10
    queries = []
    send = requests.Session.request

    def record(session_, method, url, **kwargs):
        queries.append(kwargs.get("params") or "")
        return send(session_, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", record)
    since = timezone.now() - timedelta(days=1)
    read = []
    for supplier in connector.suppliers(since=since):
        read.append(supplier.source_id)
        if supplier.source_id == "V012":  # someone edits an early vendor while later pages are being read
            sandbox.control("acumatica/update-vendor", {"VendorID": "V003", "VendorName": "Renamed"})
    assert read == [f"V{n:03d}" for n in range(25)]
    assert any("VendorID%20gt%20'V009'" in q for q in queries) and not any("$skip" in q for q in queries)
