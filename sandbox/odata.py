"""The server half of OData v4 for the simulators: $filter parsed and applied, and the other query options,
refusing what a real service refuses with the message it would give (400 Bad Request).

The client half (building queries, paging) is connectors/odata.py; this half shares its grammar (names,
paths, literals, dialects) so what the client writes is exactly what the simulators read."""

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from connectors.odata import _MEMBER_RE, _NAME, _PATH_RE, _QUALIFIED_RE, ODATA_4, Dialect, _names, encode_params

# --- server side: $filter -------------------------------------------------------------------------------

class ODataQueryError(ValueError):
    """A query a real OData service would refuse with 400 Bad Request; the message names what is wrong."""


_PRIMITIVES = {"string": "Edm.String", "int": "Edm.Int32", "decimal": "Edm.Decimal", "double": "Edm.Double",
               "bool": "Edm.Boolean", "datetimeoffset": "Edm.DateTimeOffset", "date": "Edm.Date",
               "guid": "Edm.Guid", "timeofday": "Edm.TimeOfDay", "null": "null"}
_FIELD_TYPES = {"string", "int", "decimal", "bool", "datetimeoffset", "date", "guid"}
_COMPARISONS = {"eq": ("Equal", operator.eq), "ne": ("NotEqual", operator.ne),
                "gt": ("GreaterThan", operator.gt), "ge": ("GreaterThanOrEqual", operator.ge),
                "lt": ("LessThan", operator.lt), "le": ("LessThanOrEqual", operator.le)}
_UNSUPPORTED_OPERATORS = {"has", "add", "sub", "mul", "div", "divby", "mod"}
_KEYWORDS = {"and", "or", "not", "in", *_COMPARISONS, *_UNSUPPORTED_OPERATORS}


def _substring(text, start, length=None):
    # A negative start or length is read as 0: the URL Conventions do not say (UNCONFIRMED how IFS answers one).
    start = max(start, 0)
    return text[start:] if length is None else text[start:start + max(length, 0)]


# The canonical functions of $filter: {name: ((argument types, ...) of each signature, result type, function)}.
# OData 4.01 Part 2, URL Conventions, 5.1.1.5 (string functions) and 5.1.1.7 (date and time functions):
# https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part2-url-conventions.html#sec_BuiltinFilterOperations
# (indexof and substring count from 0; year..second read a DateTimeOffset in its own offset), and OData 3.0's
# substringof(needle, haystack), which Acumatica documents instead of contains. A dialect says which it takes
# (connectors.odata.Dialect.functions); any null argument makes the result null (URL Conventions 5.1.1.5).
_S, _I = "string", "int"
_FUNCTIONS = {
    "contains": (((_S, _S),), "bool", lambda s, t: t in s),
    "startswith": (((_S, _S),), "bool", str.startswith),
    "endswith": (((_S, _S),), "bool", str.endswith),
    "substringof": (((_S, _S),), "bool", lambda t, s: t in s),
    "length": (((_S,),), _I, len),
    "indexof": (((_S, _S),), _I, str.find),
    "substring": (((_S, _I), (_S, _I, _I)), _S, _substring),
    "tolower": (((_S,),), _S, str.lower),
    "toupper": (((_S,),), _S, str.upper),
    "trim": (((_S,),), _S, str.strip),
    "concat": (((_S, _S),), _S, operator.add),
    "year": ((("date",), ("datetimeoffset",)), _I, lambda d: d.year),
    "month": ((("date",), ("datetimeoffset",)), _I, lambda d: d.month),
    "day": ((("date",), ("datetimeoffset",)), _I, lambda d: d.day),
    "hour": ((("datetimeoffset",), ("timeofday",)), _I, lambda t: t.hour),
    "minute": ((("datetimeoffset",), ("timeofday",)), _I, lambda t: t.minute),
    "second": ((("datetimeoffset",), ("timeofday",)), _I, lambda t: t.second),
    "date": ((("datetimeoffset",),), "date", lambda d: d.date()),
    "time": ((("datetimeoffset",),), "timeofday", lambda d: d.time()),
}


