"""Checklist: one test per documented IFS Cloud behaviour the simulator reproduces, each naming its source.

The simulator must refuse what IFS refuses and answer as IFS answers. Sources are IFS's technical documentation
(docs.ifs.com) and Novacura's IFS Cloud development guidelines (docs.novacura.com, a vendor's published notes on
IFS's answers). Where a test pins down a choice the sources leave open it says UNCONFIRMED and names the entry
in docs/ASSUMPTIONS.md.
"""

import base64
import email
import email.policy
import json
from urllib.parse import quote

import pytest
import requests

from connectors.ifs.client import decode_etag
from sandbox.ifs import simulator as ifs_sandbox

ROOT = "/ifs/main/ifsapplications/projection/v1"
SUPPLIERS = f"{ROOT}/SuppliersHandling.svc/SupplierInfoGeneralSet"
INVOICES = f"{ROOT}/SupplierInvoiceHandling.svc/SupplierInvoiceSet"
STATE = "IfsApp.SupplierInvoiceHandling.SupplierInvoiceState"


def token_response(sandbox, realm=ifs_sandbox.REALM, **form):
    body = {"grant_type": "client_credentials", "client_id": ifs_sandbox.CLIENT_ID,
            "client_secret": ifs_sandbox.CLIENT_SECRET, "scope": "openid microprofile-jwt", **form}
    return requests.post(f"{sandbox.url}/ifs/auth/realms/{realm}/protocol/openid-connect/token", data=body, timeout=10)


@pytest.fixture
def ifs(sandbox):
    """The canonical seed loaded, and a function making authenticated calls: (method, path, **requests kwargs)."""
    sandbox.control("ifs/seed-canonical")
    headers = {"Authorization": f"Bearer {token_response(sandbox).json()['access_token']}"}

    def call(method, path, query="", **kwargs):
        url = f"{sandbox.url}{quote(path, safe='/(),=:$')}" + (f"?{query}" if query else "")
        return requests.request(method, url, headers={**headers, **kwargs.pop("headers", {})}, timeout=10, **kwargs)

    return call


