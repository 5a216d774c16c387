"""The SYSPRO 8 simulator: e.net Solutions REST (Logon, Logoff, GetLogonProfile, and the COMFND table query
on a logon session) and a read-only OData 4.0 service over the same tables with HTTP Basic.

As documented (sources in docs/ASSUMPTIONS.md, Y1 to Y9, and the checklist tests): every e.net call is a GET
with query parameters; Logon answers the session id (a GUID) as plain text and Logoff answers "0"; errors are
text beginning with "ERROR", with HTTP 200; sessions hold an e.net licence until logged off, and end after a
time without calls, on the simulated clock. The OData service serves its $metadata (OData 4.0) and refuses what
an OData service refuses (sandbox/odata.py, the OData server half: unknown properties, wrong literal types,
unsupported operators and query options). Tables and their columns are those of connectors/syspro/tables.py, and
every write stamps the row with the next value of one rowversion, as SQL Server does.
"""

import base64
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal, InvalidOperation

from connectors import canonical
from connectors.syspro import tables
from sandbox.hub import BadRequest, Response, Simulator, public, route
from sandbox.odata import EDM, ODataQueryError, apply_query, metadata_document

ENET_ROOT = "/SYSPROWCFService/Rest"
ODATA_ROOT = "/odata"
OPERATOR = "MLCAPI"
OPERATOR_PASSWORD = "sandbox-operator-pw"
COMPANY_ID = "T"
COMPANY_PASSWORD = "sandbox-company-pw"
COMPANY_NAME = "Sandbox Manufacturing (test company)"
LOCAL_CURRENCY = "USD"
# UNCONFIRMED (Y3): an e.net session ends after this long without a call (a site setting).
SESSION_TIMEOUT = 1200
LICENCES = 5
# UNCONFIRMED (Y8): the most rows one COMFND call or OData page returns.
MAX_ROWS = 1000
CONDITIONS = {"EQ": "eq", "NE": "ne", "GT": "gt", "GE": "ge", "LT": "lt", "LE": "le"}
FIRST_VERSION = 2000
# UNCONFIRMED: the namespace of SYSPRO's entity types in $metadata; nothing here reads it.
NAMESPACE = "SYSPRO"
# How e.net words a call on a session that ended, by the Y3 variant (the first the one the connector knows).
ENDED_SESSION = {"not logged on": "UserId '{guid}' is not logged on (the session ended or never existed)",
                 "unknown GUID": "GUID '{guid}' is unknown or has expired"}
# The Y1 variants: a table the site does not publish, or a column it leaves out of one.
UNPUBLISHED = {"every table": (), "no ApJnlDistrib": ((tables.DISTRIBUTION.name, None),),
               "ApInvoice without MthInvBal3": ((tables.INVOICES.name, "MthInvBal3"),)}
OPERATOR_KINDS = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual",
                  "lt": "LessThan", "le": "LessThanOrEqual"}


def enet_url(base_url):
    return f"{base_url}/syspro{ENET_ROOT}"


def odata_url(base_url):
    return f"{base_url}/syspro{ODATA_ROOT}"


def stored(table, row, what):
    """A row for a table, as SQL Server would hold it: known columns, each of its type and within its length.
    Missing columns take their blank: "" for text, 0 for numbers, null for dates."""
    unknown = sorted(set(row) - set(table.names) - {"TimeStamp"})
    if unknown:
        raise BadRequest(f"{what}: {table.name} has no column {', '.join(unknown)}")
    held = {}
    for column in table.columns:
        if column.type == tables.ROWVERSION:
            continue
        value = row.get(column.name)
        held[column.name] = stored_value(column, value, what)
    return held


def stored_value(column, value, what):
    if column.type == tables.TEXT:
        value = "" if value is None else str(value)
        if len(value) > column.length:
            raise BadRequest(f"{what}: {column.name} holds at most {column.length} characters")
        return value
    if column.type == tables.DECIMAL:
        try:
            return Decimal(str(value if value is not None else "0")).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise BadRequest(f"{what}: {column.name} {value!r} is not an amount") from None
    if column.type == tables.DATETIME:
        if value in (None, ""):
            return None
        try:
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            raise BadRequest(f"{what}: {column.name} {value!r} is not a date (yyyy-mm-dd)") from None
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise BadRequest(f"{what}: {column.name} {value!r} is not a whole number") from None