@dataclass(frozen=True)
class _Field:
    type: str  # a _FIELD_TYPES name, or "enum:<qualified type name>"
    members: tuple = ()


def _field_specs(fields: Mapping[str, Any]) -> dict[str, _Field]:
    specs = {}
    for name, spec in fields.items():
        if spec in _FIELD_TYPES:
            specs[name] = _Field(spec)
        elif (isinstance(spec, tuple) and len(spec) == 3 and spec[0] == "enum"
              and _QUALIFIED_RE.fullmatch(spec[1]) and spec[2]):
            specs[name] = _Field(f"enum:{spec[1]}", tuple(spec[2]))
        else:
            raise ValueError(f"Field {name!r}: {spec!r} is not an OData field type this module knows")
    return specs


def _type_name(type_):
    return type_[5:] if type_.startswith("enum:") else _PRIMITIVES[type_]


def _lookup(row, path):
    value = row
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _row_value(spec: _Field, value):
    """A stored value as the Python type its literals parse to; simulators may keep dates as ISO text."""
    if value is None:
        return None
    if spec.type == "datetimeoffset":
        value = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        if value.tzinfo is None:
            raise ValueError(f"The stored DateTimeOffset {value.isoformat()} has no time zone")
        return value
    if spec.type == "date":
        return value if isinstance(value, date) else date.fromisoformat(value)
    if spec.type == "decimal":
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if spec.type == "int":
        return int(value)
    if spec.type == "guid":
        return value if isinstance(value, UUID) else UUID(str(value))
    return value


@dataclass(frozen=True)
class _Token:
    kind: str  # name, string, typed, number, datetime, date, guid, timeofday, open, close, comma, end
    text: str
    pos: int
    value: Any = None


@dataclass(frozen=True)
class _Node:
    type: str  # a _PRIMITIVES name, or "enum:<qualified type name>"
    evaluate: Callable[[Mapping], Any]
    members: tuple = ()  # an enum property's members, to check the enum literals compared with it
    member: str | None = None  # an enum literal's member


_GUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Za-z_-])")
_DATETIME_CANDIDATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}T[0-9:.]*(?:Z|[+-]\d{2}:\d{2})?")
_DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,12})?)?)(Z|[+-]\d{2}:\d{2})?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?![0-9A-Za-z_:.-])")
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,12}))?)?(?![0-9A-Za-z_:.-])")
_NUMBER_RE = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WORD_RE = re.compile(rf"{_NAME}(?:[./]{_NAME})*")
_LITERAL_KINDS = {"string", "typed", "number", "datetime", "date", "guid", "timeofday"}


def _constant(value):
    return lambda row: value


def _comparator(op, left, right):
    compare = _COMPARISONS[op][1]

    def evaluate(row):
        a, b = left(row), right(row)
        if a is None or b is None:
            # Two nulls are equal, a null differs from any value, and relational operators on a null are
            # false (MS-ODATA 2.2.3.6.1.1.5).
            return (a is b) if op == "eq" else (a is not b) if op == "ne" else False
        return compare(a, b)

    return evaluate


