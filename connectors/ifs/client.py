"""IFS Cloud: OAuth2 client credentials at the tenant's IAM (Keycloak) and OData v4 projections.

Sources: IFS's client credential flow (https://docs.ifs.com/techdocs/24r2/030_administration/010_security/
040_iam_settings/035_iam_clients/020_authenticate_external_integration/300_client_credential_flow/), the
OData Provider's supported query options and paging advice (https://docs.ifs.com/techdocs/21r2/060_tailoring/
300_extensibility/101_odata_provider/1000_supported_functionalities/), its metadata cache answer
(MI_MODIFIED_ERROR, https://docs.ifs.com/techdocs/23r2/040_tailoring/300_extensibility/100_odata_provider/
200_projections_and_odp/), its status codes (https://docs.ifs.com/techdocs/24r1/040_tailoring/
300_extensibility/020_api_explorer/050_responses_and_status_codes/) and ETags on updates (Novacura's IFS
Cloud guidelines: an ETag is base64 of objid:objversion, an update without If-Match is refused with
ODP_MISSING_PRECONDITION).
"""

import base64
import binascii
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import requests
from django.core.exceptions import ValidationError
from django.utils import timezone

from connectors import odata
from connectors.assumptions import contradicted, held, probe, unchecked
from connectors.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    ConnectorError,
    DataError,
    Locked,
    NotFound,
    RecordError,
    TransientError,
)
from connectors.http import HttpClient, ReauthRequired, default_classify, excerpt, fan_out
from connectors.ifs import projections
from connectors.ifs.system import DEFAULT_CALLS_PER_MINUTE, calls_per_minute
from connectors.tokens import Token, TokenSession, token_from_response
from portal.redaction import register_secret

# The token is renewed once this much of its life is left (IFS's sample token lives 180 s: renewed at 120 s).
RENEW_BEFORE = timedelta(seconds=60)
# Rows asked for per $top window. IFS documents no maximum (F8); the simulator serves up to 5,000.
PAGE_SIZE = 500
# Each $top/$skip window starts this many rows before the previous one ended, so a row removed ahead of the
# window while we page (IFS warns that $skip paging can then miss rows) is still read; rows read twice are
# dropped here by key, and what changes between two reads is the ledger's to drop.
PAGE_OVERLAP = 10
SCOPE = "openid microprofile-jwt"
# Reads or writes sent in one $batch call. UNCONFIRMED (F12): IFS documents no limit on a batch's parts.
BATCH_PARTS = 100
# $batch calls of writes sent at once. IFS documents no limit on calls in flight, only (F7) on calls a minute, which
# the client still holds to.
BATCHES_AT_ONCE = 4
MULTIPART = re.compile(r'multipart/mixed\s*;.*?boundary="?([^";]+)"?', re.IGNORECASE)

# What IFS's error codes mean, for a person reading the failure.
CODE_WORDS = {
    "ODP_MISSING_PRECONDITION": "IFS changes a record only when told which version of it the change is based on "
                                "(If-Match)",
    "ODP_DESERIALIZATION_ERROR": "IFS could not read what was sent (a value of the wrong type, or not JSON)",
    "ODP_RESOURCE_NOTFOUND": "IFS has no such record",
    "ODP_NOT_IMPLEMENTED": "IFS does not support that request",
    "MI_MODIFIED_ERROR": "IFS's service definitions changed (a deployment) and it asks for the request again",
}


