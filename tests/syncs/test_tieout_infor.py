"""The open payables tie-out of Infor against BILL and against AvidXchange, on the canonical seed with a known
difference of each kind. Infor takes payments back, so what the AP platform pays shows as a difference only until
the next run writes it to M3: the report is read in between."""

from decimal import Decimal

import pytest

from connectors import canonical
from syncs import tieout
from syncs.engine import run_integration
from syncs.models import RunStatus
from tests.syncs.test_pairs import seeded_pair


@pytest.fixture(params=["bill", "avidxchange"])
def integration(request, tenant, sandbox):
    ap = request.param
    integration = seeded_pair(tenant, sandbox, "infor", ap, name=f"Infor → {ap}")
    integration.ap = ap
    return integration


def test_infor_against_the_ap_platform_with_known_differences(integration, sandbox):
    ap = integration.ap
    run = run_integration(integration.pk)
    assert run.status == RunStatus.PARTIAL, run.error  # the canonical seed holds invoices that cannot be sent
    bills = {b["invoice_number"]: b for b in sandbox.control(f"{ap}/canonical-state")["bills"]}
    never_sent = {i.number for i in canonical.APPROVED_INVOICES} - set(bills)
    first = tieout.report(integration)
    assert (first.error, first.matched) == ("", len(bills))
    assert {row.number: row.kind for row in first.rows} == dict.fromkeys(never_sent, tieout.MISSING)

    paid_in_ap, part_paid, paid_in_infor = sorted(bills)[:3]
    sandbox.control(f"{ap}/canonical-pay", {"bill_id": bills[paid_in_ap]["id"]})
    sandbox.control(f"{ap}/canonical-pay", {"bill_id": bills[part_paid]["id"], "amount": "100.00"})
    supplier = next(i.supplier_id for i in canonical.INVOICES if i.number == paid_in_infor)
    sandbox.control("infor/pay-in-erp", {"SUNO": supplier, "SINO": paid_in_infor})

    result = tieout.report(integration)
    assert result.error == ""
    assert {row.number: row.kind for row in result.rows} == {
        paid_in_ap: tieout.PAID_IN_AP_ONLY, part_paid: tieout.AMOUNT_DIFFERS, paid_in_infor: tieout.PAID_IN_ERP_ONLY,
        **dict.fromkeys(never_sent, tieout.MISSING)}
    differs = next(row for row in result.rows if row.kind == tieout.AMOUNT_DIFFERS)
    assert differs.erp_amount - differs.ap_amount == Decimal("100.00")
    assert result.matched == len(bills) - 3
    expected = {}
    for invoice in canonical.INVOICES:
        if invoice.number in (set(bills) | never_sent) - {paid_in_infor}:
            expected[invoice.currency] = expected.get(invoice.currency, Decimal("0.00")) + invoice.total
    assert len(expected) > 1 and result.erp_totals == expected, "each currency has a total of its own"

    # The next run writes both AP payments to Infor: only what was paid in Infor alone, and the missing, remain.
    run_integration(integration.pk)
    after = tieout.report(integration)
    assert {row.number: row.kind for row in after.rows} == {
        paid_in_infor: tieout.PAID_IN_ERP_ONLY, **dict.fromkeys(never_sent, tieout.MISSING)}
    assert after.matched == len(bills) - 2
