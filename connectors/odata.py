"""OData v4 reading, for the IFS Cloud, SYSPRO 8 and Acumatica connectors.

A typed $filter builder whose literals are rendered the way OData URLs spell them, the query options
encoded into a query string, and a pager over `@odata.nextLink` with a $top/$skip fallback. The
simulators' server half, which parses and applies these queries, is sandbox/odata.py.

Sources: OData ABNF Construction Rules 4.01 (oasis-tcs/odata-abnf), OData JSON Format 4.01, MS-ODATA
2.2.3.6.1.1.5 (null semantics), the Acumatica Integration Development Guide ("$filter Parameter").
"""

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urljoin
from uuid import UUID

from connectors.errors import TransientError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH_RE = re.compile(rf"{_NAME}(?:/{_NAME})*")
_QUALIFIED_RE = re.compile(rf"{_NAME}(?:\.{_NAME})+")
_MEMBER_RE = re.compile(_NAME)


# The canonical $filter functions of OData 4.01 (URL Conventions 5.1.1.5 string, 5.1.1.7 date and time functions:
# https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part2-url-conventions.html) that the simulators serve;
# IFS's OData Provider takes all the string functions and these date functions ("Supported Functionalities",
# https://docs.ifs.com/techdocs/23r2/040_tailoring/300_extensibility/100_odata_provider/1000_supported_functionalities/).
ODATA_4_FUNCTIONS = frozenset({"contains", "startswith", "endswith", "length", "indexof", "substring", "tolower",
                               "toupper", "trim", "concat", "year", "month", "day", "hour", "minute", "second", "date",
                               "time"})
# Acumatica's contract-based REST API takes "the following functions as they are defined in OData: substringof,
# startswith, endswith" (Integration Development Guide, "$filter Parameter", https://help.myob.com.au/advanced/Docs/
# Published/IntegrationDevelopmentGuide/IntegrationDev_RESTExample_Parameter_filter.html): OData 3.0's, so
# substringof('text', Field) where 4.0 writes contains(Field, 'text').
ACUMATICA_FUNCTIONS = frozenset({"substringof", "startswith", "endswith"})


@dataclass(frozen=True)
class Dialect:
    """What a service accepts beyond plain OData 4.0.

    `in_operator`: the 4.01 `in` operator; without it `in_()` is written as an `or` of `eq`s, which every
    4.0 service understands. `prefixed_datetimeoffset`: DateTimeOffset literals written
    datetimeoffset'...' (OData v3 style), the form Acumatica's contract-based REST API documents in its
    $filter examples. `functions`: the $filter functions it takes; `contains()` is written as substringof where
    a dialect has that and not contains.
    """

    in_operator: bool = False
    prefixed_datetimeoffset: bool = False
    functions: frozenset = ODATA_4_FUNCTIONS


ODATA_4 = Dialect()
# Acumatica's contract-based REST API: v3-style DateTimeOffset literals and functions, a filter on a linked entity's
# field written as its path (MainContact/Email eq '...', same guide).
ACUMATICA = Dialect(prefixed_datetimeoffset=True, functions=ACUMATICA_FUNCTIONS)


# --- literals -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnumMember:
    """An enum literal, e.g. EnumMember("IfsApp.ManSuppInvoiceHandling.ManSuppInvoiceState", "Posted")."""

    type_name: str
    member: str

    def __post_init__(self):
        # OData 4.01 lets the type name be left out; IFS documents it written out, so it is required here.
        if not _QUALIFIED_RE.fullmatch(self.type_name):
            raise ValueError(f"Enum type {self.type_name!r} must be namespace-qualified, e.g. 'Namespace.EnumType'")
        if not _MEMBER_RE.fullmatch(self.member):
            raise ValueError(f"Enum member {self.member!r} is not an OData identifier")


def _datetime_text(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"Cannot write the naive datetime {value.isoformat()} as an OData DateTimeOffset: "
                         "its time zone is unknown. Pass an aware datetime (e.g. django.utils.timezone.now()).")
    utc = value.astimezone(UTC)
    # Milliseconds, cut rather than rounded: every stack behind these services parses three digits (.NET
    # takes seven, SQL Server's datetime keeps 1/300 s), and cutting only ever lowers the value, so a
    # `gt`/`ge` bound built from a cursor can re-read a row but never skip one.
    millis = utc.microsecond // 1000
    text = utc.replace(microsecond=millis * 1000, tzinfo=None).isoformat(
        timespec="milliseconds" if millis else "seconds")
    return text + "Z"


