"""SYSPRO 8 as an ERP: suppliers, approved AP invoices with their GL distribution, GL accounts and
departments out, read incrementally by each table's TimeStamp (a rowversion). SYSPRO takes nothing back:
payments made in the AP platform are recorded by ml-connector only.

Tables are read over the site's OData service when the connection names one, else through e.net's COMFND
query on the logon session (connectors/syspro/client.py); both answer the same rows."""

from decimal import Decimal

from connectors.base import ErpConnector
from connectors.cursors import ROWVERSION
from connectors.errors import DataError
from connectors.http import fan_out
from connectors.records import Address, Dimension, GlAccount, Invoice, InvoiceLine, OpenItem, Supplier, Unreadable
from connectors.syspro import tables
from connectors.syspro.client import PAGE_SIZE, BadValue, Cond, SysproClient, all_of, typed
from connectors.tokens import TokenStore

NOT_HELD = Cond("InvoiceStatus", "ne", tables.HELD_STATUS)
INVOICE_KEY = ("Supplier", "Invoice")


def changed_since(since):
    return Cond("TimeStamp", "gt", since) if since is not None else None


def key_of(row, columns):
    """A row's key as a dict key. A value that is not a plain one (a list where text was expected) is kept as its
    text, so the row is still filed under a key and typed() says what is wrong with it."""
    return tuple(value if isinstance(value, str | int | float | bool | None) else repr(value)
                 for value in (row.get(c) for c in columns))


def balance(head):
    """What is still to pay: the outstanding balance is kept by ageing month, in three columns."""
    return sum((head[c] or Decimal("0.00") for c in ("MthInvBal1", "MthInvBal2", "MthInvBal3")), Decimal("0.00"))


