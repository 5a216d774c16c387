"""Acumatica's assumption probes at work: what the connector does once the last check found one contradicted (AC3,
AC4, AC6) or which steps it stops (AC1); and the simulator answering as Acumatica documents where the probes and the
issue need it (sign-in by form body, the endpoint's swagger.json, $filter on a linked entity). Each probe held and
contradicted against the simulator is tested in tests/connectors/test_assumption_probes.py.

Sources: IDG = help.myob.com.au/advanced/Docs/Published/IntegrationDevelopmentGuide/ (Login:
IntegrationDev_RESTExample_Basic_Login.html; $filter: IntegrationDev_RESTExample_Parameter_filter.html); the
"OpenAPI 3.0" topic of Acumatica's guide (<endpoint URL>/swagger.json?company=<tenant>)."""

from datetime import datetime, timedelta
from functools import partial

import pytest
import requests

from connectors import assumptions
from connectors import capabilities as can
from connectors.errors import ConfigurationError
from connectors.odata import ODataPagingError
from sandbox.acumatica import simulator as acumatica_sandbox
from tests.assumptions import set_variant
from tests.connectors.acumatica.conftest import make_acumatica_connection
from tests.connectors.acumatica.test_acumatica_checklist import session

ENTITY = "/acumatica/entity/Default/24.200.001"


@pytest.fixture
def seeded(sandbox):
    sandbox.control("acumatica/seed-canonical")


variant = partial(set_variant, system="acumatica")


def checked(connection):
    """Run the assumption check against the simulator and keep its report on the connection, as the admin does."""
    connection.assumptions_report = assumptions.report(assumptions.check(connection), "ops")
    connection.save()
    return {r["id"]: r for r in connection.assumptions_report["results"]}


def form_login(sandbox, **form):
    return requests.post(f"{sandbox.url}/acumatica/entity/auth/login", timeout=10, data={
        "name": acumatica_sandbox.USERNAME, "password": acumatica_sandbox.PASSWORD,
        "tenant": acumatica_sandbox.TENANT, **form})


# --- the simulator as Acumatica documents it -----------------------------------------------------------------
def test_sign_in_takes_a_form_body_as_idg_login_documents(sandbox):
    response = form_login(sandbox, branch="EAST")
    assert response.status_code == 204 and response.cookies.get(".ASPXAUTH")
    assert sandbox.control("acumatica/sessions")["sessions"][0]["branch"] == "EAST"
    assert form_login(sandbox, password="wrong").status_code == 401


def test_the_endpoint_serves_its_openapi_document_at_swagger_json(sandbox):
    headers = session(sandbox)
    response = requests.get(f"{sandbox.url}{ENTITY}/swagger.json", headers=headers,
                            params={"company": acumatica_sandbox.TENANT}, timeout=10)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["openapi"].startswith("3.") and document["info"]["title"] == "Default/24.200.001"
    assert {"/Vendor", "/Bill", "/Check"} <= set(document["paths"])
    assert requests.get(f"{sandbox.url}{ENTITY}/swagger.json", timeout=10).status_code == 401
    other = requests.get(f"{sandbox.url}/acumatica/entity/Default/23.100.001/swagger.json", headers=headers, timeout=10)
    assert other.status_code == 404


def test_a_filter_on_a_linked_entity_s_field_selects_by_it(sandbox, seeded):
    vendor = sandbox.state("acumatica")["vendors"][0]
    email = vendor["MainContact"]["Email"]
    response = requests.get(f"{sandbox.url}{ENTITY}/Vendor", headers=session(sandbox), timeout=10,
                            params={"$filter": f"MainContact/Email eq '{email}'", "$select": "VendorID"})
    assert response.status_code == 200, response.text
    assert [v["VendorID"]["value"] for v in response.json()] == [vendor["VendorID"]]


def test_filter_functions_take_linked_fields_and_those_acumatica_does_not_document_are_refused(sandbox, seeded):
    vendor = sandbox.state("acumatica")["vendors"][0]
    email = vendor["MainContact"]["Email"]
    headers = session(sandbox)

    def vendors(text):
        return requests.get(f"{sandbox.url}{ENTITY}/Vendor", headers=headers, timeout=10,
                            params={"$filter": text, "$select": "VendorID"})

    for text in (f"substringof('{email[1:-1]}',MainContact/Email)", f"endswith(MainContact/Email,'{email[-6:]}')",
                 f"startswith(MainContact/Email,'{email[:4]}') and VendorID eq '{vendor['VendorID']}'"):
        response = vendors(text)
        assert response.status_code == 200, response.text
        assert vendor["VendorID"] in [v["VendorID"]["value"] for v in response.json()], text
    assert vendors(f"contains(MainContact/Email,'{email}')").status_code == 400
    bills = requests.get(f"{sandbox.url}{ENTITY}/Bill", headers=headers, params={"$filter": "Details/Amount gt 0"},
                         timeout=10)
    # IDG: a filter on detail records is not supported, its result cannot be predicted; the simulator refuses it.
    assert bills.status_code == 400 and "Details/Amount" in bills.text