class _Parser:
    """A tokenizer and a recursive descent over its tokens; precedence not > comparison > and > or. Nodes
    are type-checked as they are built, so a wrong literal is refused before any row is looked at."""

    def __init__(self, text, specs, dialect):
        self.text, self.specs, self.dialect = text, specs, dialect
        self.tokens = self.tokenize()
        self.index = 0

    def syntax_error(self, pos, detail):
        return ODataQueryError(f"Syntax error at position {pos} in '{self.text}': {detail}.")

    def at(self, token):
        return f"(at position {token.pos} in '{self.text}')"

    # --- tokens
    def tokenize(self):
        text, pos, tokens = self.text, 0, []
        while pos < len(text):
            char = text[pos]
            if char in " \t":
                pos += 1
            elif char in "(),":
                tokens.append(_Token({"(": "open", ")": "close", ",": "comma"}[char], char, pos))
                pos += 1
            elif char == "'":
                value, end = self.string(pos)
                tokens.append(_Token("string", text[pos:end], pos, value))
                pos = end
            elif m := _GUID_RE.match(text, pos):
                tokens.append(_Token("guid", m[0], pos, UUID(m[0])))
                pos = m.end()
            elif m := _DATETIME_CANDIDATE_RE.match(text, pos):
                tokens.append(_Token("datetime", m[0], pos, self.datetime(m[0], pos)))
                pos = m.end()
            elif m := _DATE_RE.match(text, pos):
                try:
                    value = date.fromisoformat(m[0])
                except ValueError:
                    raise self.syntax_error(pos, f"'{m[0]}' is not a valid Edm.Date") from None
                tokens.append(_Token("date", m[0], pos, value))
                pos = m.end()
            elif m := _TIME_RE.match(text, pos):
                tokens.append(_Token("timeofday", m[0], pos, self.time_of_day(m, pos)))
                pos = m.end()
            elif m := _NUMBER_RE.match(text, pos):
                tokens.append(_Token("number", m[0], pos))
                pos = m.end()
            elif m := _WORD_RE.match(text, pos):
                if text.startswith("'", m.end()):
                    value, end = self.string(m.end())
                    tokens.append(_Token("typed", text[pos:end], pos, (m[0], value)))
                    pos = end
                else:
                    tokens.append(_Token("name", m[0], pos))
                    pos = m.end()
            else:
                raise self.syntax_error(pos, f"character '{char}' is not valid here")
        tokens.append(_Token("end", "", len(text)))
        return tokens

    def string(self, start):
        pieces, pos = [], start + 1
        while True:
            end = self.text.find("'", pos)
            if end < 0:
                raise ODataQueryError(f"There is an unterminated string literal at position {start} in "
                                      f"'{self.text}'.")
            pieces.append(self.text[pos:end])
            if not self.text.startswith("''", end):
                return "".join(pieces), end + 1
            pieces.append("'")
            pos = end + 2

    def datetime(self, text, pos):
        m = _DATETIME_RE.fullmatch(text)
        if m and not m[2]:
            # Often a '+01:00' sent unencoded: form decoding turned the '+' into a space.
            raise self.syntax_error(pos, f"the Edm.DateTimeOffset literal '{text}' has no time zone offset "
                                         "(Z, or a sign and hh:mm; a '+' must be sent as %2B)")
        try:
            if not m:
                raise ValueError(text)
            base, _, fraction = m[1].partition(".")
            # Up to 12 fractional digits are valid OData; Python keeps 6.
            return datetime.fromisoformat(base + (f".{fraction[:6]:0<6}" if fraction else "") +
                                          m[2].replace("Z", "+00:00"))
        except ValueError:
            raise self.syntax_error(pos, f"'{text}' is not a valid Edm.DateTimeOffset") from None

    def time_of_day(self, m, pos):
        try:
            # Up to 12 fractional digits are valid OData; Python keeps 6.
            return time(int(m[1]), int(m[2]), int(m[3] or 0), int(f"{(m[4] or '')[:6]:0<6}"))
        except ValueError:
            raise self.syntax_error(pos, f"'{m[0]}' is not a valid Edm.TimeOfDay") from None

    def peek(self):
        return self.tokens[self.index]

    def take(self):
        self.index += 1
        return self.tokens[self.index - 1]

    def keyword(self, *words):
        token = self.peek()
        return token.kind == "name" and token.text in words

    def expect(self, kind, what):
        token = self.take()
        if token.kind != kind:
            raise self.syntax_error(token.pos, f"{what} expected, found {self.describe(token)}")
        return token

    @staticmethod
    def describe(token):
        return "the end of the expression" if token.kind == "end" else f"'{token.text}'"

    # --- grammar
    def parse(self):
        if self.peek().kind == "end":
            raise ODataQueryError("The $filter expression is empty.")
        node = self.parse_or()
        token = self.peek()
        if token.kind != "end":
            if token.kind == "name" and token.text in _UNSUPPORTED_OPERATORS:
                raise self.unsupported_operator(token)
            raise self.syntax_error(token.pos, f"unexpected {self.describe(token)}")
        if node.type != "bool":
            raise ODataQueryError(f"The $filter expression '{self.text}' must evaluate to a single boolean "
                                  f"value, not {_type_name(node.type)}.")
        return lambda row: node.evaluate(row) is True

    def unsupported_operator(self, token):
        return ODataQueryError(f"The operator '{token.text}' is not supported by this service {self.at(token)}.")

    def boolean(self, node, token):
        if node.type != "bool":
            raise ODataQueryError(f"The operands of '{token.text}' must be Edm.Boolean, not "
                                  f"{_type_name(node.type)} {self.at(token)}.")
        return node.evaluate

    # Null operands of and/or count as false (MS-ODATA 2.2.3.6.1.1.5); `not null` stays null, so unselected.
    def parse_or(self):
        node = self.parse_and()
        while self.keyword("or"):
            token = self.take()
            a, b = self.boolean(node, token), self.boolean(self.parse_and(), token)
            node = _Node("bool", lambda row, a=a, b=b: a(row) is True or b(row) is True)
        return node

    def parse_and(self):
        node = self.parse_comparison()
        while self.keyword("and"):
            token = self.take()
            a, b = self.boolean(node, token), self.boolean(self.parse_comparison(), token)
            node = _Node("bool", lambda row, a=a, b=b: a(row) is True and b(row) is True)
        return node

    def parse_comparison(self):
        left = self.parse_unary()
        token = self.peek()
        if self.keyword(*_COMPARISONS):
            self.take()
            right = self.parse_unary()
            self.check_operands(left, right, token)
            return _Node("bool", _comparator(token.text, left.evaluate, right.evaluate))
        if self.keyword("in"):
            if not self.dialect.in_operator:
                raise self.unsupported_operator(token)
            self.take()
            tests = []
            for value in self.parse_list():
                self.check_operands(left, value, token)
                tests.append(_comparator("eq", left.evaluate, value.evaluate))
            return _Node("bool", lambda row: any(test(row) for test in tests))
        if token.kind == "name" and token.text in _UNSUPPORTED_OPERATORS:
            raise self.unsupported_operator(token)
        return left

    def parse_list(self):
        self.expect("open", "'('")
        values = []
        while self.peek().kind != "close":
            if values:
                self.expect("comma", "',' or ')'")
            token = self.peek()
            if token.kind not in _LITERAL_KINDS and not self.keyword("true", "false", "null"):
                raise self.syntax_error(token.pos, f"a literal was expected in the 'in' list, found "
                                                   f"{self.describe(token)}")
            values.append(self.parse_primary())
        self.take()
        return values

    def check_operands(self, left, right, token):
        types = {left.type, right.type}
        if not ("null" in types or len(types) == 1 or types == {"int", "decimal"}):
            kind = _COMPARISONS[token.text][0] if token.text in _COMPARISONS else "In"
            raise ODataQueryError(
                f"A binary operator with incompatible types was detected. Found operand types "
                f"'{_type_name(left.type)}' and '{_type_name(right.type)}' for operator kind '{kind}' "
                f"{self.at(token)}.")
        if any(t.startswith("enum:") for t in types):
            if token.text not in ("eq", "ne", "in"):
                raise self.unsupported_operator(token)
            for literal_node, other in ((left, right), (right, left)):
                if literal_node.member is not None and other.members and literal_node.member not in other.members:
                    raise ODataQueryError(f"The string '{literal_node.member}' is not a valid enumerated type "
                                          f"constant of {_type_name(literal_node.type)} {self.at(token)}.")

    def parse_unary(self):
        if self.keyword("not"):
            token = self.take()
            a = self.boolean(self.parse_unary(), token)
            return _Node("bool", lambda row: None if (value := a(row)) is None else not value)
        return self.parse_primary()

    def parse_primary(self):
        token = self.take()
        if token.kind == "open":
            node = self.parse_or()
            self.expect("close", "')'")
            return node
        if token.kind == "name":
            return self.name(token)
        if token.kind == "string":
            return _Node("string", _constant(token.value))
        if token.kind == "number":
            if "e" in token.text.lower():
                return _Node("double", _constant(float(token.text)))
            return (_Node("decimal", _constant(Decimal(token.text))) if "." in token.text else
                    _Node("int", _constant(int(token.text))))
        if token.kind == "datetime":
            if self.dialect.prefixed_datetimeoffset:
                raise self.syntax_error(token.pos, f"this service takes Edm.DateTimeOffset literals written "
                                                   f"datetimeoffset'{token.text}'")
            return _Node("datetimeoffset", _constant(token.value))
        if token.kind in ("date", "guid", "timeofday"):
            return _Node(token.kind, _constant(token.value))
        if token.kind == "typed":
            return self.typed(token)
        raise self.syntax_error(token.pos, f"an operand was expected, found {self.describe(token)}")

    def name(self, token):
        if self.peek().kind == "open":
            return self.call(token)
        if token.text in ("true", "false"):
            return _Node("bool", _constant(token.text == "true"))
        if token.text == "null":
            return _Node("null", _constant(None))
        if token.text in _KEYWORDS:
            raise self.syntax_error(token.pos, f"an operand was expected, found '{token.text}'")
        spec = self.specs.get(token.text)
        if spec is None:
            raise ODataQueryError(f"Could not find a property named '{token.text}' {self.at(token)}.")
        return _Node(spec.type, lambda row, path=token.text: _row_value(spec, _lookup(row, path)), spec.members)

    def typed(self, token):
        prefix, content = token.value
        if prefix == "datetimeoffset" and self.dialect.prefixed_datetimeoffset:
            if not _DATETIME_CANDIDATE_RE.fullmatch(content):
                raise self.syntax_error(token.pos, f"'{content}' is not a valid Edm.DateTimeOffset")
            return _Node("datetimeoffset", _constant(self.datetime(content, token.pos)))
        if prefix == "datetimeoffset":
            raise self.syntax_error(token.pos, f"{token.text} is OData v3 syntax; OData v4 writes the value "
                                               f"bare, as {content}")
        if _QUALIFIED_RE.fullmatch(prefix):
            if not _MEMBER_RE.fullmatch(content):
                raise ODataQueryError(f"The string '{content}' is not a valid enumerated type constant of "
                                      f"{prefix} {self.at(token)}.")
            return _Node(f"enum:{prefix}", _constant(content), member=content)
        raise self.syntax_error(token.pos, f"unsupported literal {token.text}")

    def call(self, name):
        if name.text not in _FUNCTIONS or name.text not in self.dialect.functions:
            raise ODataQueryError(f"An unknown function with name '{name.text}' was found {self.at(name)}.")
        self.take()
        args = [self.parse_or()]
        while self.peek().kind == "comma":
            self.take()
            args.append(self.parse_or())
        self.expect("close", "')'")
        signatures, result, function = _FUNCTIONS[name.text]
        if not any(len(args) == len(types) and all(arg.type in (kind, "null")
                                                    for arg, kind in zip(args, types, strict=True))
                   for types in signatures):
            raise ODataQueryError(f"No function signature for the function with name '{name.text}' matches the "
                                  f"specified arguments {self.at(name)}.")
        evaluators = [arg.evaluate for arg in args]

        def evaluate(row):
            values = [each(row) for each in evaluators]
            return None if any(value is None for value in values) else function(*values)

        return _Node(result, evaluate)