def literal(value: Any, dialect: Dialect = ODATA_4) -> str:
    """`value` written as an OData URL literal (before percent-encoding)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        number = value if isinstance(value, Decimal) else Decimal(repr(value))
        if not number.is_finite():
            raise ValueError(f"{value!r} has no OData literal here")
        # Fixed-point, where str(Decimal) may give an exponent: a literal with one reads as Edm.Double, which
        # Microsoft's OData stack refuses to compare with an Edm.Decimal property (incompatible types).
        return format(number, "f")
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        text = _datetime_text(value)
        return f"datetimeoffset'{text}'" if dialect.prefixed_datetimeoffset else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, EnumMember):
        return f"{value.type_name}'{value.member}'"
    raise TypeError(f"No OData literal for {type(value).__name__} {value!r}")


def _path(name: str) -> str:
    if not isinstance(name, str) or not _PATH_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not an OData property name or path")
    return name


# --- the $filter builder ------------------------------------------------------------------------------

class Expr:
    """A $filter expression; build with eq() ... startswith(), and_(), or_(), not_()."""

    def render(self, dialect: Dialect = ODATA_4) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class _Compare(Expr):
    field: str
    op: str
    value: Any

    def render(self, dialect=ODATA_4):
        return f"{self.field} {self.op} {literal(self.value, dialect)}"


@dataclass(frozen=True)
class _Junction(Expr):
    op: str
    parts: tuple[Expr, ...]

    def render(self, dialect=ODATA_4):
        # Nested junctions are always parenthesised, so `and` inside `or` (or the reverse) reads as built.
        return f" {self.op} ".join(f"({p.render(dialect)})" if isinstance(p, _Junction | _In) else
                                   p.render(dialect) for p in self.parts)


@dataclass(frozen=True)
class _Not(Expr):
    part: Expr

    def render(self, dialect=ODATA_4):
        return f"not ({self.part.render(dialect)})"


@dataclass(frozen=True)
class _In(Expr):
    field: str
    values: tuple

    def render(self, dialect=ODATA_4):
        if dialect.in_operator:
            return f"{self.field} in ({','.join(literal(v, dialect) for v in self.values)})"
        return " or ".join(f"{self.field} eq {literal(v, dialect)}" for v in self.values)


@dataclass(frozen=True)
class _StringCall(Expr):
    function: str
    field: str
    text: str

    def render(self, dialect=ODATA_4):
        if self.function == "contains" and "contains" not in dialect.functions and "substringof" in dialect.functions:
            return f"substringof({literal(self.text, dialect)},{self.field})"
        return f"{self.function}({self.field},{literal(self.text, dialect)})"


def _comparison(op):
    def build(field: str, value: Any) -> Expr:
        literal(value)  # refuse an unwritable value where the filter is built, not where it is sent
        return _Compare(_path(field), op, value)

    build.__name__ = op
    build.__doc__ = f"`field {op} value`"
    return build


eq, ne, gt, ge, lt, le = (_comparison(op) for op in ("eq", "ne", "gt", "ge", "lt", "le"))


def _junction(op, exprs):
    if not exprs or not all(isinstance(e, Expr) for e in exprs):
        raise ValueError(f"{op} needs one or more filter expressions")
    return exprs[0] if len(exprs) == 1 else _Junction(op, tuple(exprs))


def and_(*exprs: Expr) -> Expr:
    return _junction("and", exprs)


def or_(*exprs: Expr) -> Expr:
    return _junction("or", exprs)


def not_(expr: Expr) -> Expr:
    if not isinstance(expr, Expr):
        raise ValueError("not_ needs a filter expression")
    return _Not(expr)


def in_(field: str, values: Sequence) -> Expr:
    """`field in (...)` where the dialect has the 4.01 operator, else the equivalent `or` of `eq`s."""
    values = tuple(values)
    if not values:
        raise ValueError(f"in_({field!r}) needs at least one value; an empty list matches nothing, so skip the query")
    for value in values:
        literal(value)
    return _In(_path(field), values)


def contains(field: str, text: str) -> Expr:
    if not isinstance(text, str):
        raise TypeError("contains() takes a string")
    return _StringCall("contains", _path(field), text)


def startswith(field: str, text: str) -> Expr:
    if not isinstance(text, str):
        raise TypeError("startswith() takes a string")
    return _StringCall("startswith", _path(field), text)


def endswith(field: str, text: str) -> Expr:
    if not isinstance(text, str):
        raise TypeError("endswith() takes a string")
    return _StringCall("endswith", _path(field), text)


# --- query options --------------------------------------------------------------------------------------

# Left unencoded: characters with a meaning in OData URLs that RFC 3986 allows as-is in a query. Everything
# else is percent-encoded, a space as %20 and '+' as %2B: the OData ABNF takes only SP, HTAB, %20 and %09 as
# whitespace and only %2B as a plus sign, and form-style decoding turns a bare '+' into a space.
# `requests` would write a params dict form-style ('+' for a space, %24 for '$'), so the encoded string is
# handed to it instead, which it sends unchanged.
_SAFE = "$'(),:/@*"


def encode_params(params: Mapping[str, str | Sequence[str]]) -> str:
    """A query string from `params`; a sequence value repeats the option. Pass it to requests as params=."""
    parts = []
    for name, value in params.items():
        for one in [value] if isinstance(value, str) else value:
            parts.append(f"{quote(name, safe=_SAFE)}={quote(one, safe=_SAFE)}")
    return "&".join(parts)


_ORDER_ITEM_RE = re.compile(rf"({_PATH_RE.pattern})(?: (asc|desc))?")


def _names(value):
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class Query:
    """The query options of one collection read. `key` (one or more properties that identify a row) is
    appended to $orderby unless already there, so that $skip paging sees a total, stable order."""

    select: Sequence[str] = ()
    filter: Expr | None = None
    orderby: Sequence[str] = ()  # "Property" or "Property desc"
    key: str | Sequence[str] = ()
    top: int | None = None
    skip: int | None = None
    expand: Sequence[str] = ()
    count: bool = False
    dialect: Dialect = ODATA_4

    def __post_init__(self):
        for name in ("select", "orderby", "key", "expand"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        for name in (*self.select, *self.key, *self.expand):
            _path(name)
        for item in self.orderby:
            if not _ORDER_ITEM_RE.fullmatch(item):
                raise ValueError(f"$orderby item {item!r} is not 'Property' or 'Property asc|desc'")
        for name in ("top", "skip"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"${name} must be a non-negative integer, not {value!r}")
        if self.filter is not None and not isinstance(self.filter, Expr):
            raise TypeError("filter must be built with the odata filter functions (eq, and_, ...)")

    def params(self) -> dict[str, str]:
        """The system query options, unencoded."""
        params = {}
        if self.select:
            params["$select"] = ",".join(self.select)
        if self.filter is not None:
            params["$filter"] = self.filter.render(self.dialect)
        ordered = {_ORDER_ITEM_RE.fullmatch(item)[1] for item in self.orderby}
        order = [*self.orderby, *(k for k in self.key if k not in ordered)]
        if order:
            params["$orderby"] = ",".join(order)
        if self.top is not None:
            params["$top"] = str(self.top)
        if self.skip:
            params["$skip"] = str(self.skip)
        if self.expand:
            params["$expand"] = ",".join(self.expand)
        if self.count:
            params["$count"] = "true"
        return params

    def encode(self) -> str:
        return encode_params(self.params())


# --- paging ---------------------------------------------------------------------------------------------

class ODataPagingError(TransientError):
    """The service's paging cannot be followed: a page that is no collection, a nextLink loop, $skip ignored."""


