"""The shared OData helper: literals, the filter builder, query encoding, paging, and the strict server side."""

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest
import requests

from connectors.http import HttpClient
from connectors.odata import (
    Dialect,
    EnumMember,
    ODataPagingError,
    Query,
    and_,
    contains,
    encode_params,
    eq,
    ge,
    gt,
    in_,
    iter_items,
    le,
    literal,
    lt,
    ne,
    not_,
    or_,
    startswith,
)
from sandbox.hub import serve_in_thread
from sandbox.odata import ODataQueryError, apply_query, parse_filter

STATE = "IfsApp.ManSuppInvoiceHandling.ManSuppInvoiceState"
POSTED = EnumMember(STATE, "Posted")
FIELDS = {
    "Id": "int",
    "Name": "string",
    "Amount": "decimal",
    "Active": "bool",
    "Changed": "datetimeoffset",
    "Due": "date",
    "Ref": "guid",
    "Objstate": ("enum", STATE, ("Preliminary", "Posted", "Cancelled")),
    "Supplier/Name": "string",
}
REF = UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
ROWS = [
    {"Id": 1, "Name": "O'Brien & Sons", "Amount": Decimal("100.50"), "Active": True,
     "Changed": "2026-11-30T09:59:59.999Z", "Due": "2026-12-01", "Ref": str(REF), "Objstate": "Posted",
     "Supplier": {"Name": "Acme+Co"}},
    {"Id": 2, "Name": "Zeta 50% off", "Amount": 7, "Active": False,
     "Changed": "2026-11-30T10:00:00Z", "Due": "2026-11-30", "Ref": None, "Objstate": "Preliminary",
     "Supplier": {"Name": "Beta"}},
    {"Id": 3, "Name": None, "Amount": None, "Active": None,
     "Changed": "2026-11-30T11:30:00+01:00", "Due": None, "Ref": None, "Objstate": "Cancelled",
     "Supplier": None},
]


def ids(rows, text, **kwargs):
    predicate = parse_filter(text, FIELDS, **kwargs)
    return [row["Id"] for row in rows if predicate(row)]


def decoded(query_string):
    """The query as a simulator receives it: form-decoded, like the sandbox hub's parse_qs."""
    return parse_qs(query_string, keep_blank_values=True)


# --- literals -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("O'Brien", "'O''Brien'"),
    ("''", "''''''"),
    ("", "''"),
    ("a+b c&d=e#f", "'a+b c&d=e#f'"),
    (42, "42"),
    (-7, "-7"),
    (True, "true"),
    (False, "false"),
    (None, "null"),
    (Decimal("100.50"), "100.50"),
    (Decimal("1E+3"), "1000"),
    (Decimal("1.23E-7"), "0.000000123"),
    (1e-7, "0.0000001"),
    (2.5, "2.5"),
    (date(2026, 11, 30), "2026-11-30"),
    (REF, "0f8fad5b-d9cb-469f-a165-70867728950e"),
    (POSTED, "IfsApp.ManSuppInvoiceHandling.ManSuppInvoiceState'Posted'"),
])
def test_literal_forms(value, expected):
    assert literal(value) == expected


@pytest.mark.parametrize("value, expected", [
    (datetime(2026, 11, 30, 10, 0, tzinfo=UTC), "2026-11-30T10:00:00Z"),
    (datetime(2026, 11, 30, 11, 0, tzinfo=timezone(timedelta(hours=1))), "2026-11-30T10:00:00Z"),
    (datetime(2026, 11, 30, 4, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))), "2026-11-30T10:00:00Z"),
    # Cut to milliseconds, never rounded up: a lower bound built from a cursor must not pass a row.
    (datetime(2026, 11, 30, 10, 0, 0, 123999, tzinfo=UTC), "2026-11-30T10:00:00.123Z"),
    (datetime(2026, 11, 30, 10, 0, 0, 999, tzinfo=UTC), "2026-11-30T10:00:00Z"),
])
def test_datetimes_are_written_in_utc_bare_and_to_the_millisecond(value, expected):
    assert literal(value) == expected


def test_a_naive_datetime_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="naive datetime 2026-11-30T10:00:00.*time zone is unknown"):
        literal(datetime(2026, 11, 30, 10, 0))
    with pytest.raises(ValueError, match="naive"):
        ge("Changed", datetime(2026, 11, 30, 10, 0))  # refused where the filter is built