class SysproConnector(ErpConnector):
    cursor_types = {"suppliers": ROWVERSION, "invoices": ROWVERSION}

    def __init__(self, connection):
        super().__init__(connection)
        self.client = SysproClient(connection)
        self.http = self.client.enet
        self.odata_http = self.client.odata
        self.page_size = PAGE_SIZE
        self._local_currency = None

    def check(self):
        profile = self.client.profile()
        said = (f"Logged on to SYSPRO company {profile.get('CompanyName') or self.client.company_id} as operator "
                f"{self.client.operator}")
        if self.client.odata:
            self.client.probe()
            return said + "; the OData service answered."
        return said + "; tables are read through e.net (no OData URL set)."

    # --- the e.net session --------------------------------------------------------------------------------
    def close(self):
        """Log off the shared session at the end of a run (it holds an e.net licence while it lives), if this
        connector used it. Another worker still using it is refused once and logs on again."""
        if not self.http.calls:
            return
        store = TokenStore(self.connection)
        token = store.current()
        if token is not None:
            try:
                self.client.logoff(token.value)
            finally:
                store.invalidate(token.value)

    def forget_token(self):
        """The credentials changed: log off the old session (best effort) and drop it."""
        store = TokenStore(self.connection)
        token = store.current()
        try:
            if token is not None:
                self.client.logoff(token.value)
        finally:
            store.clear()

    def local_currency(self):
        """The company's local currency (GetLogonProfile), for rows whose Currency is blank. UNCONFIRMED (Y4)
        that a blank Currency means the local one."""
        if self._local_currency is None:
            self._local_currency = self.client.profile().get("LocalCurrencyCode", "")
        return self._local_currency

    # --- reading --------------------------------------------------------------------------------------------
    def read(self, table, where=None):
        return self.client.rows(table, where, self.page_size)

    def side_by_side(self, *reads):
        """The rows of each (table, where), read whole and at once: neither read depends on the other, and the
        client keeps the calls in flight within the service's limit (e.net's one session takes one at a time)."""
        return fan_out(lambda read: list(self.read(*read)), reads, len(reads))

    def changed(self, main, detail, since, main_where=None, detail_key=None):
        """{key: (main row, [detail rows])} for every record whose main row or any detail row changed since
        `since` (all records when None). Rows are as the service answered them (not yet typed); a record whose
        main row is not there (or not selected by `main_where`) is left out."""
        detail_key = detail_key or main.key
        if since is None:
            head_rows, detail_rows = self.side_by_side((main, main_where), (detail, None))
            heads = {key_of(r, main.key): r for r in head_rows}
            details = {}
            for row in detail_rows:
                details.setdefault(key_of(row, detail_key), []).append(row)
            return {key: (head, details.get(key, [])) for key, head in heads.items()}
        where = changed_since(since)
        head_rows, detail_rows = self.side_by_side((main, all_of(where, main_where)), (detail, where))
        heads = {key_of(r, main.key): r for r in head_rows}
        touched = {key_of(r, detail_key) for r in detail_rows}
        missing = touched - set(heads)
        if missing:
            heads.update((key_of(r, main.key), r)
                         for r in self.client.rows_by_key(main, missing, where=main_where, page_size=self.page_size))
        details = {}
        for row in self.client.rows_by_key(detail, heads, columns=detail_key, page_size=self.page_size):
            details.setdefault(key_of(row, detail_key), []).append(row)
        return {key: (head, details.get(key, [])) for key, head in heads.items()}

    # --- suppliers ------------------------------------------------------------------------------------------
    def suppliers(self, since=None):
        """ApSupplier with its address (ApSupplierAddr); a change to either counts, and the marker is the
        later TimeStamp of the two."""
        records = self.changed(tables.SUPPLIERS, tables.SUPPLIER_ADDRESSES, since)
        for key in sorted(records, key=str):
            head, addresses = records[key]
            yield self._supplier(head, addresses[0] if addresses else None)

    def _supplier(self, raw, raw_address):
        ref = f"SYSPRO supplier {raw.get('Supplier')!s}"
        try:
            row = typed(tables.SUPPLIERS, raw)
            address = typed(tables.SUPPLIER_ADDRESSES, raw_address) if raw_address else None
            if row["TimeStamp"] is None:
                raise BadValue(tables.SUPPLIERS, "TimeStamp", None, "a rowversion (it tells a changed row)")
        except BadValue as exc:
            return Unreadable("vendor", str(raw.get("Supplier")), f"{raw.get('Supplier')} {raw.get('SupplierName')}",
                              f"{ref}: {exc}", marker_of(raw, raw_address))
        stamps = [row["TimeStamp"], address["TimeStamp"] if address else None]
        return Supplier(
            source_id=row["Supplier"], name=row["SupplierName"], tax_id=row["TaxRegnNum"],
            currency=row["Currency"] or self.local_currency(), email=row["Email"], phone=row["Telephone"],
            address=Address(line1=address["SupAddr1"], line2=address["SupAddr2"], city=address["SupAddr3"],
                            region=address["SupAddr4"], postal_code=address["SupPostalCode"],
                            country=address["SupAddr5"]) if address else Address(),
            active=row["OnHold"] != tables.ON_HOLD,
            updated_marker=str(max(s for s in stamps if s is not None)))

    # --- invoices -------------------------------------------------------------------------------------------
    def approved_invoices(self, since=None, include_held=False):
        """ApInvoice rows not held (InvoiceStatus) and not yet paid in full, each with its distribution lines
        (ApJnlDistrib); a change to the invoice or any of its lines counts. An invoice SYSPRO shows paid is
        left out: it needs no paying through the AP platform. With `include_held`, the held rows come in the same
        calls (the filter left off), each marked `held`."""
        records = self.changed(tables.INVOICES, tables.DISTRIBUTION, since,
                               main_where=None if include_held else NOT_HELD, detail_key=INVOICE_KEY)
        for key in sorted(records, key=str):
            head, lines = records[key]
            invoice = self._invoice(head, lines)
            if invoice is not None:
                yield invoice

    def _invoice(self, raw, raw_lines):
        supplier, number = str(raw.get("Supplier")), str(raw.get("Invoice"))
        source_id, marker = f"{supplier}/{number}", marker_of(raw, *raw_lines)
        ref = f"SYSPRO invoice {number} of supplier {supplier}"
        try:
            head = typed(tables.INVOICES, raw)
            lines = sorted((typed(tables.DISTRIBUTION, r) for r in raw_lines), key=lambda r: r["DistrLine"] or 0)
            for column in ("InvoiceDate", "DueDate", "OrigInvValue"):
                if head[column] is None:
                    raise DataError(f"{ref}: {column} is empty.", field=column)
            for line in lines:
                if line["DistrValue"] is None:
                    raise DataError(f"{ref}: line {line['DistrLine']} has no DistrValue.", field="DistrValue")
        except BadValue as exc:
            return Unreadable("bill", source_id, f"{number} ({supplier})", f"{ref}: {exc}", marker)
        except DataError as exc:
            return Unreadable("bill", source_id, f"{number} ({supplier})", str(exc), marker)
        if balance(head) <= 0:
            return None
        invoice_lines = tuple(InvoiceLine(amount=line["DistrValue"], gl_account=line["ExpenseGlCode"],
                                          description=line["Comment"],
                                          dimensions={"department": line["Department"]} if line["Department"] else {},
                                          po_number=line["PurchaseOrder"]) for line in lines)
        held = (f"InvoiceStatus {tables.HELD_STATUS}, held back from payment"
                if head["InvoiceStatus"] == tables.HELD_STATUS else None)
        return Invoice(source_id=source_id, supplier_id=head["Supplier"], invoice_number=head["Invoice"],
                       invoice_date=head["InvoiceDate"], due_date=head["DueDate"], total=head["OrigInvValue"],
                       currency=head["Currency"] or self.local_currency(), lines=invoice_lines,
                       description=head["Reference"],
                       po_number=next((line.po_number for line in invoice_lines if line.po_number), ""),
                       updated_marker=marker, reference={"Supplier": head["Supplier"], "Invoice": head["Invoice"]},
                       held=held)

    def open_invoices(self):
        """Invoices not held with a balance still to pay, for the open payables tie-out. A row that cannot be
        read stops the tie-out with its reason (a total that leaves it out would mislead)."""
        for raw in self.read(tables.INVOICES, NOT_HELD):
            try:
                head = typed(tables.INVOICES, raw)
            except BadValue as exc:
                raise DataError(f"SYSPRO invoice {raw.get('Invoice')} of supplier {raw.get('Supplier')}: {exc}",
                                field=exc.column) from None
            still = balance(head)
            if still > 0:
                yield OpenItem(source_id=f"{head['Supplier']}/{head['Invoice']}", number=head["Invoice"],
                               supplier_id=head["Supplier"], amount=still,
                               currency=head["Currency"] or self.local_currency(), total=head["OrigInvValue"])

    # --- reference data ---------------------------------------------------------------------------------------
    def gl_accounts(self):
        """GenMaster's ledger codes as finance writes them (e.g. 4000-100): the codes invoice lines carry."""
        accounts = []
        for raw in self.read(tables.GL_ACCOUNTS):
            try:
                row = typed(tables.GL_ACCOUNTS, raw)
            except BadValue as exc:
                # Left out, its code would later read as "not mapped": the real cause must show instead.
                raise DataError(f"SYSPRO GenMaster row {raw.get('GlCode')!r}: {exc}", field=exc.column) from None
            accounts.append(GlAccount(code=row["GlCode"], name=row["Description"]))
        return accounts

    def dimensions(self):
        departments = []
        for raw in self.read(tables.DEPARTMENTS):
            try:
                row = typed(tables.DEPARTMENTS, raw)
            except BadValue as exc:
                raise DataError(f"SYSPRO department row {raw.get('Department')!r}: {exc}", field=exc.column) from None
            departments.append(Dimension(kind="department", code=row["Department"], name=row["Description"]))
        return departments


def marker_of(*raws):
    """The latest TimeStamp of a record's rows, as the rowversion cursor's text; "" when none can be read."""
    stamps = []
    for raw in raws:
        if raw is None:
            continue
        try:
            stamps.append(ROWVERSION.parse(str(raw.get("TimeStamp"))))
        except ValueError:
            continue
    return str(max(stamps)) if stamps else ""