def _page(body, url):
    """The items of one answer and the absolute-or-path next link, resolved as OData JSON 4.01 says:
    against the context URL, itself resolved against the request URL."""
    # UNCONFIRMED (O1): a service may answer a collection read with a bare JSON array (Acumatica does).
    items = body if isinstance(body, list) else body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ODataPagingError(f"{url}: the answer is not an OData collection (no 'value' list)")
    if not all(isinstance(item, dict) for item in items):
        # An entity collection holds objects only: a page with anything else cannot be trusted to hold its records.
        raise ODataPagingError(f"{url}: the collection holds an item that is not an object")
    if isinstance(body, list):
        return body, None
    # 4.01 payloads may drop the "odata." prefix of control information.
    link = body.get("@odata.nextLink", body.get("@nextLink"))
    if link is None:
        return body["value"], None
    if not isinstance(link, str) or not link:
        raise ODataPagingError(f"{url}: the answer has an unusable next link {link!r}")
    context = body.get("@odata.context", body.get("@context"))
    base = urljoin(url, context) if isinstance(context, str) else url
    return body["value"], urljoin(base, link)


def iter_items(get: Callable[[str, str | None], Any], path: str, query: Query | None = None, *,
               page_size: int | None = None) -> Iterator[dict]:
    """Yield every item of the collection at `path` (a URL, or a path the caller's client resolves).

    `get(url_or_path, params)` performs one GET and returns the parsed JSON body; `params` is an encoded
    query string to send as-is (requests' params=), or None when the URL already carries the query (a
    next link). Server-driven paging is followed through @odata.nextLink. With `page_size`, the query is
    also sent with $top=page_size, and when a window of that many items ends without a next link, the
    next window is asked for with $skip; a window shorter than page_size is taken as the end, so
    page_size must not exceed what the service returns for one $top.
    """
    query = query or Query()
    if page_size is not None and (page_size < 1 or query.top is not None):
        raise ValueError("page_size must be positive, and cannot be combined with query.top")
    seen_links = set()
    skip = query.skip or 0
    previous_first_page = None
    while True:
        url, params = path, replace(query, top=page_size, skip=skip or None).encode()
        window, first_page = 0, None
        while True:
            items, next_link = _page(get(url, params), url)
            if first_page is None:
                if previous_first_page and items == previous_first_page:
                    raise ODataPagingError(f"{path}: $skip={skip} gave the same items as the page before; "
                                           "the service ignores $skip, so paging would never end")
                first_page = items
            yield from items
            window += len(items)
            if next_link is None:
                break
            if next_link in seen_links:
                raise ODataPagingError(f"{path}: the service sent the next link {next_link} a second time; "
                                       "following it would loop forever")
            seen_links.add(next_link)
            url, params = next_link, None
        if page_size is None or window < page_size:
            return
        previous_first_page = first_page
        skip += window


