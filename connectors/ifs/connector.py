"""IFS Cloud as an ERP: suppliers, GL accounts, code part values and approved supplier invoices out; payments,
"transferred" marks and supplier contact edits in. Names: connectors/ifs/projections.py."""

import logging
from datetime import date, datetime

from django.utils import timezone

from connectors import odata
from connectors.base import ErpConnector
from connectors.errors import Conflict, DataError, NotFound, RecordError, TransientError
from connectors.http import fan_out
from connectors.ifs import projections as p
from connectors.ifs.client import BATCH_PARTS, IfsClient, objversion_time, whole_seconds
from connectors.records import (
    CONTACT_FIELDS,
    Address,
    Dimension,
    GlAccount,
    Invoice,
    InvoiceLine,
    OpenItem,
    Supplier,
    SupplierUpdate,
    Unreadable,
)
from connectors.values import CENT, amount_value, decimal_value

logger = logging.getLogger(__name__)

# Groups of BATCH_PARTS suppliers whose addresses and communication methods are read at once (two $batch calls a
# group: IFS keeps them in collections of the supplier, which $expand cannot reach). The client's rate limit holds
# every process together under the tenant's budget, whatever this is.
DETAIL_WORKERS = 4
# Invoices read before their posting lines are asked for, in as few calls as the filter below allows.
INVOICES_PER_LINES_READ = 500
# Terms of one posting-line filter: a run of consecutive invoice ids is one `ge … and le …` term, any other id
# one `eq` (IFS's OData has no `in`); 40 keeps the URL near 2 KB.
LINE_TERMS_PER_CALL = 40
# A write that keeps meeting a newer version of the record (412) is given up after this many reads.
WRITE_ATTEMPTS = 3
METHOD_OF = {"email": p.EMAIL, "phone": p.PHONE}


class Unparsable(DataError):
    """A value that is not what its property's type says."""


def text(row, name, where):
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Unparsable(f"{where}: {name} {value!r} is not text.", field=name)
    return value.strip()


def amount(row, name, where):
    value = row.get(name)
    return amount_value(value, lambda: Unparsable(f"{where}: {name} {value!r} is not an amount.", field=name))


def day(row, name, where, required=True):
    value = row.get(name)
    if value is None and not required:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise Unparsable(f"{where}: {name} {value!r} is not a date (YYYY-MM-DD).", field=name) from None


def moment(row, name, where):
    value = row.get(name)
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Unparsable(f"{where}: {name} {value!r} is not a timestamp with a time zone.", field=name)
    return parsed


def number(row, name, where):
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unparsable(f"{where}: {name} {value!r} is not a whole number.", field=name)
    return value


def id_terms(ids):
    """A filter term per run of consecutive invoice ids (one `ge … and le …`), or per id standing alone."""
    terms, ids = [], sorted(set(ids))
    start = 0
    for end in range(len(ids)):
        if end + 1 == len(ids) or ids[end + 1] != ids[end] + 1:
            low, high = ids[start], ids[end]
            terms.append(odata.eq("InvoiceId", low) if low == high else
                         odata.and_(odata.ge("InvoiceId", low), odata.le("InvoiceId", high)))
            start = end + 1
    return terms


def valid_today(row, where, until="ValidUntil"):
    today = timezone.now().date()
    start, end = day(row, "ValidFrom", where, required=False), day(row, until, where, required=False)
    return (start is None or start <= today) and (end is None or today <= end)