def test_the_prefixed_datetimeoffset_dialect():
    dialect = Dialect(prefixed_datetimeoffset=True)
    value = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert literal(value, dialect) == "datetimeoffset'2026-11-30T10:00:00Z'"
    assert literal(date(2026, 11, 30), dialect) == "2026-11-30"


@pytest.mark.parametrize("value, error", [
    (Decimal("NaN"), ValueError),
    (float("inf"), ValueError),
    (time(10, 0), TypeError),
    (["a"], TypeError),
])
def test_values_without_a_literal_are_refused(value, error):
    with pytest.raises(error):
        literal(value)


@pytest.mark.parametrize("type_name, member", [("ManSuppInvoiceState", "Posted"), (STATE, "Not posted"),
                                               (STATE, "")])
def test_enum_members_must_be_qualified_identifiers(type_name, member):
    with pytest.raises(ValueError):
        EnumMember(type_name, member)


# --- the filter builder --------------------------------------------------------------------------------

def test_comparisons_render_field_operator_literal():
    exprs = (eq("Name", "x"), ne("Id", 1), gt("Amount", Decimal("1.5")), ge("Due", date(2026, 1, 2)),
             lt("Active", True), le("Supplier/Name", None))
    assert [e.render() for e in exprs] == [
        "Name eq 'x'", "Id ne 1", "Amount gt 1.5", "Due ge 2026-01-02", "Active lt true", "Supplier/Name le null"]


def test_junctions_are_parenthesised_so_they_read_as_built():
    expr = and_(eq("A", 1), or_(eq("B", 2), and_(eq("C", 3), eq("D", 4))), not_(eq("E", 5)))
    assert expr.render() == "A eq 1 and (B eq 2 or (C eq 3 and D eq 4)) and not (E eq 5)"
    assert and_(eq("A", 1)).render() == "A eq 1"


def test_in_is_an_or_of_eq_unless_the_service_has_the_401_operator():
    expr = and_(eq("A", 1), in_("Name", ["x", "y'z"]))
    assert expr.render() == "A eq 1 and (Name eq 'x' or Name eq 'y''z')"
    assert expr.render(Dialect(in_operator=True)) == "A eq 1 and (Name in ('x','y''z'))"
    with pytest.raises(ValueError, match="at least one value"):
        in_("Name", [])


def test_string_functions():
    assert contains("Name", "O'B").render() == "contains(Name,'O''B')"
    assert startswith("Supplier/Name", "Ac").render() == "startswith(Supplier/Name,'Ac')"
    with pytest.raises(TypeError):
        contains("Name", 5)


@pytest.mark.parametrize("name", ["Na me", "1Name", "Name'", "", "Supplier/", "A.B"])
def test_property_names_are_checked(name):
    with pytest.raises(ValueError, match="not an OData property"):
        eq(name, 1)


def test_junctions_take_expressions_only():
    with pytest.raises(ValueError):
        and_()
    with pytest.raises(ValueError):
        or_(eq("A", 1), "B eq 2")


# --- query options and their encoding -----------------------------------------------------------------

def test_query_params_and_the_stable_key():
    query = Query(select=["Id", "Name"], filter=eq("Name", "x"), orderby=["Changed desc"], key="Id", top=50,
                  skip=100, expand=["Lines"], count=True)
    assert query.params() == {"$select": "Id,Name", "$filter": "Name eq 'x'", "$orderby": "Changed desc,Id",
                              "$top": "50", "$skip": "100", "$expand": "Lines", "$count": "true"}
    assert Query(orderby=["Id desc"], key="Id").params() == {"$orderby": "Id desc"}
    assert Query(key=("Company", "InvoiceId")).params() == {"$orderby": "Company,InvoiceId"}
    assert Query().params() == {}


@pytest.mark.parametrize("kwargs", [{"top": -1}, {"skip": True}, {"top": "5"}, {"orderby": ["Id descending"]},
                                    {"select": ["Na me"]}, {"filter": "Id eq 1"}])
def test_bad_query_options_are_refused(kwargs):
    with pytest.raises((ValueError, TypeError)):
        Query(**kwargs)


