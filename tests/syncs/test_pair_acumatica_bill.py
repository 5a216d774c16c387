"""Acumatica → BILL: what is Acumatica's own in this pair, on the pair contract's fixtures (the contract itself,
subaccounts mapped to BILL departments, is generated in test_pairs.py): payments recorded as Acumatica AP
payments applied to the bills they paid (released, or on hold for a person), a BILL void undoing them, and no
licence slot left taken by a run, whatever became of it."""

from decimal import Decimal

from connectors import canonical
from connectors.acumatica.connector import AcumaticaConnector
from connectors.acumatica.system import HOLD_PAYMENTS
from connectors.bill.connector import BillConnector
from syncs.engine import run_integration
from syncs.models import Integration, MappingRule, RecordStatus, RunStatus, SyncRecord
from tests.connectors.acumatica.conftest import make_acumatica_connection
from tests.syncs.test_pairs import Pair


def acumatica(sandbox):
    return sandbox.simulators["acumatica"].state()


def open_sessions(sandbox):
    return sandbox.control("acumatica/sessions")["open"]


class TestAcumaticaToBill(Pair):
    erp, ap = "acumatica", "bill"

    def pay_in_bill(self, sandbox, number, amount=None):
        bill = next(b for b in self.ap_state(sandbox)["bills"] if b["invoice_number"] == number)
        paid = sandbox.control("bill/canonical-pay", {"bill_id": bill["id"], **({"amount": amount} if amount else {})})
        return bill, paid["payment_id"]

    def acumatica_bill(self, sandbox, number):
        return next(b for b in acumatica(sandbox)["bills"] if b["VendorRef"] == number)

    # --- sessions -------------------------------------------------------------------------------------
    def test_a_run_signs_out_of_acumatica(self, integration, sandbox):
        run = run_integration(integration.pk)
        assert run.status == RunStatus.PARTIAL, run.error
        state = acumatica(sandbox)
        assert state["logins"] == 1 and state["logouts"] == 1
        assert open_sessions(sandbox) == 0

    def test_no_session_is_left_open_after_a_run_that_failed_half_way(self, integration, sandbox, monkeypatch):
        """BILL goes down once Acumatica has been read (faulted mid-run through the hub's control): the run
        ends early, and still signs out of Acumatica."""
        read = AcumaticaConnector.suppliers

        def read_then_fault_bill(connector, since=None):
            yield from read(connector, since)
            sandbox.control("faults", {"system": "bill", "error_rate": 1})

        monkeypatch.setattr(AcumaticaConnector, "suppliers", read_then_fault_bill)
        run = run_integration(integration.pk)
        assert run.status in (RunStatus.FAILED, RunStatus.DEFERRED) and "BILL" in run.error, run.error
        assert not SyncRecord.objects.filter(integration=integration, object_type="bill",
                                             status=RecordStatus.SYNCED).exists(), "it stopped half-way"
        assert acumatica(sandbox)["logins"] == 1
        assert open_sessions(sandbox) == 0

    def test_no_session_is_left_open_after_a_run_that_crashed(self, integration, sandbox, monkeypatch):
        def crash(connector, items):
            raise RuntimeError("worker bug")

        monkeypatch.setattr(BillConnector, "create_bills", crash)
        run = run_integration(integration.pk)
        assert run.status == RunStatus.FAILED and "Internal error (RuntimeError)" in run.error
        assert acumatica(sandbox)["logins"] == 1
        assert open_sessions(sandbox) == 0

    # --- payments back --------------------------------------------------------------------------------
    def test_a_payment_is_applied_to_the_bill_it_paid_and_released(self, integration, sandbox):
        run_integration(integration.pk)
        number = canonical.GOOD_INVOICES[0].number
        bill, payment_id = self.pay_in_bill(sandbox, number, "500.00")
        run = run_integration(integration.pk)
        assert run.counters.get("payments_written_back") == 1, run.counters
        [check] = acumatica(sandbox)["checks"]
        source = self.acumatica_bill(sandbox, number)
        assert (check["Type"], check["Status"], check["PaymentRef"], check["Vendor"]) == \
            ("Payment", "Closed", payment_id, source["Vendor"])
        assert [(d["DocType"], d["ReferenceNbr"], Decimal(d["AmountPaid"])) for d in check["Details"]] == \
            [("Bill", source["ReferenceNbr"], Decimal("500.00"))]
        assert Decimal(source["Balance"]) == Decimal(bill["amount"]) - Decimal("500.00")
        assert source["Status"] == "Open"
        with integration.source.connector() as erp:
            open_items = {item.number: item for item in erp.open_invoices()}
        assert open_items[number].amount == Decimal(bill["amount"]) - Decimal("500.00")

    def test_payments_wait_on_hold_when_the_connection_says_so(self, integration, sandbox):
        integration.source.options = {**integration.source.options, "release_payments": HOLD_PAYMENTS}
        integration.source.save()
        run_integration(integration.pk)
        number = canonical.GOOD_INVOICES[0].number
        self.pay_in_bill(sandbox, number)
        run = run_integration(integration.pk)
        assert run.counters.get("payments_written_back") == 1, run.counters
        [check] = acumatica(sandbox)["checks"]
        assert (check["Status"], check["Hold"]) == ("On Hold", True)
        source = self.acumatica_bill(sandbox, number)
        assert (source["Status"], source["Balance"]) == ("Open", source["Amount"]), "not applied until released"
        record = SyncRecord.objects.get(integration=integration, object_type="payment")
        assert "on hold for review" in record.data["erp_reference"]

    def test_a_payment_voided_in_bill_is_voided_in_acumatica(self, integration, sandbox):
        run_integration(integration.pk)
        number = canonical.GOOD_INVOICES[1].number
        bill, payment_id = self.pay_in_bill(sandbox, number)
        run_integration(integration.pk)
        assert self.acumatica_bill(sandbox, number)["Status"] == "Closed"
        sandbox.control("bill/payment-status", {"paymentId": payment_id, "singleStatus": "VOIDED"})
        run = run_integration(integration.pk)
        assert run.counters.get("payments_reversed") == 1, run.counters
        checks = {c["Type"]: c for c in acumatica(sandbox)["checks"]}
        assert checks["Payment"]["Status"] == "Voided"
        assert (checks["Voided Payment"]["Status"], checks["Voided Payment"]["ReferenceNbr"]) == \
            ("Closed", checks["Payment"]["ReferenceNbr"])
        source = self.acumatica_bill(sandbox, number)
        assert (source["Status"], source["Balance"]) == ("Open", source["Amount"])
        assert sandbox.control("acumatica/canonical-state")["payments"][0]["status"] == "VOIDED"

    def test_a_payment_in_a_currency_other_than_the_bill_s_is_refused_not_converted(self, integration, sandbox,
                                                                                 monkeypatch):
        run_integration(integration.pk)
        number = canonical.GOOD_INVOICES[0].number
        self.pay_in_bill(sandbox, number)
        post = AcumaticaConnector.post_payment
        monkeypatch.setattr(AcumaticaConnector, "post_payment",
                            lambda self, reference, payment: post(self, reference, type(payment)(
                                **{**payment.__dict__, "currency": "EUR"})))
        run = run_integration(integration.pk)
        assert run.counters.get("payments_failed") == 1, run.counters
        record = SyncRecord.objects.get(integration=integration, object_type="payment")
        assert record.error_class == "data" and "is in EUR but bill" in record.error_detail
        assert acumatica(sandbox)["checks"] == []


def test_the_pair_runs_with_session_sign_in_too(tenant, sandbox):
    """The contract's pair runs with OAuth; a connection signing in with a session cookie runs as well."""
    from connectors.acumatica.system import SIGN_IN_COOKIE
    from tests.connectors.bill.conftest import make_bill_connection

    sandbox.control("acumatica/seed-canonical")
    ids = sandbox.control("bill/seed-canonical")
    integration = Integration.objects.create(
        tenant=tenant, name="Acumatica → BILL (session sign-in)",
        source=make_acumatica_connection(tenant, sandbox.url, sign_in=SIGN_IN_COOKIE),
        target=make_bill_connection(tenant, sandbox.url))
    MappingRule.objects.bulk_create(
        [MappingRule(integration=integration, kind=MappingRule.GL_ACCOUNT, source_code=code, target_id=target)
         for code, target in ids["gl_accounts"].items()])
    run = run_integration(integration.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    assert run.counters["bills_created"] == len(canonical.GOOD_INVOICES) + 1  # the unmapped account is mapped here
    state = acumatica(sandbox)
    assert (state["logins"], state["logouts"], state["open_sessions"]) == (1, 1, 0)
