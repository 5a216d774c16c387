"""The IFS Cloud simulator: the tenant's IAM (Keycloak) token endpoint and the OData v4 projections named in
connectors/ifs/projections.py.

What follows IFS's documentation: client credentials at /auth/realms/<realm>/protocol/openid-connect/token
answered like IFS's sample (expires_in 180, on the simulated clock); projections under
/main/ifsapplications/projection/v1/<Projection>.svc/; records carrying @odata.etag, luname and keyref; an
ETag that is base64 of objid:objversion and changes on every write; updates and deletes refused without
If-Match (ODP_MISSING_PRECONDITION) and with a stale one (412); 423 for a locked row; 503 with Retry-After and
MI_MODIFIED_ERROR after a deployment; ODP_DESERIALIZATION_ERROR for a body of the wrong types; POST answering
201; $filter, $select, $orderby, $top, $skip and $count as the OData provider takes them (the server half of
sandbox/odata.py: unknown properties, operators IFS does not support, literals of the wrong type and
malformed dates are refused; OData 4.01's string and date functions are taken, as IFS's OData Provider takes
them); $expand refused for the one-to-many navigations modelled here; $batch (GETs and change sets, in order,
continuing after a failed part only when the Prefer header asks); $metadata on every projection, built from the same
field specs its queries are filtered with, and $openapi (IFS's API documentation: an OpenAPI document in JSON).

Where the documentation is silent the choice is marked UNCONFIRMED here and listed in docs/ASSUMPTIONS.md
(F-entries). The simulator is stricter than IFS in three places, all harmless to the connector, which sends
none of them: arithmetic operators in $filter and $apply are refused, and a $batch part naming an earlier one by
$<Content-ID> is not resolved (F10).
"""

import base64
import copy
import math
import re
import secrets
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, unquote, urlsplit

from connectors import canonical
from connectors.ifs import projections as p
from connectors.values import decimal_value
from sandbox import odata
from sandbox.hub import STATUS_TEXT, BadRequest, Request, Response, Simulator, public, route

REALM = "mlc-sandbox"
CLIENT_ID = "ml-connector"
CLIENT_SECRET = "sandbox-ifs-client-secret"
COMPANY = "MLC01"
TOKEN_LIFETIME = 180
# UNCONFIRMED (F8): the most rows one answer holds before IFS pages with @odata.nextLink, if it does at all.
MAX_PAGE = 5000
# The F8 variant: the most rows one answer holds, the rest of the $top asked for left out without a next link.
CAPPED_PAGE = 2

LUNAMES = {"suppliers": "SupplierInfo", "supplier_addresses": "SupplierInfoAddress",
           "supplier_comm_methods": "CommMethod", "invoices": "ManSuppInvoice",
           "invoice_lines": "ManSuppInvoicePosting", "payments": "CExternalPayment", "gl_accounts": "Account"}
# The properties a PATCH may change in each set (UNCONFIRMED, F9: which ones IFS lets an integration change; these
# are the ones ml-connector changes, plus the supplier's own, which it never does).
WRITABLE = {
    "suppliers": {"Name", "AssociationNo", "CurrencyCode", "BlockedForUse"},
    "supplier_addresses": {"Address1", "Address2", "ZipCode", "City", "State", "Country", "ValidFrom", "ValidTo"},
    "supplier_comm_methods": {"Value", "MethodDefault"},
    "invoices": {"TransferStatus"},
    "payments": {"Amount", "PaymentDate", "Reference", "Status"},
}
CREATABLE = {"supplier_addresses", "supplier_comm_methods", "payments"}
SIMULATOR_CODES = {"server_error": "ODP_INTERNAL_ERROR", "gateway_timeout": "ODP_TIMEOUT",
                   "not_found": "ODP_RESOURCE_NOTFOUND", "method_not_allowed": "ODP_METHOD_NOT_ALLOWED",
                   "bad_request": "ODP_BAD_REQUEST"}
SERVICE = re.compile(r"^/main/ifsapplications/projection/v1/(?P<projection>[A-Za-z_][A-Za-z0-9_]*)\.svc"
                     r"(?P<rest>/.*)?$")
SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)")
MULTIPART = re.compile(r'multipart/mixed\s*;.*?boundary="?([^";]+)"?', re.IGNORECASE)
BLANK_LINE = re.compile(rb"\r?\n\r?\n")
# The canonical seed's fields as IFS holds them.
CANONICAL_SUPPLIER_FIELDS = {"name": "Name", "tax_id": "AssociationNo", "currency": "CurrencyCode"}
ALWAYS = ("2000-01-01", None)


class ODataError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}


def multipart(body, boundary):
    """The parts of a multipart body, each ({header: value} with lower-cased names, content)."""
    parts = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            return parts
        head, *content = BLANK_LINE.split(chunk.removeprefix(b"\r\n").removeprefix(b"\n"), maxsplit=1)
        parts.append((message_headers(head.decode("utf-8", "replace").splitlines()),
                      content[0].removesuffix(b"\n").removesuffix(b"\r") if content else b""))
    raise ODataError(400, "ODP_BAD_REQUEST", f"The batch does not end with its closing delimiter --{boundary}--.")


def message_headers(lines):
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def http_message(response, content_id=None):
    """A response as one part of a multipart answer (application/http)."""
    head = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        head.append(f"Content-ID: {content_id}")
    lines = [f"HTTP/1.1 {response.status} {STATUS_TEXT.get(response.status, '')}".rstrip()]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode() + response.body


def multipart_body(parts, boundary):
    return b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts) + \
        b"--" + boundary.encode() + b"--\r\n"


OPENAPI_TYPES = {"string": {"type": "string"}, "int": {"type": "integer", "format": "int32"},
                 "decimal": {"type": "number", "format": "decimal"}, "bool": {"type": "boolean"},
                 "date": {"type": "string", "format": "date"},
                 "datetimeoffset": {"type": "string", "format": "date-time"}}


def openapi_schema(kind):
    if isinstance(kind, tuple):
        return {"type": "string", "enum": list(kind[2])}
    return dict(OPENAPI_TYPES[kind])


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def etag_for(objid, objversion):
    inner = base64.b64encode(f'W/"{objid}:{objversion}"'.encode()).decode()
    return f'W/"{inner}"'


def jsonable(value):
    if isinstance(value, Decimal):
        return float(value)
    return value


def type_error(name, kind, value):
    return ODataError(400, "ODP_DESERIALIZATION_ERROR", f"Error while de-serializing contents: the value "
                                                        f"{value!r} of {name} is not a valid {kind}.")


