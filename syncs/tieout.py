"""The open payables tie-out: open invoices in the ERP against open bills in the AP platform, for the
suppliers an integration carries, with every difference named.

Matched through the ledger (which bill each invoice became), never by number alone: two suppliers can
use the same invoice number. Amounts compared are what is still to pay on each side. Beside them, the payments
the ledger holds for the integration: those that stand and those undone, counted as the dashboard and /metrics
count them (syncs.status.payment_totals).
"""

from dataclasses import dataclass, field, replace
from decimal import Decimal

from connectors.errors import ConnectorError
from portal.fields import CredentialsUnreadable
from syncs import status
from syncs.models import ObjectType, RecordStatus, SyncRecord
from syncs.pair import system_name

MISSING = "missing in the AP platform"
AMOUNT_DIFFERS = "amount differs"
PAID_IN_AP_ONLY = "paid in the AP platform only"
PAID_IN_ERP_ONLY = "paid in the ERP only"
ONLY_IN_AP = "only in the AP platform"
# Held, cancelled or voided in the ERP after its bill was sent (the ledger says so: Invoices.note_hold in
# syncs/steps/invoices.py), its bill still open: not paid in the ERP, and nothing but a person stops the AP
# platform paying it.
HELD_IN_ERP = "held in the ERP, open in the AP platform"
KINDS = (MISSING, AMOUNT_DIFFERS, PAID_IN_AP_ONLY, PAID_IN_ERP_ONLY, HELD_IN_ERP, ONLY_IN_AP)
CHUNK = 500


@dataclass
class Difference:
    kind: str
    number: str
    supplier: str
    erp_amount: Decimal | None
    ap_amount: Decimal | None
    currency: str
    record_id: int | None = None


@dataclass
class TieOut:
    source: str
    target: str
    rows: list = field(default_factory=list)
    erp_count: int = 0
    erp_totals: dict = field(default_factory=dict)  # {currency: amount}: amounts in two currencies never add up
    ap_count: int = 0
    ap_totals: dict = field(default_factory=dict)
    matched: int = 0
    error: str = ""
    # What the ledger holds of payments back, as the dashboard and /metrics count them.
    payments: dict = field(default_factory=lambda: {status.PAID: status.Figure(), status.UNDONE: status.Figure()})

    def counts(self):
        """{kind: how many}, in KINDS order, kinds without rows left out."""
        return {kind: n for kind in KINDS if (n := sum(1 for row in self.rows if row.kind == kind))}


def totals(items):
    """{currency: total} of open items, currencies in order."""
    by_currency = {}
    for item in items:
        by_currency[item.currency] = by_currency.get(item.currency, Decimal("0.00")) + item.amount
    return dict(sorted(by_currency.items()))


def ledger_rows(integration, object_type, **lookup):
    """The ledger rows whose field (one keyword: source_id__in or target_id__in) is in a long list."""
    (name, values), = lookup.items()
    values = list(values)
    rows = []
    for start in range(0, len(values), CHUNK):
        rows += SyncRecord.objects.filter(integration=integration, object_type=object_type,
                                          **{name: values[start:start + CHUNK]})
    return rows


def report(integration):
    """Read both sides now and compare them. A side that cannot be read makes `error` say so."""
    result = TieOut(system_name(integration.source), system_name(integration.target),
                    payments=status.payment_totals([integration]))
    try:
        with integration.source.connector() as erp, integration.target.connector() as ap:
            erp_open = {item.source_id: item for item in erp.open_invoices()}
            ap_open = {item.source_id: item for item in ap.open_bills()}
    except NotImplementedError:
        result.error = (f"{result.source} or {result.target} cannot list its open items yet, so this pair has no "
                        "tie-out.")
        return result
    except (ConnectorError, CredentialsUnreadable) as exc:
        result.error = f"The open items could not be read: {exc}"
        return result
    result.erp_count, result.ap_count = len(erp_open), len(ap_open)
    bills_of_invoices = {r.source_id: r for r in ledger_rows(integration, ObjectType.BILL, source_id__in=erp_open)}
    invoices_of_bills = {r.target_id: r for r in ledger_rows(integration, ObjectType.BILL, target_id__in=ap_open)
                         if r.status == RecordStatus.SYNCED}
    # An AP platform that keeps no currency on a bill (BILL) has it in the ledger, from the invoice sent.
    ap_open = {key: bill if bill.currency or key not in invoices_of_bills
               else replace(bill, currency=invoices_of_bills[key].currency) for key, bill in ap_open.items()}
    result.erp_totals, result.ap_totals = totals(erp_open.values()), totals(ap_open.values())
    vendors = {r.target_id: r for r in ledger_rows(integration, ObjectType.VENDOR,
                                                   target_id__in={b.supplier_id for b in ap_open.values()})}
    for invoice in erp_open.values():
        record = bills_of_invoices.get(invoice.source_id)
        supplier = record.party if record is not None and record.party else invoice.supplier_id
        synced = record is not None and record.status == RecordStatus.SYNCED and record.target_id
        if not synced:
            result.rows.append(Difference(MISSING, invoice.number, supplier, invoice.amount, None, invoice.currency,
                                          record.pk if record else None))
            continue
        bill = ap_open.get(record.target_id)
        if bill is not None and record.data.get("held"):
            result.rows.append(Difference(HELD_IN_ERP, invoice.number, supplier, invoice.amount, bill.amount,
                                          invoice.currency, record.pk))
        elif bill is None and record.data.get("archived_at"):
            continue  # held in the ERP, and its bill archived in the AP platform by ops: neither side will pay it
        elif bill is None:
            result.rows.append(Difference(PAID_IN_AP_ONLY, invoice.number, supplier, invoice.amount, None,
                                          invoice.currency, record.pk))
        elif bill.amount != invoice.amount:
            result.rows.append(Difference(AMOUNT_DIFFERS, invoice.number, supplier, invoice.amount, bill.amount,
                                          invoice.currency, record.pk))
        else:
            result.matched += 1
    for bill in ap_open.values():
        record = invoices_of_bills.get(bill.source_id)
        if record is not None:
            if record.source_id not in erp_open:
                kind = HELD_IN_ERP if record.data.get("held") else PAID_IN_ERP_ONLY
                result.rows.append(Difference(kind, bill.number, record.party or bill.supplier_id, None,
                                              bill.amount, record.currency or bill.currency, record.pk))
        elif bill.supplier_id in vendors:
            vendor = vendors[bill.supplier_id]
            result.rows.append(Difference(ONLY_IN_AP, bill.number, vendor.party or vendor.source_ref, None,
                                          bill.amount, bill.currency))
    result.rows.sort(key=lambda row: (KINDS.index(row.kind), row.supplier, row.number))
    return result
