"""SYSPRO 8: e.net Solutions REST (a logon session, and the COMFND table query) and the SYSPRO OData service.

Facts (sources in docs/ASSUMPTIONS.md, entries Y1 to Y9): every e.net REST call is an HTTP GET with query
parameters (wildland/syspro-ruby; Flowgear's SYSPRO node). `Logon` answers a session id (a GUID) as plain
text, `Logoff?UserId=` answers "0", and errors come back as text beginning with "ERROR", usually with
HTTP 200. COMFND (`Query/Query`, BusinessObject=COMFND) reads any table: an XmlIn naming the table,
columns, conditions, order and how many rows to return. Sessions count against the site's e.net licences,
and one session should carry one call at a time (Flowgear's `UseMutex`). The OData service (OData 4.0,
read-only) takes HTTP Basic over HTTPS, for an operator set up for OData access (help.syspro.com, "SYSPRO
OData service").
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from urllib.parse import urlparse

from requests.auth import AuthBase

from connectors import odata
from connectors.errors import AuthError, ConfigurationError, TransientError
from connectors.http import HttpClient, ReauthRequired, default_classify, excerpt
from connectors.syspro import tables
from connectors.tokens import Token, TokenSession
from connectors.values import amount_value
from portal.redaction import register_secret

ENET = "e.net"
ODATA = "OData"
# The header the session travels in between the token session and SessionInQuery; never sent.
SESSION_HEADER = "X-Mlc-Syspro-Session"
# Conditions spelled as COMFND writes them, by OData operator.
COMFND_CONDITIONS = {"eq": "EQ", "ne": "NE", "gt": "GT", "ge": "GE", "lt": "LT", "le": "LE"}
# Rows per COMFND call or OData page. UNCONFIRMED (Y8): the most ReturnRows and $top a site answers; 500 is
# well inside what both are reported to return.
PAGE_SIZE = 500
# Key lookups go 20 keys to a call: COMFND's XmlIn travels in a GET query string, and the longest URL a
# site's IIS takes is not documented (UNCONFIRMED, Y8); 20 keys keep it under 4 KB.
KEYS_PER_CALL = 20
# UNCONFIRMED (Y9): how many OData calls a site takes at once; 4 per site is a modest guess.
ODATA_CONCURRENCY = 4

# UNCONFIRMED (Y3): the words of e.net's errors. A call on a session that timed out or was logged off names
# the session (UserId) as not logged on or invalid; a logon past the licences says "licence".
SESSION_GONE = ("not logged on", "invalid userid", "invalid user id", "session", "logged off")
NO_LICENCE = ("licence", "license")


def enet_error(text):
    """e.net's error text when the body is one (it begins with ERROR), else None."""
    stripped = (text or "").strip()
    return stripped if stripped[:5].upper() == "ERROR" else None


def classify(response, service):
    """How a SYSPRO answer fails, in SYSPRO's words where it gave some: e.net's "ERROR…" texts (HTTP 200) by
    their words, OData's error objects, and any other failure by its HTTP status. The one place SYSPRO errors
    are read."""
    if service == ENET:
        error = enet_error(response.text)
        if response.status_code >= 400:
            # A failure of the service or what stands before it (IIS): its status says what kind.
            default_classify(response, "SYSPRO e.net", error if error is not None else excerpt(response))
        if error is not None:
            words = error.lower()
            path = urlparse(response.request.url).path if response.request is not None else ""
            if any(w in words for w in NO_LICENCE):
                raise TransientError(f"SYSPRO has no e.net licence free for another session ({error}). Sessions "
                                     "are logged off after every run; the next run tries again.",
                                     status=response.status_code)
            if path.rstrip("/").endswith("/Logon"):
                raise AuthError(f"SYSPRO refused the logon (operator, operator password, company ID or company "
                                f"password): {error}", status=response.status_code)
            if any(w in words for w in SESSION_GONE):
                raise ReauthRequired(f"SYSPRO says the e.net session is no longer valid: {error}",
                                     status=response.status_code)
            raise ConfigurationError(f"SYSPRO e.net answered: {error}", status=response.status_code)
        return
    if response.status_code < 400:
        return
    if response.status_code == 401:
        raise AuthError("The SYSPRO OData service refused the user name or password (HTTP 401). The operator must "
                        "be set up for OData access.", status=401)
    detail = None
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            detail = f"{error['message']}" + (f" [{error['code']}]" if error.get("code") else "")
    except ValueError:
        detail = None
    if response.status_code == 404:
        raise ConfigurationError(f"The SYSPRO OData service has no {urlparse(response.url).path.rsplit('/', 1)[-1]} "
                                 f"here (HTTP 404{': ' + detail if detail else ''}). Check the OData URL, and that "
                                 "the service publishes the tables in connectors/syspro/tables.py.", status=404)
    default_classify(response, "SYSPRO OData", detail if detail is not None else excerpt(response))