def json_value(column, value, binary_stamps=False):
    """A held value as the OData service writes it in JSON; with `binary_stamps` (the Y2 variant) a rowversion as
    SQL Server's 8 bytes, base64-encoded, as OData writes an Edm.Binary."""
    if value is None:
        return None
    if column.type == tables.ROWVERSION and binary_stamps:
        return base64.b64encode(value.to_bytes(8, "big")).decode()
    if column.type == tables.DECIMAL:
        return float(value)
    if column.type == tables.DATETIME:
        return f"{value.isoformat()}T00:00:00Z"
    return value


def text_value(column, value):
    """A held value as COMFND writes it in XML. UNCONFIRMED (Y8): dates as yyyy-mm-dd, amounts with two places."""
    if value is None:
        return ""
    if column.type == tables.DECIMAL:
        return f"{value:.2f}"
    if column.type == tables.DATETIME:
        return value.isoformat()
    return str(value)


def enet_text(status, text):
    return Response.text(status, text)


class ComfndError(Exception):
    pass


def comfnd_value(column, text):
    """A COMFND condition value, read by its column's type; refused as SYSPRO would refuse it."""
    if column.type == tables.TEXT:
        return text
    if column.type == tables.DECIMAL:
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ComfndError(f"Value '{text}' is not numeric for column {column.name}") from None
    if column.type == tables.DATETIME:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ComfndError(f"Value '{text}' is not a date (yyyy-mm-dd) for column {column.name}") from None
    if not text.lstrip("-").isdigit():
        raise ComfndError(f"Value '{text}' is not numeric for column {column.name}")
    return int(text)


def comfnd_predicate(table, where):
    """The <Where> of a COMFND XmlIn as a predicate: expressions joined by their AndOr, AND before OR,
    brackets grouping. The first expression's AndOr is ignored."""
    tokens = []
    for n, expression in enumerate(where.findall("Expression") if where is not None else []):
        fields = {child.tag: (child.text or "").strip() for child in expression}
        name = fields.get("Column", "")
        if name not in table.names:
            raise ComfndError(f"Column '{name}' not found in table {table.name}")
        condition = fields.get("Condition", "").upper()
        if condition not in CONDITIONS:
            raise ComfndError(f"Condition '{fields.get('Condition', '')}' is not valid; use "
                              f"{', '.join(CONDITIONS)}")
        opening, closing = fields.get("OpenBracket", ""), fields.get("CloseBracket", "")
        if set(opening) - {"("} or set(closing) - {")"}:
            raise ComfndError("OpenBracket and CloseBracket hold only brackets")
        if n:
            andor = fields.get("AndOr", "And").capitalize()
            if andor not in ("And", "Or"):
                raise ComfndError(f"AndOr '{fields.get('AndOr')}' is neither And nor Or")
            tokens.append(andor)
        tokens += ["("] * len(opening)
        column = table.column(name)
        tokens.append((name, CONDITIONS[condition], comfnd_value(column, fields.get("Value", ""))))
        tokens += [")"] * len(closing)
    if not tokens:
        return lambda row: True
    position = [0]

    def peek():
        return tokens[position[0]] if position[0] < len(tokens) else None

    def take():
        position[0] += 1
        return tokens[position[0] - 1]

    def disjunction():
        parts = [conjunction()]
        while peek() == "Or":
            take()
            parts.append(conjunction())
        return lambda row: any(p(row) for p in parts)

    def conjunction():
        parts = [operand()]
        while peek() == "And":
            take()
            parts.append(operand())
        return lambda row: all(p(row) for p in parts)

    def operand():
        token = take() if peek() is not None else None
        if token == "(":
            inner = disjunction()
            if (take() if peek() is not None else None) != ")":
                raise ComfndError("The brackets of the Where expressions do not match")
            return inner
        if not isinstance(token, tuple):
            raise ComfndError("The brackets of the Where expressions do not match")
        name, op, value = token
        compare = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
                   "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}[op]
        return lambda row: row.get(name) is not None and compare(row[name], value)

    predicate = disjunction()
    if peek() is not None:
        raise ComfndError("The brackets of the Where expressions do not match")
    return predicate


