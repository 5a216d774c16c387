"""SYSPRO → BILL: what is SYSPRO's own in this pair, beside the pair contract (test_pairs.py): ledger codes as
finance writes them (4000-100) failing until mapped and then sent once by a replay, suppliers on hold set aside,
and payments recorded here only (SYSPRO takes none back)."""

from collections import Counter

from connectors import canonical
from connectors.syspro import tables
from syncs import operations
from syncs.engine import run_integration
from syncs.models import MappingRule, RecordStatus, RunStatus, SyncRecord, SyncRun
from syncs.plan import describe
from tests.syncs.test_pairs import Pair

LEDGER_CODE = "4000-100"
NEW_INVOICE = "INV-4000"


def seed_ledger_code_invoice(sandbox):
    """A GL account with a segmented ledger code in both systems, and a SYSPRO invoice coded to it."""
    sandbox.control("syspro/seed", {
        tables.GL_ACCOUNTS.name: [{"GlCode": LEDGER_CODE, "Description": "Food ingredients, Operations",
                                  "AccountType": "E"}],
        tables.INVOICES.name: [{"Supplier": "V1001", "Invoice": NEW_INVOICE, "InvoiceDate": "2026-01-20",
                               "DueDate": "2026-02-19", "OrigInvValue": "500.00", "MthInvBal1": "500.00",
                               "Currency": "USD"}],
        tables.DISTRIBUTION.name: [{"Supplier": "V1001", "Invoice": NEW_INVOICE, "DistrLine": 1,
                                   "ExpenseGlCode": LEDGER_CODE, "DistrValue": "500.00", "Comment": "Flour",
                                   "Department": "100"}]})
    created = sandbox.control("bill/seed", {"chart_of_accounts": [
        {"name": "Food ingredients, Operations", "account": {"type": "EXPENSE", "number": LEDGER_CODE}}]})
    return created["chart-of-accounts"][0]["id"]


class TestSysproToBill(Pair):
    erp, ap = "syspro", "bill"

    def bills_numbered(self, sandbox, number):
        return Counter(b["invoice_number"] for b in self.ap_state(sandbox)["bills"])[number]

    def test_the_plan_records_payments_here(self, integration):
        assert "recorded here (SYSPRO 8 does not take them)" in describe(integration)

    def test_an_unmapped_ledger_code_fails_until_mapped_then_replay_sends_it_once(
            self, integration, sandbox, django_capture_on_commit_callbacks):
        account_id = seed_ledger_code_invoice(sandbox)
        run_integration(integration.pk)
        record = SyncRecord.objects.get(integration=integration, object_type="bill", source_id=f"V1001/{NEW_INVOICE}")
        assert record.status == RecordStatus.FAILED and record.error_class == "mapping"
        assert f"GL account {LEDGER_CODE} is not mapped to a BILL account" in record.error_detail
        assert self.bills_numbered(sandbox, NEW_INVOICE) == 0

        MappingRule.objects.create(integration=integration, kind=MappingRule.GL_ACCOUNT, source_code=LEDGER_CODE,
                                   target_id=account_id)
        with django_capture_on_commit_callbacks(execute=True):
            operations.replay_failed(integration, "ops", [record])
        replay = SyncRun.objects.get(integration=integration, trigger="replay")
        assert replay.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), replay.error
        record.refresh_from_db()
        assert record.status == RecordStatus.SYNCED
        assert self.bills_numbered(sandbox, NEW_INVOICE) == 1
        bill = next(b for b in self.ap_state(sandbox)["bills"] if b["invoice_number"] == NEW_INVOICE)
        assert bill["lines"] == [{"amount": "500.00", "gl_account": LEDGER_CODE, "department": "100"}]

        with django_capture_on_commit_callbacks(execute=True):
            operations.replay_failed(integration, "ops")
        run_integration(integration.pk)
        assert self.bills_numbered(sandbox, NEW_INVOICE) == 1

    def test_a_supplier_put_on_hold_is_set_aside_and_its_invoices_wait(self, integration, sandbox):
        sandbox.control("syspro/update", {"table": tables.SUPPLIERS.name, "key": ["V1004"],
                                          "changes": {"OnHold": tables.ON_HOLD}})
        run_integration(integration.pk)
        vendor = SyncRecord.objects.get(integration=integration, object_type="vendor", source_id="V1004")
        assert vendor.status == RecordStatus.SKIPPED and "is blocked or on hold in SYSPRO 8" in vendor.error_detail
        waiting = SyncRecord.objects.get(integration=integration, object_type="bill", source_id="V1004/INV-1003")
        assert waiting.status == RecordStatus.FAILED and "Supplier V1004 is not in BILL yet" in waiting.error_detail

    def test_payments_are_recorded_here_and_nothing_is_sent_to_syspro(self, integration, sandbox):
        run_integration(integration.pk)
        calls_before = sandbox.simulators["syspro"].state()["calls"]
        bill = sorted(self.ap_state(sandbox)["bills"], key=lambda b: b["invoice_number"])[0]
        sandbox.control("bill/canonical-pay", {"bill_id": bill["id"]})
        run = run_integration(integration.pk)
        assert run.status == RunStatus.PARTIAL, run.error
        share = SyncRecord.objects.get(integration=integration, object_type="payment",
                                       source_id__endswith=f":{bill['id']}")
        assert share.status == RecordStatus.SYNCED
        assert sandbox.control("syspro/canonical-state")["payments"] == []
        state = sandbox.simulators["syspro"].state()
        assert state["calls"] > calls_before  # the run read SYSPRO …
        assert state["open_sessions"] == 0  # … and logged its session off

    def test_paid_invoices_are_not_sent(self, integration, sandbox):
        paid = canonical.GOOD_INVOICES[0]
        sandbox.control("syspro/update", {"table": tables.INVOICES.name, "key": [paid.supplier_id, paid.number],
                                          "changes": {"MthInvBal1": "0"}})
        run_integration(integration.pk)
        assert self.bills_numbered(sandbox, paid.number) == 0
        assert not SyncRecord.objects.filter(integration=integration, object_type="bill",
                                             source_id=f"{paid.supplier_id}/{paid.number}").exists()