class SessionInQuery(AuthBase):
    """e.net takes its session as the UserId query parameter, while the shared HttpClient hands a session to a
    request as a header (so that it can drop and renew it on ReauthRequired). This moves the one into the other
    as requests prepares the call: the renewal logic stays the shared one, and the session id never leaves
    in a header."""

    def __call__(self, request):
        session = request.headers.pop(SESSION_HEADER, None)
        if session:
            request.prepare_url(request.url, {"UserId": session})
        return request


SESSION_IN_QUERY = SessionInQuery()


# --- a filter both services can be asked -----------------------------------------------------------------

@dataclass(frozen=True)
class Cond:
    column: str
    op: str  # eq ne gt ge lt le
    value: object


@dataclass(frozen=True)
class All:
    parts: tuple


@dataclass(frozen=True)
class Any:
    parts: tuple


def all_of(*parts):
    parts = tuple(p for p in parts if p is not None)
    return parts[0] if len(parts) == 1 else All(parts) if parts else None


def any_of(*parts):
    return parts[0] if len(parts) == 1 else Any(tuple(parts))


def key_is(columns, values):
    return all_of(*(Cond(k, "eq", v) for k, v in zip(columns, values, strict=True)))


def after_key(table, values):
    """Rows whose key comes after `values` in key order: the next page of a key-range read."""
    options = []
    for n, column in enumerate(table.key):
        options.append(all_of(*(Cond(k, "eq", v) for k, v in zip(table.key[:n], values, strict=False)),
                              Cond(column, "gt", values[n])))
    return any_of(*options)


def odata_filter(node):
    if isinstance(node, Cond):
        return getattr(odata, node.op)(node.column, node.value)
    parts = [odata_filter(p) for p in node.parts]
    return odata.and_(*parts) if isinstance(node, All) else odata.or_(*parts)


def comfnd_expressions(node):
    """The COMFND <Expression>s of a filter: AND binds before OR, nested groups are bracketed."""
    if isinstance(node, Cond):
        return [{"open": "", "andor": "And", "column": node.column, "condition": COMFND_CONDITIONS[node.op],
                 "value": comfnd_value(node.value), "close": ""}]
    word = "And" if isinstance(node, All) else "Or"
    expressions = []
    for part in node.parts:
        inner = comfnd_expressions(part)
        if not isinstance(part, Cond):
            inner[0]["open"] += "("
            inner[-1]["close"] += ")"
        inner[0]["andor"] = word
        expressions += inner
    return expressions


def comfnd_value(value):
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"No COMFND value for {type(value).__name__} {value!r}")
    return str(value)


def comfnd_xml(table, where, rows):
    query = ET.Element("Query", {"xmlns:xsd": "http://www.w3.org/2001/XMLSchema-instance",
                                 "xsd:noNamespaceSchemaLocation": "COMFND.XSD"})
    ET.SubElement(query, "TableName").text = table.name
    ET.SubElement(query, "ReturnRows").text = str(rows)
    cols = ET.SubElement(query, "Columns")
    for name in table.names:
        ET.SubElement(cols, "Column").text = name
    if where is not None:
        clause = ET.SubElement(query, "Where")
        for e in comfnd_expressions(where):
            expression = ET.SubElement(clause, "Expression")
            for tag, key in (("OpenBracket", "open"), ("AndOr", "andor"), ("Column", "column"),
                             ("Condition", "condition"), ("Value", "value"), ("CloseBracket", "close")):
                ET.SubElement(expression, tag).text = e[key]
    order = ET.SubElement(query, "OrderBy")
    for name in table.key:
        ET.SubElement(order, "Column").text = name
    return ET.tostring(query, encoding="unicode")


# --- values, parsed by their column's type ---------------------------------------------------------------

class BadValue(ValueError):
    def __init__(self, table, column, value, expected):
        super().__init__(f"{table.name}.{column} {value!r} is not {expected}")
        self.column = column


def typed(table, raw):
    """A row with every column parsed by its type (text trimmed, Decimal, date, int); a value that does not parse
    raises BadValue naming it. A text column longer than SYSPRO holds is taken as it is."""
    row = {}
    for column in table.columns:
        value = raw.get(column.name)
        row[column.name] = parse(table, column, value)
    return row