class SysproSimulator(Simulator):
    id = "syspro"
    VARIANTS = {"Y1": tuple(UNPUBLISHED), "Y2": (tables.ROWVERSION_EDM_TYPE, "Edm.Binary"),
                "Y3": tuple(ENDED_SESSION)}

    def reset(self):
        self.session_timeout = SESSION_TIMEOUT
        self.licences = LICENCES
        self.sessions = {}  # guid -> {"operator", "last"}
        self.rows = {name: {} for name in tables.TABLES}  # table -> key -> row (with TimeStamp)
        self.version = FIRST_VERSION
        self.counts = {"logins": 0, "logoffs": 0, "calls": 0, "odata_calls": 0, "comfnd_calls": 0}
        self.local = threading.local()

    # --- framework hooks ---------------------------------------------------------------------------------
    def handle(self, request):
        self.local.odata = request.path.startswith(ODATA_ROOT + "/") or request.path == ODATA_ROOT
        return super().handle(request)

    def error_response(self, status, code, message):
        if getattr(self.local, "odata", False):
            return Response.json(status, {"error": {"code": code, "message": message}})
        return enet_text(status, f"ERROR: {message}")

    def rate_limited_response(self, request, context):
        # UNCONFIRMED (Y9): SYSPRO documents no rate limit; IIS in front of it may answer 429 or 503.
        return self.error_response(429, "rate_limited", "Too many requests")

    def expire_session(self, request):
        self.sessions.pop(request.arg("UserId", ""), None)

    def authenticate(self, request, handler):
        self.counts["calls"] += 1
        if self.local.odata:
            return self.basic(request)
        guid = request.arg("UserId", "")
        session = self.sessions.get(guid)
        now = self.clock.time()
        if session is not None and now - session["last"] > self.session_timeout:
            self.sessions.pop(guid, None)
            session = None
        if session is None:
            # UNCONFIRMED (Y3): the words; e.net answers an ended session as an error text, with HTTP 200.
            return self.session_ended(guid)
        session["last"] = now
        return session

    def session_ended(self, guid):
        return enet_text(200, "ERROR: " + ENDED_SESSION[self.variant("Y3")].format(guid=guid))

    def basic(self, request):
        header = request.header("Authorization") or ""
        try:
            user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        if not header.startswith("Basic ") or (user, password) != (OPERATOR, OPERATOR_PASSWORD):
            return Response.json(401, {"error": {"code": "", "message": "Authorization has been denied for this "
                                                                        "request."}},
                                 {"WWW-Authenticate": 'Basic realm="SYSPRO OData"'})
        self.counts["odata_calls"] += 1
        return {"operator": user}

    # --- e.net --------------------------------------------------------------------------------------------
    @route("GET", ENET_ROOT + "/Logon")
    @public
    def logon(self, request, _):
        self.counts["calls"] += 1
        now = self.clock.time()
        self.sessions = {g: s for g, s in self.sessions.items() if now - s["last"] <= self.session_timeout}
        # UNCONFIRMED (Y3): the wording of logon errors. They never repeat a password.
        if request.arg("Operator", "") != OPERATOR:
            return enet_text(200, f"ERROR: Operator '{request.arg('Operator', '')}' not found")
        if request.arg("OperatorPassword", "") != OPERATOR_PASSWORD:
            return enet_text(200, "ERROR: Invalid operator password")
        if request.arg("CompanyId", "") != COMPANY_ID:
            return enet_text(200, f"ERROR: Company '{request.arg('CompanyId', '')}' not found")
        if request.arg("CompanyPassword", "") != COMPANY_PASSWORD:
            return enet_text(200, "ERROR: Invalid company password")
        if len(self.sessions) >= self.licences:
            return enet_text(200, f"ERROR: No e.net licence is free: {len(self.sessions)} of {self.licences} "
                                  "are in use")
        guid = str(uuid.uuid4()).upper()
        self.sessions[guid] = {"operator": OPERATOR, "last": now}
        self.counts["logins"] += 1
        return enet_text(200, guid)

    @route("GET", ENET_ROOT + "/Logoff")
    @public
    def logoff(self, request, _):
        self.counts["calls"] += 1
        session = self.sessions.pop(request.arg("UserId", ""), None)
        if session is None or self.clock.time() - session["last"] > self.session_timeout:
            return self.session_ended(request.arg("UserId", ""))
        self.counts["logoffs"] += 1
        return enet_text(200, "0")

    @route("GET", ENET_ROOT + "/GetLogonProfile")
    def logon_profile(self, request, session):
        profile = ET.Element("LogonProfile")
        for tag, value in (("CompanyName", COMPANY_NAME), ("OperatorCode", session["operator"]),
                           ("CompanyDate", self.clock.now().date().isoformat()), ("LocalCurrencyCode", LOCAL_CURRENCY),
                           ("SysproVersion", "08.00.013"), ("EnetVersion", "08.00.013")):
            ET.SubElement(profile, tag).text = value
        return enet_text(200, ET.tostring(profile, encoding="unicode"))

    @route("GET", ENET_ROOT + "/Query/Query")
    def query(self, request, session):
        business_object = request.arg("BusinessObject", "")
        if business_object != "COMFND":
            return enet_text(200, f"ERROR: Business object '{business_object}' is not licensed for this operator")
        try:
            answer = self.comfnd(request.arg("XmlIn", ""))
        except ComfndError as exc:
            return enet_text(200, f"ERROR: COMFND: {exc}")
        self.counts["comfnd_calls"] += 1
        return enet_text(200, answer)

    def comfnd(self, xml_in):
        try:
            query = ET.fromstring(xml_in)
        except ET.ParseError as exc:
            raise ComfndError(f"XmlIn is not valid XML ({exc})") from None
        name = (query.findtext("TableName") or "").strip()
        table = tables.TABLES.get(name)
        if table is None:
            raise ComfndError(f"Table '{name}' not found")
        returned = (query.findtext("ReturnRows") or "").strip()
        if not returned.isdigit() or int(returned) < 1:
            raise ComfndError(f"ReturnRows '{returned}' is not a positive number")
        columns = [(c.text or "").strip() for c in query.findall("Columns/Column")] or list(table.names)
        for column in columns:
            if column not in table.names:
                raise ComfndError(f"Column '{column}' not found in table {table.name}")
        order = [(c.text or "").strip() for c in query.findall("OrderBy/Column")]
        for column in order:
            if column not in table.names:
                raise ComfndError(f"OrderBy column '{column}' not found in table {table.name}")
        predicate = comfnd_predicate(table, query.find("Where"))
        rows = [row for row in self.rows[table.name].values() if predicate(row)]
        for column in reversed(order):
            rows.sort(key=lambda row, c=column: (row[c] is not None, row[c]))
        rows = rows[:min(int(returned), MAX_ROWS)]
        answer = ET.Element("ComFnd")
        header = ET.SubElement(answer, "HeaderDetails")
        ET.SubElement(header, "TableName").text = table.name
        ET.SubElement(header, "ReturnRows").text = str(len(rows))
        for row in rows:
            element = ET.SubElement(answer, "Row")
            for column in columns:
                ET.SubElement(element, column).text = text_value(table.column(column), row[column])
        return ET.tostring(answer, encoding="unicode")

    # --- OData ----------------------------------------------------------------------------------------------
    def published(self):
        """{table name: (table, the columns its entity set publishes)}: every table and column of
        connectors/syspro/tables.py, less what the Y1 variant leaves out."""
        left_out = UNPUBLISHED[self.variant("Y1")]
        return {t.name: (t, tuple(c for c in t.columns if (t.name, c.name) not in left_out))
                for t in tables.TABLES.values() if (t.name, None) not in left_out}

    @route("GET", ODATA_ROOT + r"/\$metadata")
    def metadata(self, request, context):
        """The service's CSDL (OData 4.0, help.syspro.com "SYSPRO OData Service"), from the field specs the entity
        sets filter with. A rowversion's type is the Y2 variant's (Edm.Int64 as we assume, else Edm.Binary): the
        filter vocabulary has one integer type only."""
        document = metadata_document(NAMESPACE, {name: (name, {c.name: c.odata_type for c in columns}, table.key)
                                                 for name, (table, columns) in self.published().items()})
        root = ET.fromstring(document)
        stamps = {c.name for t in tables.TABLES.values() for c in t.columns if c.type == tables.ROWVERSION}
        for prop in root.iter(f"{{{EDM}}}Property"):
            if prop.get("Name") in stamps:
                prop.set("Type", self.variant("Y2"))
        text = '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")
        return Response(200, text.encode(), {"Content-Type": "application/xml", "OData-Version": "4.0"})

    @route("GET", ODATA_ROOT + "/(?P<entity_set>[A-Za-z]+)")
    def entity_set(self, request, context, entity_set):
        table, columns = self.published().get(entity_set, (None, ()))
        if table is None:
            return Response.json(404, {"error": {"code": "", "message": f"No HTTP resource was found that matches "
                                                                        f"the request URI '{entity_set}'."}})
        binary = self.variant("Y2") == "Edm.Binary"
        # An Edm.Binary compares with nothing but another binary: the service refuses `TimeStamp gt 2001`.
        compared = binary and re.search(r"\bTimeStamp\s+(eq|ne|gt|ge|lt|le)\s", request.arg("$filter", "") or "")
        if compared:
            return Response.json(400, {"error": {"code": "", "message": (
                "A binary operator with incompatible types was detected. Found operand types 'Edm.Binary' and "
                f"'Edm.Int64' for operator kind '{OPERATOR_KINDS[compared[1]]}'.")}})
        fields = {c.name: "string" if binary and c.type == tables.ROWVERSION else c.odata_type for c in columns}
        rows = [{c.name: json_value(c, row[c.name], binary) for c in columns} for row in self.rows[table.name].values()]
        try:
            body = apply_query(rows, request.query, fields, table.key, MAX_ROWS, entity_set=table.name)
        except ODataQueryError as exc:
            return Response.json(400, {"error": {"code": "", "message": str(exc)}})
        return Response.json(200, body, {"OData-Version": "4.0"})

    # --- the tables -----------------------------------------------------------------------------------------
    def stamp(self):
        self.version += 1
        return self.version

    def put(self, table, row, what=None):
        """Write a whole row, stamped with the next rowversion."""
        held = stored(table, row, what or f"{table.name} row")
        key = tuple(held[k] for k in table.key)
        if any(v in ("", None) for v in key):
            raise BadRequest(f"{what or table.name}: every row needs {', '.join(table.key)}")
        self.rows[table.name][key] = {**held, "TimeStamp": self.stamp()}
        return key

    def update(self, table, key, changes):
        row = self.rows[table.name].get(tuple(key))
        if row is None:
            raise BadRequest(f"{table.name} has no row {', '.join(map(str, key))}")
        merged = {**{k: v for k, v in row.items() if k != "TimeStamp"}, **changes}
        self.put(table, merged)

    # --- controls and state ---------------------------------------------------------------------------------
    def control(self, action, payload):
        with self.lock:
            if action == "account":
                for key in ("session_timeout", "licences"):
                    if key in payload:
                        setattr(self, key, int(payload[key]))
                return {"session_timeout": self.session_timeout, "licences": self.licences}
            if action == "sessions":
                now = self.clock.time()
                live = {g: s for g, s in self.sessions.items() if now - s["last"] <= self.session_timeout}
                return {"open": len(live), "licences": self.licences,
                        "sessions": [{"operator": s["operator"], "idle_seconds": round(now - s["last"], 1)}
                                     for s in live.values()]}
            if action == "seed":
                return self.seed(payload)
            if action == "update":
                table = self.table(payload.get("table"))
                self.update(table, payload.get("key") or [], payload.get("changes") or {})
                return {"table": table.name, "TimeStamp": self.version}
            if action == "seed-canonical":
                return self.seed(canonical_seed(unreadable=bool(payload.get("unreadable"))))
            if action == "canonical-supplier":
                return self.change_canonical_supplier(payload)
            if action == "canonical-invoice":
                return self.change_canonical_invoice(payload)
            if action == "canonical-state":
                # SYSPRO takes no payments from ml-connector: there is never one to report.
                return {"payments": []}
        raise BadRequest(f"syspro has no control {action!r}; controls: account, sessions, seed, update, "
                         "seed-canonical, canonical-supplier, canonical-invoice, canonical-state")

    def table(self, name):
        table = tables.TABLES.get(name or "")
        if table is None:
            raise BadRequest(f"No table {name!r}; tables: {', '.join(tables.TABLES)}")
        return table

    def seed(self, payload):
        """{table name: [rows]}: each row written (or overwritten) and stamped."""
        counts = {}
        for name, rows in payload.items():
            table = self.table(name)
            for row in rows:
                self.put(table, row)
            counts[name] = len(rows)
        return counts

    def change_canonical_supplier(self, payload):
        source_id = payload.get("source_id", "")
        changes = {k: v for k, v in payload.items() if k != "source_id"}
        unknown = set(changes) - set(CANONICAL_SUPPLIER_COLUMNS) - {"active"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}; fields: "
                             f"{', '.join([*CANONICAL_SUPPLIER_COLUMNS, 'active'])}")
        columns = {CANONICAL_SUPPLIER_COLUMNS[k]: v for k, v in changes.items() if k != "active"}
        if "active" in changes:
            columns["OnHold"] = "N" if changes["active"] else tables.ON_HOLD
        self.update(tables.SUPPLIERS, [source_id], columns)
        return {"source_id": source_id}

    def change_canonical_invoice(self, payload):
        """Approve, hold or release an invoice as AP would: SYSPRO has one InvoiceStatus for all three, "H" while
        it is held back from payment (not approved yet, or held after)."""
        key = [payload.get("supplier_id", ""), payload.get("number", "")]
        unknown = set(payload) - {"supplier_id", "number", "approved", "held"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}; fields: approved, held")
        if "approved" in payload or "held" in payload:
            held = payload.get("held", False) or not payload.get("approved", True)
            self.update(tables.INVOICES, key, {"InvoiceStatus": tables.HELD_STATUS if held else ""})
        return {"supplier_id": key[0], "number": key[1]}

    def state(self):
        tables_out = {}
        for name, rows in self.rows.items():
            table = tables.TABLES[name]
            tables_out[name] = [{c.name: json_value(c, row[c.name]) for c in table.columns} for row in rows.values()]
        return {"tables": tables_out, "open_sessions": len(self.sessions), **self.counts}