def parse_filter(text: str, fields: Mapping[str, Any], *, dialect: Dialect = ODATA_4) -> Callable[[Mapping], bool]:
    """The $filter `text` (already URL-decoded) as a predicate over rows (dicts; "A/B" paths read nested
    dicts). `fields` maps each filterable property to "string", "int", "decimal", "bool", "datetimeoffset",
    "date", "guid" or ("enum", "Namespace.EnumType", members). Raises ODataQueryError for what a service
    refuses."""
    return _Parser(text, _field_specs(fields), dialect).parse()


# --- server side: the other query options ---------------------------------------------------------------

_SUPPORTED_OPTIONS = ("$filter", "$orderby", "$top", "$skip", "$select", "$count")
_ORDER_OPTION_RE = re.compile(rf"({_PATH_RE.pattern})(?:[ \t]+(asc|desc))?")


def _non_negative(options, name):
    value = options.get(name)
    if value is None:
        return None
    if not re.fullmatch(r"\d+", value):
        raise ODataQueryError(f"Invalid value '{value}' for {name} query option found. The {name} query option "
                              "requires a non-negative integer value.")
    return int(value)


def _ordering(text, specs, keys):
    items = []
    for item in [] if text is None else (i.strip() for i in text.split(",")):
        m = _ORDER_OPTION_RE.fullmatch(item)
        if not m:
            raise ODataQueryError(f"Syntax error in $orderby item '{item}': a property name, optionally followed "
                                  "by asc or desc, was expected.")
        if m[1] not in specs:
            raise ODataQueryError(f"Could not find a property named '{m[1]}' (in $orderby).")
        items.append((m[1], m[2] == "desc"))
    ordered = {name for name, _ in items}
    return items + [(k, False) for k in keys if k not in ordered]


