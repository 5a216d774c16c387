"""AvidXchange as an AP platform: ERP suppliers become payees, the ERP's GL accounts and dimensions become
read-only code lists, approved invoices become coded invoices with their images, and settled payments come
back. Two ways to reach it, chosen per connection (option "mode"): the API (client.py), or files exchanged
through a folder (files.py) for customers without API access. Both answer the same batch contract."""

import csv
import hashlib
import re
import secrets
import tempfile
from datetime import UTC, datetime
from decimal import Decimal

from connectors.avidxchange import files
from connectors.avidxchange.client import (
    BATCH_INVOICES,
    CONCURRENT_CALLS,
    COUNTED_AS_PAID,
    EXTERNAL_ID_LENGTH,
    KINDS_BY_LIST,
    LIST_TYPES,
    REFERENCE_FIELDS,
    AvidClient,
    amount_of,
    code_body,
    invoice_body,
    object_of,
    open_bill,
    open_item,
    payee_body,
    payment_from_avid,
    text_of,
)
from connectors.avidxchange.system import DEFAULT_ATTACHMENT_MB, MODE_API, MODE_FILES
from connectors.base import ApConnector
from connectors.errors import ConfigurationError, ConnectorError, DataError, RecordError, TransientError
from connectors.http import begin, fan_out
from connectors.records import Dimension, GlAccount, Payment, Unreadable, code_key

MB = 1024 * 1024
# An image up to this size is spooled in memory, a larger one on disk: never whole in memory either way.
SPOOL_IN_MEMORY = MB
CHUNK = 64 * 1024


class Spool:
    """A spooled document sent as a request body: iterating it starts again from the beginning, so the HTTP
    client's retry (after a 429, say) sends it whole again; its length is known, so the request carries a
    Content-Length instead of a chunked body."""

    def __init__(self, handle, size):
        self.handle, self.size = handle, size

    def __len__(self):
        return self.size

    def __iter__(self):
        self.handle.seek(0)
        while chunk := self.handle.read(CHUNK):
            yield chunk


def spooled(document, limit):
    """(Spool, sha256 hex) of a document, read once a piece at a time; a DataError naming the file, its size and
    the limit when it is larger than `limit` bytes (refused before reading when the ERP said its size)."""
    what = f"Invoice image {document.name}"
    if document.size is not None and document.size > limit:
        raise files.too_large(what, document.size, limit)
    handle = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in document.chunks():
            size += len(chunk)
            if size > limit:
                raise files.too_large(what, size, limit, exact=False)
            digest.update(chunk)
            handle.write(chunk)
        received_whole(what, document, size)
    except BaseException:
        handle.close()
        raise
    return Spool(handle, size), digest.hexdigest()


def received_whole(what, document, size):
    """A document the ERP sent short (a download that ended early without an error) is not sent on."""
    if document.size is not None and size != document.size:
        raise TransientError(f"{what}: the ERP said {document.size} bytes but sent {size}; it is read again next "
                             "time.")