def parse(table, column, value):
    if value is None or (isinstance(value, str) and not value.strip() and column.type != tables.TEXT):
        return "" if column.type == tables.TEXT else None
    if column.type == tables.TEXT:
        if not isinstance(value, str):
            raise BadValue(table, column.name, value, "text")
        return value.strip()
    if column.type == tables.DECIMAL:
        return amount_value(value, lambda: BadValue(table, column.name, value, "an amount"))
    if column.type == tables.DATETIME:
        return parse_date(table, column.name, value)
    if column.type in (tables.ROWVERSION, tables.INT):
        return parse_integer(table, column.name, value)
    raise AssertionError(column.type)


def parse_date(table, name, value):
    """OData writes a SQL datetime as an Edm.DateTimeOffset (2026-01-05T00:00:00Z); COMFND as text, with or
    without the time (UNCONFIRMED, Y8). SYSPRO keeps dates without a zone, so the calendar date is taken."""
    if not isinstance(value, str):
        raise BadValue(table, name, value, "a date")
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise BadValue(table, name, value, "a date") from None


def parse_integer(table, name, value):
    """An integer; a rowversion may also come as 0x-prefixed hex (SQL Server's own spelling)."""
    if isinstance(value, bool):
        raise BadValue(table, name, value, "a whole number")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise BadValue(table, name, value, "a whole number") from None


