"""Acumatica's Default/24.200.001 contract as the connector uses it, decided in one place: the client
(client.py) and the simulator (sandbox/<id>/simulator.py) both read this module.

The entities and their fields come from Acumatica's own OpenAPI definition of the endpoint, copied beside
this file as default-24.200.001.openapi.json: the paths of Bill, Vendor, Check, Account and Subaccount and
every schema they reference, from Acumatica's official REST client
(github.com/Acumatica/AcumaticaRESTAPIClientForCSharp, EndpointDefinitions/Default_24.200.001, MIT licence).

Every field travels as a value object, `{"value": ...}` (StringValue, DecimalValue, DateTimeValue, ...), an
empty one as `{}`; detail collections are arrays of entities and linked entities are objects. `wrap()` and
`unwrap()` are the one translation between those and plain Python values, in both directions.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from uuid import UUID

from connectors.values import decimal_value

OPENAPI_PATH = Path(__file__).with_name("default-24.200.001.openapi.json")
ENDPOINT_NAME, ENDPOINT_VERSION = "Default", "24.200.001"

# The value-object schemas of the definition, by the kind of Python value each holds.
VALUE_KINDS = {"StringValue": "string", "DecimalValue": "decimal", "DateTimeValue": "datetime",
               "BooleanValue": "boolean", "IntValue": "int", "ShortValue": "int", "GuidValue": "guid"}

# Each top-level entity's key fields (the values of GET /{Entity}/{ids}, slash-delimited, in this order).
# The definition names no keys. Bill and Check: Type and ReferenceNbr (ReferenceNbr numbered by Acumatica);
# the others by their code, as Acumatica's screens key them. Key-based paging (client.py) filters on them.
KEYS = {"Bill": ("Type", "ReferenceNbr"), "Check": ("Type", "ReferenceNbr"), "Vendor": ("VendorID",),
        "Account": ("AccountCD",), "Subaccount": ("SubaccountCD",)}
ENTITIES = tuple(KEYS)


@cache
def definition():
    return json.loads(OPENAPI_PATH.read_text())


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # a VALUE_KINDS value, "detail" (an array of `schema`) or "linked" (one `schema` object)
    schema: str = ""


def _ref_name(ref):
    return ref.rsplit("/", 1)[-1]


@cache
def fields(schema):
    """{field name: Field} of an entity schema (Bill, BillDetail, Contact...), as the definition gives them."""
    spec = definition()["components"]["schemas"][schema]
    properties = {}
    for part in spec.get("allOf", [spec]):
        if "$ref" in part:
            continue  # the base Entity (id, rowNumber, note, custom, error, files): no field of the entity's own
        properties.update(part.get("properties", {}))
    result = {}
    for name, prop in properties.items():
        if "$ref" in prop:
            target = _ref_name(prop["$ref"])
            result[name] = Field(name, VALUE_KINDS[target]) if target in VALUE_KINDS else Field(name, "linked", target)
        elif prop.get("type") == "array":
            result[name] = Field(name, "detail", _ref_name(prop["items"]["$ref"]))
        else:
            raise ValueError(f"{schema}.{name}: a property shape the contract does not know")
    return result


def scalar_fields(schema):
    return {name: f for name, f in fields(schema).items() if f.kind in VALUE_KINDS.values()}


class Unparsable(ValueError):
    """A value Acumatica sent that is not of its field's type: the record holding it cannot be read."""

    def __init__(self, path, value, kind):
        super().__init__(f"{path} is {value!r}, which is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
        self.path = path


def parse(kind, value, path):
    """A JSON value as the Python value of its kind (None stays None)."""
    if value is None:
        return None
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "decimal" and (number := decimal_value(value)) is not None:
        return number
    if kind == "datetime" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    if kind == "guid" and isinstance(value, str):
        try:
            return str(UUID(value))
        except ValueError:
            pass
    raise Unparsable(path, value, kind)


def unwrap(schema, payload, path=None):
    """An entity as Acumatica sends it, as a dict of plain values: value objects become their values
    (None when empty), details lists of dicts, linked entities dicts; `id` and `rowNumber` are kept.
    Fields the contract does not define (custom fields, `_links`) are left out. Raises Unparsable."""
    path = path or schema
    if not isinstance(payload, dict):
        raise Unparsable(path, payload, "entity")
    known = fields(schema)
    record = {key: payload[key] for key in ("id", "rowNumber") if key in payload}
    for name, value in payload.items():
        field = known.get(name)
        if field is None:
            continue
        where = f"{path}.{name}"
        if field.kind == "detail":
            if not isinstance(value, list):
                raise Unparsable(where, value, "list")
            record[name] = [unwrap(field.schema, item, f"{where}[{n}]") for n, item in enumerate(value)]
        elif field.kind == "linked":
            record[name] = None if value is None else unwrap(field.schema, value, where)
        elif value is None or value == {}:
            record[name] = None
        elif isinstance(value, dict):
            record[name] = parse(field.kind, value.get("value"), where)
        else:
            raise Unparsable(where, value, "value object")
    return record


def render(kind, value):
    """A Python value as the JSON value of its kind. Decimals go as JSON numbers (DecimalValue is a
    double); dates as ISO 8601 local date-times, which Acumatica keeps as the calendar date they name:
    an offset would make the instance convert them to its own time zone (UNCONFIRMED, docs AC5)."""
    if value is None:
        return None
    if kind == "decimal":
        return float(value)
    if kind == "datetime":
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date):
            return f"{value.isoformat()}T00:00:00"
    return value


def wrap(schema, record):
    """A dict of plain values as the body Acumatica takes: every field a value object, details lists of
    entities, linked entities objects; `id` passes as it is. A name the contract does not define is a bug
    in the caller, refused here rather than sent."""
    known = fields(schema)
    body = {}
    for name, value in record.items():
        if name == "id":
            body[name] = value
            continue
        field = known.get(name)
        if field is None:
            raise KeyError(f"{schema} has no field {name!r} in Default/{ENDPOINT_VERSION}")
        if field.kind == "detail":
            body[name] = [wrap(field.schema, item) for item in value]
        elif field.kind == "linked":
            body[name] = wrap(field.schema, value)
        else:
            body[name] = {"value": render(field.kind, value)}
    return body
