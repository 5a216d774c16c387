"""What the simulator answers and what the client sends, validated against Acumatica's OpenAPI definition of
Default/24.200.001 (connectors/acumatica/default-24.200.001.openapi.json).

The definition's entity schemas are made strict for this: each entity's own and base (Entity) properties in
one object that allows no other property (but `_links`, which Acumatica adds to answers and the definition
leaves out), every value object {"value", "error"} only. So a field the endpoint does not have, a value not
wrapped in a value object, or a value of the wrong JSON type fails."""

import json
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from connectors.acumatica import contract
from connectors.records import Payment
from tests.connectors.acumatica.conftest import make_acumatica_connection

QUERY_PARAMETERS = {p["name"] for p in contract.definition()["components"]["parameters"].values() if p["in"] == "query"}


def strict_schemas():
    schemas = contract.definition()["components"]["schemas"]
    base = schemas["Entity"]["properties"]
    strict = {}
    for name, spec in schemas.items():
        if "allOf" in spec:
            own = next(part for part in spec["allOf"] if "properties" in part)
            strict[name] = {"type": "object", "additionalProperties": False,
                            "properties": {**base, **own["properties"], "_links": {"type": "object"}}}
        elif name in contract.VALUE_KINDS:
            strict[name] = {**spec, "additionalProperties": False}
        else:
            strict[name] = spec
    return strict


FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def iso_date_time(value):
    """.NET reads ISO 8601 date-times with or without an offset; the client sends dates without one."""
    return not isinstance(value, str) or bool(datetime.fromisoformat(value))


@FORMATS.checks("uuid", raises=ValueError)
def uuid_text(value):
    return not isinstance(value, str) or bool(UUID(value))


def validator(schema):
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema}", "components": {"schemas": STRICT}},
                                format_checker=FORMATS)


STRICT = strict_schemas()


