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

import base64
import operator
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from urllib.parse import urlparse

from requests.auth import AuthBase

from connectors import capabilities as can
from connectors import odata
from connectors.assumptions import contradicted, held, probe, unchecked
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


def session_gone(error):
    """Whether e.net's error text says the session ended, in the words we know (Y3)."""
    words = error.lower()
    return any(w in words for w in SESSION_GONE)


@probe("Y3", "syspro", fallback="after an e.net error in words it does not know, it asks GetLogonProfile whether the "
                                "session still lives and, where it does not, logs on again and repeats the call once")
def ended_session_words(connector):
    """How e.net words a call on a session it never issued (GetLogonProfile, which reads nothing): the words of an
    ended session. The idle timeout and the licence words cannot be read without holding sessions."""
    status, text = connector.client.answer_to_an_unknown_session()
    error = enet_error(text)
    if status == 401:
        return held("e.net answered a call on a session it never issued with HTTP 401, which the connector takes "
                    "for an ended session (it logs on again).")
    if status >= 400:
        return unchecked(f"e.net answered a call on a session it never issued with HTTP {status} "
                         f"({text.strip()[:120]!r}), so its words for an ended session could not be read.")
    if error is None:
        return contradicted(f"e.net answered GetLogonProfile on a session it never issued without an error "
                            f"({text.strip()[:120]!r}).")
    if session_gone(error):
        return held(f"e.net answered a call on a session it never issued with \"{error[:200]}\", words the "
                    "connector takes for an ended session (it logs on again).")
    return contradicted(f"e.net answered a call on a session it never issued with \"{error[:200]}\", which names "
                        f"none of {', '.join(SESSION_GONE)}: the connector would report an ended session as a "
                        "configuration error.")


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
            if session_gone(error):
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
                                 "the customer's OData service publishes the SYSPRO tables ml-connector reads (the "
                                 "assumption check lists them).", status=404)
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
        self.session = TokenSession(connection, login=self.logon, render=lambda token: {SESSION_HEADER: token.value})
        # One call at a time on the shared session, across every process (Flowgear's UseMutex: concurrent
        # calls on one e.net session are not safe).
        self.enet = HttpClient(f"syspro-enet:{host}:{self.company_id}:{self.operator}", base_url=connection.base_url,
                               auth=self.session, classify=partial(classify, service=ENET), concurrency=1)
        # Y3 contradicted: e.net words an ended session otherwise than SESSION_GONE says (on_session).
        self.ended_session_words_unknown = connection.assumption_contradicted("Y3")
        self.odata_url = (options.get("odata_url") or "").strip()
        self.odata = None
        self._metadata = None
        if self.odata_url:
            # UNCONFIRMED (Y1): without a user of its own, OData takes the operator's code and password.
            self.basic = (credentials.get("odata_user") or self.operator,
                          credentials.get("odata_password") or self.operator_password)
            self.odata = HttpClient(f"syspro-odata:{urlparse(self.odata_url).netloc}", base_url=self.odata_url,
                                    classify=partial(classify, service=ODATA), concurrency=ODATA_CONCURRENCY)
        # Y2 contradicted: the service types TimeStamp otherwise than as a number it can compare (odata_rows).
        self.binary_stamps = bool(self.odata) and connection.assumption_contradicted("Y2")

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
        except ConfigurationError:
            # Y3 contradicted: an ended session is worded otherwise than we know, and Logoff has no other error.
            if self.ended_session_words_unknown:
                return False
            raise
        return response.text.strip().strip('"') == "0"

    def on_session(self, path, params=None):
        """An e.net call on the shared session. Where e.net words an ended session otherwise than we know (Y3
        contradicted), an error in other words may still be one: GetLogonProfile then tells, and on a new session
        the call is repeated once. A live session's error stands as it came."""
        try:
            return self.enet.request("GET", path, auth=SESSION_IN_QUERY, params=params)
        except ConfigurationError:
            if not self.ended_session_words_unknown or self.session_lives():
                raise
        token = self.session.store.current()
        if token is not None:
            self.session.store.invalidate(token.value)
        return self.enet.request("GET", path, auth=SESSION_IN_QUERY, params=params)

    def session_lives(self):
        try:
            self.enet.request("GET", "GetLogonProfile", auth=SESSION_IN_QUERY)
        except ConfigurationError:
            return False
        return True

    def answer_to_an_unknown_session(self):
        """(HTTP status, text) of GetLogonProfile on a UserId e.net never issued, as it came: how e.net words a
        session that ended. It reads nothing and takes no licence."""
        plain = HttpClient(self.enet.name, base_url=self.connection.base_url, classify=lambda response: None,
                           concurrency=1)
        response = plain.request("GET", "GetLogonProfile", authenticate=False,
                                 params={"UserId": str(uuid.uuid4()).upper()})
        return response.status_code, response.text

    def profile(self):
        """GetLogonProfile: XML naming the company and operator the session belongs to."""
        response = self.on_session("GetLogonProfile")
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

    def metadata(self):
        """The OData service's $metadata (connectors.odata.Metadata), read once per client."""
        if self._metadata is None:
            response = self.odata.request("GET", "$metadata", auth=self.basic)
            self._metadata = odata.parse_metadata(response.text)
        return self._metadata

    def odata_rows(self, table, where, page_size):
        stamp_conditions = ()
        if self.binary_stamps:
            where, stamp_conditions = apart(table, where)
        query = odata.Query(select=table.names, filter=odata_filter(where) if where is not None else None,
                            key=table.key)

        def get(url, params):
            return self.odata.json("GET", url, params=params, auth=self.basic)

        for row in odata.iter_items(get, table.name, query, page_size=page_size):
            if self.binary_stamps:
                row = {**row, **{c.name: stamp_number(row.get(c.name)) for c in table.columns
                                 if c.type == tables.ROWVERSION}}
                if not all(holds(condition, row) for condition in stamp_conditions):
                    continue
            yield row

    def comfnd(self, table, where, rows):
        response = self.on_session("Query/Query", {"BusinessObject": "COMFND",
                                                   "XmlIn": comfnd_xml(table, where, rows)})
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