def ifs_error(response):
    """(code, message) of an IFS answer: the OData provider's {"error": {"code", "message"}} or IAM's
    {"error", "error_description"}; ("", excerpt) for anything else."""
    try:
        body = response.json()
    except ValueError:
        return "", excerpt(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    if isinstance(error, str):
        return error, str(body.get("error_description") or "")
    return "", excerpt(response)


def in_words(code, message):
    words = CODE_WORDS.get(code)
    said = f"IFS said: {message.rstrip('.')}." if message else ""
    if words:
        return f"{words}. {said} ({code})".replace(". .", ".").replace("  ", " ")
    return f"{said} ({code})" if code else said or "IFS gave no reason."


def names_a_record(response):
    """Whether the path goes through a record's key (one record, or a collection of one record), as opposed to
    a projection's top-level collection."""
    return "(" in response.request.path_url.split("?")[0]


def classify(response):
    """IFS's own codes first, then the generic reading of the status."""
    status = response.status_code
    if status < 400:
        return
    code, message = ifs_error(response)
    text = in_words(code, message)
    if status == 401:
        raise ReauthRequired(f"IFS refused the access token: {text}", status=status, code=code)
    if status == 404 and names_a_record(response):
        raise NotFound(f"{text} If every record answers this, a navigation name differs in this IFS release (see "
                       "the connection's Projections option).", status=status, code=code)
    if status == 404:
        where = response.request.path_url.split("?")[0]
        raise ConfigurationError(f"IFS answered 404 for {where}: this release has no such projection or entity set. "
                                 "Look the name up in IFS Cloud Web (page info) and set it in the connection's "
                                 f"Projections option. {text}", status=status, code=code)
    if status == 412:
        raise Conflict(f"The record changed in IFS since it was read (its ETag no longer matches). {text}",
                       status=status, code=code)
    if status == 409:
        # A create that met the same key, made meanwhile by another worker: the caller reads it and goes on.
        raise Conflict(f"IFS already has that record. {text}", status=status, code=code)
    if status == 423:
        raise Locked(f"The record is locked in IFS by another user or process; it is tried again on a later run. "
                     f"{text}", status=status, code=code)
    if 400 <= status < 500 and status not in (403, 429) and code:
        raise DataError(f"IFS refused it: {text}", status=status, code=code)
    default_classify(response, "IFS", detail=text, code=code or None)


def decode_etag(etag):
    """(objid, objversion) from an IFS ETag (Novacura: "a base64 encoded value of the combination of
    objid:objversion"). UNCONFIRMED (F3): the whole form, W/"<base64 of W/"objid:objversion">"; a bare or quoted
    base64 value reads the same. None when it is not one."""
    if not isinstance(etag, str):
        return None
    inner = etag.strip().removeprefix("W/").strip('"')
    try:
        text = base64.b64decode(inner, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    text = text.strip().removeprefix("W/").strip('"')
    objid, sep, objversion = text.rpartition(":")
    return (objid, objversion) if sep and objid and objversion else None


def objversion_time(etag):
    """The change time an ETag carries. UNCONFIRMED (F3): objversion is the row's change time written
    YYYYMMDDHH24MISS, in UTC. None when the ETag or its objversion is not that."""
    decoded = decode_etag(etag)
    if decoded is None:
        return None
    try:
        return datetime.strptime(decoded[1], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


@probe("F3", "ifs", fallback="gives every supplier whole to the AP platform on every run, the unchanged ones dropped "
                             "by their content, as their ETags carry no change time to pick the changed ones by")
def check_etag_time(connector):
    """The first supplier's ETag: base64 of objid:objversion, the objversion a change time."""
    spec = connector.sets["suppliers"]
    rows = connector.client.get(projections.path(connector.sets, spec),
                                odata.Query(select=spec.keys, key=spec.keys, top=1).encode()).get("value") or []
    if not rows:
        return unchecked(f"{spec.name} lists no supplier yet, so there is no ETag to look at.")
    supplier, etag = rows[0].get("SupplierId"), rows[0].get("@odata.etag")
    decoded = decode_etag(etag)
    if decoded is None:
        return contradicted(f"Supplier {supplier}'s ETag {etag!r} is not base64 of objid:objversion.")
    changed = objversion_time(etag)
    if changed is None:
        return contradicted(f"Supplier {supplier}'s ETag carries objversion {decoded[1]!r}, which is no change time "
                            "(YYYYMMDDHH24MISS).")
    return held(f"Supplier {supplier}'s ETag carries objversion {decoded[1]}, a change time ({changed.isoformat()}).")


@probe("F8", "ifs", fallback="takes a window shorter than asked for as IFS's cap, not as the end, and reads on until a "
                             "window brings nothing new (one more call a read)")
def check_page_cap(connector):
    """One window of supplier ids as the reads ask for it ($top PAGE_SIZE), counted: fewer rows than asked for and
    than there are, with no next link, is a cap the reads would take for the end."""
    spec = connector.sets["suppliers"]
    body = connector.client.get(projections.path(connector.sets, spec),
                                odata.Query(select=spec.keys, key=spec.keys, top=PAGE_SIZE, count=True).encode())
    answered, total = len(body.get("value") or []), body.get("@odata.count")
    if not isinstance(total, int):
        return unchecked(f"IFS answered {answered} supplier(s) without counting them ($count), so a cap cannot be "
                         "told from the end.")
    if body.get("@odata.nextLink"):
        return held(f"Asked for {PAGE_SIZE} of {total} suppliers, IFS answered {answered} and a next link.")
    if answered < min(total, PAGE_SIZE):
        return contradicted(f"Asked for {PAGE_SIZE} of {total} suppliers, IFS answered {answered} without a next "
                            f"link: it cuts an answer at {answered} rows.")
    return held(f"Asked for {PAGE_SIZE} of {total} suppliers, IFS answered all {answered}"
                + (f"; a cap above {total} rows cannot be seen until there are more." if total < PAGE_SIZE else "."))


def whole_seconds(moment):
    """IFS Timestamps without precision take no fractional seconds; cutting them only widens a ge bound."""
    return moment.astimezone(UTC).replace(microsecond=0)


def url_path(path):
    """A path with its key predicates percent-encoded the way OData URLs take them."""
    return quote(path, safe="/(),='$:@")


def spec_projection(sets, spec):
    """The projection a set is served by: its own, or its topmost parent's."""
    while spec.parent:
        spec = sets[spec.parent]
    return spec.projection


def batch_parts(response):
    """(status, headers, body) of each part of a multipart/mixed $batch answer (OData 4.0 Part 1, 11.7.4: each part
    an application/http response), the headers' names in lower case; [] when the answer is not multipart."""
    found = MULTIPART.search(response.headers.get("Content-Type", ""))
    if not found:
        return []
    parts = []
    for part in response.content.split(b"--" + found[1].encode())[1:]:
        if part.startswith(b"--"):
            break
        message = re.split(rb"\r?\n\r?\n", part.strip(b"\r\n"), maxsplit=1)
        if len(message) < 2:
            continue
        head, *body = re.split(rb"\r?\n\r?\n", message[1], maxsplit=1)
        status = re.match(rb"HTTP/\d\.\d (\d{3})", head)
        headers = dict(line.split(":", 1) for line in head.decode("utf-8", "replace").splitlines()[1:] if ":" in line)
        parts.append((int(status[1]) if status else 0, {k.strip().lower(): v.strip() for k, v in headers.items()},
                      body[0] if body else b""))
    return parts


def batch_answers(response):
    """(status, parsed JSON body or None) of each part of a multipart/mixed $batch answer."""
    answers = []
    for status, _, body in batch_parts(response):
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
        answers.append((status, parsed))
    return answers


def part_error(method, url, status, headers, body):
    """The error one part of a $batch answer stands for, read as classify() reads a call of its own; None for a
    success."""
    answer = requests.Response()
    answer.status_code, answer._content, answer.url = status, body, url
    answer.headers.update(headers)
    answer.request = requests.Request(method, url).prepare()
    try:
        classify(answer)
    except ConnectorError as exc:
        return exc
    return None if 200 <= status < 300 else TransientError(f"IFS answered a part of a batch with HTTP {status}.",
                                                            status=status)


@probe("F12", "ifs", fallback="reads each supplier's addresses and communication methods, and marks each invoice "
                              "as transferred, in calls of their own instead of $batch")
def check_batch(connector):
    """One $batch holding one GET (the first supplier's id): a read, whatever the POST that carries it."""
    client, spec = connector.client, connector.sets["suppliers"]
    root = f"{projections.ROOT}/{spec_projection(client.sets, spec)}.svc/"
    read = url_path(projections.path(client.sets, spec).removeprefix(root)) + "?" + \
        odata.Query(select=spec.keys, top=1).encode()
    try:
        answer = client.batch(root, [read])[0]
    except (ConfigurationError, DataError) as exc:
        return contradicted(f"POST {root}$batch with one GET was refused with HTTP {exc.status}"
                            f"{f' ({exc.code})' if exc.code else ''}: this IFS, or a gateway in front of it, takes no "
                            "batch requests.")
    if answer is None:
        return unchecked(f"IFS took POST {root}$batch but did not answer its one GET with 200; the reads it leaves "
                         "out are read on their own.")
    return held(f"POST {root}$batch with one GET of {spec.name} was answered, its part 200 with "
                f"{len(answer.get('value') or [])} row(s).")


class IfsClient:
    def __init__(self, connection):
        self.connection = connection
        credentials = connection.credentials
        register_secret(credentials.get("client_secret"))
        self.realm = credentials.get("realm", "")
        self.client_id = credentials.get("client_id", "")
        self.client_secret = credentials.get("client_secret", "")
        options = connection.options or {}
        self.company = str(options.get("company") or "")
        try:
            self.sets = projections.entity_sets(projections.parse_overrides(options.get("projections", "")))
            self.code_parts = projections.parse_code_parts(options.get("code_parts", "")) or \
                dict(projections.DEFAULT_CODE_PARTS)
            calls = options.get("calls_per_minute") or str(DEFAULT_CALLS_PER_MINUTE)
            calls_per_minute(str(calls))
        except ValidationError as exc:
            raise ConfigurationError(f"The IFS connection's options are not usable: {' '.join(exc.messages)}") from None
        self.base = (connection.base_url or "").rstrip("/")
        # F12: once the tenant's assumption check found $batch refused, every read and mark goes on its own.
        self.batch_works = not connection.assumption_contradicted("F12")
        self.metadata_of = {}  # projection -> odata.Metadata, or None where it answered 404
        # F8: once the check found IFS cutting an answer short of the $top asked for without a next link, a short
        # window is no end of the collection.
        self.short_windows = connection.assumption_contradicted("F8")
        tenant = urlsplit(self.base)
        auth = TokenSession(connection, login=self.login, leeway=RENEW_BEFORE,
                            render=lambda token: {"Authorization": f"Bearer {token.value}"})
        # One budget per IFS instance, whichever connection and process spends it.
        self.http = HttpClient(f"ifs:{tenant.netloc}{tenant.path}", base_url=self.base, auth=auth, classify=classify,
                               rate=(int(calls), 60), rate_key=f"ifs-calls:{tenant.netloc}{tenant.path}")

    # --- tokens ----------------------------------------------------------------------------------------------------
    @property
    def token_url(self):
        return f"{self.base}/auth/realms/{quote(self.realm, safe='')}/protocol/openid-connect/token"

    def login(self):
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret,
                "scope": SCOPE}
        try:
            response = self.http.request("POST", self.token_url, authenticate=False, idempotent=True, data=form)
        except ConfigurationError as exc:
            if exc.status == 404:
                raise ConfigurationError(f"IFS IAM has no realm {self.realm!r} at this address: check the realm "
                                         "(usually the environment name) and the base URL.", status=404) from None
            raise
        except (AuthError, DataError) as exc:
            raise AuthError(f"IFS IAM refused the IAM client ID or secret for realm {self.realm!r}: the client may "
                            "have been removed, its secret regenerated, or its service account disabled. "
                            f"({exc})", status=exc.status) from None
        # A client-credentials grant comes without a refresh token (RFC 6749 section 4.4.3): nothing else is kept.
        value, lifetime, _ = token_from_response(response, "IFS IAM")
        # Kept as expiring RENEW_BEFORE (or a third of a short life) ahead of time, plus the session's leeway,
        # so every worker renews before IFS stops taking it.
        early = min(RENEW_BEFORE, timedelta(seconds=lifetime / 3))
        return Token(value, timezone.now() + timedelta(seconds=lifetime) - early + RENEW_BEFORE)

    # --- reads -----------------------------------------------------------------------------------------------------
    def get(self, path, params):
        """One GET for odata.iter_items: a path and its encoded query, or a next link (params None) as IFS sent it."""
        return self.http.json("GET", path if params is None else url_path(path), params=params,
                              headers={"Accept": "application/json"})

    def metadata(self, projection):
        """The projection's $metadata (CSDL XML) as odata.Metadata, read once a client; None when IFS answers 404
        (no such projection in this release)."""
        if projection not in self.metadata_of:
            try:
                response = self.http.request("GET", url_path(f"{projections.ROOT}/{projection}.svc/$metadata"),
                                             headers={"Accept": "application/xml"})
            except ConfigurationError as exc:
                if exc.status != 404:
                    raise
                self.metadata_of[projection] = None
            else:
                self.metadata_of[projection] = odata.parse_metadata(response.text)
        return self.metadata_of[projection]

    def collection(self, spec, query=None, parents=(), page_size=PAGE_SIZE):
        """Every row of a collection in $top windows (each also following @odata.nextLink should IFS page on
        its own), each window overlapping the one before by a few rows; every row once, by its key."""
        query = query or odata.Query()
        query = odata.Query(select=query.select, filter=query.filter, orderby=query.orderby,
                            key=query.key or spec.keys, dialect=query.dialect)
        overlap = max(1, min(PAGE_OVERLAP, page_size // 10))
        path = projections.path(self.sets, spec, *parents)
        seen, skip, first = set(), 0, None
        while True:
            window = odata.Query(select=query.select, filter=query.filter, orderby=query.orderby, key=query.key,
                                 top=page_size, skip=skip or None, dialect=query.dialect)
            rows = list(odata.iter_items(self.get, path, window))
            new = 0
            for row in rows:
                if not isinstance(row, dict):
                    raise odata.ODataPagingError(f"IFS {spec.name}: a row that is not an object ({type(row).__name__})")
                # A key value that is not a plain one is kept as its text: the row is still read once, and its
                # parser says what is wrong with it.
                key = tuple(v if isinstance(v, str | int | float | bool | None) else repr(v)
                            for v in (row.get(k) for k in spec.keys))
                if key in seen:
                    continue
                seen.add(key)
                new += 1
                yield row
            if self.short_windows:
                # A window of rows all read before lies past the end; one starting where the first did means IFS
                # ignores $skip. Windows overlap by at most half of what IFS answers, so each moves on.
                starts = rows[0] if rows else None
                if skip and starts is not None and starts == first:
                    raise odata.ODataPagingError(f"IFS {spec.name}: $skip={skip} gave the first window again; the "
                                                 "service ignores $skip, so paging would never end")
                first = rows[0] if first is None and rows else first
                if not new:
                    return
                skip += len(rows) - min(overlap, len(rows) // 2)
                continue
            if len(rows) < page_size:
                return
            if not new:
                raise odata.ODataPagingError(f"IFS {spec.name}: $skip={skip} gave only rows already read; the service "
                                             "ignores $skip, so paging would never end")
            skip += len(rows) - overlap

    def collections(self, spec, parents_list, query):
        """The rows of one collection under each of several parents, read in $batch calls of BATCH_PARTS GETs
        (IFS OData Provider, Batch Requests: GETs outside a change set, answered in order, "continue on errors"
        asked for in the Prefer header). None for a parent whose rows did not all come in the batch (a part IFS
        answered with an error or left out, or a full window): the caller reads that one with collection(),
        which reports its error as it stands. IFS refusing $batch itself is read as every part left out."""
        answers = []
        for at in range(0, len(parents_list), BATCH_PARTS):
            group = parents_list[at:at + BATCH_PARTS]
            if not self.batch_works:
                answers += [None] * len(group)
                continue
            window = odata.Query(select=query.select, filter=query.filter, orderby=query.orderby,
                                 key=query.key or spec.keys, top=PAGE_SIZE, dialect=query.dialect).encode()
            root = f"{projections.ROOT}/{spec_projection(self.sets, spec)}.svc/"
            reads = [url_path(projections.path(self.sets, spec, *parents).removeprefix(root)) + "?" + window
                     for parents in group]
            try:
                bodies = self.batch(root, reads)
            except (ConfigurationError, DataError):
                self.batch_works = False  # this IFS takes no $batch here: every read on its own from now on
                answers += [None] * len(group)
                continue
            for body in bodies:
                rows = body.get("value") if isinstance(body, dict) else None
                whole = isinstance(rows, list) and len(rows) < PAGE_SIZE and "@odata.nextLink" not in body
                answers.append(rows if whole and all(isinstance(row, dict) for row in rows) else None)
        return answers

    def batch(self, root, reads):
        """GET each of `reads` (a path below the service root `root` with its query) in one POST to $batch; the
        JSON body of each part IFS answered 200, in order, None for any other."""
        parts = [["Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                  f"GET {read} HTTP/1.1", "Accept: application/json", "", ""] for read in reads]
        # Safe to repeat: it only reads.
        response = self.send_batch(root, parts, idempotent=True)
        answers = [body if status == 200 else None for status, body in batch_answers(response)][:len(reads)]
        return answers + [None] * (len(reads) - len(answers))

    def send_batch(self, root, parts, idempotent):
        """One POST to $batch, each of `parts` the lines of one part (after its boundary line). UNCONFIRMED (F12):
        IFS reads the continue-on-error preference as OData 4.0 spells it."""
        boundary = f"batch_{uuid.uuid4().hex}"
        separated = [line for part in parts for line in (f"--{boundary}", *part)] + [f"--{boundary}--"]
        return self.http.request("POST", url_path(f"{root}$batch"), idempotent=idempotent,
                                 data=("\r\n".join(separated) + "\r\n").encode(),
                                 headers={"Content-Type": f"multipart/mixed;boundary={boundary}",
                                          "Accept": "multipart/mixed", "Prefer": "odata.continue-on-error"})

    def patch_many(self, spec, changes):
        """patch() for each of `changes` ([(keys, etag, changes)], records of one top-level set), BATCH_PARTS of them
        to a $batch call (IFS OData Provider, Batch Requests), each PATCH a part of its own outside any change set, so
        that IFS refusing one (a 412, a 423) never holds back the others. Each one's new ETag, or the error IFS
        answered it with, as patch() would raise it; a part IFS left out is a TransientError. IFS refusing $batch
        itself sends each PATCH on its own from then on. A failure of the whole call (sign-in, rate limit) is
        raised."""
        groups = [changes[at:at + BATCH_PARTS] for at in range(0, len(changes), BATCH_PARTS)]
        return [outcome for outcomes in fan_out(lambda group: self.patch_group(spec, group), groups, BATCHES_AT_ONCE)
                for outcome in outcomes]

    def patch_group(self, spec, group):
        """patch_many() of at most BATCH_PARTS changes: one $batch call."""
        if any(not etag for _, etag, _ in group) or not self.batch_works:
            return [self.patch_alone(spec, *change) for change in group]
        root = f"{projections.ROOT}/{spec_projection(self.sets, spec)}.svc/"
        parts, urls = [], []
        for keys, etag, body in group:
            path = projections.entity_path(self.sets, spec, keys)
            urls.append(self.base + url_path(path))
            parts.append(["Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                          f"PATCH {url_path(path.removeprefix(root))} HTTP/1.1", "Content-Type: application/json",
                          "Accept: application/json", f"If-Match: {etag}", "", json.dumps(body), ""])
        try:
            # Safe to repeat after a lost answer: a PATCH that went through gets a 412 the second time.
            response = self.send_batch(root, parts, idempotent=True)
        except (ConfigurationError, DataError):
            self.batch_works = False  # this IFS takes no $batch here: every write on its own from now on
            return [self.patch_alone(spec, *change) for change in group]
        answers, outcomes = batch_parts(response), []
        for index in range(len(group)):
            if index >= len(answers):
                outcomes.append(TransientError("IFS left this change out of its batch answer; it is sent again on "
                                               "the next run."))
                continue
            status, headers, body = answers[index]
            error = part_error("PATCH", urls[index], status, headers, body)
            if error is not None:
                outcomes.append(error)
                continue
            try:
                parsed = json.loads(body) if body.strip() else {}
            except ValueError:
                parsed = {}
            etag = parsed.get("@odata.etag") if isinstance(parsed, dict) else None
            outcomes.append(etag or headers.get("etag", ""))
        return outcomes

    def patch_alone(self, spec, keys, etag, changes):
        """patch(), its refusal of this one record returned rather than raised (patch_many's outcome)."""
        try:
            return self.patch(spec, keys, etag, changes)
        except (RecordError, TransientError) as exc:
            return exc

    def entity(self, spec, keys, parents=()):
        """One record by its key: (body, ETag)."""
        body = self.http.json("GET", url_path(projections.entity_path(self.sets, spec, keys, *parents)),
                              headers={"Accept": "application/json"})
        if not isinstance(body, dict):
            raise TransientError(f"IFS {spec.name}: the record {projections.key_predicate(keys)} is not an object.")
        etag = body.get("@odata.etag")
        if etag is not None and not isinstance(etag, str):
            # Sent as If-Match it would fail the whole run; it is this record's problem only.
            raise DataError(f"IFS {spec.name} {projections.key_predicate(keys)}: its @odata.etag {etag!r} is not "
                            "text.", field="@odata.etag")
        return body, etag

    # --- writes ----------------------------------------------------------------------------------------------------
    def patch(self, spec, keys, etag, changes, parents=()):
        """Change a record from the version `etag` names; returns its new ETag. A 412 means it changed since."""
        if not etag:
            # IFS refuses it anyway (ODP_MISSING_PRECONDITION); "*" would overwrite whatever a person did.
            raise DataError(f"No ETag for IFS {spec.name} {projections.key_predicate(keys)}: a change is never sent "
                            "without If-Match")
        # Safe to repeat after a lost answer: had the first one gone through, the repeat gets a 412.
        response = self.http.request("PATCH", url_path(projections.entity_path(self.sets, spec, keys, *parents)),
                                     idempotent=True, json=changes,
                                     headers={"If-Match": etag, "Accept": "application/json"})
        return self._etag_of(response)

    def post(self, spec, body, parents=()):
        """Create a record (not repeated after a failure that may have created it); returns its ETag."""
        response = self.http.request("POST", url_path(projections.path(self.sets, spec, *parents)), json=body,
                                     headers={"Accept": "application/json"})
        return self._etag_of(response)

    def delete(self, spec, keys, etag, parents=()):
        if not etag:
            raise DataError(f"No ETag for IFS {spec.name} {projections.key_predicate(keys)}: a change is never sent "
                            "without If-Match")
        self.http.request("DELETE", url_path(projections.entity_path(self.sets, spec, keys, *parents)),
                          headers={"If-Match": etag, "Accept": "application/json"})

    @staticmethod
    def _etag_of(response):
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and body.get("@odata.etag"):
                return body["@odata.etag"]
        return response.headers.get("ETag", "")
