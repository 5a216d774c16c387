"""Infor CloudSuite (M3) as an ERP: suppliers, GL accounts, approved invoices out; payments in."""

from collections import OrderedDict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from connectors.base import ErpConnector
from connectors.errors import DataError
from connectors.infor import m3
from connectors.infor.client import InforClient
from connectors.records import Address, Dimension, GlAccount, Invoice, InvoiceLine, Supplier, Unreadable
from connectors.tokens import TokenStore

PAGE_SIZE = 100


def lmts_to_iso(value):
    """M3's LMTS (yyyyMMddHHmmssfff) as an ISO timestamp; '' when absent."""
    if not value:
        return ""
    try:
        return datetime.strptime(value[:17].ljust(17, "0"), "%Y%m%d%H%M%S%f").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return ""


def iso_to_lmts(moment):
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S%f")[:17] if moment else ""


def m3_date(value, field, ref):
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except (TypeError, ValueError):
        raise DataError(f"{ref}: {field} {value!r} is not a date (yyyyMMdd).", field=field) from None


def m3_amount(value, field, ref):
    try:
        return Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError):
        raise DataError(f"{ref}: {field} {value!r} is not an amount.", field=field) from None


class InforConnector(ErpConnector):
    def __init__(self, connection):
        super().__init__(connection)
        self.client = InforClient(connection)
        self.http = self.client.http

    def check(self):
        self.client.execute(m3.SUPPLIERS, {}, maxrecs=1)
        return (f"Signed in to Infor tenant {self.client.ionapi['ti']}; M3 answered for company "
                f"{self.client.company}.")

    def forget_token(self):
        """Revoke and drop the cached token (the credentials changed)."""
        store = TokenStore(self.connection)
        token = store.current()
        if token:
            self.client.revoke(token)
        store.clear()

    # --- reference data -------------------------------------------------------------------------------
    def gl_accounts(self):
        return [GlAccount(code=r["AITM"], name=r.get("TX40", ""), active=r.get("LCCD", "0") != "1")
                for r in self.client.execute(m3.GL_ACCOUNTS, {"AITP": m3.ACCOUNT_DIMENSION}, maxrecs=0)]

    def dimensions(self):
        return [Dimension(kind="department", code=r["AITM"], name=r.get("TX40", ""), active=r.get("LCCD", "0") != "1")
                for r in self.client.execute(m3.GL_ACCOUNTS, {"AITP": m3.DEPARTMENT_DIMENSION}, maxrecs=0)]

    # --- suppliers ------------------------------------------------------------------------------------
    def suppliers(self, since=None):
        inputs = {"LMTS": iso_to_lmts(since)} if since else {}
        for r in self.client.key_range(m3.SUPPLIERS, inputs, "FRSU", "SUNO", PAGE_SIZE):
            yield Supplier(
                source_id=r["SUNO"], name=r.get("SUNM", ""), tax_id=r.get("TINO", ""), currency=r.get("CUCD") or "USD",
                email=r.get("EMAL", ""), phone=r.get("PHNO", ""), active=r.get("STAT", "20") == "20",
                address=Address(line1=r.get("ADR1", ""), city=r.get("TOWN", ""), region=r.get("ECAR", ""),
                                postal_code=r.get("PONO", ""), country=r.get("CSCD", "")),
                updated_marker=lmts_to_iso(r.get("LMTS")))

    # --- invoices -------------------------------------------------------------------------------------
    def approved_invoices(self, since=None):
        inputs = {"F_LMTS": iso_to_lmts(since)} if since else {}
        start, page_size = None, PAGE_SIZE
        while True:
            rows = self.client.execute(m3.APPROVED_INVOICES, {**inputs, **({"F_KEY": start} if start else {})},
                                       maxrecs=page_size)
            grouped = OrderedDict()
            for row in rows:
                grouped.setdefault(row["KEY"], []).append(row)
            full = len(rows) >= page_size
            if full and len(grouped) == 1:
                page_size *= 2  # one invoice with more lines than a page: read it whole
                continue
            if full:
                start, _ = grouped.popitem()  # its lines may go on past this page: read it again next time
            for key, lines in grouped.items():
                yield self._invoice(key, lines)
            if not full:
                return

    def _invoice(self, key, rows):
        head = rows[0]
        ref = f"Infor invoice {head.get('SINO', '?')} of supplier {head.get('SUNO', '?')}"
        try:
            lines = tuple(
                InvoiceLine(amount=m3_amount(r.get("LNAM"), "LNAM", ref), gl_account=r.get("AIT1", ""),
                            description=r.get("LNDE", ""),
                            dimensions={"department": r["AIT2"]} if r.get("AIT2") else {},
                            po_number=r.get("PUNO", ""))
                for r in sorted(rows, key=lambda r: int(r.get("LINO") or 0)))
            return Invoice(
                source_id=key, supplier_id=head["SUNO"], invoice_number=head.get("SINO", ""),
                invoice_date=m3_date(head.get("IVDT"), "IVDT", ref), due_date=m3_date(head.get("DUDT"), "DUDT", ref),
                total=m3_amount(head.get("CUAM"), "CUAM", ref), currency=head.get("CUCD") or "USD", lines=lines,
                po_number=next((line.po_number for line in lines if line.po_number), ""),
                description=f"Infor voucher {key.replace('|', ' ')}",
                updated_marker=lmts_to_iso(head.get("LMTS")),
                reference={k: head.get(k, "") for k in ("DIVI", "YEA4", "JRNO", "JSNO", "SUNO", "SINO")})
        except DataError as exc:
            return Unreadable("bill", key, head.get("SINO", key), str(exc), lmts_to_iso(head.get("LMTS")))

    # --- payments back --------------------------------------------------------------------------------
    def post_payment(self, invoice_reference, payment):
        r = invoice_reference
        inputs = {"DIVI": r["DIVI"], "YEA4": r["YEA4"], "JRNO": r["JRNO"], "JSNO": r["JSNO"],
                  "PYID": payment.payment_id, "PYAM": str(payment.amount),
                  "PYDT": (payment.process_date or timezone.now().date()).strftime("%Y%m%d"),
                  "PYST": "PAID" if payment.paid else "VOIDED", "REFE": payment.reference[:30]}
        existing = self._payment(payment.payment_id)
        if existing is None:
            try:
                self.client.execute(m3.ADD_PAYMENT, inputs)
                return f"added payment {payment.payment_id}"
            except DataError as exc:
                if "already exists" not in str(exc):
                    raise
                existing = self._payment(payment.payment_id)
        if existing and existing.get("PYDT") == inputs["PYDT"] and existing.get("PYST") == inputs["PYST"] \
                and existing.get("PYAM") == payment.amount:
            return f"payment {payment.payment_id} already recorded"
        self.client.execute(m3.UPDATE_PAYMENT, inputs)
        return f"updated payment {payment.payment_id} to {inputs['PYST']}"

    def _payment(self, payment_id):
        try:
            records = self.client.execute(m3.GET_PAYMENT, {"PYID": payment_id})
        except DataError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        if not records:
            return None
        record = records[0]
        try:
            record["PYAM"] = Decimal(record["PYAM"])
        except (InvalidOperation, KeyError):
            record["PYAM"] = None
        return record