def safe_name(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "document"


class AvidXchangeConnector(ApConnector):
    # Records handed over per batch: one batch call of 100 per call AvidXchange lets us have in flight.
    batch_size = BATCH_INVOICES * CONCURRENT_CALLS

    def __init__(self, connection):
        super().__init__(connection)
        options = connection.options or {}
        self.mode = options.get("mode") or MODE_API
        if self.mode not in (MODE_API, MODE_FILES):
            raise ConfigurationError(f"The AvidXchange connection's exchange is {self.mode!r}; it is either "
                                     f"{MODE_API!r} or {MODE_FILES!r}.")
        try:
            self.attachment_limit = int(options.get("max_attachment_mb") or DEFAULT_ATTACHMENT_MB) * MB
        except ValueError:
            raise ConfigurationError("The AvidXchange connection's largest invoice image is not a number of "
                                     "megabytes.") from None
        self.client = self.exchange = None
        if self.mode == MODE_API:
            self.client = AvidClient(connection)
            self.http = self.client.http
        else:
            self.exchange = files.Exchange(options.get("folder", ""))
        self._payees = {}  # external id -> the payee as listed in this run (API mode)
        self._payee_listing = None  # future of every payee, begun ahead of find_vendors (begin_vendor_lookup)
        self._codes = None  # the code lists as read in this run
        # API mode: the payees and invoices this connector created in this run. Nothing of ours can be found under a
        # payee that did not exist before the run, nor attached to an invoice that did not, so neither is looked up.
        self._new_payees = set()
        self._new_invoices = set()

    @property
    def lock_scope(self):
        """AvidXchange's objects belong to the company, whichever connection reaches it; a folder is its own."""
        if self.client is not None:
            return f"company-{self.client.account}"
        return "folder-" + hashlib.sha256(str(self.exchange.folder).encode()).hexdigest()[:24]

    @property
    def account_label(self):
        """The account in words, for reasons naming whose payee it is."""
        if self.client is not None:
            return f"the AvidXchange company of connection '{self.connection.name}'"
        return f"the AvidXchange exchange folder {self.exchange.folder}"

    @classmethod
    def vendor_key_limit(cls, connection):
        """How long a vendor key may be, and where AvidXchange keeps it (for the integration form's words)."""
        if (connection.options or {}).get("mode") == MODE_FILES:
            return files.VENDOR_ID_LENGTH, "the VendorID of the exchange files"
        return EXTERNAL_ID_LENGTH, "the payee's ExternalId"

    def vendor_key(self, supplier_id):
        """What a supplier's payee is found by (its ExternalId, or VendorID in file mode): the integration's prefix
        and the supplier id."""
        return f"{self.vendor_key_prefix}{supplier_id}"

    def invoice_key(self, invoice_id):
        """What an invoice is found by (its ExternalId): unique in the company like a payee's, so it takes the same
        prefix, and two integrations' invoices with one id stay two invoices."""
        return f"{self.vendor_key_prefix}{invoice_id}"

    def check(self):
        if self.client is not None:
            company = object_of(self.client.company(), "company")
            where = "AvidXchange company"
            return (f"Signed in to AvidXchange company {text_of(company, 'CompanyName', where)} "
                    f"({text_of(company, 'CompanyId', where)}) as {text_of(company, 'UserName', where)}.")
        self.exchange.ready()
        waiting = len(list(self.exchange.outbound.glob("*.csv")))
        return (f"File mode: files for AvidXchange go to {self.exchange.outbound} ({waiting} waiting for the transfer "
                f"job); payment files are read from {self.exchange.inbound} "
                f"({len(self.exchange.payment_files())} there).")

    # --- code lists -----------------------------------------------------------------------------------
    def gl_accounts(self):
        return [code for code in self.published_codes() if isinstance(code, GlAccount)]

    def dimensions(self):
        return [code for code in self.published_codes() if isinstance(code, Dimension)]

    def published_codes(self):
        """The code lists as AvidXchange holds them, each code with AvidXchange's id for it; read once per
        connector (a run), and kept up to date with what this connector publishes."""
        if self._codes is None:
            self._codes = self.file_codes() if self.exchange is not None else self.api_codes()
        return self._codes

    def file_codes(self):
        latest = {}
        for row in self.exchange.sent_rows("codes"):
            latest[(row["ListType"], row["Code"])] = row
        return [code_record(KINDS_BY_LIST[list_type], code, row["Name"], code, row["Active"] == "Y")
                for (list_type, code), row in latest.items() if list_type in KINDS_BY_LIST]

    def api_codes(self):
        out = []
        for entry in self.client.codes():
            where = "AvidXchange code"
            entry = object_of(entry, where)
            list_type, active = text_of(entry, "ListType", where, required=True), entry.get("IsActive")
            if list_type not in KINDS_BY_LIST:
                continue  # a list ml-connector does not map to (one of AvidXchange's own)
            if not isinstance(active, bool):
                raise DataError(f"{where} {entry.get('Code')!r}: IsActive should be true or false.")
            code_id = text_of(entry, "Id", where, required=True)
            out.append(code_record(KINDS_BY_LIST[list_type], text_of(entry, "Code", where, required=True),
                                   text_of(entry, "Name", where), code_id, active))
        return out

    def publish_codes(self, codes):
        """Create or update each code in its list (active False deactivates it; codes are never deleted: old
        invoices still point at them). Answers {code key: AvidXchange's id, or the RecordError that refused it}."""
        out, by_list = {}, {}
        for code in codes:
            kind = kind_of(code)
            if kind not in LIST_TYPES:
                out[code_key(code)] = DataError(f"AvidXchange has no code list for {kind} codes.")
            elif not code.code or len(code.code) > files.CODE_LENGTH:
                out[code_key(code)] = DataError(f"The {kind} code {code.code!r} is empty or longer than "
                                                f"{files.CODE_LENGTH} characters, which AvidXchange does not take.")
            else:
                by_list.setdefault(list_type_of(code), []).append(code)
        if self.exchange is not None:
            listed = [code for chunk in by_list.values() for code in chunk]
            if listed:
                self.exchange.write("codes", [{"ListType": list_type_of(c), "Code": c.code, "Name": c.name,
                                               "Active": "Y" if c.active else "N"} for c in listed])
            out.update({code_key(c): c.code for c in listed})
            self._codes = None  # read back from the files written
            return out
        lists = list(by_list.items())
        try:
            # The lists at once, within the calls AvidXchange takes in flight (the client holds that limit).
            answered = fan_out(lambda item: self.client.upsert_codes(item[0], [code_body(c) for c in item[1]]), lists,
                               CONCURRENT_CALLS)
            for (_, chunk), results in zip(lists, answered, strict=True):
                out.update({code_key(c): result for c, result in zip(chunk, results, strict=True)})
        except Exception:
            self._codes = None  # what became of the batch is not known: read the lists again
            raise
        if any(isinstance(r, ConnectorError) and not isinstance(r, RecordError) for r in out.values()):
            # A call of the batch failed while the others went through (client._batches keeps theirs): what became of
            # its codes is not known either.
            self._codes = None
        self.remember_codes(codes, out)
        return out

    def remember_codes(self, codes, answers):
        """The codes AvidXchange took, put into the lists read in this run as the upsert leaves them (UNCONFIRMED,
        X5): what was sent, under the id it answered. The reference data loaded again after publishing so needs no
        second read."""
        if self._codes is None:
            return
        taken = {code_key(c): code_record(kind_of(c), c.code, c.name, answers[code_key(c)], c.active)
                 for c in codes if isinstance(answers.get(code_key(c)), str)}
        self._codes = [c for c in self._codes if code_key(c) not in taken] + list(taken.values())

    # --- payees ---------------------------------------------------------------------------------------
    def vendor_payload(self, supplier):
        return payee_body(supplier, self.vendor_key(supplier.source_id))

    def begin_vendor_lookup(self):
        """Begin listing every payee on a thread of its own: called under the vendors lock by a first read, which makes
        a payee of nearly every supplier, so that the list is read while the ERP's suppliers are. The next
        find_vendors matches on it instead of asking for its payees by id (API mode: the file exchange's rows are
        local)."""
        if self.exchange is None and self._payee_listing is None:
            self._payee_listing = begin(lambda: list(self.client.all_payees()))

    def find_vendors(self, suppliers):
        keys = {s.source_id: self.vendor_key(s.source_id) for s in suppliers}
        if self.exchange is not None:
            sent = {row["VendorID"] for row in self.exchange.sent_rows("payees")}
            return {source_id: key for source_id, key in keys.items() if key in sent}
        found = {}
        # The list begun ahead serves the first look-up alone: by the next, this run has made payees since.
        listing, self._payee_listing = self._payee_listing, None
        for payee in listing.result() if listing is not None else self.client.payees(list(keys.values())):
            payee = object_of(payee, "payee")
            where = f"AvidXchange payee {payee.get('Id')!r}"
            external = text_of(payee, "ExternalId", where)
            if external:
                found.setdefault(external, text_of(payee, "Id", where, required=True))
                self._payees[external] = payee
        return {source_id: found[key] for source_id, key in keys.items() if key in found}

    def create_vendors(self, suppliers):
        if self.exchange is not None:
            out, rows = {}, []
            for supplier in suppliers:
                key = self.vendor_key(supplier.source_id)
                if len(key) > files.VENDOR_ID_LENGTH:
                    out[supplier.source_id] = DataError(
                        f"Supplier id {supplier.source_id} (vendor key {key}) is longer than the "
                        f"{files.VENDOR_ID_LENGTH} characters of the file exchange's VendorID.")
                    continue
                rows.append(payee_row(supplier, key))
                out[supplier.source_id] = key
            if rows:
                self.exchange.write("payees", rows)
            return out
        results = self.client.create_payees([self.vendor_payload(s) for s in suppliers])
        self._new_payees.update(result for result in results if isinstance(result, str))
        return {s.source_id: result for s, result in zip(suppliers, results, strict=True)}

    def update_vendor(self, vendor_id, supplier):
        """Send the payee again unless AvidXchange (or the last file) already says all of it. Its status is
        AvidXchange's (vendor enrolment can put a payee on hold) and is never sent (UNCONFIRMED, X11)."""
        if self.exchange is not None:
            row = payee_row(supplier, vendor_id)
            last = next((r for r in reversed(self.exchange.sent_rows("payees")) if r["VendorID"] == vendor_id), None)
            if last != row:
                self.exchange.write("payees", [row])
            return vendor_id
        body = self.vendor_payload(supplier)
        listed = self._payees.get(body["ExternalId"])
        if listed is None or any(listed.get(key) != value for key, value in body.items()):
            self.client.update_payee(vendor_id, body)
        return vendor_id

    # --- invoices -------------------------------------------------------------------------------------
    def bill_payload(self, vendor_id, invoice, coding):
        return invoice_body(vendor_id, invoice, coding, self.invoice_key(invoice.source_id))

    def find_bills(self, items):
        """{invoice id: AvidXchange's invoice id} for the invoices already there, by ExternalId and payee: an invoice
        of another payee under the same ExternalId is another integration's, never taken for ours."""
        wanted = {invoice.source_id: (self.invoice_key(invoice.source_id), vendor_id) for vendor_id, invoice in items}
        found = {}
        if self.exchange is not None:
            for row in self.exchange.sent_rows("invoices"):
                found.setdefault((row["ExternalID"], row["VendorID"]), files.bill_id(row["VendorID"],
                                                                                     row["InvoiceNumber"]))
        else:
            for avid in self.client.invoices([key for key, payee in wanted.values() if payee not in self._new_payees]):
                avid = object_of(avid, "invoice")
                where = f"AvidXchange invoice {avid.get('Id')!r}"
                found.setdefault((text_of(avid, "ExternalId", where), text_of(avid, "PayeeId", where)),
                                 text_of(avid, "Id", where, required=True))
        return {source_id: found[key] for source_id, key in wanted.items() if key in found}

    def create_bills(self, items):
        """{invoice id: new invoice id, or the RecordError that refused it}. A payee that is missing or inactive
        in AvidXchange refuses its invoices, in words, until it is active again."""
        if self.exchange is not None:
            return self.write_invoices(items)
        try:
            results = self.client.create_invoices([self.bill_payload(v, i, c) for v, i, c in items])
        except Exception:
            # Some may have been made: their payees' invoices are looked up again from now on.
            self._new_payees.difference_update(payee_id for payee_id, _, _ in items)
            raise
        self._new_invoices.update(result for result in results if isinstance(result, str))
        # An invoice not answered with its id may be there all the same (its call ended unknown): look again.
        self._new_payees.difference_update(payee_id for (payee_id, _, _), result in zip(items, results, strict=True)
                                           if not isinstance(result, str))
        return {invoice.source_id: supplier_first(result, invoice, payee_id)
                for (payee_id, invoice, _), result in zip(items, results, strict=True)}

    def write_invoices(self, items):
        """File mode: what AvidXchange's import would refuse is refused here, per invoice, since the import's own
        answer comes back only later (X10): a payee never sent, a code not in the published lists."""
        payees = {row["VendorID"] for row in self.exchange.sent_rows("payees")}
        codes = {(kind_of(c), c.id) for c in self.published_codes() if c.active}
        out, rows = {}, []
        for vendor_id, invoice, coding in items:
            problems = [] if vendor_id in payees else [f"Payee {vendor_id} was never sent to AvidXchange"]
            invoice_rows = []
            for index, line in enumerate(invoice.lines):
                target = coding.get(index, {})
                for kind, value in target.items():
                    if (kind, value) not in codes:
                        problems.append(f"Line {index + 1}: {kind.replace('_', ' ')} {value} is not an active code "
                                        "in the lists published to AvidXchange")
                invoice_rows.append(invoice_row(vendor_id, invoice, index, line, target,
                                                self.invoice_key(invoice.source_id)))
            if problems:
                out[invoice.source_id] = DataError("; ".join(problems) + ".")
                continue
            rows.extend(invoice_rows)
            out[invoice.source_id] = files.bill_id(vendor_id, invoice.invoice_number)
        if rows:
            self.exchange.write("invoices", rows)
        return out

    # --- images ---------------------------------------------------------------------------------------
    def attach_document(self, bill_id, document):
        """Stream the image onto the invoice; answers the attachment's id. The image is read once, a piece at a
        time, into a spool (memory up to 1 MB, disk beyond) while its size is counted against the limit and its
        hash taken; an image already on the invoice (the same hash: a run that crashed after sending it) is not
        sent again."""
        if self.exchange is not None:
            return self.write_image(bill_id, document)
        spool, sha256 = spooled(document, self.attachment_limit)
        with spool.handle:
            try:
                # The first image sent to an invoice made in this run cannot be there already; after it (a second
                # image, or a call that ended unknown) the list says.
                self._new_invoices.remove(bill_id)
                attached = []
            except KeyError:
                attached = self.client.attachments(bill_id)
            if not isinstance(attached, list):  # UNCONFIRMED (X2): a bare list; anything else is no answer to trust
                raise TransientError("AvidXchange listed the invoice's attachments in an unknown shape.")
            for existing in attached:
                if isinstance(existing, dict) and existing.get("Sha256") == sha256 and isinstance(
                        existing.get("Id"), str):
                    return existing["Id"]
            created = object_of(self.client.add_attachment(bill_id, document.name, document.content_type, spool,
                                                           spool.size), "attachment")
            return text_of(created, "Id", "AvidXchange attachment", required=True)

    def write_image(self, bill_id, document):
        """File mode: the image streamed into outbound/images/ and named in an images file; answers its file name.
        As in API mode, an image is known by its content, not its name: the same hash already written for the
        invoice (a run that crashed after writing it) is that image, and another image under the same name (a
        corrected scan) is a new one."""
        vendor_id, _, number = bill_id.partition("|")
        what = f"Invoice image {document.name}"
        if document.size is not None and document.size > self.attachment_limit:
            raise files.too_large(what, document.size, self.attachment_limit)
        with self.exchange.staged_image(document.chunks(), self.attachment_limit, what) as image:
            received_whole(what, document, image.size)
            for row in self.exchange.sent_rows("images"):
                if (row["VendorID"], row["InvoiceNumber"], row["SHA256"]) == (vendor_id, number, image.sha256):
                    return row["FileName"]
            name = f"{safe_name(vendor_id)}_{safe_name(number)}_{secrets.token_hex(4)}_{safe_name(document.name)}"
            image.publish(name)
        self.exchange.write("images", [{"VendorID": vendor_id, "InvoiceNumber": number, "FileName": name,
                                        "ContentType": document.content_type, "Size": str(image.size),
                                        "SHA256": image.sha256}])
        return name

    # --- the open payables tie-out ----------------------------------------------------------------------
    def open_bills(self):
        """Every invoice not fully paid, for what is still to pay on it (UNCONFIRMED, X14). API: every invoice of
        the company, read whole. Files: the invoices written to the exchange folder (sent/) less what the payment
        files in inbound/ pay on them (X15). One that cannot be read fails the whole read, naming it."""
        if self.exchange is not None:
            return self.file_open_bills()
        return [item for item in map(open_bill, self.client.all_invoices()) if item is not None]

    def file_open_bills(self):
        """UNCONFIRMED (X15): what AvidXchange holds is known only from our own copy of what was sent and the
        payment files that came back; an invoice its import refused (no import-result file is read, X10) counts
        as open, and a payment shows only once its file has arrived."""
        latest = {}
        for record in self.file_payments(None):  # oldest status change first: the last one read is the latest
            if isinstance(record, Unreadable):
                raise DataError(f"{record.reason} What is still to pay on the invoices it pays is not known.")
            latest[record.payment_id] = record
        counted = {state.upper() for state in COUNTED_AS_PAID}
        paid = {}
        for payment in latest.values():
            if payment.status in counted:
                for bill_id, share in payment.allocations:
                    paid[bill_id] = paid.get(bill_id, Decimal("0.00")) + share
        heads = {}
        for row in self.exchange.sent_rows("invoices"):
            heads.setdefault(files.bill_id(row["VendorID"], row["InvoiceNumber"]), row)
        items = []
        for bill_id, row in heads.items():
            where = f"AvidXchange invoice {row['InvoiceNumber']} of payee {row['VendorID']} (exchange folder)"
            item = open_item(bill_id, row["InvoiceNumber"], row["VendorID"], amount_of(row, "InvoiceAmount", where),
                             paid.get(bill_id, Decimal("0.00")), row["Currency"] or "USD", where)
            if item is not None:
                items.append(item)
        return items

    # --- payments -------------------------------------------------------------------------------------
    def payments(self, since=None):
        """The payments changed since `since` (API: each at its latest status; files: each change of status, as
        the files have them): a records.Payment, or records.Unreadable when a field does not parse (one bad
        payment never ends the stream: the cursor must move past it)."""
        if self.exchange is not None:
            yield from self.file_payments(since)
            return
        for p in self.client.payments(since):
            try:
                yield payment_from_avid(p)
            except DataError as exc:
                p = p if isinstance(p, dict) else {}
                payment_id = p.get("Id") if isinstance(p.get("Id"), str) else "?"
                changed = p.get("ModifiedDate") if isinstance(p.get("ModifiedDate"), str) else ""
                yield Unreadable("payment", payment_id, f"AvidXchange payment {payment_id}", str(exc),
                                 changed.replace("Z", "+00:00"))

    def file_payments(self, since):
        """Payment files: each status change of a payment is one group of rows (one per invoice it pays)."""
        groups = {}
        for path in self.exchange.payment_files():
            try:
                # Read whole before any of it counts: rows before a bad spot must not make a payment of part of
                # its invoices.
                rows = list(files.read_rows(path, "payments"))
            except (DataError, UnicodeDecodeError, OSError, csv.Error) as exc:
                yield Unreadable("payment", path.name, f"AvidXchange payment file {path.name}",
                                 f"The payment file {path.name} cannot be read: {exc}")
                continue
            for line, row in rows:
                key = (row.get("PaymentID") or f"{path.name}:{line}", row.get("Status"), row.get("StatusTime"))
                groups.setdefault(key, (path.name, line, []))[2].append(row)
        records = []
        for (payment_id, _, _), (name, line, rows) in groups.items():
            try:
                records.append(payment_from_rows(payment_id, rows))
            except DataError as exc:
                stamp = rows[0].get("StatusTime") or ""
                records.append(Unreadable("payment", payment_id, f"AvidXchange payment {payment_id} ({name}, line "
                                                                 f"{line})", str(exc), stamp))
        def moment(record):
            """The change's time as a time (files may write other offsets), None when it is none."""
            stamp = record.updated_at if isinstance(record, Payment) else record.updated_marker
            try:
                moment = datetime.fromisoformat(stamp)
            except (TypeError, ValueError):
                return None
            return moment if moment.tzinfo is not None else None

        # In time order, not text order: "the last one read is the latest" is what the callers rely on.
        records.sort(key=lambda r: (moment(r) is not None, moment(r) or datetime.min.replace(tzinfo=UTC)))
        for record in records:
            if since is None or moment(record) is None or moment(record) >= since:
                yield record


def kind_of(code):
    return "gl_account" if isinstance(code, GlAccount) else code.kind


def list_type_of(code):
    return LIST_TYPES[kind_of(code)]


def code_record(kind, code, name, code_id, active):
    if kind == "gl_account":
        return GlAccount(code=code, name=name, id=code_id, active=active)
    return Dimension(kind=kind, code=code, name=name, id=code_id, active=active)


def payee_row(supplier, vendor_id):
    a = supplier.address
    return {"VendorID": vendor_id, "VendorName": supplier.name, "TaxID": supplier.tax_id,
            "AddressLine1": a.line1, "AddressLine2": a.line2, "City": a.city, "State": a.region,
            "PostalCode": a.postal_code, "Country": a.country, "Email": supplier.email, "Phone": supplier.phone,
            "Currency": supplier.currency or "USD"}


def invoice_row(vendor_id, invoice, index, line, target, external_id):
    row = {"VendorID": vendor_id, "InvoiceNumber": invoice.invoice_number,
           "InvoiceDate": invoice.invoice_date.isoformat(), "DueDate": invoice.due_date.isoformat(),
           "InvoiceAmount": f"{invoice.total:.2f}", "Currency": invoice.currency, "PONumber": invoice.po_number,
           "Description": invoice.description, "ExternalID": external_id, "LineNumber": str(index + 1),
           "LineAmount": f"{line.amount:.2f}", "GLAccount": target.get("gl_account", ""),
           "LineDescription": line.description, "LinePONumber": line.po_number}
    for kind, column in files.DIMENSION_COLUMNS.items():
        row[column] = target.get(kind, "")
    return row


def payment_from_rows(payment_id, rows):
    """One status change of a payment, from its rows in a payment file, as a records.Payment."""
    head = rows[0]
    where = f"AvidXchange payment {payment_id}"
    obj = {"Id": head.get("PaymentID"), "Status": head.get("Status"), "Method": head.get("Method"),
           "CheckNumber": head.get("CheckNumber"), "AchTraceNumber": head.get("ACHTraceNumber"),
           "CardConfirmationNumber": head.get("CardConfirmationNumber"),
           "SettlementDate": head.get("SettlementDate"), "Amount": head.get("PaymentAmount"),
           "Currency": head.get("Currency"),
           "Invoices": [{"InvoiceId": files.bill_id(r.get("VendorID") or "", r.get("InvoiceNumber") or ""),
                         "Amount": r.get("AmountPaid")} for r in rows]}
    stamp = head.get("StatusTime") or ""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise DataError(f"{where}: StatusTime {stamp!r} is not a time with its offset.", field="StatusTime") from None
    if moment.tzinfo is None:
        raise DataError(f"{where}: StatusTime {stamp!r} has no offset.", field="StatusTime")
    for row in rows:
        if not row.get("VendorID") or not row.get("InvoiceNumber"):
            raise DataError(f"{where}: a row names no VendorID or InvoiceNumber.")
    if obj["Method"] and obj["Method"] not in REFERENCE_FIELDS:
        raise DataError(f"{where}: Method {obj['Method']!r} is not one of {', '.join(REFERENCE_FIELDS)}.")
    return payment_from_avid(obj, updated_at=moment.isoformat())


def supplier_first(result, invoice, payee_id):
    """A refusal about the invoice's payee, said in one sentence by the ERP's supplier (S20004), whom finance knows,
    with AvidXchange's payee id (and its name, where AvidXchange's words give it) as the detail; anything else as it
    came."""
    if not isinstance(result, DataError) or result.cause != "payee_inactive":
        return result
    # UNCONFIRMED (X11): AvidXchange's words name the payee "PY92936400 (Liberty Freight 4)"; without that, the id.
    named = re.search(rf"{re.escape(payee_id)} \(([^()]+)\)", str(result))
    payee = f"payee {payee_id}" + (f", {named.group(1)}" if named else "")
    refusal = DataError(f"Supplier {invoice.supplier_id}'s payee is inactive in AvidXchange ({payee}): activate it "
                        "there, then retry.", code=result.code, field=result.field, cause=result.cause,
                        subject=invoice.supplier_id)
    refusal.in_full = True
    return refusal
