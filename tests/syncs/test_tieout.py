"""The open payables tie-out on a seeded set with one difference of each kind, plus the commands' words."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors.base import ApConnector, ErpConnector
from connectors.errors import TransientError
from connectors.models import Connection
from connectors.records import OpenItem
from syncs import tieout
from syncs.models import Integration, RecordStatus, SyncRecord

D = Decimal


class OpenErp(ErpConnector):
    items = []

    def open_invoices(self):
        return iter(self.items)


class OpenAp(ApConnector):
    items = []

    def open_bills(self):
        return iter(self.items)


@pytest.fixture
def integration(tenant, monkeypatch):
    monkeypatch.setattr(Connection, "connector",
                        lambda self: OpenErp(self) if self.system == "infor" else OpenAp(self))
    erp = Connection.objects.create(tenant=tenant, name="ERP", system="infor")
    ap = Connection.objects.create(tenant=tenant, name="AP", system="bill")
    integration = Integration.objects.create(tenant=tenant, name="ERP → AP", source=erp, target=ap)
    SyncRecord.objects.create(integration=integration, object_type="vendor", source_id="S1", target_id="v1",
                              status=RecordStatus.SYNCED, party="S1 Harbor Paper")

    def bill(invoice, bill_id, status=RecordStatus.SYNCED):
        return SyncRecord.objects.create(integration=integration, object_type="bill", source_id=invoice,
                                         target_id=bill_id, status=status, number=f"INV-{invoice}",
                                         party="S1 Harbor Paper", currency="USD")

    bill("1", "b1")  # agrees
    bill("2", "b2")  # amount differs: partly paid in BILL
    bill("3", "b3")  # paid in BILL, still open in the ERP
    bill("4", "b4")  # paid in the ERP, still open in BILL
    bill("5", "", status=RecordStatus.FAILED)  # never made it across
    OpenErp.items = [OpenItem("1", "INV-1", "S1", D("100.00"), "USD"), OpenItem("2", "INV-2", "S1", D("250.00"), "USD"),
                     OpenItem("3", "INV-3", "S1", D("75.50"), "USD"), OpenItem("5", "INV-5", "S1", D("10.00"), "USD"),
                     OpenItem("6", "INV-6", "S9", D("20.00"), "CAD")]
    OpenAp.items = [OpenItem(bill_id, number, vendor, D(amount), "") for bill_id, number, vendor, amount in [
        ("b1", "INV-1", "v1", "100.00"), ("b2", "INV-2", "v1", "200.00"), ("b4", "INV-4", "v1", "40.00"),
        ("b7", "INV-7", "v1", "5.00"), ("b8", "X-1", "someone-else", "999.00")]]
    return integration


def test_every_kind_of_difference_is_found_once_and_agreeing_items_are_counted(integration):
    result = tieout.report(integration)
    assert result.error == ""
    found = {(row.kind, row.number): (row.erp_amount, row.ap_amount) for row in result.rows}
    assert found == {
        (tieout.MISSING, "INV-5"): (D("10.00"), None),
        (tieout.MISSING, "INV-6"): (D("20.00"), None),
        (tieout.AMOUNT_DIFFERS, "INV-2"): (D("250.00"), D("200.00")),
        (tieout.PAID_IN_AP_ONLY, "INV-3"): (D("75.50"), None),
        (tieout.PAID_IN_ERP_ONLY, "INV-4"): (None, D("40.00")),
        (tieout.ONLY_IN_AP, "INV-7"): (None, D("5.00")),
    }
    # A bill of a vendor this integration never made is another business's, not a difference.
    assert "X-1" not in {row.number for row in result.rows}
    assert result.matched == 1
    # Totals are kept apart by currency: 20 CAD and 435.50 USD are not 455.50 of anything.
    assert (result.erp_count, result.erp_totals) == (5, {"CAD": D("20.00"), "USD": D("435.50")})
    # The AP side keeps no currency on its bills here: those we sent take the invoice's, from the ledger.
    assert (result.ap_count, result.ap_totals) == (5, {"": D("1004.00"), "USD": D("340.00")})
    missing = next(row for row in result.rows if row.number == "INV-5")
    assert missing.record_id == SyncRecord.objects.get(source_id="5").pk and missing.supplier == "S1 Harbor Paper"


def test_the_command_lists_the_differences_and_exits_3(integration):
    out = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("tieout", str(integration.pk), stdout=out)
    assert exit_.value.code == 3
    text = out.getvalue()
    assert ("5 open in Infor CloudSuite (20.00 CAD · 435.50 USD), 5 open in BILL (1,004.00 (no currency) · "
            "340.00 USD); 1 agree.") in text
    assert "amount differs: INV-2 (S1 Harbor Paper) 250.00 USD / 200.00 USD" in text
    assert "paid in the ERP only: INV-4 (S1 Harbor Paper) — / 40.00 USD" in text


def test_a_side_that_cannot_be_read_is_said_in_words(integration, monkeypatch):
    def down(self):
        raise TransientError("BILL answered 503 three times.")

    monkeypatch.setattr(OpenAp, "open_bills", down)
    result = tieout.report(integration)
    assert result.rows == [] and result.error == "The open items could not be read: BILL answered 503 three times."
    with pytest.raises(CommandError, match="BILL answered 503"):
        call_command("tieout", str(integration.pk), stdout=StringIO())


def test_syspro_against_bill_on_the_canonical_seed_with_known_differences(tenant, sandbox):
    """SYSPRO takes no payments back, so what BILL pays stays open there: the tie-out is how finance sees it."""
    from connectors import canonical
    from syncs.engine import run_integration
    from tests.syncs.test_pairs import seeded_pair

    integration = seeded_pair(tenant, sandbox, "syspro", "bill", name="SYSPRO → BILL")
    run_integration(integration.pk)
    bills = {b["invoice_number"]: b for b in sandbox.control("bill/canonical-state")["bills"]}
    paid_in_bill, part_paid, paid_in_syspro = sorted(bills)[:3]
    sandbox.control("bill/canonical-pay", {"bill_id": bills[paid_in_bill]["id"]})
    sandbox.control("bill/canonical-pay", {"bill_id": bills[part_paid]["id"], "amount": "100.00"})
    supplier = next(i.supplier_id for i in canonical.INVOICES if i.number == paid_in_syspro)
    sandbox.control("syspro/update", {"table": "ApInvoice", "key": [supplier, paid_in_syspro],
                                       "changes": {"MthInvBal1": "0.00", "MthInvBal2": "0.00", "MthInvBal3": "0.00"}})

    result = tieout.report(integration)
    assert result.error == ""
    kinds = {row.number: row.kind for row in result.rows}
    never_sent = {i.number for i in canonical.APPROVED_INVOICES} - set(bills)
    assert kinds == {paid_in_bill: tieout.PAID_IN_AP_ONLY, part_paid: tieout.AMOUNT_DIFFERS,
                     paid_in_syspro: tieout.PAID_IN_ERP_ONLY, **dict.fromkeys(never_sent, tieout.MISSING)}
    differs = next(row for row in result.rows if row.kind == tieout.AMOUNT_DIFFERS)
    assert differs.erp_amount - differs.ap_amount == Decimal("100.00")
    assert result.matched == len(bills) - 3