# --- $metadata ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Metadata:
    """What a service's $metadata declares, as the assumption probes read it: {entity set: {property: type}},
    {qualified enum type: (member names)} and {qualified entity type: {property: type}} (a navigation property's
    type names its target, "Collection(<qualified type>)" for a collection)."""

    entity_sets: dict
    enums: dict
    types: dict = field(default_factory=dict)

    def navigation_target(self, properties: dict, name: str) -> dict | None:
        """The properties of the entity type `name`, a navigation property among `properties`, leads to."""
        type_ = properties.get(name) or ""
        return self.types.get(type_.removeprefix("Collection(").removesuffix(")"))


def parse_metadata(text: str) -> Metadata:
    """Read a CSDL XML document (OData 4.0; 3.0's EDMX reads the same where the probes look). Raises DataError
    when it is not one."""
    import xml.etree.ElementTree as ET

    from connectors.errors import DataError

    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise DataError(f"The service's $metadata is not XML ({exc}).") from None
    types, enums, sets = {}, {}, {}

    def local(tag):
        return tag.rpartition("}")[2]

    for schema in (e for e in root.iter() if local(e.tag) == "Schema"):
        space = schema.get("Namespace", "")
        for element in schema:
            name = element.get("Name", "")
            if local(element.tag) == "EntityType":
                types[f"{space}.{name}"] = {p.get("Name"): p.get("Type") for p in element
                                            if local(p.tag) in ("Property", "NavigationProperty")}
            elif local(element.tag) == "EnumType":
                enums[f"{space}.{name}"] = tuple(m.get("Name") for m in element if local(m.tag) == "Member")
            elif local(element.tag) == "EntityContainer":
                sets.update({s.get("Name"): s.get("EntityType") for s in element if local(s.tag) == "EntitySet"})
    if not sets and not types:
        raise DataError("The service's $metadata declares no entity set.")
    return Metadata({name: types.get(type_, {}) for name, type_ in sets.items()}, enums, types)