def comfnd_rows(text, table):
    """The <Row>s of a COMFND answer as {column: text}. UNCONFIRMED (Y8): the answer is a document whose
    <Row> elements each hold one element per requested column."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        raise TransientError(f"SYSPRO answered the COMFND query of {table.name} with a body that is not XML: "
                             f"{text[:200]!r}") from None
    return [{child.tag: child.text or "" for child in row} for row in root.iter("Row")]


class SysproClient:
    def __init__(self, connection):
        self.connection = connection
        credentials = connection.credentials
        options = connection.options or {}
        self.operator = credentials.get("operator", "")
        self.operator_password = credentials.get("operator_password", "")
        self.company_id = credentials.get("company_id", "")
        self.company_password = credentials.get("company_password", "")
        for secret in (self.operator_password, self.company_password, credentials.get("odata_password")):
            register_secret(secret)
        host = urlparse(connection.base_url).netloc
        session = TokenSession(connection, login=self.logon, render=lambda token: {SESSION_HEADER: token.value})
        # One call at a time on the shared session, across every process (Flowgear's UseMutex: concurrent
        # calls on one e.net session are not safe).
        self.enet = HttpClient(f"syspro-enet:{host}:{self.company_id}:{self.operator}", base_url=connection.base_url,
                               auth=session, classify=partial(classify, service=ENET), concurrency=1)
        self.odata_url = (options.get("odata_url") or "").strip()
        self.odata = None
        if self.odata_url:
            # UNCONFIRMED (Y1): without a user of its own, OData takes the operator's code and password.
            self.basic = (credentials.get("odata_user") or self.operator,
                          credentials.get("odata_password") or self.operator_password)
            self.odata = HttpClient(f"syspro-odata:{urlparse(self.odata_url).netloc}", base_url=self.odata_url,
                                    classify=partial(classify, service=ODATA), concurrency=ODATA_CONCURRENCY)

    # --- e.net session ---------------------------------------------------------------------------------------
    def logon(self):
        response = self.enet.request("GET", "Logon", authenticate=False, params={
            "Operator": self.operator, "OperatorPassword": self.operator_password, "CompanyId": self.company_id,
            "CompanyPassword": self.company_password})
        guid = response.text.strip().strip('"')
        if not guid or " " in guid or len(guid) > 64:
            raise TransientError(f"SYSPRO answered Logon with something that is not a session id: {guid[:80]!r}")
        # No expiry: e.net ends an idle session after a timeout each site sets (UNCONFIRMED, Y3). A call on an
        # ended session is answered "ERROR…", and the HttpClient logs on again and repeats the call once.
        return Token(guid, None)

    def logoff(self, guid):
        """End a session so that it stops holding an e.net licence: True when SYSPRO answered "0", False when
        the session had already ended (its idle timeout, another worker's logoff)."""
        try:
            response = self.enet.request("GET", "Logoff", authenticate=False, params={"UserId": guid})
        except AuthError:
            return False
        return response.text.strip().strip('"') == "0"

    def profile(self):
        """GetLogonProfile: XML naming the company and operator the session belongs to."""
        response = self.enet.request("GET", "GetLogonProfile", auth=SESSION_IN_QUERY)
        try:
            root = ET.fromstring(response.text)
        except ET.ParseError:
            raise TransientError("SYSPRO answered GetLogonProfile with a body that is not XML: "
                                 f"{response.text[:200]!r}") from None
        return {child.tag: (child.text or "").strip() for child in root.iter() if len(child) == 0}

    # --- reading tables --------------------------------------------------------------------------------------
    def rows(self, table, where=None, page_size=PAGE_SIZE):
        """Every row of `table` matching `where`, in key order, as the service returned it (not yet typed)."""
        if self.odata:
            yield from self.odata_rows(table, where, page_size)
        else:
            yield from self.comfnd_pages(table, where, page_size)

    def rows_by_key(self, table, keys, columns=None, where=None, page_size=PAGE_SIZE):
        """The rows of `table` whose `columns` (its key, or the first columns of it) hold one of `keys` (tuples);
        `where` narrows them further. A few keys are asked for by name, KEYS_PER_CALL to a call. Many are first
        looked for in the table read in key order, `page_size` rows a call (scan()), where the rows of one key come
        together; the keys not seen whole within as many calls as asking by name would cost are then asked for by
        name. The lines of a hundred invoices re-read together (a cursor's overlap) so come in a page or two instead
        of five calls, and the worst case costs about twice the calls by name."""
        columns = tuple(columns or table.key)
        if table.key[:len(columns)] != columns:
            raise ValueError(f"{columns} do not begin the key of {table.name}")
        keys = set(keys)
        by_name = -(-len(keys) // KEYS_PER_CALL)
        if by_name > 1:
            seen, keys = self.scan(table, keys, columns, where, by_name, page_size)
            for rows in seen.values():
                yield from rows
        keys = sorted(keys)
        for start in range(0, len(keys), KEYS_PER_CALL):
            chunk = keys[start:start + KEYS_PER_CALL]
            yield from self.rows(table, all_of(where, any_of(*(key_is(columns, k) for k in chunk))))

    def scan(self, table, keys, columns, where, pages, page_size):
        """({key: its rows} for the keys of `keys` seen whole, the keys not seen whole) from reading `table` in key
        order for at most `pages` calls. A key is whole once a row of another key follows it, or the table ends; a
        key the whole table does not hold has no rows."""
        found, whole, current = {}, set(), None
        before = self.calls()
        rows = self.rows(table, where, page_size)
        try:
            for n, row in enumerate(rows):
                if self.calls() - before > pages:  # a site answering short pages (Y8): stop a call late
                    break
                key = tuple(row.get(c) for c in columns)
                if key != current:
                    whole.add(current)
                    if keys <= whole:
                        break
                    current = key
                if key in keys:
                    found.setdefault(key, []).append(row)
                if n + 1 >= pages * page_size:  # the next row would cost a call over the budget
                    break
            else:
                return found, set()
        finally:
            rows.close()
        return {key: found[key] for key in found if key in whole}, keys - whole

    def calls(self):
        return self.enet.calls + (self.odata.calls if self.odata else 0)

    def probe(self):
        """One row of GenMaster over OData: the service answers, and takes these credentials."""
        return self.odata.json("GET", tables.GL_ACCOUNTS.name, params=odata.encode_params({"$top": "1"}),
                               auth=self.basic)

    def odata_rows(self, table, where, page_size):
        query = odata.Query(select=table.names, filter=odata_filter(where) if where is not None else None,
                            key=table.key)

        def get(url, params):
            return self.odata.json("GET", url, params=params, auth=self.basic)

        yield from odata.iter_items(get, table.name, query, page_size=page_size)

    def comfnd(self, table, where, rows):
        response = self.enet.request("GET", "Query/Query", auth=SESSION_IN_QUERY, params={
            "BusinessObject": "COMFND", "XmlIn": comfnd_xml(table, where, rows)})
        return comfnd_rows(response.text, table)

    def comfnd_pages(self, table, where, page_size):
        """Key-range paging: COMFND has no offset, so each page asks for the keys after the last one read. A page
        shorter than asked is not taken for the end: a site may answer fewer rows than ReturnRows asks (Y8), so
        only an empty page ends the read."""
        last = None
        while True:
            page = self.comfnd(table, all_of(where, after_key(table, last) if last else None), page_size)
            yield from page
            if not page:
                return
            try:
                last = tuple(parse(table, table.column(k), page[-1].get(k)) for k in table.key)
            except BadValue as exc:
                raise TransientError(f"SYSPRO: cannot page past a row of {table.name}: {exc}") from None