def test_encoding_uses_percent_20_and_never_a_plus():
    query = Query(filter=and_(eq("Name", "a+b c&d=e#f;g%h"), ge("Changed", datetime(2026, 11, 30, 10, tzinfo=UTC))),
                  select=["Id", "Name"])
    encoded = query.encode()
    assert "+" not in encoded and " " not in encoded
    assert encoded == ("$select=Id,Name&$filter=Name%20eq%20'a%2Bb%20c%26d%3De%23f%3Bg%25h'%20and%20"
                       "Changed%20ge%202026-11-30T10:00:00Z")
    assert decoded(encoded)["$filter"] == ["Name eq 'a+b c&d=e#f;g%h' and Changed ge 2026-11-30T10:00:00Z"]
    assert encode_params({"$filter": "Name eq 'Ü'"}) == "$filter=Name%20eq%20'%C3%9C'"


def test_requests_sends_the_encoded_string_unchanged_but_would_write_a_dict_form_style():
    query = Query(filter=eq("Name", "a b+c"))
    sent = requests.Request("GET", "https://erp.example/odata/Invoices", params=query.encode()).prepare().url
    assert sent == "https://erp.example/odata/Invoices?$filter=Name%20eq%20'a%20b%2Bc'"
    # Why the string: given the dict, requests writes spaces as '+', which some OData servers refuse.
    as_dict = requests.Request("GET", "https://erp.example/odata/Invoices", params=query.params()).prepare().url
    assert "Name+eq+" in as_dict


# --- round trip: what the builder writes, the parser accepts and evaluates right ---------------------------

@pytest.mark.parametrize("expr, expected", [
    (eq("Name", "O'Brien & Sons"), [1]),
    (eq("Supplier/Name", "Acme+Co"), [1]),
    (ne("Name", None), [1, 2]),
    (eq("Name", None), [3]),
    (gt("Amount", 7), [1]),
    (ge("Amount", Decimal("7.00")), [1, 2]),
    (lt("Amount", Decimal("1000")), [1, 2]),
    (eq("Active", True), [1]),
    (eq("Active", False), [2]),
    (ge("Changed", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)), [2, 3]),
    (gt("Changed", datetime(2026, 11, 30, 11, 0, 0, 500, tzinfo=timezone(timedelta(hours=1)))), [3]),
    (lt("Changed", datetime(2026, 11, 30, 9, 59, 59, 999999, tzinfo=UTC)), []),
    (le("Due", date(2026, 11, 30)), [2]),
    (eq("Ref", REF), [1]),
    (eq("Objstate", POSTED), [1]),
    (ne("Objstate", POSTED), [2, 3]),
    (contains("Name", "50%"), [2]),
    (startswith("Name", "O'B"), [1]),
    (not_(startswith("Name", "O'B")), [2]),
    (in_("Id", [1, 3]), [1, 3]),
    (and_(or_(eq("Id", 1), eq("Id", 2)), not_(eq("Active", False))), [1]),
])
def test_round_trip(expr, expected):
    text = decoded(Query(filter=expr).encode())["$filter"][0]
    assert ids(ROWS, text) == expected
    native = decoded(Query(filter=expr, dialect=Dialect(in_operator=True)).encode())["$filter"][0]
    assert ids(ROWS, native, dialect=Dialect(in_operator=True)) == expected


def test_round_trip_with_the_prefixed_datetimeoffset_dialect():
    dialect = Dialect(prefixed_datetimeoffset=True)
    query = Query(filter=gt("Changed", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)), dialect=dialect)
    text = decoded(query.encode())["$filter"][0]
    assert text == "Changed gt datetimeoffset'2026-11-30T10:00:00Z'"
    assert ids(ROWS, text, dialect=dialect) == [3]
    # The documented Acumatica form carries an offset and milliseconds, the '+' percent-encoded.
    assert ids(ROWS, decoded("f=Changed%20gt%20datetimeoffset'2026-11-30T11%3A00%3A00.000%2B01%3A00'")["f"][0],
               dialect=dialect) == [3]