def checked_value(name, kind, value, nullable=True):
    """A JSON value for a property of `kind`, as IFS reads it, or ODataError ODP_DESERIALIZATION_ERROR."""
    if value is None:
        if nullable:
            return None
        raise type_error(name, kind, value)
    if isinstance(kind, tuple):
        if not isinstance(value, str) or value not in kind[2]:
            raise type_error(name, f"member of {kind[1]} ({', '.join(kind[2])})", value)
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise type_error(name, "Edm.String", value)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise type_error(name, "Edm.Boolean", value)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise type_error(name, "Edm.Int32", value)
        return value
    if kind == "decimal":
        number = decimal_value(value) if isinstance(value, int | float) else None
        if number is None:  # text, a boolean, NaN or infinity: not an Edm.Decimal
            raise type_error(name, "Edm.Decimal", value)
        return number
    if kind == "date":
        try:
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(value)
            date.fromisoformat(value)
        except ValueError:
            raise type_error(name, "Edm.Date (YYYY-MM-DD)", value) from None
        return value
    if kind == "datetimeoffset":
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise type_error(name, "Edm.DateTimeOffset (YYYY-MM-DDThh:mm:ssTZD)", value)
        return value
    raise ValueError(f"unknown kind {kind!r}")


def seed_value(name, kind, value):
    """A value given to the seed controls: as over the API, but amounts may be text and a date may be left out."""
    if kind == "decimal" and isinstance(value, str):
        if (number := decimal_value(value)) is None:
            raise BadRequest(f"{name}: {value!r} is not an amount")
        return number
    try:
        return checked_value(name, kind, value)
    except ODataError as exc:
        raise BadRequest(str(exc)) from None