# --- AC1: the endpoint version ----------------------------------------------------------------------------------
def test_an_endpoint_version_the_instance_no_longer_serves_stops_every_step(tenant, sandbox, seeded):
    variant(sandbox, "AC1", "serves other versions only")
    connection = make_acumatica_connection(tenant, sandbox.url)
    with pytest.raises(ConfigurationError, match="it serves Default/23.200.001, Default/25.200.001"):
        connection.connector().check()  # Test connection names the versions served; the check goes on past it

    results = checked(connection)
    assert results["AC1"]["status"] == assumptions.CONTRADICTED and "Default/25.200.001" in results["AC1"]["seen"]
    connection.assumptions_report = assumptions.report(list(results.values()), "ops")
    assert set(assumptions.stopped_capabilities(connection)) == {
        can.READS_SUPPLIERS, can.READS_APPROVED_INVOICES, can.REPORTS_HELD_INVOICES, can.READS_REFERENCE_DATA,
        can.WRITES_PAYMENTS_BACK}


# --- AC3: vendor statuses -----------------------------------------------------------------------------------------
def test_vendor_statuses_worded_otherwise_are_matched_by_their_words_once_the_check_found_them(tenant, sandbox,
                                                                                            seeded):
    variant(sandbox, "AC3", "statuses spelt otherwise")
    connection = make_acumatica_connection(tenant, sandbox.url)
    with connection.connector() as connector:
        assert not any(s.active for s in connector.suppliers()), "an unknown status is blocked"

    results = checked(connection)
    assert results["AC3"]["status"] == assumptions.CONTRADICTED and "ACTIVE" in results["AC3"]["seen"]
    assert results["AC3"]["advice"].startswith("Changed behaviour: matches vendor statuses")
    expected = {v["VendorID"]: v["Status"] in ("Active", "One-Time") for v in sandbox.state("acumatica")["vendors"]}
    with connection.connector() as connector:
        active = {s.source_id: s.active for s in connector.suppliers()}
    assert active == expected and True in active.values() and False in active.values()


# --- AC4: change times --------------------------------------------------------------------------------------------
def test_change_times_without_an_offset_make_every_read_whole_once_the_check_found_them(tenant, sandbox, seeded):
    variant(sandbox, "AC4", "change times in local time without an offset")
    connection = make_acumatica_connection(tenant, sandbox.url)
    with connection.connector() as connector:
        cursor = max(datetime.fromisoformat(s.updated_marker) for s in connector.suppliers())
    changed = sandbox.state("acumatica")["vendors"][0]["VendorID"]
    sandbox.control("acumatica/update-vendor", {"VendorID": changed, "VendorName": "Renamed Ltd"})
    since = cursor - timedelta(minutes=10)
    with connection.connector() as connector:
        assert changed not in {s.source_id for s in connector.suppliers(since)}, \
            "the cursor, read as UTC, is the instance's hours ahead: the change is missed"

    results = checked(connection)
    assert results["AC4"]["status"] == assumptions.CONTRADICTED and "no UTC offset" in results["AC4"]["seen"]
    with connection.connector() as connector:
        read = {s.source_id: s.name for s in connector.suppliers(since)}
    assert read[changed] == "Renamed Ltd" and len(read) == len(sandbox.state("acumatica")["vendors"])


# --- AC6: lists in key order ----------------------------------------------------------------------------------------
def test_lists_in_another_order_are_read_whole_once_the_check_found_them(tenant, sandbox):
    sandbox.control("acumatica/seed", {"vendors": [{"VendorID": f"V{n:03d}", "VendorName": f"Vendor {n}"}
                                                   for n in range(25)]})
    variant(sandbox, "AC6", "reverse key order")
    connection = make_acumatica_connection(tenant, sandbox.url)
    with connection.connector() as connector:
        connector.client.page_size = 10
        with pytest.raises(ODataPagingError):
            list(connector.suppliers())

    results = checked(connection)
    assert results["AC6"]["status"] == assumptions.CONTRADICTED and "V024 came before V023" in results["AC6"]["seen"]
    with connection.connector() as connector:
        connector.client.page_size = 10
        assert sorted(s.source_id for s in connector.suppliers()) == [f"V{n:03d}" for n in range(25)]