def test_apply_query_answers_what_the_builder_asks():
    query = Query(select=["Id", "Amount"], filter=ne("Objstate", EnumMember(STATE, "Cancelled")),
                  orderby=["Amount desc"], key="Id")
    body = apply_query(ROWS, decoded(query.encode()), FIELDS, "Id", entity_set="Invoices")
    assert body == {"@odata.context": "$metadata#Invoices(Id,Amount)",
                    "value": [{"Id": 1, "Amount": Decimal("100.50")}, {"Id": 2, "Amount": 7}]}


# --- what the parser refuses ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("Nope eq 1", "Could not find a property named 'Nope' (at position 0"),
    ("Name eq 'x' and nope eq 1", "Could not find a property named 'nope'"),
    ("Changed gt '2026-11-30T10:00:00Z'",
     "Found operand types 'Edm.DateTimeOffset' and 'Edm.String' for operator kind 'GreaterThan'"),
    ("Changed gt 2026-11-30", "Found operand types 'Edm.DateTimeOffset' and 'Edm.Date'"),
    ("Changed gt 2026-11-30T10:00:00", "literal '2026-11-30T10:00:00' has no time zone offset"),
    ("Changed gt 2026-11-30T25:00:00Z", "'2026-11-30T25:00:00Z' is not a valid Edm.DateTimeOffset"),
    ("Due eq 2026-13-01", "'2026-13-01' is not a valid Edm.Date"),
    ("Due eq '2026-11-30'", "Found operand types 'Edm.Date' and 'Edm.String'"),
    ("Name eq 5", "Found operand types 'Edm.String' and 'Edm.Int32' for operator kind 'Equal'"),
    ("Id eq '5'", "Found operand types 'Edm.Int32' and 'Edm.String'"),
    ("Amount eq 1e3", "Found operand types 'Edm.Decimal' and 'Edm.Double'"),
    ("Active eq 'true'", "Found operand types 'Edm.Boolean' and 'Edm.String'"),
    (f"Ref eq '{REF}'", "Found operand types 'Edm.Guid' and 'Edm.String'"),
    ("Objstate eq 'Posted'", f"Found operand types '{STATE}' and 'Edm.String'"),
    ("Objstate eq IfsApp.Other.State'Posted'", f"Found operand types '{STATE}' and 'IfsApp.Other.State'"),
    (f"Objstate eq {STATE}'Paid'", "The string 'Paid' is not a valid enumerated type constant"),
    (f"Objstate gt {STATE}'Posted'", "The operator 'gt' is not supported"),
    ("Changed gt datetimeoffset'2026-11-30T10:00:00Z'", "datetimeoffset'2026-11-30T10:00:00Z' is OData v3 syntax"),
    ("Ref eq guid'0f8fad5b-d9cb-469f-a165-70867728950e'", "unsupported literal guid'"),
    ("Amount add 1 gt 5", "The operator 'add' is not supported"),
    ("Id mod 2 eq 0", "The operator 'mod' is not supported"),
    ("Name in ('a','b')", "The operator 'in' is not supported"),
    ("round(Amount) eq 1", "An unknown function with name 'round' was found"),
    ("substringof('x',Name)", "An unknown function with name 'substringof' was found"),
    ("fractionalseconds(Changed) eq 0", "An unknown function with name 'fractionalseconds' was found"),
    ("contains(Id,'1')", "No function signature for the function with name 'contains'"),
    ("startswith(Name)", "No function signature for the function with name 'startswith'"),
    ("Name EQ 'x'", "Syntax error at position 5 in 'Name EQ 'x'': unexpected 'EQ'"),
    ("(Name eq 'x'", "')' expected, found the end of the expression"),
    ("Name eq 'x')", "unexpected ')'"),
    ("((Id eq 1) or (Id eq 2)", "')' expected"),
    ("Name eq 'x", "There is an unterminated string literal at position 8 in 'Name eq 'x'"),
    ("Name eq 'O'Brien'", "There is an unterminated string literal at position 16"),
    ("Name eq 'x' foo", "Syntax error at position 12 in 'Name eq 'x' foo': unexpected 'foo'"),
    ("Name eq 'x' and", "an operand was expected, found the end of the expression"),
    ("Id eq 1 eq 2", "unexpected 'eq'"),
    ("Name eq 'x' & Id eq 1", "character '&' is not valid"),
    ("Name eq -Id", "character '-' is not valid"),
    ("Name", "must evaluate to a single boolean value, not Edm.String"),
    ("Name and Active", "The operands of 'and' must be Edm.Boolean, not Edm.String"),
    ("not Name", "The operands of 'not' must be Edm.Boolean"),
    ("not Id eq 1", "The operands of 'not' must be Edm.Boolean, not Edm.Int32"),
    ("", "The $filter expression is empty"),
    ("   ", "The $filter expression is empty"),
])
def test_refusals(text, message):
    with pytest.raises(ODataQueryError) as caught:
        parse_filter(text, FIELDS)
    assert message in str(caught.value)


