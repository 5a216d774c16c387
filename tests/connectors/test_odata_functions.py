"""The $filter functions the simulators' OData server half takes, per dialect: OData 4.01's string and date functions
for IFS (ODATA_4), and what Acumatica documents (substringof, startswith, endswith, a linked entity's field); any
other function is refused as an unknown one (400). And the CSDL the simulators answer $metadata with, read back."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from connectors.odata import ACUMATICA, ODATA_4, contains, endswith, parse_metadata
from sandbox.odata import ODataQueryError, apply_query, metadata_document, parse_filter

FIELDS = {"Id": "int", "Name": "string", "Code": "string", "Due": "date", "Changed": "datetimeoffset",
          "MainContact/Email": "string"}
ROWS = [
    {"Id": 1, "Name": "Harbor Paper", "Code": "  hp01 ", "Due": date(2026, 11, 30),
     "Changed": datetime(2026, 11, 30, 9, 15, 7, tzinfo=UTC), "MainContact": {"Email": "ap@harbor.test"}},
    {"Id": 2, "Name": "Summit Freight", "Code": "SF02", "Due": date(2027, 1, 5),
     "Changed": datetime(2027, 1, 4, 23, 30, 0, tzinfo=timezone(timedelta(hours=-5))),
     "MainContact": {"Email": "billing@summit.test"}},
    {"Id": 3, "Name": None, "Code": None, "Due": None, "Changed": None, "MainContact": None},
]


def ids(text, dialect=ODATA_4):
    predicate = parse_filter(text, FIELDS, dialect=dialect)
    return [row["Id"] for row in ROWS if predicate(row)]


@pytest.mark.parametrize(("text", "expected"), [
    ("contains(Name,'Paper')", [1]),
    ("startswith(Name,'Summit')", [2]),
    ("endswith(Name,'Freight')", [2]),
    ("length(Name) eq 12", [1]),
    ("indexof(Name,'Freight') eq 7", [2]),
    ("indexof(Name,'x') eq -1", [1, 2]),
    ("substring(Name,7) eq 'Paper'", [1]),
    ("substring(Name,0,6) eq 'Summit'", [2]),
    ("tolower(Name) eq 'harbor paper'", [1]),
    ("toupper(Code) eq 'SF02'", [2]),
    ("trim(Code) eq 'hp01'", [1]),
    ("concat(Name,'!') eq 'Summit Freight!'", [2]),
    ("contains(tolower(Name),'summit')", [2]),
    ("year(Due) eq 2027", [2]),
    ("month(Due) eq 11 and day(Due) eq 30", [1]),
    ("year(Changed) eq 2027 and hour(Changed) eq 23", [2]),
    ("minute(Changed) eq 15 and second(Changed) eq 7", [1]),
    ("date(Changed) eq 2027-01-04", [2]),
    ("time(Changed) lt 10:00:00", [1]),
    ("time(Changed) ge 23:30", [2]),
    ("hour(Changed) ge 0", [1, 2]),
    ("not contains(Name,'Paper')", [2]),
])
def test_odata_4_string_and_date_functions_select_as_defined(text, expected):
    assert ids(text) == expected, "a null argument gives null, which selects nothing"


@pytest.mark.parametrize(("text", "expected"), [
    ("substringof('Paper',Name)", [1]),
    ("substringof('Paper',Name) eq true", [1]),
    ("startswith(Name,'Summit')", [2]),
    ("endswith(Name,'Freight')", [2]),
    ("MainContact/Email eq 'billing@summit.test'", [2]),
    ("endswith(MainContact/Email,'harbor.test')", [1]),
])
def test_acumatica_takes_the_functions_it_documents_and_a_linked_entitys_field(text, expected):
    assert ids(text, ACUMATICA) == expected


@pytest.mark.parametrize(("text", "dialect", "function"), [
    ("contains(Name,'Paper')", ACUMATICA, "contains"),
    ("tolower(Name) eq 'x'", ACUMATICA, "tolower"),
    ("year(Due) eq 2026", ACUMATICA, "year"),
    ("substringof('Paper',Name)", ODATA_4, "substringof"),
    ("round(Id) eq 1", ODATA_4, "round"),
    ("fractionalseconds(Changed) eq 0", ODATA_4, "fractionalseconds"),
    ("nosuch(Name)", ACUMATICA, "nosuch"),
])
def test_a_function_the_dialect_does_not_take_is_refused_as_unknown(text, dialect, function):
    with pytest.raises(ODataQueryError, match=f"An unknown function with name '{function}' was found"):
        parse_filter(text, FIELDS, dialect=dialect)


@pytest.mark.parametrize("text", [
    "length(Id) eq 1", "substring(Name,'1') eq 'x'", "year(Name) eq 1", "hour(Due) eq 1", "date(Due) eq 2026-01-01",
    "concat(Name) eq 'x'", "indexof(Name,'a','b') eq 1",
])
def test_a_function_given_arguments_of_the_wrong_types_or_number_is_refused(text):
    with pytest.raises(ODataQueryError, match="No function signature for the function with name"):
        parse_filter(text, FIELDS)


def test_function_results_are_typed_so_a_comparison_of_the_wrong_type_is_refused():
    with pytest.raises(ODataQueryError, match="Found operand types 'Edm.Int32' and 'Edm.String'"):
        parse_filter("length(Name) eq '12'", FIELDS)
    with pytest.raises(ODataQueryError, match="Found operand types 'Edm.TimeOfDay' and 'Edm.Date'"):
        parse_filter("time(Changed) eq 2026-01-01", FIELDS)
    with pytest.raises(ODataQueryError, match="'25:00' is not a valid Edm.TimeOfDay"):
        parse_filter("time(Changed) lt 25:00", FIELDS)


def test_a_linked_entitys_field_must_be_declared_to_be_filtered_on():
    with pytest.raises(ODataQueryError, match="Could not find a property named 'MainContact/Phone1'"):
        parse_filter("MainContact/Phone1 eq '1'", FIELDS, dialect=ACUMATICA)


def test_apply_query_answers_with_a_function_filter_and_refuses_an_unknown_one():
    body = apply_query(ROWS, {"$filter": "endswith(Name,'Paper')"}, FIELDS, "Id", entity_set="Suppliers")
    assert [row["Id"] for row in body["value"]] == [1]
    with pytest.raises(ODataQueryError, match="unknown function with name 'substringof'"):
        apply_query(ROWS, {"$filter": "substringof('a',Name)"}, FIELDS, "Id", entity_set="Suppliers")


def test_the_client_writes_contains_as_substringof_where_the_dialect_has_only_that():
    assert contains("Name", "O'B").render(ACUMATICA) == "substringof('O''B',Name)"
    assert contains("Name", "O'B").render(ODATA_4) == "contains(Name,'O''B')"
    assert endswith("MainContact/Email", ".test").render(ACUMATICA) == "endswith(MainContact/Email,'.test')"
    for built, dialect in ((contains("Name", "Paper"), ACUMATICA), (endswith("Name", "Freight"), ODATA_4)):
        assert ids(built.render(dialect), dialect), "what the client writes, the server half reads"


def test_metadata_declares_contained_types_and_their_navigations_and_reads_back():
    document = metadata_document(
        "IfsApp.SuppliersHandling",
        {"SupplierSet": ("Supplier", {"SupplierId": "string", "Name": "string"}, ["SupplierId"])},
        contained={"Address": ({"SupplierId": "string", "AddressId": "string",
                                "Kind": ("enum", "IfsApp.SuppliersHandling.AddressKind", ("Pay", "Visit"))},
                               ["SupplierId", "AddressId"])},
        navigations={"Supplier": {"Addresses": "Address"}})
    metadata = parse_metadata(document)
    assert set(metadata.entity_sets) == {"SupplierSet"}, "a contained type has no entity set"
    supplier = metadata.entity_sets["SupplierSet"]
    assert supplier["Addresses"] == "Collection(IfsApp.SuppliersHandling.Address)"
    assert metadata.navigation_target(supplier, "Addresses")["Kind"] == "IfsApp.SuppliersHandling.AddressKind"
    assert metadata.navigation_target(supplier, "Name") is None
    assert metadata.enums["IfsApp.SuppliersHandling.AddressKind"] == ("Pay", "Visit")


def test_a_timeofday_literal_keeps_its_fraction():
    predicate = parse_filter("time(Changed) gt 09:15:06.999999", FIELDS)
    assert predicate(ROWS[0]) and not parse_filter("time(Changed) gt 09:15:07.5", FIELDS)(ROWS[0])