# The canonical seed (connectors/canonical.py) in SYSPRO's tables.
CANONICAL_SUPPLIER_COLUMNS = {"name": "SupplierName", "tax_id": "TaxRegnNum", "currency": "Currency",
                              "email": "Email", "phone": "Telephone"}


def canonical_seed(unreadable=False):
    """The `seed` payload of the canonical data. The unreadable invoice has no invoice date: the column allows
    null, and an invoice without one cannot be read."""
    suppliers, addresses = [], []
    for s in canonical.SUPPLIERS:
        suppliers.append({"Supplier": s.source_id, **{col: getattr(s, f) for f, col in
                                                       CANONICAL_SUPPLIER_COLUMNS.items()},
                          "OnHold": "N" if s.active else tables.ON_HOLD})
        addresses.append({"Supplier": s.source_id, "SupAddr1": s.address.line1, "SupAddr2": s.address.line2,
                          "SupAddr3": s.address.city, "SupAddr4": s.address.region, "SupAddr5": s.address.country,
                          "SupPostalCode": s.address.postal_code})
    invoices, lines = [], []
    for inv in [*canonical.INVOICES, *([canonical.UNREADABLE_INVOICE] if unreadable else [])]:
        invoices.append({"Supplier": inv.supplier_id, "Invoice": inv.number,
                         "InvoiceDate": None if inv is canonical.UNREADABLE_INVOICE else inv.invoice_date.isoformat(),
                         "DueDate": inv.due_date.isoformat(), "OrigInvValue": str(inv.total),
                         "MthInvBal1": str(inv.total), "Currency": inv.currency,
                         "InvoiceStatus": "" if inv.approved else tables.HELD_STATUS})
        lines += [{"Supplier": inv.supplier_id, "Invoice": inv.number, "DistrLine": n,
                   "ExpenseGlCode": line.gl_account, "DistrValue": str(line.amount), "Comment": line.description,
                   "Department": line.dimensions.get("department", ""), "PurchaseOrder": line.po_number}
                  for n, line in enumerate(inv.lines, 1)]
    return {tables.SUPPLIERS.name: suppliers, tables.SUPPLIER_ADDRESSES.name: addresses,
            tables.GL_ACCOUNTS.name: [{"GlCode": a.code, "Description": a.name, "AccountType": "E"}
                                      for a in canonical.GL_ACCOUNTS],
            tables.DEPARTMENTS.name: [{"Department": d.code, "Description": d.name} for d in canonical.DEPARTMENTS],
            tables.INVOICES.name: invoices, tables.DISTRIBUTION.name: lines}