def test_a_plus_sent_unencoded_arrives_as_a_space_and_is_refused():
    text = decoded("$filter=Changed%20gt%202026-11-30T11:00:00+01:00")["$filter"][0]
    with pytest.raises(ODataQueryError, match="has no time zone offset .*'\\+' must be sent as %2B"):
        parse_filter(text, FIELDS)
    assert ids(ROWS, decoded("$filter=Changed%20gt%202026-11-30T11:00:00%2B01:00")["$filter"][0]) == [3]


def test_in_needs_the_dialect_and_literals():
    dialect = Dialect(in_operator=True)
    assert ids(ROWS, f"Objstate in ({STATE}'Posted',{STATE}'Cancelled')", dialect=dialect) == [1, 3]
    assert ids(ROWS, "Name in ('Zeta 50% off', null)", dialect=dialect) == [2, 3]
    with pytest.raises(ODataQueryError, match="a literal was expected in the 'in' list, found 'Name'"):
        parse_filter("Id in (Name)", FIELDS, dialect=dialect)
    with pytest.raises(ODataQueryError, match="'Edm.Int32' and 'Edm.String' for operator kind 'In'"):
        parse_filter("Id in (1,'2')", FIELDS, dialect=dialect)


def test_the_prefixed_dialect_refuses_bare_datetimes():
    with pytest.raises(ODataQueryError, match="written datetimeoffset'2026-11-30T10:00:00Z'"):
        parse_filter("Changed gt 2026-11-30T10:00:00Z", FIELDS, dialect=Dialect(prefixed_datetimeoffset=True))


def test_null_semantics():
    # Relational operators on a null are false; and/or take a null as false; not of a null stays null.
    assert ids(ROWS, "Amount lt 1000") == [1, 2]
    assert ids(ROWS, "Amount le null") == []
    assert ids(ROWS, "not Active") == [2]
    assert ids(ROWS, "Active") == [1]
    assert ids(ROWS, "not (Active and Id eq 3)") == [1, 2, 3]
    assert ids(ROWS, "contains(Name,'Z')") == [2]
    assert ids(ROWS, "true") == [1, 2, 3]


def test_precedence_not_then_comparison_then_and_then_or():
    assert ids(ROWS, "Id eq 1 or Id eq 2 and Active eq true") == [1]
    assert ids(ROWS, "(Id eq 1 or Id eq 2) and Active eq false") == [2]
    assert ids(ROWS, "not Active eq false") == [1]  # (not Active) eq false
    assert ids(ROWS, "contains(Name,'&') eq true") == [1]


def test_fractional_seconds_up_to_twelve_digits():
    assert ids(ROWS, "Changed ge 2026-11-30T09:59:59.999000000000Z") == [1, 2, 3]
    with pytest.raises(ODataQueryError, match="not a valid Edm.DateTimeOffset"):
        parse_filter("Changed ge 2026-11-30T09:59:59.9990000000001Z", FIELDS)


def test_field_types_are_checked():
    with pytest.raises(ValueError, match="'Amount'"):
        parse_filter("Amount eq 1", {"Amount": "money"})
    with pytest.raises(ValueError):
        parse_filter("State eq X.Y'A'", {"State": ("enum", "Unqualified", ("A",))})


# --- apply_query ---------------------------------------------------------------------------------------

MANY = [{"Id": i, "Name": f"Supplier {i:02d}", "Amount": Decimal(i % 3), "Active": True,
         "Changed": "2026-11-30T10:00:00Z", "Due": None, "Ref": None, "Objstate": "Posted",
         "Supplier": None} for i in range(1, 8)]