def ifs_error(response, status, code=None):
    """IFS's error shape, {"error": {"code", "message"}} (Novacura, Errors from IFS:
    https://docs.novacura.com/flow-ifs-cloud-development-guidelines/flow-development-with-odata/implementation/
    response-status-handling/errors-from-ifs)."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and error["message"]
    if code:
        assert error["code"] == code, error
    return error


def invoice_filter(text):
    return "$filter=" + quote(text, safe="'()$=:")


# --- IAM: https://docs.ifs.com/techdocs/24r2/030_administration/010_security/040_iam_settings/035_iam_clients/
# 020_authenticate_external_integration/300_client_credential_flow/ --------------------------------------------------
def test_the_token_endpoint_and_its_answer(sandbox):
    """Source: IFS client credential flow (POST /auth/realms/<realm>/protocol/openid-connect/token with
    grant_type=client_credentials, client_id, client_secret and scope openid microprofile-jwt; the sample answer has
    access_token, expires_in 180, token_type Bearer, not-before-policy and scope)."""
    body = token_response(sandbox).json()
    assert {"access_token", "expires_in", "token_type", "not-before-policy", "scope"} <= set(body)
    assert body["expires_in"] == 180 and body["token_type"] == "Bearer"
    assert "microprofile-jwt" in body["scope"]


def test_a_token_stops_working_when_it_expires_on_the_simulated_clock(ifs, sandbox):
    """Source: IFS client credential flow (expires_in, seconds). The answer to an expired token is the
    Bearer challenge of RFC 6750 (UNCONFIRMED F9: IFS's body for it)."""
    assert ifs("GET", SUPPLIERS).status_code == 200
    sandbox.control("clock", {"advance_seconds": 181})
    refused = ifs("GET", SUPPLIERS)
    assert refused.status_code == 401 and "invalid_token" in refused.headers["WWW-Authenticate"]


def test_a_wrong_secret_or_realm_is_refused_as_keycloak_does(sandbox):
    """Source: IFS IAM is Keycloak (IFS client credential flow). UNCONFIRMED (F9): the exact bodies are
    Keycloak's (401 unauthorized_client / invalid_client; 404 "Realm does not exist")."""
    assert token_response(sandbox, client_secret="wrong").json()["error"] == "unauthorized_client"
    assert token_response(sandbox, client_id="someone-else").status_code == 401
    assert token_response(sandbox, realm="other").status_code == 404
    assert token_response(sandbox, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_client_authentication_by_http_basic_is_accepted_too(sandbox):
    """Source: OAuth 2.0 (RFC 6749 2.3.1), which Keycloak follows: client_secret_basic."""
    basic = base64.b64encode(f"{ifs_sandbox.CLIENT_ID}:{ifs_sandbox.CLIENT_SECRET}".encode()).decode()
    response = requests.post(f"{sandbox.url}/ifs/auth/realms/{ifs_sandbox.REALM}/protocol/openid-connect/token",
                             data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"},
                             timeout=10)
    assert response.status_code == 200, response.text


# --- records and ETags ------------------------------------------------------------------------------------------------
def test_projections_live_under_main_ifsapplications_projection_v1(ifs):
    """Source: https://docs.ifs.com/techdocs/25r2/040_tailoring/300_extensibility/010_get_started/100_api_documentation
    (<host>/main/ifsapplications/projection/v1/<Projection>.svc/<EntitySet>); the service document lists a
    projection's entity sets (OData JSON Format 4.01, 5)."""
    assert ifs("GET", SUPPLIERS).status_code == 200
    names = {s["name"] for s in ifs("GET", f"{ROOT}/SupplierInvoiceHandling.svc/").json()["value"]}
    assert names == {"SupplierInvoiceSet", "SupplierInvoicePostingSet"}
    ifs_error(ifs("GET", f"{ROOT}/NoSuchHandling.svc/Anything"), 404, "ODP_RESOURCE_NOTFOUND")


def test_records_carry_an_etag_luname_and_keyref(ifs):
    """Source: the OpenAPI definition IFS publishes for each projection (<Projection>.svc/$openapi, API
    Documentation: https://docs.ifs.com/techdocs/25r2/040_tailoring/300_extensibility/010_get_started/
    100_api_documentation), whose records carry luname and keyref besides the entity's fields and OData's
    @odata.etag. UNCONFIRMED (F2): the luname of each set."""
    row = ifs("GET", SUPPLIERS).json()["value"][0]
    assert row["@odata.etag"].startswith('W/"') and row["luname"] == "SupplierInfo"
    assert row["keyref"] == f"SUPPLIER_ID={row['SupplierId']}^"


def test_an_etag_is_base64_of_objid_and_objversion(ifs):
    """Source: Novacura, Update (https://docs.novacura.com/flow-ifs-cloud-development-guidelines/
    flow-development-with-odata/implementation/operation-specific-notes/update): "The ETag value returned by IFS is
    a base64 encoded value of the combination of objid:objversion". UNCONFIRMED (F3): objversion is the change
    time, YYYYMMDDHH24MISS."""
    objid, objversion = decode_etag(ifs("GET", f"{SUPPLIERS}(SupplierId='V1001')").json()["@odata.etag"])
    assert objid and len(objversion) == 14 and objversion.isdigit()


def test_the_etag_changes_on_every_write_even_within_a_second(ifs):
    """Source: Novacura, Update (the ETag lets IFS detect that the entity was updated since it was read)."""
    path = f"{INVOICES}(Company='{ifs_sandbox.COMPANY}',InvoiceId=1001)"
    first = ifs("GET", path).json()["@odata.etag"]
    second = ifs("PATCH", path, json={"TransferStatus": "Transferred"}, headers={"If-Match": first}).json()
    third = ifs("PATCH", path, json={"TransferStatus": "NotTransferred"},
                headers={"If-Match": second["@odata.etag"]}).json()
    assert len({first, second["@odata.etag"], third["@odata.etag"]}) == 3


def test_an_update_without_if_match_is_refused_with_odp_missing_precondition(ifs):
    """Source: Novacura, Errors from IFS (ODP_MISSING_PRECONDITION; an update needs the if-match header).
    UNCONFIRMED (F9): the status, 428 as OData has it."""
    path = f"{INVOICES}(Company='{ifs_sandbox.COMPANY}',InvoiceId=1001)"
    ifs_error(ifs("PATCH", path, json={"TransferStatus": "Transferred"}), 428, "ODP_MISSING_PRECONDITION")


def test_a_stale_etag_is_refused_with_412_and_a_star_skips_the_check(ifs):
    """Source: Novacura, Update ("Providing if-match attribute with value *, IFS will dismiss the optimistic
    concurrency control") and IFS, Entity Upserts and * ETag Support (https://docs.ifs.com/techdocs/Foundation1/
    050_development/022_user_interface/030_aurena_dev/140_resources/100_ODP/2000_odata_upserts_and_star_etag/
    default.htm); 412 is OData's answer to a failed If-Match (UNCONFIRMED F9: IFS's error code for it)."""
    path = f"{INVOICES}(Company='{ifs_sandbox.COMPANY}',InvoiceId=1001)"
    stale = ifs("GET", path).json()["@odata.etag"]
    assert ifs("PATCH", path, json={"TransferStatus": "Transferred"}, headers={"If-Match": stale}).status_code == 200
    ifs_error(ifs("PATCH", path, json={"TransferStatus": "NotTransferred"}, headers={"If-Match": stale}), 412)
    assert ifs("PATCH", path, json={"TransferStatus": "NotTransferred"}, headers={"If-Match": "*"}).status_code == 200


def test_a_body_that_is_not_json_or_of_the_wrong_types_is_odp_deserialization_error(ifs):
    """Source: Novacura, Errors from IFS (ODP_DESERIALIZATION_ERROR, "Error while de-serializing contents.", when
    the Content-Type is not application/json or the body is not correctly JSON); a value of the wrong type fails
    deserialization the same way (Apache Olingo, which the OData provider is built on: 23r1 OData Provider
    Overview)."""
    path = f"{INVOICES}(Company='{ifs_sandbox.COMPANY}',InvoiceId=1001)"
    etag = ifs("GET", path).json()["@odata.etag"]
    as_text = ifs("PATCH", path, data='{"TransferStatus": "Transferred"}',
                  headers={"If-Match": etag, "Content-Type": "text/plain"})
    assert ifs_error(as_text, 400, "ODP_DESERIALIZATION_ERROR")["message"] == "Error while de-serializing contents."
    ifs_error(ifs("PATCH", path, json={"TransferStatus": 2}, headers={"If-Match": etag}), 400,
              "ODP_DESERIALIZATION_ERROR")
    ifs_error(ifs("PATCH", path, json={"TransferStatus": "Transfered"}, headers={"If-Match": etag}), 400,
              "ODP_DESERIALIZATION_ERROR")


def test_a_locked_row_is_423(ifs, sandbox):
    """Source: IFS API Explorer, Responses and Status Codes (https://docs.ifs.com/techdocs/24r1/040_tailoring/
    300_extensibility/020_api_explorer/050_responses_and_status_codes/): 423 Locked when the requested resource is
    locked. UNCONFIRMED (F9): its error code."""
    key = {"Company": ifs_sandbox.COMPANY, "InvoiceId": 1002}
    sandbox.control("ifs/lock", {"set": "invoices", "key": key})
    path = f"{INVOICES}(Company='{ifs_sandbox.COMPANY}',InvoiceId=1002)"
    etag = ifs("GET", path).json()["@odata.etag"]
    ifs_error(ifs("PATCH", path, json={"TransferStatus": "Transferred"}, headers={"If-Match": etag}), 423)


def test_create_is_201_and_delete_with_if_match_is_204(ifs):
    """Source: IFS, Basic CRUD Operations on IFS APIs (https://docs.ifs.com/techdocs/24r1/040_tailoring/
    300_extensibility/010_get_started/200_basic_crud_operations_on_ifs_apis: POST answers 201; DELETE takes
    If-Match) and Responses and Status Codes (204 "mostly used for the Delete method"). UNCONFIRMED (F9): the CRUD
    page says 202 for a delete; the client takes any 2xx."""
    methods = f"{SUPPLIERS}(SupplierId='V1002')/SupplierInfoAddresses(SupplierId='V1002',AddressId='1')/" \
              "AddressCommunicationMethods"
    created = ifs("POST", methods, json={"MethodId": "Phone", "Value": "+1 312 555 0100", "MethodDefault": True})
    assert created.status_code == 201 and created.json()["AddressId"] == "1"
    path = f"{methods}(SupplierId='V1002',CommId={created.json()['CommId']})"
    ifs_error(ifs("DELETE", path), 428, "ODP_MISSING_PRECONDITION")
    assert ifs("DELETE", path, headers={"If-Match": created.json()["@odata.etag"]}).status_code == 204


def test_a_missing_record_is_404_and_a_wrong_verb_405(ifs):
    """Source: IFS, OData Provider Overview (https://docs.ifs.com/techdocs/23r1/040_tailoring/300_extensibility/
    100_odata_provider/100_odata_and_fndodataprovider/): 404 when a record asked for by its keys does not exist,
    405 for an HTTP verb the resource does not take; ODP_RESOURCE_NOTFOUND (Novacura, Errors from IFS)."""
    ifs_error(ifs("GET", f"{SUPPLIERS}(SupplierId='NOPE')"), 404, "ODP_RESOURCE_NOTFOUND")
    ifs_error(ifs("POST", SUPPLIERS, json={"SupplierId": "X", "Name": "X"}), 405)


# --- the metadata cache: https://docs.ifs.com/techdocs/23r2/040_tailoring/300_extensibility/100_odata_provider/
# 200_projections_and_odp/ ---------------------------------------------------------------------------------------------
def test_outdated_metadata_is_503_with_retry_after_and_mi_modified_error(ifs, sandbox):
    """Source: IFS 23R2, Services and OData Provider, Metadata Cache (HTTP 503, code MI_MODIFIED_ERROR, message
    "Cached Service metadata is outdated. Please try again.", and the Retry-After header); the next call is
    served."""
    sandbox.control("ifs/metadata-changed", {"times": 1, "retry_after": 2})
    refused = ifs("GET", SUPPLIERS)
    error = ifs_error(refused, 503, "MI_MODIFIED_ERROR")
    assert error["message"] == "Cached Service metadata is outdated. Please try again."
    assert refused.headers["Retry-After"] == "2"
    assert ifs("GET", SUPPLIERS).status_code == 200


# --- query options: https://docs.ifs.com/techdocs/21r2/060_tailoring/300_extensibility/101_odata_provider/
# 1000_supported_functionalities/ -----------------------------------------------------------------------------------
def test_select_orderby_top_skip_and_count(ifs):
    """Source: IFS OData Provider, Supported Functionalities ($select, $orderby, $top and $skip, $count)."""
    body = ifs("GET", SUPPLIERS, "$select=SupplierId,Name&$orderby=Name%20desc&$top=2&$skip=1&$count=true").json()
    assert body["@odata.count"] == 6
    assert [r["Name"] for r in body["value"]] == ["Northwind IT Services", "Maple Tooling Ltd"]
    assert set(body["value"][0]) == {"@odata.etag", "luname", "keyref", "SupplierId", "Name"}


def test_expand_of_a_one_to_many_navigation_is_refused(ifs):
    """Source: IFS OData Provider, Supported Functionalities ("$expand is only supported for one to one
    associations"); ODP_NOT_IMPLEMENTED as a public IFS 25R1 endpoint list reports for $expand."""
    ifs_error(ifs("GET", SUPPLIERS, "$expand=SupplierInfoAddresses"), 501, "ODP_NOT_IMPLEMENTED")


@pytest.mark.parametrize(("text", "why"), [
    ("SupplierId has 'V1001'", "has"),
    ("AssociationNo mod 2 eq 0", "mod"),
    ("Nickname eq 'x'", "Nickname"),
    ("Objversion ge '20260101000000'", "Objversion"),
])
def test_filter_refuses_what_ifs_does_not_support(ifs, text, why):
    """Source: IFS OData Provider, Supported Functionalities (every comparison operator except 'has'; every
    arithmetic operator except 'mod'); a property the entity does not have is refused by any OData service.
    UNCONFIRMED (F3): the supplier set has no change stamp to filter on (objversion is in the ETag only).
    Stricter than IFS (docs/ASSUMPTIONS.md F10): add, sub, mul and div are refused too."""
    assert why in ifs_error(ifs("GET", SUPPLIERS, "$filter=" + quote(text, safe="'")), 400)["message"]


def test_string_functions_are_supported(ifs):
    """Source: IFS OData Provider, Supported Functionalities ("All String Functions are supported")."""
    body = ifs("GET", SUPPLIERS, "$filter=" + quote("startswith(Name,'Harbor')", safe="'(),")).json()
    assert [r["SupplierId"] for r in body["value"]] == ["V1001"]


def test_enums_are_filtered_by_their_qualified_value_not_a_label(ifs):
    """Source: OData ABNF Construction Rules 4.01 (enum = qualifiedEnumTypeName SQUOTE enumValue SQUOTE; IFS
    namespaces its types IfsApp.<Projection>, as its $metadata shows), which IFS's Apache Olingo provider follows
    (OData Provider Overview, 23r1): a plain string is no enum value, and neither is the label a page shows
    ("Partly Paid"). UNCONFIRMED (F4): the members."""
    ok = ifs("GET", INVOICES, invoice_filter(f"Objstate eq {STATE}'Preliminary'")).json()
    assert [r["InvoiceNo"] for r in ok["value"]] == ["INV-1008"]
    ifs_error(ifs("GET", INVOICES, invoice_filter("Objstate eq 'Preliminary'")), 400)
    ifs_error(ifs("GET", INVOICES, invoice_filter(f"Objstate eq {STATE}'PartlyPaid' or Objstate eq {STATE}'Partly'")),
              400)


def test_timestamps_are_written_with_a_zone_and_refused_without_one(ifs):
    """Source: IFS, Usage of Date and Timestamp data types (https://docs.ifs.com/techdocs/22r1/040_tailoring/
    300_extensibility/100_odata_provider/1100_date_time_timestamp_usage/): YYYY-MM-DDThh:mm:ssTZD. A literal
    without its zone, a quoted one, or a bare date compared with a timestamp is refused."""
    assert ifs("GET", INVOICES, invoice_filter("Rowversion ge 2020-01-01T00:00:00Z")).status_code == 200
    assert ifs("GET", INVOICES, invoice_filter("Rowversion ge 2020-01-01T00:00:00+01:00")).status_code == 200
    for bad in ("Rowversion ge 2020-01-01T00:00:00", "Rowversion ge '2020-01-01T00:00:00Z'",
                "Rowversion ge 2020-01-01", "Rowversion ge 2020-02-30T00:00:00Z"):
        ifs_error(ifs("GET", INVOICES, invoice_filter(bad)), 400)


def test_top_and_skip_page_in_a_stable_order(ifs):
    """Source: IFS OData Provider, Supported Functionalities (use $orderby with $top and $skip for a consistent
    fetch)."""
    first = ifs("GET", INVOICES, "$orderby=InvoiceId&$top=4").json()["value"]
    second = ifs("GET", INVOICES, "$orderby=InvoiceId&$top=4&$skip=4").json()["value"]
    assert [r["InvoiceId"] for r in first + second] == list(range(1001, 1009))


# --- the transfer status ----------------------------------------------------------------------------------------------
def test_an_invoice_carries_its_transfer_status(ifs):
    """Source: IFS Financial Connector, Confirm Send Supplier Invoice (the field Transfer Status on the supplier
    invoice is set to Transferred once a third-party accounts payable application has it). UNCONFIRMED (F4): the
    property and member names."""
    row = ifs("GET", f"{INVOICES}(Company='{ifs_sandbox.COMPANY}',InvoiceId=1001)").json()
    assert row["TransferStatus"] == "NotTransferred"


# --- batch requests: https://docs.ifs.com/techdocs/21r2/050_development/022_user_interface/030_aurena_dev/140_resources/
# 100_odata_provider/700_batch_requests/ (the same page in 24R1: 040_tailoring/300_extensibility/
# 050_ifs_odata_performance_and_security_optimization/020_batch_requests) ----------------------------------------------
BATCH = f"{ROOT}/SupplierInvoiceHandling.svc/$batch"


def http_part(method, url, body=None, etag=None):
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary", "", f"{method} {url} HTTP/1.1",
             "Accept: application/json"]
    if etag:
        lines.append(f"If-Match: {etag}")
    if body is not None:
        lines += ["Content-Type: application/json", "", json.dumps(body)]
    else:
        lines.append("")
    return "\r\n".join(lines) + "\r\n"


def multipart(boundary, parts):
    return "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"


def changeset(parts):
    return "Content-Type: multipart/mixed; boundary=changeset_1\r\n\r\n" + multipart("changeset_1", parts)


def send_batch(ifs, parts, prefer=None):
    """The batch's answer: its status, and each part as (status, JSON body or None); a change set's parts nested."""
    headers = {"Content-Type": "multipart/mixed;boundary=batch_1", **({"Prefer": prefer} if prefer else {})}
    response = ifs("POST", BATCH, data=multipart("batch_1", parts).encode(), headers=headers)
    assert response.headers["Content-Type"].startswith("multipart/mixed"), response.text
    message = email.message_from_bytes(f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode() +
                                       response.content, policy=email.policy.HTTP)
    return response.status_code, [answer(part) for part in message.iter_parts()]


def answer(part):
    if part.get_content_type() == "multipart/mixed":
        return [answer(inner) for inner in part.iter_parts()]
    status_line, _, rest = part.get_payload(decode=True).decode().partition("\r\n")
    body = rest.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in rest else ""
    return int(status_line.split()[1]), json.loads(body) if body.strip() else None


def test_get_requests_in_a_batch_are_answered_in_order_in_one_call(ifs, sandbox):
    """Source: Batch Requests (POST <projection>.svc/$batch, multipart/mixed; individual requests processed
    sequentially); each answer an application/http part (OData 4.0 Part 1, 11.7.4). One call of the tenant's."""
    calls = sandbox.state("ifs")["calls"]
    status, answers = send_batch(ifs, [http_part("GET", "SupplierInvoiceSet(Company='MLC01',InvoiceId=1002)"),
                                       http_part("GET", "SupplierInvoicePostingSet?$filter=InvoiceId%20eq%201001"),
                                       http_part("GET", "SupplierInvoiceSet(Company='MLC01',InvoiceId=1001)")])
    assert status == 200 and [code for code, _ in answers] == [200, 200, 200]
    assert answers[0][1]["InvoiceId"] == 1002 and answers[2][1]["InvoiceId"] == 1001
    assert {line["InvoiceId"] for line in answers[1][1]["value"]} == {1001}
    assert sandbox.state("ifs")["calls"] - calls == 1 and sandbox.state("ifs")["batch_parts"] == 3


def test_a_get_in_a_change_set_is_refused(ifs):
    """Source: Batch Requests ("You can't specify GET requests inside a Change Set")."""
    status, answers = send_batch(ifs, [changeset([http_part("GET", "SupplierInvoiceSet")])])
    assert status == 200 and answers[0][0] == 400


def test_a_change_set_is_all_or_nothing(ifs):
    """Source: Batch Requests ("Either all of the request parts in a change set are processed successfully or
    nothing is committed at all")."""
    path = f"{INVOICES}(Company='{ifs_sandbox.COMPANY}',InvoiceId=1001)"
    etag = ifs("GET", path).json()["@odata.etag"]
    parts = [http_part("PATCH", "SupplierInvoiceSet(Company='MLC01',InvoiceId=1001)", {"TransferStatus": "Transferred"},
                       etag),
             http_part("PATCH", "SupplierInvoiceSet(Company='MLC01',InvoiceId=1002)", {"TransferStatus": "Transferred"},
                       etag)]  # the other invoice's ETag: stale for this one
    status, answers = send_batch(ifs, [changeset(parts)])
    assert status == 200 and answers[0][0] == 412
    assert ifs("GET", path).json()["@odata.etag"] == etag, "the first change was not kept"
    status, answers = send_batch(ifs, [changeset(parts[:1])])
    assert [code for code, _ in answers[0]] == [200]
    assert ifs("GET", path).json()["TransferStatus"] == "Transferred"


def test_a_failed_part_ends_the_batch_unless_continuing_on_errors_is_preferred(ifs):
    """Source: Batch Requests, Continuing on Errors (asked for in the batch's Prefer header); OData 4.0 Part 1,
    8.2.8.3 (odata.continue-on-error). UNCONFIRMED (F12): the spelling IFS reads; the simulator takes both 4.0's
    and 4.01's (continue-on-error)."""
    parts = [http_part("GET", "SupplierInvoiceSet(Company='MLC01',InvoiceId=9999)"),
             http_part("GET", "SupplierInvoiceSet(Company='MLC01',InvoiceId=1001)")]
    assert [code for code, _ in send_batch(ifs, parts)[1]] == [404]
    assert [code for code, _ in send_batch(ifs, parts, prefer="odata.continue-on-error")[1]] == [404, 200]
