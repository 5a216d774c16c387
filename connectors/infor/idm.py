"""Infor Document Management (IDM) over the ION API: where a supplier invoice's image is found and how it
is fetched, decided once here for the connector (connector.py, client.py) and the simulator (sandbox/<id>/simulator.py).

From public code that calls IDM through the ION API gateway (no Infor reference page is in our sources):
- items are searched with GET <iu>/<tenant>/IDM/api/items/search?$query=<XQuery>&$offset=N&$limit=N, the
  XQuery naming a document type and attribute conditions, e.g. /M3_SalesInvoice[@M3_InvoiceNumber = "..."];
- the answer is {"items": {"item": [...]}}, each item with its pid, entityName, attrs.attr[{name, type, value}]
  and resrs.res[{...}] (its resources: the file and its renditions);
- M3 supplier invoices are kept under the document type M3_SupplierInvoice.
The rest is UNCONFIRMED (docs/ASSUMPTIONS.md I12-I14): the attribute names of M3_SupplierInvoice, that a
single hit may come back as one object instead of a list, which resource is the image (the one without a
name), its fields (filename, mimetype, size), and GET items/{pid}/resource for its content.
"""

import re

from connectors.errors import ConfigurationError

DOCUMENT_STORE = "idm"
DOCUMENT_TYPE = "M3_SupplierInvoice"
API = "IDM/api"
# UNCONFIRMED (I12): the attributes of M3_SupplierInvoice that name an invoice, by the M3 field they hold.
ATTRIBUTES = {"CONO": "M3_Company", "DIVI": "M3_Division", "SUNO": "M3_SupplierNumber",
              "SINO": "M3_SupplierInvoiceNumber"}
# Hits read per search call (idm_items reads on until a short page): an invoice has one image, or a few pages.
SEARCH_LIMIT = 20
# The one query shape we send (and the simulator takes): /Type[@Attr = "value" AND @Attr = "value"].
CONDITION = re.compile(r'@(?P<name>[A-Za-z0-9_]+) = "(?P<value>[^"]*)"')
QUERY = re.compile(r'/(?P<type>[A-Za-z0-9_]+)\[(?P<conditions>@[A-Za-z0-9_]+ = "[^"]*"(?: AND @[A-Za-z0-9_]+ = '
                   r'"[^"]*")*)\]')


DOCUMENT_TYPE_NAME = re.compile(r"[A-Za-z0-9_]+")


def query(document_type, values):
    """The XQuery selecting the items of `document_type` whose attributes hold `values` ({M3 field: value}).
    A value with a double quote cannot be written in it: None then."""
    if not DOCUMENT_TYPE_NAME.fullmatch(document_type):
        # Typed by staff: anything but a name would change what the query selects.
        raise ConfigurationError(f"The IDM document type {document_type!r} is not a name (letters, digits, _).")
    if any('"' in str(v) for v in values.values()):
        return None
    conditions = " AND ".join(f'@{ATTRIBUTES[field]} = "{value}"' for field, value in values.items())
    return f"/{document_type}[{conditions}]"


def parse_query(text):
    """(document type, {attribute: value}) of a query in the shape above, or None."""
    match = QUERY.fullmatch(text or "")
    if not match:
        return None
    return match["type"], {m["name"]: m["value"] for m in CONDITION.finditer(match["conditions"])}


def items_of(body):
    """The items of a search answer, a single hit given as one object included."""
    items = body.get("items") if isinstance(body, dict) else None
    if items in (None, ""):
        return []
    found = items.get("item") if isinstance(items, dict) else None
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def resources_of(item):
    resources = (item.get("resrs") or {}).get("res") if isinstance(item.get("resrs"), dict) else None
    if resources is None:
        return []
    return resources if isinstance(resources, list) else [resources]


def main_resource(item):
    """The item's file: the resource without a name (renditions such as thumbnails carry one)."""
    return next((r for r in resources_of(item) if isinstance(r, dict) and not r.get("name")), None)