class IfsConnector(ErpConnector):
    def __init__(self, connection):
        super().__init__(connection)
        self.client = IfsClient(connection)
        self.http = self.client.http
        self.sets = self.client.sets
        self.read_versions = {}  # (Company, InvoiceId) -> (ETag, Transfer Status) of the invoices read this run

    def check(self):
        suppliers = self.sets["suppliers"]
        self.client.get(p.path(self.sets, suppliers), odata.Query(select=suppliers.keys, top=1).encode())
        return (f"Signed in to IFS realm {self.client.realm}; {suppliers.projection} answered for company "
                f"{self.client.company}.")

    def company_filter(self):
        return odata.eq("Company", self.client.company)

    # --- reference data --------------------------------------------------------------------------------------------
    def gl_accounts(self):
        spec = self.sets["gl_accounts"]
        accounts = []
        for row in self.client.collection(spec, odata.Query(select=("Account", "Description", "ValidFrom",
                                                                     "ValidUntil"), filter=self.company_filter())):
            where = f"IFS account {row.get('Account')!r}"
            accounts.append(GlAccount(code=text(row, "Account", where), name=text(row, "Description", where),
                                      active=valid_today(row, where)))
        return accounts

    def dimensions(self):
        """The values of the code parts the connection maps (B department, C project by default), each as the
        dimension kind its code part stands for."""
        spec = self.sets["code_part_values"]
        parts = odata.or_(*(odata.eq("CodePart", part) for part in self.client.code_parts))
        query = odata.Query(select=("CodePart", "CodePartValue", "Description", "ValidFrom", "ValidUntil"),
                            filter=odata.and_(self.company_filter(), parts))
        values = []
        for row in self.client.collection(spec, query):
            where = f"IFS code part {row.get('CodePart')!r} value {row.get('CodePartValue')!r}"
            kind = self.client.code_parts.get(text(row, "CodePart", where))
            if kind:
                values.append(Dimension(kind=kind, code=text(row, "CodePartValue", where),
                                        name=text(row, "Description", where), active=valid_today(row, where)))
        return values

    # --- suppliers -------------------------------------------------------------------------------------------------
    def suppliers(self, since=None):
        """Every supplier listed (SupplierInfoGeneralSet offers no change timestamp to filter on), and those whose
        ETag's objversion is not before `since` given whole with their address and communication methods, read in
        $batch calls. The objversion is the marker (docs/ASSUMPTIONS.md F3)."""
        spec = self.sets["suppliers"]
        query = odata.Query(select=tuple(spec.fields), orderby=("SupplierId",))
        chosen = []
        # F3 contradicted: the ETags carry no change time, so every supplier goes, without a marker.
        timeless = self.connection.assumption_contradicted("F3")
        for row in self.client.collection(spec, query):
            supplier_id = row.get("SupplierId")
            if not isinstance(supplier_id, str) or not supplier_id:
                logger.warning("IFS: a supplier without a SupplierId was skipped.")
                continue
            changed = None if timeless else objversion_time(row.get("@odata.etag"))
            if changed is None:
                chosen.append((row, None))
            elif since is None or changed >= since:
                chosen.append((row, changed))
        ids = [row["SupplierId"] for row, _ in chosen]
        groups = fan_out(self.many_supplier_details, [ids[at:at + BATCH_PARTS] for at in range(0, len(ids),
                                                                                                BATCH_PARTS)],
                         DETAIL_WORKERS)
        details = [detail for group in groups for detail in group]
        for (row, changed), detail in zip(chosen, details, strict=True):
            yield self._supplier(row, changed, detail, timeless)

    def supplier_details(self, supplier_id):
        """(address row, {method: comm row}) of a supplier, or the RecordError IFS answered."""
        try:
            address = self.current_address(supplier_id)
            methods = self.comm_methods(supplier_id, address) if address else {}
        except RecordError as exc:  # gone, locked or unreadable: that supplier only
            return exc
        return address, methods

    def many_supplier_details(self, supplier_ids):
        """supplier_details of several suppliers, in order: their addresses in $batch calls, then the communication
        methods of those addresses in others; a supplier whose rows did not come in a batch is read on its own."""
        addresses_spec, methods_spec = self.sets["supplier_addresses"], self.sets["supplier_comm_methods"]
        addresses = self.client.collections(addresses_spec, [({"SupplierId": s},) for s in supplier_ids],
                                            odata.Query(select=tuple(addresses_spec.fields)))
        details, wanted = {}, []
        for supplier_id, rows in zip(supplier_ids, addresses, strict=True):
            try:
                address = self.current_address(supplier_id) if rows is None else self.pick_address(supplier_id, rows)
            except RecordError as exc:
                details[supplier_id] = exc
                continue
            if address is None:
                details[supplier_id] = (None, {})
            else:
                wanted.append((supplier_id, address))
        methods = self.client.collections(
            methods_spec, [({"SupplierId": s}, {"SupplierId": s, "AddressId": a["AddressId"]}) for s, a in wanted],
            odata.Query(select=tuple(methods_spec.fields)))
        for (supplier_id, address), rows in zip(wanted, methods, strict=True):
            try:
                details[supplier_id] = (address, self.comm_methods(supplier_id, address) if rows is None else
                                        self.rank_methods(rows))
            except RecordError as exc:
                details[supplier_id] = exc
        return [details[supplier_id] for supplier_id in supplier_ids]

    def current_address(self, supplier_id):
        spec = self.sets["supplier_addresses"]
        return self.pick_address(supplier_id, list(self.client.collection(
            spec, odata.Query(select=tuple(spec.fields)), parents=({"SupplierId": supplier_id},))))

    @staticmethod
    def pick_address(supplier_id, rows):
        """UNCONFIRMED (F2): the supplier's address valid today with the lowest AddressId is the one BILL gets."""
        where = f"IFS supplier {supplier_id} address"
        if any(not text(r, "AddressId", where) for r in rows):
            raise Unparsable(f"{where}: an address without an AddressId.", field="AddressId")
        current = [r for r in rows if valid_today(r, where, until="ValidTo")] or rows
        return min(current, key=lambda r: r["AddressId"]) if current else None

    def comm_methods(self, supplier_id, address):
        spec = self.sets["supplier_comm_methods"]
        return self.rank_methods(self.client.collection(
            spec, odata.Query(select=tuple(spec.fields)),
            parents=({"SupplierId": supplier_id}, {"SupplierId": supplier_id, "AddressId": address["AddressId"]})))

    @staticmethod
    def rank_methods(rows):
        """{EMail: row, Phone: row}: of several of one method, the default one, then the first."""
        def rank(row):
            comm_id = row.get("CommId")
            return row.get("MethodDefault") is not True, comm_id if isinstance(comm_id, int) else float("inf")

        methods = {}
        for row in sorted(rows, key=rank):
            methods.setdefault(row.get("MethodId"), row)
        return methods

    def _supplier(self, row, changed, detail, timeless=False):
        supplier_id = row["SupplierId"]
        where = f"IFS supplier {supplier_id}"
        ref = f"{supplier_id} {row.get('Name') or ''}".strip()
        marker = changed.isoformat() if changed else ""
        try:
            if changed is None and not timeless:
                raise Unparsable(f"{where}: its ETag {row.get('@odata.etag')!r} carries no change time (objid:"
                                 "objversion, objversion YYYYMMDDHH24MISS).")
            if isinstance(detail, RecordError):
                raise detail
            address_row, methods = detail
            address = Address()
            if address_row:
                address = Address(**{field: text(address_row, column, f"{where} address")
                                     for field, column in p.ADDRESS_PROPERTIES.items()})
            blocked = row.get("BlockedForUse")
            if blocked is not None and not isinstance(blocked, bool):
                raise Unparsable(f"{where}: BlockedForUse {blocked!r} is not true or false.", field="BlockedForUse")
            return Supplier(source_id=supplier_id, name=text(row, "Name", where),
                            tax_id=text(row, "AssociationNo", where),
                            currency=text(row, "CurrencyCode", where) or "USD",
                            email=text(methods.get(p.EMAIL, {}), "Value", where),
                            phone=text(methods.get(p.PHONE, {}), "Value", where), address=address,
                            active=not blocked, updated_marker=marker)
        except RecordError as exc:
            return Unreadable("vendor", supplier_id, ref, str(exc), marker)

    # --- invoices --------------------------------------------------------------------------------------------------
    def invoice_query(self, states, since=None, select=None):
        spec = self.sets["invoices"]
        parts = [self.company_filter(),
                 odata.or_(*(odata.eq("Objstate", spec.enum(p.INVOICE_STATE, state)) for state in states))]
        if since is not None:
            parts.append(odata.ge("Rowversion", whole_seconds(since)))
        return odata.Query(select=select or tuple(spec.fields), filter=odata.and_(*parts),
                           orderby=("Rowversion",) if since is not None else ())

    def approved_invoices(self, since=None, include_held=False):
        """Invoices authorized for payment (Posted, PartlyPaid or Paid: enum values, not the labels), changed at or
        after `since` by their Rowversion, oldest change first, with their posting lines. With `include_held`, the
        Cancelled ones come in the same calls (one more state in the filter), marked `held`."""
        spec = self.sets["invoices"]
        states = (*p.APPROVED_STATES, p.CANCELLED_STATE) if include_held else p.APPROVED_STATES
        page = []
        for row in self.client.collection(spec, self.invoice_query(states, since)):
            page.append(row)
            if len(page) >= INVOICES_PER_LINES_READ:
                yield from self._invoices(page)
                page = []
        if page:
            yield from self._invoices(page)

    def _invoices(self, rows):
        ids = [r["InvoiceId"] for r in rows if isinstance(r.get("InvoiceId"), int) and not isinstance(
            r.get("InvoiceId"), bool)]
        lines = {}
        spec = self.sets["invoice_lines"]
        terms = id_terms(ids)
        for at in range(0, len(terms), LINE_TERMS_PER_CALL):
            query = odata.Query(select=tuple(spec.fields), orderby=("InvoiceId", "RowNo"), filter=odata.and_(
                self.company_filter(), odata.or_(*terms[at:at + LINE_TERMS_PER_CALL])))
            for line in self.client.collection(spec, query):
                lines.setdefault(line.get("InvoiceId"), []).append(line)
        for row in rows:
            self.remember(row)
            yield self._invoice(row, lines.get(row.get("InvoiceId"), []))

    def remember(self, row):
        """The invoice's ETag and Transfer Status as this run read them, so that marking it as transferred needs no
        read of its own (OData JSON Format 4.0, section 4.5.10: a collection's entities carry @odata.etag)."""
        etag = row.get("@odata.etag")
        if isinstance(etag, str) and etag and isinstance(row.get("Company"), str) and isinstance(
                row.get("InvoiceId"), int):
            self.read_versions[(row["Company"], row["InvoiceId"])] = (etag, row.get("TransferStatus"))

    def _invoice(self, row, lines):
        invoice_id = row.get("InvoiceId")
        company = row.get("Company")
        number_text = row.get("InvoiceNo") if isinstance(row.get("InvoiceNo"), str) else "?"
        where = f"IFS invoice {number_text} (company {company}, invoice id {invoice_id})"
        source_id = f"{company}/{invoice_id}"
        marker = ""
        try:
            marker = moment(row, "Rowversion", where).isoformat()
            invoice_id = number(row, "InvoiceId", where)
            due = day(row, "DueDate", where, required=False)
            if due is None:
                raise Unparsable(f"{where}: it has no due date (DueDate is empty).", field="DueDate")
            parsed_lines = tuple(self._line(line, where) for line in
                                 sorted(lines, key=lambda r: r.get("RowNo") if isinstance(r.get("RowNo"), int) else 0))
            po_number = text(row, "PoRefNumber", where) or next((x.po_number for x in parsed_lines if x.po_number), "")
            state = text(row, "Objstate", where)
            return Invoice(
                source_id=source_id, supplier_id=text(row, "Identity", where),
                invoice_number=text(row, "InvoiceNo", where), invoice_date=day(row, "InvoiceDate", where),
                due_date=due, total=amount(row, "GrossAmount", where), currency=text(row, "Currency", where),
                lines=parsed_lines, po_number=po_number,
                description=f"IFS supplier invoice {invoice_id} of company {company}", updated_marker=marker,
                reference={"Company": text(row, "Company", where), "InvoiceId": invoice_id,
                           "SupplierId": text(row, "Identity", where), "InvoiceNo": text(row, "InvoiceNo", where)},
                held="state Cancelled" if state == p.CANCELLED_STATE else None)
        except DataError as exc:
            return Unreadable("bill", source_id, f"{number_text} ({row.get('Identity')})", str(exc), marker)

    def _line(self, row, where):
        where = f"{where} line {row.get('RowNo')}"
        dimensions = {}
        for part, kind in self.client.code_parts.items():
            value = text(row, f"Code{part}", where)
            if value:
                dimensions[kind] = value
        return InvoiceLine(amount=amount(row, "CurrAmount", where), gl_account=text(row, "CodeA", where),
                           description=text(row, "Text", where), dimensions=dimensions,
                           po_number=text(row, "PoRefNumber", where))

    def open_invoices(self):
        """Approved invoices IFS still shows an open amount for (Posted or PartlyPaid), for that amount. Payments
        recorded from BILL (post_payment) do not lower it until they are settled in IFS (F5)."""
        spec = self.sets["invoices"]
        select = ("Company", "InvoiceId", "InvoiceNo", "Identity", "Currency", "GrossAmount", "OpenAmount")
        for row in self.client.collection(spec, self.invoice_query(p.UNPAID_STATES, select=select)):
            where = f"IFS invoice {row.get('InvoiceNo')!r} (invoice id {row.get('InvoiceId')})"
            try:
                open_amount = amount(row, "OpenAmount", where)
                item = OpenItem(source_id=f"{text(row, 'Company', where)}/{number(row, 'InvoiceId', where)}",
                                number=text(row, "InvoiceNo", where), supplier_id=text(row, "Identity", where),
                                amount=open_amount, currency=text(row, "Currency", where),
                                total=amount(row, "GrossAmount", where))
            except DataError as exc:
                logger.warning("IFS: an open invoice left out of the tie-out: %s", exc)
                continue
            if open_amount > 0:
                yield item

    # --- write-backs -----------------------------------------------------------------------------------------------
    def invoice_keys(self, reference):
        try:
            return {"Company": str(reference["Company"]), "InvoiceId": int(reference["InvoiceId"])}
        except (KeyError, TypeError, ValueError):
            raise DataError(f"The invoice reference {sorted(reference or {})} lacks the IFS keys (Company, "
                            "InvoiceId); read the invoice again.") from None

    def acknowledge_invoice(self, invoice_reference):
        """Set the invoice's Transfer Status to Transferred, as IFS's own transfer to a payables application does
        (docs.ifs.com FinancialConnector/ActivityConfirmSendSupplierInvoice), from the ETag this run read it with,
        or read first for it; a 412 (it changed meanwhile) is read again, up to WRITE_ATTEMPTS times; a 423
        (locked) is raised."""
        spec = self.sets["invoices"]
        keys = self.invoice_keys(invoice_reference)
        known = self.read_versions.pop((keys["Company"], keys["InvoiceId"]), None)
        for _ in range(WRITE_ATTEMPTS):
            etag, status = known or self.version_of(spec, keys)
            known = None
            if status == p.TRANSFERRED:
                return f"invoice {keys['InvoiceId']} was already marked as transferred"
            try:
                self.client.patch(spec, keys, etag, {"TransferStatus": p.TRANSFERRED})
            except Conflict:
                continue
            return f"invoice {keys['InvoiceId']} marked as transferred"
        raise Conflict(f"IFS invoice {keys['InvoiceId']} kept changing while it was being marked as transferred "
                       f"({WRITE_ATTEMPTS} tries); it is tried again on the next run.")

    def acknowledge_invoices(self, references):
        """acknowledge_invoice() for several invoices at once: the marks together in $batch calls (IfsClient.
        patch_many), each from the ETag this run read its invoice with, or read first for it; the ones that changed
        meanwhile (412) read again and sent again, up to WRITE_ATTEMPTS times. Each invoice's outcome in order: the
        words, or its own error (RecordError, TransientError); a failure of a whole call is raised."""
        spec = self.sets["invoices"]
        outcomes = [None] * len(references)
        pending = {}  # index -> (keys, (ETag, Transfer Status) or None to read it)
        for index, reference in enumerate(references):
            try:
                keys = self.invoice_keys(reference)
            except DataError as exc:
                outcomes[index] = exc
                continue
            pending[index] = (keys, self.read_versions.pop((keys["Company"], keys["InvoiceId"]), None))
        for _ in range(WRITE_ATTEMPTS):
            sending = {}
            for index, (keys, known) in pending.items():
                try:
                    etag, status = known or self.version_of(spec, keys)
                except (RecordError, TransientError) as exc:
                    outcomes[index] = exc
                    continue
                if status == p.TRANSFERRED:
                    outcomes[index] = f"invoice {keys['InvoiceId']} was already marked as transferred"
                else:
                    sending[index] = (keys, etag, {"TransferStatus": p.TRANSFERRED})
            answers = self.client.patch_many(spec, list(sending.values()))
            pending = {}
            for (index, (keys, _, _)), answer in zip(sending.items(), answers, strict=True):
                if isinstance(answer, Conflict):
                    pending[index] = (keys, None)
                else:
                    outcomes[index] = answer if isinstance(answer, Exception) else \
                        f"invoice {keys['InvoiceId']} marked as transferred"
            if not pending:
                break
        for index, (keys, _) in pending.items():
            outcomes[index] = Conflict(f"IFS invoice {keys['InvoiceId']} kept changing while it was being marked as "
                                       f"transferred ({WRITE_ATTEMPTS} tries); it is tried again on the next run.")
        return outcomes

    def version_of(self, spec, keys):
        body, etag = self.client.entity(spec, keys)
        return etag, body.get("TransferStatus")

    def post_payment(self, invoice_reference, payment):
        """The payment's share of this invoice, one row per invoice and payment id (UNCONFIRMED custom entity,
        F5): looked up first, created when absent, changed with If-Match when it differs (a reversal voids it)."""
        spec = self.sets["payments"]
        invoice = self.invoice_keys(invoice_reference)
        keys = {**invoice, "PaymentId": str(payment.payment_id)}
        reference = "" if payment.reference is None else str(payment.reference)
        wanted = {"Amount": float(payment.amount),
                  "PaymentDate": (payment.process_date or timezone.now().date()).isoformat(),
                  "Reference": reference[:p.REFERENCE_LENGTH],
                  "Status": p.PAYMENT_PAID if payment.paid else p.PAYMENT_VOIDED}
        for _ in range(WRITE_ATTEMPTS):
            try:
                body, etag = self.client.entity(spec, keys)
            except NotFound:
                try:
                    self.client.post(spec, {**keys, **wanted})
                except Conflict:
                    continue  # made meanwhile by another worker: read it
                return f"recorded payment {payment.payment_id} ({wanted['Status']})"
            differs = {name: value for name, value in wanted.items() if name != "Reference" and not self.same(
                body.get(name), value)}
            if not differs:
                return f"payment {payment.payment_id} already recorded"
            try:
                self.client.patch(spec, keys, etag, differs)
            except Conflict:
                continue
            return f"payment {payment.payment_id} updated ({', '.join(f'{k} {v}' for k, v in differs.items())})"
        raise Conflict(f"IFS payment {payment.payment_id} of invoice {invoice['InvoiceId']} kept changing while it "
                       f"was being recorded ({WRITE_ATTEMPTS} tries); it is tried again on the next run.")

    @staticmethod
    def same(held, wanted):
        if isinstance(wanted, float):
            held, wanted = decimal_value(held), decimal_value(wanted)
            return held is not None and held.quantize(CENT) == wanted.quantize(CENT)
        return held == wanted

    def update_supplier(self, source_id, changes):
        """Contact edits from the AP platform (records.CONTACT_FIELDS: email, phone, address), each
        {field: (value we last sent, value the AP platform has now)}. IFS owns the rest of the supplier. A field
        IFS still holds at the value we sent takes the new one; one IFS changed meanwhile keeps IFS's value and is
        returned as a conflict. Each row is read for its ETag and changed with If-Match; a 412 (someone changed
        it between our read and our write) starts again from a fresh read, so a field is judged against what IFS
        holds then, and nothing written before is lost (it now reads as the new value)."""
        changes = {name: pair for name, pair in changes.items() if name in CONTACT_FIELDS}
        for _ in range(WRITE_ATTEMPTS):
            detail = self.supplier_details(source_id)
            if isinstance(detail, RecordError):
                raise detail
            address, methods = detail
            if address is None:
                raise NotFound(f"IFS supplier {source_id} has no address to write contact details to.")
            applied, conflicts, writes = {}, {}, []
            reference = address.get("@odata.etag") or ""
            for name, (sent, wanted) in changes.items():
                held = self.held(name, address, methods)
                if held == wanted:
                    applied[name] = wanted
                elif held == (sent if sent is not None else self.empty(name)):
                    writes.append((name, wanted))
                else:
                    conflicts[name] = (held, wanted)
            try:
                for name, wanted in writes:
                    reference = self.write_contact(source_id, name, wanted, address, methods) or reference
                    applied[name] = wanted
            except Conflict:
                continue
            return SupplierUpdate(applied=applied, conflicts=conflicts, reference=reference)
        raise Conflict(f"IFS supplier {source_id} kept changing while its contact details were written "
                       f"({WRITE_ATTEMPTS} tries); it is tried again on the next run.")

    @staticmethod
    def empty(name):
        return Address() if name == "address" else ""

    def held(self, name, address, methods):
        where = f"IFS supplier {address.get('SupplierId')}"
        if name == "address":
            return Address(**{field: text(address, column, where) for field, column in p.ADDRESS_PROPERTIES.items()})
        return text(methods.get(METHOD_OF[name], {}), "Value", where)

    def write_contact(self, supplier_id, name, wanted, address, methods):
        """Write one contact field to its row; returns the row's new ETag ("" when the row was removed)."""
        supplier = {"SupplierId": supplier_id}
        address_keys = {"SupplierId": supplier_id, "AddressId": address["AddressId"]}
        if name == "address":
            wanted = wanted or Address()
            return self.client.patch(self.sets["supplier_addresses"], address_keys, address.get("@odata.etag"),
                              {column: getattr(wanted, field) for field, column in p.ADDRESS_PROPERTIES.items()},
                              parents=(supplier,))
        spec = self.sets["supplier_comm_methods"]
        row = methods.get(METHOD_OF[name])
        parents = (supplier, address_keys)
        if row is None:
            if not wanted:
                return ""
            return self.client.post(spec, {"MethodId": METHOD_OF[name], "Value": wanted, "MethodDefault": True},
                                    parents=parents)
        keys = {"SupplierId": supplier_id, "CommId": number(row, "CommId", f"IFS supplier {supplier_id}")}
        if wanted:
            return self.client.patch(spec, keys, row.get("@odata.etag"), {"Value": wanted}, parents=parents)
        self.client.delete(spec, keys, row.get("@odata.etag"), parents=parents)
        return ""