def _selection(text, specs):
    if text is None:
        return None
    names = list(dict.fromkeys(name.strip() for name in text.split(",")))
    if "*" in names:
        return None
    for name in names:
        if "/" in name:
            raise ODataQueryError(f"$select takes properties of the entity itself here; '{name}' is a path.")
        if name not in specs:
            raise ODataQueryError(f"Could not find a property named '{name}' (in $select).")
    return names


def _sort_key(spec, value):
    value = _row_value(spec, value)
    if spec.members and value is not None:
        # Enum members sort by their declared order (their underlying values), not by name.
        value = spec.members.index(value) if value in spec.members else len(spec.members)
    # Nulls sort first ascending, last descending (OData URL Conventions, $orderby).
    return (value is not None, value)


def apply_query(rows: Sequence[Mapping], params: Mapping[str, str | Sequence[str]], fields: Mapping[str, Any],
                key: str | Sequence[str], max_top: int = 100, *, entity_set: str,
                dialect: Dialect = ODATA_4) -> dict:
    """Answer a collection read the way an OData v4 service does.

    `params` is the URL-decoded query, a value per name or a list of them (a simulator's request.query).
    `fields` is as for parse_filter and also bounds $select and $orderby; `key` (one or more fields) ends
    every ordering so pages are stable. At most `max_top` rows go in one answer (server-driven paging);
    the rest of the requested window is offered as an @odata.nextLink relative to the context URL
    "$metadata#<entity_set>", which resolves right when the entity set sits directly under the service
    root. Options not starting with "$" are the simulator's business and are carried into the next link.
    """
    if max_top < 1:
        raise ValueError("max_top must be at least 1")
    options = {}
    for name, value in params.items():
        if not name.startswith("$"):
            continue
        if name not in _SUPPORTED_OPTIONS:
            raise ODataQueryError(f"The query parameter '{name}' is not supported.")
        values = [value] if isinstance(value, str) else list(value)
        if len(values) != 1:
            raise ODataQueryError(f"Query option '{name}' was specified more than once, but it must be specified "
                                  "at most once.")
        options[name] = values[0]
    specs = _field_specs(fields)
    keys = _names(key)
    if not keys or any(k not in specs for k in keys):
        raise ValueError(f"key {key!r} must name one or more of the fields")
    if options.get("$count", "false") not in ("true", "false"):
        raise ODataQueryError(f"'{options['$count']}' is not a valid count option.")
    selected = _selection(options.get("$select"), specs)
    ordering = _ordering(options.get("$orderby"), specs, keys)
    top, skip = _non_negative(options, "$top"), _non_negative(options, "$skip") or 0

    matched = list(rows)
    if "$filter" in options:
        predicate = parse_filter(options["$filter"], fields, dialect=dialect)
        matched = [row for row in matched if predicate(row)]
    for name, descending in reversed(ordering):  # stable sorts, least significant first
        matched.sort(key=lambda row, name=name: _sort_key(specs[name], _lookup(row, name)), reverse=descending)

    end = len(matched) if top is None else min(len(matched), skip + top)
    page = matched[skip:min(end, skip + max_top)]
    body = {"@odata.context": f"$metadata#{entity_set}" + (f"({','.join(selected)})" if selected else "")}
    if options.get("$count") == "true":
        body["@odata.count"] = len(matched)
    body["value"] = [{name: row.get(name) for name in selected} if selected else dict(row) for row in page]
    if skip + len(page) < end:
        following = {name: options.get(name, value) for name, value in params.items()}
        following["$skip"] = str(skip + len(page))
        if top is not None:
            following["$top"] = str(top - len(page))
        body["@odata.nextLink"] = f"{entity_set}?{encode_params(following)}"
    return body