def test_server_driven_paging_with_a_next_link():
    first = apply_query(MANY, {"$filter": ["Active eq true"], "company": ["10"]}, FIELDS, "Id", max_top=3,
                        entity_set="Invoices")
    assert [r["Id"] for r in first["value"]] == [1, 2, 3]
    assert first["@odata.nextLink"] == "Invoices?$filter=Active%20eq%20true&company=10&$skip=3"
    last = apply_query(MANY, decoded(urlsplit(first["@odata.nextLink"]).query), FIELDS, "Id", max_top=3,
                       entity_set="Invoices")
    last = apply_query(MANY, decoded(urlsplit(last["@odata.nextLink"]).query), FIELDS, "Id", max_top=3,
                       entity_set="Invoices")
    assert [r["Id"] for r in last["value"]] == [7] and "@odata.nextLink" not in last


def test_top_beyond_the_page_size_is_served_in_pages():
    first = apply_query(MANY, {"$top": "5", "$count": "true"}, FIELDS, "Id", max_top=3, entity_set="Invoices")
    assert first["@odata.count"] == 7 and len(first["value"]) == 3
    assert first["@odata.nextLink"] == "Invoices?$top=2&$count=true&$skip=3"
    rest = apply_query(MANY, decoded(urlsplit(first["@odata.nextLink"]).query), FIELDS, "Id", max_top=3,
                       entity_set="Invoices")
    assert [r["Id"] for r in rest["value"]] == [4, 5] and "@odata.nextLink" not in rest
    assert apply_query(MANY, {"$top": "0"}, FIELDS, "Id", entity_set="Invoices")["value"] == []


def test_ordering_ends_with_the_key_and_puts_nulls_first():
    body = apply_query(MANY, {"$orderby": "Amount desc", "$select": "Id"}, FIELDS, "Id", entity_set="Invoices")
    assert [r["Id"] for r in body["value"]] == [2, 5, 1, 4, 7, 3, 6]
    assert body["@odata.context"] == "$metadata#Invoices(Id)"
    body = apply_query(ROWS, {"$orderby": "Name,Objstate desc"}, FIELDS, "Id", entity_set="Invoices")
    assert [r["Id"] for r in body["value"]] == [3, 1, 2]
    by_state = apply_query(ROWS, {"$orderby": "Objstate desc"}, FIELDS, "Id", entity_set="Invoices")
    assert [r["Objstate"] for r in by_state["value"]] == ["Cancelled", "Posted", "Preliminary"]


def test_select_star_is_every_property():
    body = apply_query(ROWS[:1], {"$select": "*"}, FIELDS, "Id", entity_set="Invoices")
    assert body == {"@odata.context": "$metadata#Invoices", "value": [ROWS[0]]}


@pytest.mark.parametrize("params, message", [
    ({"$expand": "Lines"}, "The query parameter '$expand' is not supported."),
    ({"$search": "x"}, "The query parameter '$search' is not supported."),
    ({"$FILTER": "Id eq 1"}, "The query parameter '$FILTER' is not supported."),
    ({"$top": ["1", "2"]}, "Query option '$top' was specified more than once"),
    ({"$top": "-1"}, "Invalid value '-1' for $top query option found"),
    ({"$skip": "ten"}, "Invalid value 'ten' for $skip query option found"),
    ({"$top": ""}, "Invalid value '' for $top"),
    ({"$count": "yes"}, "'yes' is not a valid count option."),
    ({"$select": "Id,Secret"}, "Could not find a property named 'Secret' (in $select)"),
    ({"$select": "Supplier/Name"}, "'Supplier/Name' is a path"),
    ({"$orderby": "Secret"}, "Could not find a property named 'Secret' (in $orderby)"),
    ({"$orderby": "Name up"}, "Syntax error in $orderby item 'Name up'"),
    ({"$orderby": ""}, "Syntax error in $orderby item ''"),
    ({"$filter": ""}, "The $filter expression is empty"),
    ({"$filter": "Nope eq 1"}, "Could not find a property named 'Nope'"),
])
def test_apply_query_refusals(params, message):
    with pytest.raises(ODataQueryError) as caught:
        apply_query(ROWS, params, FIELDS, "Id", entity_set="Invoices")
    assert message in str(caught.value)