def valid(schema, instance):
    errors = sorted(validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"{schema}: " + "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                                                 for e in errors[:5])


def response_schema(path, method, status):
    """The schema the definition gives the answer to `method path` with `status` (None when it has no body)."""
    spec = contract.definition()["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in spec:
        spec = contract.definition()["components"]["responses"][spec["$ref"].rsplit("/", 1)[-1]]
    content = spec.get("content", {}).get("application/json")
    return content["schema"] if content else None


def call(sandbox, connection, method, path, headers=None, **kwargs):
    client = connection.connector().client
    session, _ = client.sessions.headers()
    return requests.request(method, f"{client.entity_url}{path}", headers={**session, **(headers or {})}, timeout=10,
                            **kwargs)


@pytest.fixture
def seeded(sandbox):
    sandbox.control("acumatica/seed-canonical")


def test_the_strict_schemas_refuse_what_acumatica_would_not_take():
    with pytest.raises(ValidationError):
        validator("Check").validate({"Vendor": "V1001"})  # not a value object
    with pytest.raises(ValidationError):
        validator("Check").validate({"PaymentAmount": {"value": "ten"}})
    with pytest.raises(ValidationError):
        validator("Check").validate({"Amount": {"value": 10}})  # a Bill field, not a Check one
    validator("Check").validate({"Vendor": {"value": "V1001"}, "PaymentAmount": {"value": 10.5}, "Hold": {}})


@pytest.mark.parametrize(("entity", "expand"), [("Vendor", "MainContact/Address"), ("Bill", "Details"),
                                                 ("Account", ""), ("Subaccount", "")])
def test_lists_answer_in_the_definition_s_schemas(tenant, sandbox, seeded, entity, expand):
    connection = make_acumatica_connection(tenant, sandbox.url)
    response = call(sandbox, connection, "GET", f"/{entity}", params={"$expand": expand} if expand else {})
    assert response.status_code == 200
    schema = response_schema(f"/{entity}", "GET", 200)
    assert schema == {"type": "array", "items": {"$ref": f"#/components/schemas/{entity}"}}
    body = response.json()
    assert body
    for record in body:
        valid(entity, record)
    if expand:
        assert all(expand.split("/")[0] in record for record in body)


def test_payments_and_their_actions_answer_in_the_definition_s_schemas(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url)
    bill = next(b for b in sandbox.simulators["acumatica"].state()["bills"] if b["VendorRef"] == "INV-1002")
    body = {"Type": {"value": "Payment"}, "Vendor": {"value": "V1002"}, "PaymentRef": {"value": "stp-schema-1"},
            "Hold": {"value": False}, "PaymentAmount": {"value": 100.0},
            "Details": [{"DocType": {"value": "Bill"}, "ReferenceNbr": {"value": bill["ReferenceNbr"]},
                         "AmountPaid": {"value": 100.0}}]}
    created = call(sandbox, connection, "PUT", "/Check", params={"$expand": "Details"}, json=body,
                   headers={"If-None-Match": "*"})
    assert created.status_code == 200, created.text
    valid("Check", created.json())
    released = call(sandbox, connection, "POST", "/Check/ReleaseCheck", json={"entity": {"id": created.json()["id"]}})
    assert released.status_code in (202, 204) and response_schema("/Check/ReleaseCheck", "POST", 202) is None
    got = call(sandbox, connection, "GET", f"/Check/{created.json()['id']}", params={"$expand": "Details"})
    assert got.status_code == 200 and got.json()["Status"] == {"value": "Closed"}
    valid("Check", got.json())

    too_much = json.loads(json.dumps(body).replace("100.0", "99999.0").replace("stp-schema-1", "stp-schema-2"))
    refused = call(sandbox, connection, "PUT", "/Check", json=too_much)
    assert refused.status_code == 422
    assert response_schema("/Check", "PUT", 422) == {"$ref": "#/components/schemas/Check"}
    valid("Check", refused.json())
    assert refused.json()["Details"][0]["AmountPaid"]["error"]


@pytest.mark.parametrize(("path", "method", "status", "request_kwargs"), [
    ("/Check", "PUT", 400, {"json": {"Vendor": "V1001"}}),
    ("/Bill", "GET", 401, {"headers": {"Cookie": ".ASPXAUTH=stale"}}),
    ("/Check/ReleaseCheck", "POST", 400, {"json": {"parameters": {}}}),
])
def test_errors_answer_as_http_errors(tenant, sandbox, seeded, path, method, status, request_kwargs):
    connection = make_acumatica_connection(tenant, sandbox.url)
    if status == 401:
        response = requests.request(method, f"{connection.base_url}/entity/Default/24.200.001{path}", timeout=10,
                                    **request_kwargs)
    else:
        response = call(sandbox, connection, method, path, **request_kwargs)
    assert response.status_code == status, response.text
    assert response_schema(path, method, status) == {"$ref": "#/components/schemas/HttpError"}
    valid("HttpError", response.json())


def test_a_missing_record_is_an_http_error_naming_its_exception(tenant, sandbox, seeded):
    connection = make_acumatica_connection(tenant, sandbox.url)
    response = call(sandbox, connection, "GET", "/Bill/0f8fad5b-d9cb-469f-a165-70867728950e")
    assert response.status_code == 500
    valid("HttpError", response.json())


class Wire:
    """Every request the client puts on the wire to the simulator's endpoint."""

    def __init__(self, monkeypatch):
        self.sent = []
        send = requests.Session.request

        def record(session, method, url, **kwargs):
            self.sent.append((method.upper(), url, kwargs.get("json"), kwargs.get("params")))
            return send(session, method, url, **kwargs)

        monkeypatch.setattr(requests.Session, "request", record)

    def to_endpoint(self):
        return [(m, urlsplit(u).path.split("/entity/Default/24.200.001", 1)[1], body, params)
                for m, u, body, params in self.sent if "/entity/Default/24.200.001" in u]


def test_what_the_client_sends_is_in_the_definition_s_schemas(tenant, sandbox, seeded, monkeypatch):
    wire = Wire(monkeypatch)
    connection = make_acumatica_connection(tenant, sandbox.url)
    with connection.connector() as connector:
        connector.check()
        list(connector.suppliers())
        invoices = {i.invoice_number: i for i in connector.approved_invoices()}
        connector.gl_accounts(), connector.dimensions(), connector.open_invoices()
        invoice = invoices["INV-1002"]
        payment = Payment("stp-wire-1", ("bill-1",), invoice.total, "USD", "CLEARED", True, date(2026, 2, 2), "1001")
        connector.post_payment(invoice.reference, payment)
        connector.post_payment(invoice.reference, Payment(**{**payment.__dict__, "paid": False, "reversed": True,
                                                             "status": "VOIDED"}))
    sent = wire.to_endpoint()
    bodies = [(m, p, b) for m, p, b, _ in sent if b is not None]
    assert {(m, p) for m, p, _ in bodies} == {("PUT", "/Check"), ("POST", "/Check/ReleaseCheck"),
                                              ("POST", "/Check/VoidCheck")}
    for method, path, body in bodies:
        spec = contract.definition()["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
        schema = spec["schema"]["$ref"].rsplit("/", 1)[-1]
        if schema in ("ReleaseCheck", "VoidCheck"):
            assert set(body) == {"entity"}
            valid("Check", body["entity"])
        else:
            valid(schema, body)
    put = next(b for m, p, b in bodies if m == "PUT")
    assert put["PaymentAmount"] == {"value": float(invoice.total)} and put["ApplicationDate"] == \
        {"value": "2026-02-02T00:00:00"}
    for _, _, _, params in sent:
        names = set(parse_qs(params or "")) if isinstance(params, str) else set(params or {})
        assert names <= QUERY_PARAMETERS, names


def test_the_definition_is_acumatica_s_for_default_24_200_001():
    spec = contract.definition()
    assert spec["info"]["title"] == "Default/24.200.001" and spec["openapi"].startswith("3.")
    assert {"/Bill", "/Vendor", "/Check", "/Account", "/Subaccount", "/Check/ReleaseCheck", "/Check/VoidCheck"} <= \
        set(spec["paths"])
    assert contract.fields("BillDetail")["Subaccount"].kind == "string"
    assert contract.fields("Check")["PaymentAmount"].kind == "decimal"
    assert contract.unwrap("Bill", {"Amount": {"value": 12.5}, "Date": {}, "Details": []}) == \
        {"Amount": Decimal("12.5"), "Date": None, "Details": []}