# --- $metadata ---------------------------------------------------------------------------------------

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"


def metadata_document(namespace: str, entity_sets: Mapping[str, tuple[str, Mapping[str, Any], Sequence[str]]], *,
                      contained: Mapping[str, tuple[Mapping[str, Any], Sequence[str]]] | None = None,
                      navigations: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The service's CSDL XML ($metadata, OData 4.0): `entity_sets` is {set name: (entity type name, fields as
    apply_query takes them, key property names)}. An enum field's type is declared in the namespace its qualified
    name gives, with its members in order. `contained` declares entity types reached only through a navigation
    ({type name: (fields, keys)}); `navigations` their collection-valued navigation properties ({type name:
    {property: target type name}})."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("edmx", EDMX)
    ET.register_namespace("", EDM)
    root = ET.Element(f"{{{EDMX}}}Edmx", Version="4.0")
    services = ET.SubElement(root, f"{{{EDMX}}}DataServices")
    schemas = {}

    def schema(name):
        if name not in schemas:
            schemas[name] = ET.SubElement(services, f"{{{EDM}}}Schema", Namespace=name)
        return schemas[name]

    main = schema(namespace)
    enums = {}
    declared = [*entity_sets.values(), *((name, fields, keys) for name, (fields, keys) in (contained or {}).items())]
    for type_name, fields, keys in declared:
        entity = ET.SubElement(main, f"{{{EDM}}}EntityType", Name=type_name)
        key = ET.SubElement(entity, f"{{{EDM}}}Key")
        for name in keys:
            ET.SubElement(key, f"{{{EDM}}}PropertyRef", Name=name)
        for name, spec in _field_specs(fields).items():
            if "/" in name:
                continue  # a path into a related entity is that entity's property
            ET.SubElement(entity, f"{{{EDM}}}Property", Name=name, Type=_type_name(spec.type))
            if spec.members:
                enums[_type_name(spec.type)] = spec.members
        for name, target in (navigations or {}).get(type_name, {}).items():
            ET.SubElement(entity, f"{{{EDM}}}NavigationProperty", Name=name, Type=f"Collection({namespace}.{target})")
    for qualified, members in enums.items():
        space, _, name = qualified.rpartition(".")
        enum = ET.SubElement(schema(space), f"{{{EDM}}}EnumType", Name=name)
        for value, member in enumerate(members):
            ET.SubElement(enum, f"{{{EDM}}}Member", Name=member, Value=str(value))
    container = ET.SubElement(main, f"{{{EDM}}}EntityContainer", Name="Container")
    for set_name, (type_name, _, _) in entity_sets.items():
        ET.SubElement(container, f"{{{EDM}}}EntitySet", Name=set_name, EntityType=f"{namespace}.{type_name}")
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")