def test_apply_query_setup_errors():
    with pytest.raises(ValueError, match="key"):
        apply_query(ROWS, {}, FIELDS, "Number", entity_set="Invoices")
    with pytest.raises(ValueError, match="max_top"):
        apply_query(ROWS, {}, FIELDS, "Id", max_top=0, entity_set="Invoices")


# --- paging --------------------------------------------------------------------------------------------

class FakeService:
    """Answers GETs from a table of bodies keyed by the URL asked for, and records the calls."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def get(self, url, params):
        self.calls.append((url, params))
        return self.answers[url if params is None else f"{url}?{params}"]


def test_follows_absolute_and_relative_next_links_to_the_end():
    base = "https://erp.example/odata"
    service = FakeService({
        # Relative to the context URL, not to the (relative) path asked for.
        "Invoices?$filter=Id%20gt%200": {"@odata.context": f"{base}/$metadata#Invoices", "value": [{"Id": 1}],
                                         "@odata.nextLink": "Invoices?$skiptoken=1"},
        f"{base}/Invoices?$skiptoken=1": {"@odata.context": f"{base}/$metadata#Invoices", "value": [{"Id": 2}],
                                          "@odata.nextLink": f"{base}/Invoices?$skiptoken=2"},
        f"{base}/Invoices?$skiptoken=2": {"value": [{"Id": 3}], "@odata.nextLink": "Invoices?$skiptoken=3"},
        f"{base}/Invoices?$skiptoken=3": {"@context": "$metadata#Invoices", "value": [],
                                          "@nextLink": "Invoices?$skiptoken=4"},
        f"{base}/Invoices?$skiptoken=4": {"value": [{"Id": 4}]},
    })
    items = list(iter_items(service.get, "Invoices", Query(filter=gt("Id", 0))))
    assert [i["Id"] for i in items] == [1, 2, 3, 4]
    assert service.calls[0] == ("Invoices", "$filter=Id%20gt%200")
    assert all(params is None for _, params in service.calls[1:])


def test_a_relative_next_link_on_a_relative_path_stays_relative():
    service = FakeService({
        "svc/Invoices?": {"@odata.context": "$metadata#Invoices", "value": [{"Id": 1}],
                          "@odata.nextLink": "Invoices?$skip=1"},
        "svc/Invoices?$skip=1": {"value": [{"Id": 2}]},
    })
    assert [i["Id"] for i in iter_items(service.get, "svc/Invoices")] == [1, 2]


def test_falls_back_to_top_and_skip_without_a_next_link():
    rows = [{"Id": i} for i in range(1, 6)]

    def get(url, params):
        query = {k: int(v[0]) for k, v in decoded(params).items() if k in ("$top", "$skip")}
        calls.append(query)
        skip = query.get("$skip", 0)
        return rows[skip:skip + query["$top"]]  # a bare array, as Acumatica's REST API answers

    calls = []
    assert [i["Id"] for i in iter_items(get, "Vendor", Query(key="Id"), page_size=2)] == [1, 2, 3, 4, 5]
    assert calls == [{"$top": 2}, {"$top": 2, "$skip": 2}, {"$top": 2, "$skip": 4}]
    calls, rows = [], rows[:4]
    assert [i["Id"] for i in iter_items(get, "Vendor", Query(skip=1), page_size=2)] == [2, 3, 4]
    assert calls == [{"$top": 2, "$skip": 1}, {"$top": 2, "$skip": 3}]


def test_next_links_inside_top_skip_windows():
    def get(url, params):
        query = decoded(urlsplit(url).query if params is None else params)
        return apply_query(MANY, query, FIELDS, "Id", max_top=2, entity_set="Invoices")

    assert [i["Id"] for i in iter_items(get, "Invoices", page_size=3)] == [1, 2, 3, 4, 5, 6, 7]


def test_a_next_link_seen_twice_is_a_loop():
    service = FakeService({
        "Invoices?": {"value": [{"Id": 1}], "@odata.nextLink": "https://erp.example/Invoices?page=2"},
        "https://erp.example/Invoices?page=2": {"value": [{"Id": 2}],
                                                "@odata.nextLink": "https://erp.example/Invoices?page=3"},
        "https://erp.example/Invoices?page=3": {"value": [{"Id": 3}],
                                                "@odata.nextLink": "https://erp.example/Invoices?page=2"},
    })
    seen = []
    with pytest.raises(ODataPagingError, match=r"next link https://erp.example/Invoices\?page=2 a second time"):
        for item in iter_items(service.get, "Invoices"):
            seen.append(item["Id"])
            assert len(seen) < 10, "paging did not stop"
    assert seen == [1, 2, 3] and len(service.calls) == 3


def test_a_service_that_ignores_skip_is_caught_before_repeating_items():
    def get(url, params):
        return {"value": [{"Id": 1}, {"Id": 2}]}

    seen = []
    with pytest.raises(ODataPagingError, match=r"\$skip=2 gave the same items"):
        for item in iter_items(get, "Invoices", page_size=2):
            seen.append(item["Id"])
            assert len(seen) < 10, "paging did not stop"
    assert seen == [1, 2]


@pytest.mark.parametrize("body", [{"values": []}, {"value": {"Id": 1}}, "oops", None,
                                  {"value": [], "@odata.nextLink": ""}])
def test_an_answer_that_is_no_collection(body):
    with pytest.raises(ODataPagingError):
        list(iter_items(lambda url, params: body, "Invoices"))


def test_page_size_and_top_do_not_mix():
    with pytest.raises(ValueError):
        list(iter_items(lambda url, params: [], "Invoices", Query(top=5), page_size=2))
    with pytest.raises(ValueError):
        list(iter_items(lambda url, params: [], "Invoices", page_size=0))


# --- over real HTTP: our HTTP client, requests' encoding, a form-decoding server -----------------------

@pytest.fixture
def odata_server():
    raw_queries = []

    def app(environ, start_response):
        raw_queries.append(environ.get("QUERY_STRING", ""))
        try:
            body = apply_query(MANY, decoded(environ.get("QUERY_STRING", "")), FIELDS, "Id", max_top=2,
                               entity_set="Invoices")
            status = "200 OK"
        except ODataQueryError as exc:
            body, status = {"error": {"code": "", "message": str(exc)}}, "400 Bad Request"
        payload = json.dumps(body, default=str).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    server, url = serve_in_thread(app)
    yield url, raw_queries
    server.shutdown()
    server.server_close()


def test_reading_through_the_http_client(odata_server):
    url, raw_queries = odata_server
    client = HttpClient("odata-test", base_url=f"{url}/odata")
    since = datetime(2026, 11, 30, 11, tzinfo=timezone(timedelta(hours=1)))
    query = Query(filter=and_(startswith("Name", "Supplier 0"), ge("Changed", since)), orderby=["Amount desc"],
                  key="Id")
    items = list(iter_items(lambda path, params: client.json("GET", path, params=params), "Invoices", query))
    assert [i["Id"] for i in items] == [2, 5, 1, 4, 7, 3, 6]
    assert client.calls == 4
    assert all("+" not in q for q in raw_queries)
    assert raw_queries[1].endswith("&$skip=2")


def test_an_unencoded_plus_is_refused_by_the_server(odata_server):
    url, _ = odata_server
    response = requests.get(f"{url}/odata/Invoices?$filter=Changed%20gt%202026-11-30T11:00:00+01:00", timeout=5)
    assert response.status_code == 400
    assert "has no time zone offset" in response.json()["error"]["message"]


def test_metadata_the_simulators_serve_reads_back_as_the_probes_read_it():
    from connectors.odata import parse_metadata
    from sandbox.odata import metadata_document

    text = metadata_document("IfsApp.SupplierHandling", {"SupplierSet": ("Supplier", {
        "SupplierId": "string", "Amount": "decimal",
        "Objstate": ("enum", "IfsApp.SupplierHandling.SupplierState", ("Active", "Blocked"))}, ["SupplierId"])})
    read = parse_metadata(text)
    assert read.entity_sets == {"SupplierSet": {"SupplierId": "Edm.String", "Amount": "Edm.Decimal",
                                                "Objstate": "IfsApp.SupplierHandling.SupplierState"}}
    assert read.enums == {"IfsApp.SupplierHandling.SupplierState": ("Active", "Blocked")}


def test_metadata_that_is_not_a_service_document_is_a_data_error():
    from connectors.errors import DataError
    from connectors.odata import parse_metadata

    for text in ("<html>Sign in</html", "<root/>"):
        with pytest.raises(DataError):
            parse_metadata(text)