class IfsSimulator(Simulator):
    id = "ifs"
    # The other ways a tenant may answer what ml-connector assumes (docs/ASSUMPTIONS.md), each probed read-only by
    # connectors/ifs: F1 the projection serving supplier invoices and their posting lines (another release names it
    # after the ManSuppInvoice entity); F3 the objversion an ETag carries (counter: a row's count of writes, no
    # change time); F4 the member of SupplierInvoiceState a partly paid invoice is in; F5 the customer's payment
    # entity (absent: never added); F8 an answer to a $top (capped: cut at CAPPED_PAGE rows, without a next link);
    # F12 $batch (refused: a gateway in front of IFS passes none).
    VARIANTS = {"F1": (p.INVOICES.projection, "ManSuppInvoiceHandling"),
                "F3": ("change-time", "counter"),
                "F4": ("PartlyPaid", "PartiallyPaid"),
                "F5": (p.PAYMENTS.projection, "absent"),
                "F8": ("next-link", "capped"),
                "F12": ("accepted", "refused")}

    def reset(self):
        self.token_lifetime = TOKEN_LIFETIME
        self.tokens = {}
        self.logins = 0
        self.served = {name: (spec.projection, spec.name) for name, spec in p.DEFAULTS.items()}
        self.max_page = MAX_PAGE
        self.retry_after = 1
        self.rate_limit = 0  # calls a minute this tenant answers beyond with 429; 0: none
        self.calls = 0
        self.batch_parts = 0  # requests answered inside $batch calls (each batch is one of `calls`)
        self.calls_by_minute = {}
        self.rejected_rate_limited = 0
        self.metadata_changes = {"left": 0, "status": 503}
        self.locked = set()
        self.edit_on_next_write = {}
        self.rows = {name: {} for name in p.DEFAULTS}
        self.meta = {}  # (set, key) -> {"objid", "objversion"}
        self.next_objid = 0
        self.next_comm_id = 1
        self.writes = {"patch": 0, "post": 0, "delete": 0, "refused_stale": 0, "refused_locked": 0,
                       "refused_no_if_match": 0}

    # --- the sets this "release" serves ----------------------------------------------------------------------------
    def sets(self):
        served = dict(self.served)
        if self.variant("F1") != self.VARIANTS["F1"][0]:
            for name in ("invoices", "invoice_lines"):
                served[name] = (self.variant("F1"), served[name][1])
        sets = p.entity_sets(served)
        if self.variant("F5") == "absent":
            del sets["payments"]
        return sets

    def fields(self, spec):
        """The set's properties as this tenant types them (the F4 variant renames a state member)."""
        fields = p.odata_fields(spec)
        renamed = self.variant("F4")
        if spec.id == "invoices" and renamed != self.VARIANTS["F4"][0]:
            kind, type_name, members = fields["Objstate"]
            fields["Objstate"] = (kind, type_name, tuple(renamed if m == "PartlyPaid" else m for m in members))
        return fields

    def spec(self, name):
        return self.sets()[name]

    # --- row versions ----------------------------------------------------------------------------------------------
    def stamp(self, set_name, key):
        """A new objversion for a row: its change time (YYYYMMDDHH24MISS on the simulated clock), a second past
        the last one when the row changes twice in a second, so its ETag changes on every write."""
        meta = self.meta.get((set_name, key))
        if meta is None:
            self.next_objid += 1
            meta = self.meta[(set_name, key)] = {"objid": f"AAAS{self.next_objid:014X}", "objversion": "",
                                                 "writes": 0}
        moment = self.clock.now().replace(microsecond=0)
        if meta["objversion"]:
            previous = datetime.strptime(meta["objversion"], "%Y%m%d%H%M%S").replace(tzinfo=moment.tzinfo)
            moment = max(moment, previous + timedelta(seconds=1))
        meta["objversion"] = moment.strftime("%Y%m%d%H%M%S")
        meta["writes"] += 1
        row = self.rows[set_name][key]
        if "Rowversion" in p.DEFAULTS[set_name].fields:
            row["Rowversion"] = moment.isoformat().replace("+00:00", "Z")
        return meta

    def etag(self, set_name, key):
        meta = self.meta[(set_name, key)]
        return etag_for(meta["objid"], str(meta["writes"]) if self.variant("F3") == "counter" else meta["objversion"])

    def put_row(self, set_name, row):
        key = tuple(row[k] for k in p.DEFAULTS[set_name].keys)
        self.rows[set_name][key] = row
        self.stamp(set_name, key)
        return key

    def output(self, set_name, key, row=None):
        row = self.rows[set_name][key] if row is None else row
        spec = p.DEFAULTS[set_name]
        luname = LUNAMES.get(set_name) or f"Code{row.get('CodePart', '')}"
        keyref = "".join(f"{snake(k)}={row[k]}^" for k in spec.keys)
        return {"@odata.etag": self.etag(set_name, key), "luname": luname, "keyref": keyref,
                **{name: jsonable(value) for name, value in row.items()}}

    # --- framework hooks -------------------------------------------------------------------------------------------
    def error_response(self, status, code, message, headers=None):
        return Response.json(status, {"error": {"code": SIMULATOR_CODES.get(code, code), "message": message}},
                             headers)

    def not_found(self, request):
        return self.error_response(404, "ODP_RESOURCE_NOTFOUND", f"The resource {request.path} was not found.")

    def rate_limited_response(self, request, context):
        # UNCONFIRMED (F7): IFS's body for a 429.
        return self.error_response(429, "TOO_MANY_REQUESTS", "Too many requests. Please try again later.",
                                   {"Retry-After": str(self.retry_after)})

    def conflict_response(self, request, context):
        return self.error_response(412, "ODP_PRECONDITION_FAILED", "The record has been modified by another user.")

    def expire_session(self, request):
        self.tokens.pop(self.bearer(request), None)

    @staticmethod
    def bearer(request):
        header = request.header("Authorization") or ""
        return header[7:].strip() if header.startswith("Bearer ") else ""

    def authenticate(self, request, handler):
        info = self.tokens.get(self.bearer(request))
        now = self.clock.time()
        if info is None or info["expires"] <= now:
            self.tokens.pop(self.bearer(request), None)
            return Response.json(401, {"error": {"code": "ODP_UNAUTHORIZED", "message": "Access token is not valid"}},
                                 {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        # The tenant's request counter: every authenticated call, by simulated minute.
        minute = int(now // 60)
        self.calls += 1
        self.calls_by_minute[minute] = self.calls_by_minute.get(minute, 0) + 1
        if self.rate_limit and self.calls_by_minute[minute] > self.rate_limit:
            self.rejected_rate_limited += 1
            return self.error_response(429, "TOO_MANY_REQUESTS", "Too many requests. Please try again later.",
                                       {"Retry-After": str(math.ceil(60 - now % 60))})
        if self.metadata_changes["left"] > 0:
            self.metadata_changes["left"] -= 1
            status = self.metadata_changes["status"]
            return self.error_response(status, "MI_MODIFIED_ERROR", "Cached Service metadata is outdated. Please try "
                                       "again.", {"Retry-After": str(self.retry_after)} if status == 503 else None)
        return info

    # --- IAM -------------------------------------------------------------------------------------------------------
    @route("POST", r"/auth/realms/(?P<realm>[^/]+)/protocol/openid-connect/token")
    @public
    def token(self, request, _, realm):
        """Keycloak's token endpoint, answered as IFS's client credential flow sample is."""
        if unquote(realm) != REALM:
            return Response.json(404, {"error": "Realm does not exist"})
        form = request.form()
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        header = request.header("Authorization") or ""
        if header.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = client_secret = ""
        if form.get("grant_type") != "client_credentials":
            return Response.json(400, {"error": "unsupported_grant_type",
                                       "error_description": "Unsupported grant_type"})
        if client_id != CLIENT_ID:
            return Response.json(401, {"error": "invalid_client",
                                       "error_description": "Invalid client or Invalid client credentials"})
        if client_secret != CLIENT_SECRET:
            return Response.json(401, {"error": "unauthorized_client",
                                       "error_description": "Invalid client or Invalid client credentials"})
        access = secrets.token_urlsafe(32)
        self.tokens[access] = {"expires": self.clock.time() + self.token_lifetime, "client": client_id}
        self.logins += 1
        return Response.json(200, {"access_token": access, "expires_in": self.token_lifetime,
                                   "refresh_expires_in": 0, "token_type": "Bearer", "not-before-policy": 0,
                                   "scope": "openid audience microprofile-jwt email profile"})

    # --- OData -----------------------------------------------------------------------------------------------------
    @route("GET", r"/main/ifsapplications/projection/v1/.*")
    def odata_get(self, request, context):
        return self.odata(request, "GET")

    @route("GET", r"/int/ifsapplications/projection/v1/(?P<projection>[A-Za-z_][A-Za-z0-9_]*)\.svc/\$openapi")
    def int_openapi(self, request, context, projection):
        """The path IFS's API documentation gives for $openapi (/int/ rather than /main/)."""
        try:
            return self.openapi(projection)
        except ODataError as exc:
            return self.error_response(exc.status, exc.code, str(exc), exc.headers)

    @route("PATCH", r"/main/ifsapplications/projection/v1/.*")
    def odata_patch(self, request, context):
        return self.odata(request, "PATCH")

    @route("POST", r"/main/ifsapplications/projection/v1/.*")
    def odata_post(self, request, context):
        return self.odata(request, "POST")

    @route("DELETE", r"/main/ifsapplications/projection/v1/.*")
    def odata_delete(self, request, context):
        return self.odata(request, "DELETE")

    def odata(self, request, method):
        try:
            match = SERVICE.match(request.path)
            if match is None:
                raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"The resource {request.path} was not found.")
            projection, rest = match["projection"], (match["rest"] or "/").lstrip("/")
            if rest == "$batch" and method == "POST":
                if self.variant("F12") == "refused":
                    raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"The resource {request.path} was not found.")
                return self.batch(request, projection)
            if rest in ("$metadata", "$openapi") and method == "GET":
                return self.metadata(projection) if rest == "$metadata" else self.openapi(projection)
            if not rest:
                if method != "GET":
                    raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"{method} is not allowed on a service document")
                return self.service_document(projection)
            target = self.resolve(projection, rest)
            handler = {"GET": self.read, "PATCH": self.update, "POST": self.create, "DELETE": self.remove}[method]
            return handler(request, target)
        except ODataError as exc:
            return self.error_response(exc.status, exc.code, str(exc), exc.headers)

    # --- $batch (IFS OData Provider, Batch Requests) ---------------------------------------------------------------
    def batch(self, request, projection):
        """POST <Projection>.svc/$batch, multipart/mixed: each part a request (application/http) or a change set
        (a multipart/mixed of its own, all or nothing, GET refused in it), processed in order; after a failed part
        the rest is left out unless the Prefer header asks to continue on errors. The whole batch is one call of
        the tenant's budget. Not modelled: a part naming an earlier one by $<Content-ID>."""
        if not self.sets_of(projection):
            raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"The projection {projection} does not exist.")
        found = MULTIPART.search(request.header("Content-Type") or "")
        if not found:
            raise ODataError(400, "ODP_BAD_REQUEST", "A batch request is multipart/mixed with a boundary.")
        # UNCONFIRMED (F12): OData 4.0 writes the preference odata.continue-on-error, 4.01 continue-on-error.
        go_on = "continue-on-error" in (request.header("Prefer") or "")
        answers = []
        for headers, content in multipart(request.body, found[1]):
            kind = headers.get("content-type", "")
            inner = MULTIPART.search(kind)
            if inner:
                failed, answer = self.changeset(projection, content, inner[1])
            elif kind.lower().startswith("application/http"):
                response = self.part(projection, content)
                failed, answer = response.status >= 400, http_message(response, headers.get("content-id"))
            else:
                raise ODataError(400, "ODP_BAD_REQUEST", f"A batch part is application/http or a change set, not "
                                                         f"{kind or 'untyped'}.")
            answers.append(answer)
            if failed and not go_on:
                break
        boundary = f"batchresponse_{uuid.uuid4()}"
        return Response(200, multipart_body(answers, boundary), {
            "Content-Type": f"multipart/mixed; boundary={boundary}",
            **({"Preference-Applied": "odata.continue-on-error"} if go_on else {})})

    def changeset(self, projection, content, boundary):
        """(failed, the answer part) of a change set: every part applied, or none (the first failure answered)."""
        parts = multipart(content, boundary)
        saved = copy.deepcopy((self.rows, self.meta, self.next_objid, self.next_comm_id, self.writes))
        answers = []
        for headers, message in parts:
            if message.lstrip().upper().startswith(b"GET "):
                response = self.error_response(400, "ODP_BAD_REQUEST", "A GET request cannot be part of a change set.")
            else:
                response = self.part(projection, message)
            if response.status >= 400:
                self.rows, self.meta, self.next_objid, self.next_comm_id, self.writes = saved
                return True, http_message(response, headers.get("content-id"))
            answers.append(http_message(response, headers.get("content-id")))
        inner = f"changesetresponse_{uuid.uuid4()}"
        return False, (f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n".encode() +
                       multipart_body(answers, inner))

    def part(self, projection, message):
        """One request of a batch, answered as if sent on its own, its URL relative to the service root."""
        head, *body = BLANK_LINE.split(message.lstrip(b"\r\n"), maxsplit=1)
        lines = head.decode("utf-8", "replace").splitlines()
        request_line = re.fullmatch(r"(GET|PATCH|POST|DELETE) (\S+) HTTP/1\.1", lines[0].strip()) if lines else None
        if request_line is None:
            return self.error_response(400, "ODP_BAD_REQUEST", "A batch part starts with METHOD URL HTTP/1.1.")
        method, url = request_line[1], urlsplit(request_line[2])
        path = unquote(url.path)
        if "/main/ifsapplications/projection/v1/" in path:
            path = path[path.index("/main/ifsapplications/projection/v1/"):]
        else:
            path = f"/main/ifsapplications/projection/v1/{projection}.svc/{path.lstrip('/')}"
        inner = Request(method, path, parse_qs(url.query, keep_blank_values=True), message_headers(lines[1:]),
                        body[0] if body else b"")
        self.batch_parts += 1
        return self.odata(inner, method)

    def sets_of(self, projection):
        return [spec for spec in self.sets().values() if not spec.parent and spec.projection == projection]

    # --- $metadata and $openapi ---------------------------------------------------------------------------------
    def served_by(self, projection):
        """The sets of a projection, top-level and reached through navigations (a child set follows its parent's
        projection); 404 when it serves none."""
        sets = self.sets()
        served = [spec for spec in sets.values() if spec.projection == projection]
        if not served:
            raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"The projection {projection} does not exist.")
        return sets, served

    @staticmethod
    def type_name(spec):
        # UNCONFIRMED (F1): IFS names a projection's entity types after its entities; the ones here are ours.
        return LUNAMES.get(spec.id) or spec.name.removesuffix("Set")

    def metadata(self, projection):
        """GET <Projection>.svc/$metadata: the CSDL of the projection, from the same field specs its queries are
        filtered with; namespace IfsApp.<Projection>, as its enum literals are qualified."""
        sets, served = self.served_by(projection)
        document = odata.metadata_document(
            f"IfsApp.{projection}",
            {spec.name: (self.type_name(spec), self.fields(spec), spec.keys) for spec in served if not spec.parent},
            contained={self.type_name(spec): (self.fields(spec), spec.keys) for spec in served if spec.parent},
            navigations={self.type_name(parent): {spec.name: self.type_name(spec) for spec in served
                                                  if spec.parent == parent.id} for parent in served})
        return Response(200, document.encode(), {"Content-Type": "application/xml", "OData-Version": "4.0"})

    def openapi(self, projection):
        """GET <Projection>.svc/$openapi: IFS's API documentation of a projection, an OpenAPI document in JSON
        (https://docs.ifs.com/techdocs/25r2/040_tailoring/300_extensibility/010_get_started/100_api_documentation),
        its entity sets as paths. UNCONFIRMED: the OpenAPI version and the document's detail; IFS documents the
        endpoint and the format only."""
        _, served = self.served_by(projection)
        schemas, paths = {}, {}
        for spec in served:
            schemas[self.type_name(spec)] = {"type": "object", "properties": {
                name: openapi_schema(kind) for name, kind in self.fields(spec).items()}}
            reference = {"$ref": f"#/components/schemas/{self.type_name(spec)}"}
            collection = {"200": {"description": "OK", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"value": {"type": "array", "items": reference}}}}}}}
            if spec.parent:
                continue  # reached through its parent's record: its schema is listed, its paths are not
            route = f"/{spec.name}"
            paths[route] = {"get": {"summary": f"Get entities from {spec.name}", "responses": collection}}
            keys = ",".join(f"{k}='{{{k}}}'" if spec.fields[k] != "int" else f"{k}={{{k}}}" for k in spec.keys)
            paths[f"{route}({keys})"] = {"get": {"summary": f"Get entity from {spec.name} by key", "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": reference}}}}}}
        return Response.json(200, {
            "openapi": "3.0.1", "info": {"title": projection, "version": "1"},
            "servers": [{"url": f"{p.ROOT}/{projection}.svc"}], "paths": paths, "components": {"schemas": schemas}})

    def service_document(self, projection):
        served = [spec for spec in self.sets().values() if not spec.parent and spec.projection == projection]
        if not served:
            raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"The projection {projection} does not exist.")
        return Response.json(200, {"@odata.context": "$metadata", "value": [
            {"name": spec.name, "kind": "EntitySet", "url": spec.name} for spec in served]})

    def resolve(self, projection, rest):
        """(set name, the parents' keys, the key or None) of a path such as
        SupplierInfoGeneralSet(SupplierId='V1')/SupplierInfoAddresses(SupplierId='V1',AddressId='1')."""
        sets = self.sets()
        segments, position = [], 0
        while position < len(rest):
            m = SEGMENT.match(rest, position)
            if m is None:
                raise ODataError(400, "ODP_BAD_REQUEST", f"The path {rest!r} is not valid at position {position}.")
            position = m.end()
            keys = None
            if rest.startswith("(", position):
                keys, position = self.key_predicate(rest, position + 1)
            segments.append((m[1], keys))
            if position < len(rest):
                if rest[position] != "/":
                    raise ODataError(400, "ODP_BAD_REQUEST", f"The path {rest!r} is not valid at position {position}.")
                position += 1
        current, parents = None, []
        for index, (name, keys) in enumerate(segments):
            if current is None:
                found = [s for s in sets.values() if not s.parent and s.projection == projection and s.name == name]
            else:
                found = [s for s in sets.values() if s.parent == current.id and s.name == name]
            if not found:
                raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"The resource {name} was not found in {projection}.")
            spec = found[0]
            last = index == len(segments) - 1
            if keys is not None:
                keys = self.checked_keys(spec, keys)
                if parents and any(keys.get(k) != v for k, v in parents[-1].items() if k in keys):
                    raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"No {name} with the key given under its parent.")
                if not last:
                    if tuple(keys[k] for k in spec.keys) not in self.rows[spec.id]:
                        raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"The {name} record was not found.")
                    parents.append(keys)
            elif not last:
                raise ODataError(400, "ODP_BAD_REQUEST", f"{name} must be given a key to navigate from it.")
            current = spec
        return current, parents, segments[-1][1] if segments else None

    @staticmethod
    def key_predicate(text, position):
        """The key values of Name='x',Id=3 up to the closing parenthesis; strings quoted ('' for a quote)."""
        keys = {}
        while True:
            m = SEGMENT.match(text, position)
            if m is None or not text.startswith("=", m.end()):
                raise ODataError(400, "ODP_BAD_REQUEST", f"The key predicate in {text!r} is not valid.")
            name, position = m[1], m.end() + 1
            if text.startswith("'", position):
                value, position = [], position + 1
                while True:
                    end = text.find("'", position)
                    if end < 0:
                        raise ODataError(400, "ODP_BAD_REQUEST", f"Unterminated string in the key of {text!r}.")
                    value.append(text[position:end])
                    if text.startswith("''", end):
                        value.append("'")
                        position = end + 2
                        continue
                    position = end + 1
                    break
                keys[name] = "".join(value)
            else:
                m = re.compile(r"-?\d+").match(text, position)
                if m is None:
                    raise ODataError(400, "ODP_BAD_REQUEST", f"The key value of {name} in {text!r} is not valid.")
                keys[name], position = int(m[0]), m.end()
            if text.startswith(",", position):
                position += 1
                continue
            if text.startswith(")", position):
                return keys, position + 1
            raise ODataError(400, "ODP_BAD_REQUEST", f"The key predicate in {text!r} is not valid.")

    @staticmethod
    def checked_keys(spec, keys):
        if set(keys) != set(spec.keys):
            raise ODataError(400, "ODP_BAD_REQUEST", f"The key of {spec.name} is {', '.join(spec.keys)}; "
                                                     f"{', '.join(keys) or 'nothing'} was given.")
        for name, value in keys.items():
            kind = spec.fields[name]
            if (kind == "int") != isinstance(value, int):
                raise ODataError(400, "ODP_BAD_REQUEST", f"The key {name} of {spec.name} is "
                                                         f"{'a number' if kind == 'int' else 'text in quotes'}.")
        return keys

    def children(self, spec, parents):
        rows = self.rows[spec.id]
        if not parents:
            return list(rows.items())
        scope = parents[-1]
        return [(key, row) for key, row in rows.items() if all(row.get(k) == v for k, v in scope.items())]

    # --- reads -----------------------------------------------------------------------------------------------------
    def read(self, request, target):
        spec, parents, keys = target
        if keys is not None:
            key = self.existing(spec, keys, parents)
            body = {"@odata.context": f"$metadata#{spec.name}/$entity", **self.output(spec.id, key)}
            options = {name for name in request.query if name.startswith("$")}
            if options - {"$select"}:
                raise ODataError(400, "ODP_BAD_REQUEST", f"{', '.join(sorted(options - {'$select'}))} cannot be "
                                                         "used when one record is read.")
            if "$select" in request.query:
                chosen = [name.strip() for name in request.query["$select"][0].split(",")]
                unknown = [name for name in chosen if name not in spec.fields and name != "*"]
                if unknown:
                    raise ODataError(400, "ODP_BAD_REQUEST", f"Could not find a property named '{unknown[0]}' "
                                                             "(in $select).")
                if "*" not in chosen:
                    body = {k: v for k, v in body.items() if k in chosen or not k[0].isupper()}
            return Response.json(200, body, {"ETag": body["@odata.etag"]})
        if "$expand" in request.query:
            # "$expand is only supported for one to one associations" (IFS OData Provider, supported functionalities);
            # every navigation modelled here is one to many.
            raise ODataError(501, "ODP_NOT_IMPLEMENTED", "$expand is only supported for one to one associations.")
        rows = [self.output(spec.id, key, row) for key, row in sorted(self.children(spec, parents))]
        fields = self.fields(spec)
        try:
            body = odata.apply_query(rows, request.query, fields, spec.keys, max_top=self.max_page,
                                     entity_set=spec.name)
            if "$select" in request.query:
                # IFS keeps a record's control information (@odata.etag) whatever is selected.
                full = odata.apply_query(rows, {k: v for k, v in request.query.items() if k != "$select"}, fields,
                                         spec.keys, max_top=self.max_page, entity_set=spec.name)
                body["value"] = [{name: row[name] for name in ("@odata.etag", "luname", "keyref")} | chosen
                                 for row, chosen in zip(full["value"], body["value"], strict=True)]
        except odata.ODataQueryError as exc:
            # UNCONFIRMED (F9): the code IFS gives a query it cannot take.
            raise ODataError(400, "ODP_BAD_REQUEST", str(exc)) from None
        if self.variant("F8") == "capped":
            body.pop("@odata.nextLink", None)
            body["value"] = body["value"][:CAPPED_PAGE]
        return Response.json(200, body)

    # --- writes ----------------------------------------------------------------------------------------------------
    def body_of(self, request):
        if not (request.header("Content-Type") or "").lower().startswith("application/json"):
            raise ODataError(400, "ODP_DESERIALIZATION_ERROR", "Error while de-serializing contents.")
        try:
            body = request.json()
        except BadRequest:
            raise ODataError(400, "ODP_DESERIALIZATION_ERROR", "Error while de-serializing contents.") from None
        if not isinstance(body, dict):
            raise ODataError(400, "ODP_DESERIALIZATION_ERROR", "Error while de-serializing contents.")
        return {k: v for k, v in body.items() if not k.startswith("@")}

    def guard(self, spec, key, request):
        """A write to an existing row: the one-shot edit a person makes first, the lock, then If-Match."""
        self.edit_before_write(spec.id, key)
        if (spec.id, key) in self.locked:
            self.writes["refused_locked"] += 1
            raise ODataError(423, "ODP_LOCKED", "The record is locked by another user or process.")
        if_match = request.header("If-Match")
        if not if_match:
            self.writes["refused_no_if_match"] += 1
            # UNCONFIRMED (F9): the status; OData's is 428, and the code is the one IFS documents.
            raise ODataError(428, "ODP_MISSING_PRECONDITION", "The If-Match header is required to modify this "
                                                              "resource.")
        if if_match != "*" and if_match != self.etag(spec.id, key):
            self.writes["refused_stale"] += 1
            raise ODataError(412, "ODP_PRECONDITION_FAILED", "The record has been modified by another user. "
                                                             "Refresh and try again.")

    def existing(self, spec, keys, parents):
        """The key of a record named by its key under its parents (a record under another parent is not found)."""
        key = tuple(keys[k] for k in spec.keys)
        row = self.rows[spec.id].get(key)
        if row is None or (parents and any(row.get(k) != v for k, v in parents[-1].items())):
            raise ODataError(404, "ODP_RESOURCE_NOTFOUND", f"The {spec.name} record {p.key_predicate(keys)} was "
                                                           "not found.")
        return key

    def update(self, request, target):
        spec, parents, keys = target
        if keys is None:
            raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", "PATCH needs one record's key.")
        key = self.existing(spec, keys, parents)
        self.guard(spec, key, request)
        changes = self.body_of(request)
        row = self.rows[spec.id][key]
        for name in changes:
            if name not in spec.fields:
                raise ODataError(400, "ODP_DESERIALIZATION_ERROR", f"Error while de-serializing contents: {spec.name} "
                                                                   f"has no property {name}.")
            if name not in WRITABLE.get(spec.id, set()):
                raise ODataError(400, "ODP_BAD_REQUEST", f"{name} of {spec.name} cannot be changed here.")
        checked = {name: checked_value(name, p.odata_fields(spec)[name], value) for name, value in changes.items()}
        row.update(checked)
        self.stamp(spec.id, key)
        self.writes["patch"] += 1
        body = {"@odata.context": f"$metadata#{spec.name}/$entity", **self.output(spec.id, key)}
        return Response.json(200, body, {"ETag": body["@odata.etag"]})

    def create(self, request, target):
        spec, parents, keys = target
        if keys is not None or spec.id not in CREATABLE:
            raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"POST is not allowed on {spec.name} here.")
        if parents:
            self.edit_before_write("suppliers", (parents[0]["SupplierId"],))
        body = self.body_of(request)
        fields = p.odata_fields(spec)
        unknown = sorted(set(body) - set(fields))
        if unknown:
            raise ODataError(400, "ODP_DESERIALIZATION_ERROR", f"Error while de-serializing contents: {spec.name} has "
                                                               f"no property {', '.join(unknown)}.")
        row = {name: checked_value(name, kind, body.get(name)) for name, kind in fields.items() if name != "Rowversion"}
        for scope in parents:
            for name, value in scope.items():
                if row.get(name) not in (None, value):
                    raise ODataError(400, "ODP_BAD_REQUEST", f"{name} {row[name]!r} is not the parent's {value!r}.")
                row[name] = value
        if spec.id == "supplier_comm_methods" and row.get("CommId") is None:
            row["CommId"] = self.next_comm_id
        missing = [k for k in spec.keys if row.get(k) is None]
        if missing:
            raise ODataError(400, "ODP_BAD_REQUEST", f"{', '.join(missing)} must be given.")
        key = tuple(row[k] for k in spec.keys)
        if key in self.rows[spec.id]:
            # UNCONFIRMED (F9): how IFS answers a record created twice.
            named = p.key_predicate(dict(zip(spec.keys, key, strict=True)))
            raise ODataError(409, "ODP_DUPLICATE", f"The {spec.name} record {named} already exists.")
        if spec.id == "supplier_comm_methods":
            self.next_comm_id = max(self.next_comm_id, row["CommId"]) + 1
        self.put_row(spec.id, row)
        self.writes["post"] += 1
        body = {"@odata.context": f"$metadata#{spec.name}/$entity", **self.output(spec.id, key)}
        return Response.json(201, body, {"ETag": body["@odata.etag"]})

    def remove(self, request, target):
        spec, parents, keys = target
        if keys is None or spec.id not in CREATABLE:
            raise ODataError(405, "ODP_METHOD_NOT_ALLOWED", f"DELETE is not allowed on {spec.name} here.")
        key = self.existing(spec, keys, parents)
        self.guard(spec, key, request)
        del self.rows[spec.id][key]
        self.writes["delete"] += 1
        return Response(204)

    def edit_before_write(self, set_name, key):
        """The `edit-on-next-write` control: a person changes the supplier in IFS between our read and our write."""
        supplier = key[0] if set_name.startswith("supplier") else None
        edit = self.edit_on_next_write.pop(supplier, None) if supplier is not None else None
        if edit:
            self.change_supplier(supplier, edit)

    # --- people in IFS: the seed and the controls ------------------------------------------------------------------
    def address_of(self, supplier_id):
        """The key of the supplier's first address, created empty when it has none."""
        keys = sorted(k for k in self.rows["supplier_addresses"] if k[0] == supplier_id)
        if keys:
            return keys[0]
        return self.put_row("supplier_addresses", {"SupplierId": supplier_id, "AddressId": "1", "Address1": "",
                                                   "Address2": "", "ZipCode": "", "City": "", "State": "",
                                                   "Country": "", "ValidFrom": ALWAYS[0], "ValidTo": ALWAYS[1]})

    def set_comm_method(self, supplier_id, method, value):
        address = self.address_of(supplier_id)
        found = [k for k, row in self.rows["supplier_comm_methods"].items()
                 if row["SupplierId"] == supplier_id and row["AddressId"] == address[1] and row["MethodId"] == method]
        if not value:
            for key in found:
                del self.rows["supplier_comm_methods"][key]
            return
        if found:
            self.rows["supplier_comm_methods"][found[0]]["Value"] = value
            self.stamp("supplier_comm_methods", found[0])
            return
        self.put_row("supplier_comm_methods", {"SupplierId": supplier_id, "CommId": self.next_comm_id,
                                               "AddressId": address[1], "MethodId": method, "Value": value,
                                               "MethodDefault": True})
        self.next_comm_id += 1

    def change_supplier(self, supplier_id, changes):
        """A person's edit in canonical terms (name, tax_id, currency, active, email, phone, address). The supplier
        record itself is stamped as changed whatever changed, so that it reads as changed (docs/SANDBOX.md): a
        person changing only an address or a communication method in IFS would not touch it (F3)."""
        key = (supplier_id,)
        row = self.rows["suppliers"].get(key)
        if row is None:
            raise BadRequest(f"No supplier {supplier_id!r}")
        unknown = set(changes) - {*CANONICAL_SUPPLIER_FIELDS, "active", "email", "phone", "address"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}; fields: name, tax_id, currency, active, "
                             "email, phone, address")
        for name, column in CANONICAL_SUPPLIER_FIELDS.items():
            if name in changes:
                row[column] = seed_value(column, "string", changes[name])
        if "active" in changes:
            row["BlockedForUse"] = not bool(changes["active"])
        if "email" in changes:
            self.set_comm_method(supplier_id, p.EMAIL, changes["email"])
        if "phone" in changes:
            self.set_comm_method(supplier_id, p.PHONE, changes["phone"])
        if "address" in changes:
            address = self.address_of(supplier_id)
            given = changes["address"] or {}
            self.rows["supplier_addresses"][address].update(
                {column: str(given.get(field) or "") for field, column in p.ADDRESS_PROPERTIES.items()})
            self.stamp("supplier_addresses", address)
        self.stamp("suppliers", key)

    def seed(self, payload):
        """IFS-shaped data: suppliers (with "addresses" and "comm_methods"), accounts, code part values and
        invoices (with "lines"), each property checked against its OData type."""
        counts = {}
        for given in payload.get("suppliers", []):
            given = dict(given)
            addresses, comm_methods = given.pop("addresses", []), given.pop("comm_methods", [])
            supplier = self.seed_row("suppliers", {"BlockedForUse": False, **given})
            for address in addresses:
                self.seed_row("supplier_addresses", {"SupplierId": supplier["SupplierId"], "ValidFrom": ALWAYS[0],
                                                     **address})
            for method in comm_methods:
                method = {"SupplierId": supplier["SupplierId"], "CommId": self.next_comm_id, "MethodDefault": True,
                          **method}
                self.next_comm_id = max(self.next_comm_id, method["CommId"]) + 1
                self.seed_row("supplier_comm_methods", method)
        counts["suppliers"] = len(payload.get("suppliers", []))
        for account in payload.get("accounts", []):
            self.seed_row("gl_accounts", {"Company": COMPANY, "ValidFrom": ALWAYS[0], **account})
        counts["accounts"] = len(payload.get("accounts", []))
        for value in payload.get("code_part_values", []):
            self.seed_row("code_part_values", {"Company": COMPANY, "ValidFrom": ALWAYS[0], **value})
        counts["code_part_values"] = len(payload.get("code_part_values", []))
        for invoice in payload.get("invoices", []):
            invoice = dict(invoice)
            lines = invoice.pop("lines", [])
            row = self.seed_row("invoices", {"Company": COMPANY, "Objstate": "Posted",
                                             "TransferStatus": "NotTransferred", **invoice,
                                             "OpenAmount": invoice.get("OpenAmount", invoice.get("GrossAmount"))})
            for n, line in enumerate(lines, 1):
                self.seed_row("invoice_lines", {"Company": row["Company"], "InvoiceId": row["InvoiceId"], "RowNo": n,
                                                **line})
        counts["invoices"] = len(payload.get("invoices", []))
        return counts

    def seed_row(self, set_name, given):
        spec = p.DEFAULTS[set_name]
        fields = p.odata_fields(spec)
        unknown = sorted(set(given) - set(fields))
        if unknown:
            raise BadRequest(f"{spec.name} has no property {', '.join(unknown)}")
        row = {name: seed_value(name, kind, given.get(name)) for name, kind in fields.items() if name != "Rowversion"}
        for name, kind in fields.items():
            if row.get(name) is None and kind == "string" and name not in spec.keys:
                row[name] = ""
        missing = [k for k in spec.keys if row.get(k) in (None, "")]
        if missing:
            raise BadRequest(f"{spec.name}: {', '.join(missing)} must be given")
        self.put_row(set_name, row)
        return row

    # --- controls --------------------------------------------------------------------------------------------------
    def control(self, action, payload):
        with self.lock:
            if action == "account":
                return self.account(payload)
            if action == "seed":
                return self.seed(payload)
            if action == "metadata-changed":
                self.metadata_changes = {"left": int(payload.get("times", 1)),
                                         "status": int(payload.get("status", 503))}
                if "retry_after" in payload:
                    self.retry_after = int(payload["retry_after"])
                return self.metadata_changes
            if action == "lock":
                return self.set_lock(payload)
            if action == "edit-on-next-write":
                supplier_id = payload.get("source_id", "")
                if (supplier_id,) not in self.rows["suppliers"]:
                    raise BadRequest(f"No supplier {supplier_id!r}")
                self.edit_on_next_write[supplier_id] = {k: v for k, v in payload.items() if k != "source_id"}
                return {"armed": supplier_id}
            if action == "update-supplier":
                self.change_supplier(payload.get("source_id", ""), {k: v for k, v in payload.items()
                                                                    if k != "source_id"})
                return self.supplier_view(payload["source_id"])
            if action == "seed-canonical":
                return self.seed(canonical_seed(unreadable=bool(payload.get("unreadable"))))
            if action == "canonical-supplier":
                self.change_supplier(payload.get("source_id", ""), {k: v for k, v in payload.items()
                                                                    if k != "source_id"})
                return {"source_id": payload["source_id"]}
            if action == "canonical-invoice":
                return self.change_canonical_invoice(payload)
            if action == "canonical-state":
                return {"payments": [self.canonical_payment(row) for row in self.rows["payments"].values()]}
        raise BadRequest(f"ifs has no control {action!r}; controls: account, seed, metadata-changed, lock, "
                         "edit-on-next-write, update-supplier, seed-canonical, canonical-supplier, canonical-invoice, "
                         "canonical-state")

    def change_canonical_invoice(self, payload):
        """Approve an invoice (Posted), or hold one after it was approved: IFS's states have no hold on a posted
        invoice, so "held" cancels it (Cancelled) and releasing it posts it again, which only the simulator
        allows."""
        unknown = set(payload) - {"supplier_id", "number", "approved", "held"}
        if unknown:
            raise BadRequest(f"Cannot change {', '.join(sorted(unknown))}; fields: approved, held")
        key, row = next(((k, r) for k, r in self.rows["invoices"].items()
                         if (r["Identity"], r["InvoiceNo"]) == (payload.get("supplier_id"), payload.get("number"))),
                        (None, None))
        if row is None:
            raise BadRequest(f"No invoice {payload.get('number')!r} of supplier {payload.get('supplier_id')!r}")
        if "held" in payload or "approved" in payload:
            held = payload.get("held", False)
            row["Objstate"] = p.CANCELLED_STATE if held else ("Posted" if payload.get("approved", True)
                                                              else "Preliminary")
            self.stamp("invoices", key)
        return {"supplier_id": row["Identity"], "number": row["InvoiceNo"]}

    def account(self, payload):
        for name in ("token_lifetime", "rate_limit", "max_page", "retry_after"):
            if name in payload:
                setattr(self, name, int(payload[name]))
        if "names" in payload:
            overrides = p.parse_overrides(", ".join(f"{k}={v}" for k, v in payload["names"].items()))
            for name, (projection, entity_set) in overrides.items():
                self.served[name] = (projection or self.served[name][0], entity_set)
        return {"token_lifetime": self.token_lifetime, "rate_limit": self.rate_limit, "max_page": self.max_page,
                "retry_after": self.retry_after, "names": {k: "/".join(v) for k, v in self.served.items()}}

    def set_lock(self, payload):
        set_name = payload.get("set", "")
        if set_name not in p.DEFAULTS:
            raise BadRequest(f"set must be one of {', '.join(p.DEFAULTS)}")
        spec = p.DEFAULTS[set_name]
        keys = payload.get("key") or {}
        try:
            key = tuple(keys[k] for k in spec.keys)
        except KeyError:
            raise BadRequest(f"key must give {', '.join(spec.keys)}") from None
        if key not in self.rows[set_name]:
            raise BadRequest(f"No {set_name} row {key}")
        (self.locked.add if payload.get("locked", True) else self.locked.discard)((set_name, key))
        return {"locked": sorted(f"{s}:{k}" for s, k in self.locked)}

    def supplier_view(self, supplier_id):
        row = self.rows["suppliers"][(supplier_id,)]
        methods = {m["MethodId"]: m["Value"] for m in self.rows["supplier_comm_methods"].values()
                   if m["SupplierId"] == supplier_id}
        return {**row, "email": methods.get(p.EMAIL, ""), "phone": methods.get(p.PHONE, ""),
                "etag": self.etag("suppliers", (supplier_id,))}

    def canonical_payment(self, row):
        invoice = self.rows["invoices"][(row["Company"], row["InvoiceId"])]
        return {"payment_id": row["PaymentId"], "invoice_number": invoice["InvoiceNo"],
                "supplier_id": invoice["Identity"], "amount": canonical.amount_text(row["Amount"]),
                "status": "PAID" if row["Status"] == p.PAYMENT_PAID else "VOIDED"}

    def state(self):
        tables = {name: [{**{k: jsonable(v) for k, v in row.items()}, "@odata.etag": self.etag(name, key)}
                         for key, row in sorted(rows.items())] for name, rows in self.rows.items()}
        busiest = max(self.calls_by_minute.values(), default=0)
        return {**tables, "logins": self.logins, "calls": self.calls, "batch_parts": self.batch_parts,
                "max_calls_in_a_minute": busiest,
                "calls_by_minute": {str(minute * 60): count for minute, count in sorted(self.calls_by_minute.items())},
                "rejected_rate_limited": self.rejected_rate_limited, "writes": dict(self.writes),
                "locked": sorted(f"{s}:{k}" for s, k in self.locked),
                "names": {k: "/".join(v) for k, v in self.served.items()}}