# --- TimeStamp typed otherwise over OData (Y2 contradicted) -------------------------------------------------

def apart(table, where):
    """(`where` less its conditions on a rowversion, those conditions): the service cannot compare a rowversion
    it types as binary, so they are applied here. Only conditions that every row must meet (the filter itself, or
    one part of an All) are taken apart; the connector writes no other."""
    def on_stamp(node):
        return isinstance(node, Cond) and table.column(node.column).type == tables.ROWVERSION

    if on_stamp(where):
        return None, (where,)
    if isinstance(where, All):
        return all_of(*(p for p in where.parts if not on_stamp(p))), tuple(p for p in where.parts if on_stamp(p))
    return where, ()


def stamp_number(value):
    """A rowversion as its number: SQL Server's 8 bytes (base64, or base64url as OData 4.01 writes an Edm.Binary)
    read big-endian, as SQL Server casts it to bigint. A number stays one; what is neither is left as it came, for
    typed() to name."""
    if not isinstance(value, str) or value.strip().isdigit() or value.strip().lower().startswith("0x"):
        return value
    text = value.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return value
    return int.from_bytes(raw, "big") if len(raw) == 8 else value


def holds(condition, row):
    """Whether a row meets a condition on its rowversion; a row whose rowversion cannot be read is kept, so that it
    is reported rather than passed over."""
    value = row.get(condition.column)
    if not isinstance(value, int) or isinstance(value, bool):
        return True
    compare = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt,
               "le": operator.le}[condition.op]
    return compare(value, condition.value)


# --- the OData service's $metadata (Y1, Y2) ---------------------------------------------------------------

def rowversions(table):
    return [c.name for c in table.columns if c.type == tables.ROWVERSION]


@probe("Y1", "syspro", stops=(can.READS_SUPPLIERS, can.READS_APPROVED_INVOICES, can.REPORTS_HELD_INVOICES,
                              can.READS_REFERENCE_DATA))
def tables_published(connector):
    """The OData service's $metadata publishes every table the connector reads (tables.TABLES), with every column
    it reads."""
    client = connector.client
    if not client.odata:
        return unchecked("This connection reads its tables through e.net (no OData URL is set): what the OData "
                         "service publishes does not matter to it.")
    published = client.metadata().entity_sets
    missing = []
    for table in tables.TABLES.values():
        properties = published.get(table.name)
        if properties is None:
            missing.append(f"{table.name} is not published")
        elif absent := [name for name in table.names if name not in properties]:
            missing.append(f"{table.name} has no {', '.join(absent)}")
    if missing:
        return contradicted(f"The OData service's $metadata lists {len(published)} entity sets; of those read, "
                            f"{'; '.join(missing)}.")
    return held(f"The OData service's $metadata publishes the {len(tables.TABLES)} tables read "
                f"({', '.join(tables.TABLES)}) with every column read.")


@probe("Y2", "syspro", fallback="it reads every row of each table over OData on each run and keeps the changed ones "
                                "itself, reading TimeStamp as SQL Server's 8 bytes")
def rowversion_type(connector):
    """The OData service types TimeStamp as an Edm.Int64 ($metadata), which `gt` compares with a number."""
    client = connector.client
    if not client.odata:
        return unchecked("This connection reads its tables through e.net (no OData URL is set), where COMFND "
                         "compares TimeStamp as a number; OData's type for it does not matter to it.")
    published = client.metadata().entity_sets
    types = {(table.name, name): published[table.name][name] for table in tables.TABLES.values()
             for name in rowversions(table) if name in published.get(table.name, {})}
    if not types:
        return unchecked("The OData service's $metadata publishes TimeStamp on none of the tables read (Y1).")
    other = {key: type_ for key, type_ in types.items() if type_ != tables.ROWVERSION_EDM_TYPE}
    if other:
        said = "; ".join(f"{table}.{column} as {type_}" for (table, column), type_ in other.items())
        return contradicted(f"The OData service's $metadata types {said}, not {tables.ROWVERSION_EDM_TYPE}: a filter "
                            "`TimeStamp gt` a number cannot be asked.")
    return held(f"The OData service's $metadata types TimeStamp as {tables.ROWVERSION_EDM_TYPE} on the {len(types)} "
                "tables read.")