def canonical_seed(unreadable=False):
    """The canonical seed (connectors/canonical.py) as IFS data: company MLC01; GL accounts are code part A,
    departments code part B; approved invoices are Posted, the unapproved one Preliminary; invoice ids from
    1001. The unreadable invoice has no due date."""
    suppliers = []
    for s in canonical.SUPPLIERS:
        methods = [{"AddressId": "1", "MethodId": method, "Value": value}
                   for method, value in ((p.EMAIL, s.email), (p.PHONE, s.phone)) if value]
        suppliers.append({"SupplierId": s.source_id, "Name": s.name, "AssociationNo": s.tax_id,
                          "CurrencyCode": s.currency, "BlockedForUse": not s.active,
                          "addresses": [{"AddressId": "1", **{column: getattr(s.address, field)
                                                              for field, column in p.ADDRESS_PROPERTIES.items()}}],
                          "comm_methods": methods})
    accounts = [{"Account": a.code, "Description": a.name, "AccntType": "COST",
                 "ValidUntil": "2099-12-31" if a.active else "2001-12-31"} for a in canonical.GL_ACCOUNTS]
    values = [{"CodePart": "B", "CodePartValue": d.code, "Description": d.name,
               "ValidUntil": "2099-12-31" if d.active else "2001-12-31"} for d in canonical.DEPARTMENTS]
    invoices = []
    for n, inv in enumerate([*canonical.INVOICES, *([canonical.UNREADABLE_INVOICE] if unreadable else [])], 1):
        invoices.append({
            "InvoiceId": 1000 + n, "InvoiceNo": inv.number, "Identity": inv.supplier_id,
            "InvoiceDate": inv.invoice_date.isoformat(),
            "DueDate": None if inv is canonical.UNREADABLE_INVOICE else inv.due_date.isoformat(),
            "Currency": inv.currency, "GrossAmount": str(inv.total),
            "PoRefNumber": next((line.po_number for line in inv.lines if line.po_number), ""),
            "Objstate": "Posted" if inv.approved else "Preliminary",
            "lines": [{"CodeA": line.gl_account, "CodeB": line.dimensions.get("department", ""),
                       "CurrAmount": str(line.amount), "Text": line.description, "PoRefNumber": line.po_number}
                      for line in inv.lines]})
    return {"suppliers": suppliers, "accounts": accounts, "code_part_values": values, "invoices": invoices}
