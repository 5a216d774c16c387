"""What Infor is told when a payment is undone in the AP platform: why (an ACH return's NACHA code in words, a void's
reason), the day and the payment's reference, not a bare trace number. Over the simulators, Infor → AvidXchange and
Infor → BILL."""

import pytest
from django_q.conf import Conf

from connectors.models import Connection
from portal.models import AuditEntry
from sandbox.avidxchange import demo
from sandbox.avidxchange import simulator as avid_sandbox
from syncs.engine import run_integration
from syncs.models import Integration, RecordStatus, SyncRecord
from syncs.templatetags.status import day
from tests.syncs.test_pairs import infor_to_avidxchange
from webhooks.models import WebhookEvent
from webhooks.tasks import process_event


@pytest.fixture
def integration(tenant, sandbox, monkeypatch):
    """Infor → AvidXchange on the canonical seed, every code mapped, its invoices sent."""
    monkeypatch.setattr(Conf, "SYNC", True)
    integration = infor_to_avidxchange(tenant, sandbox, every_account=True)
    run_integration(integration.pk)
    return integration


def bill_id(integration, number):
    return SyncRecord.objects.get(integration=integration, object_type="bill", status=RecordStatus.SYNCED,
                                  source_ref__startswith=f"{number} ").target_id


def paid_in_infor(integration, sandbox, number, method="ACH"):
    """A payment of the invoice settled in AvidXchange and written to Infor as paid."""
    payment = sandbox.control("avidxchange/pay", {"Invoices": [{"InvoiceId": bill_id(integration, number)}],
                                                   "Method": method})
    run_integration(integration.pk)
    assert infor_row(sandbox, payment["Id"])["PYST"] == "PAID"
    sandbox.control("clock", {"advance_seconds": 86400})  # undone the next day
    return payment


def infor_row(sandbox, payment_id):
    return next(p for p in sandbox.simulators["infor"].payments.values() if p["PYID"] == payment_id)


@pytest.mark.parametrize(("given", "why"), [
    ({"ReturnCode": "R01"}, "Returned by the bank: R01 Insufficient funds"),
    ({"ReturnCode": "R03", "ReturnReason": "ignored: NACHA's words are used"},
     "Returned by the bank: R03 No account/unable to locate account"),
    ({}, "Returned by the bank, no reason given"),
    ({"ReturnCode": "R98"}, "Returned by the bank: R98 (code not in the NACHA list)"),
    ({"ReturnCode": "R99", "ReturnReason": "Receiver's bank merged"},
     "Returned by the bank: R99 Receiver's bank merged (code not in the NACHA list)"),
    ({"ReturnReason": "Beneficiary name mismatch"}, "Returned by the bank: Beneficiary name mismatch"),
])
def test_a_return_is_written_to_infor_with_its_reason_day_and_trace_number(integration, sandbox, given, why):
    payment = paid_in_infor(integration, sandbox, "INV-1001")
    returned = sandbox.control("avidxchange/payment-status", {"PaymentId": payment["Id"], "Status": "Returned",
                                                               **given})
    assert run_integration(integration.pk).counters.get("payments_reversed") == 1
    expected = f"{why}, {day(returned['ModifiedDate'])}, payment {payment['AchTraceNumber']}"
    row = infor_row(sandbox, payment["Id"])
    assert (row["PYST"], row["RVTX"]) == ("VOIDED", expected)
    share = SyncRecord.objects.get(integration=integration, object_type="payment", target_id=payment["Id"])
    assert (share.status, share.data["reason"]) == (RecordStatus.UNDONE, expected)
    entry = AuditEntry.objects.get(action="sync.payment.written_back", object_id=str(share.pk),
                                   message__startswith="Payment reversed")
    assert entry.message.startswith(f"Payment reversed ({expected}): ")


@pytest.mark.parametrize(("status", "method", "reference", "what"), [
    ("Voided", "ACH", "AchTraceNumber", "Voided, no reason given"),
    ("Escheated", "Check", "CheckNumber", "Escheated: the uncashed check was turned over to the state"),
])
def test_a_void_or_escheat_is_written_in_words_with_its_day_and_reference(integration, sandbox, status, method,
                                                                         reference, what):
    payment = paid_in_infor(integration, sandbox, "INV-1002", method=method)
    undone = sandbox.control("avidxchange/payment-status", {"PaymentId": payment["Id"], "Status": status})
    assert run_integration(integration.pk).counters.get("payments_reversed") == 1
    assert infor_row(sandbox, payment["Id"])["RVTX"] == \
        f"{what}, {day(undone['ModifiedDate'])}, payment {payment[reference]}"


@pytest.mark.parametrize("malformed", [12, "insufficient funds", "R1", ["R01"]])
def test_a_malformed_return_code_fails_that_payment_alone(integration, sandbox, malformed):
    bad = paid_in_infor(integration, sandbox, "INV-1001")
    good = paid_in_infor(integration, sandbox, "INV-1002")
    for payment in (bad, good):
        sandbox.control("avidxchange/payment-status", {"PaymentId": payment["Id"], "Status": "Returned",
                                                        "ReturnCode": "R02"})
    # What AvidXchange might send: the simulator itself only gives codes of the documented form.
    sandbox.simulators["avidxchange"].companies[avid_sandbox.COMPANY_ID]["payments"][bad["Id"]]["ReturnCode"] = \
        malformed

    run = run_integration(integration.pk)
    assert run.counters.get("payments_reversed") == 1
    assert infor_row(sandbox, good["Id"])["RVTX"].startswith("Returned by the bank: R02 Account closed, ")
    assert (infor_row(sandbox, bad["Id"])["PYST"], infor_row(sandbox, bad["Id"])["RVTX"]) == ("PAID", ""), \
        "nothing is written for the payment that does not parse"
    failed = SyncRecord.objects.get(integration=integration, object_type="payment", source_id=bad["Id"])
    assert (failed.status, failed.error_class) == (RecordStatus.FAILED, "data")
    assert f"AvidXchange payment {bad['Id']}: ReturnCode" in failed.error_detail
    assert "is not an ACH return reason code" in failed.error_detail


def test_a_bill_void_is_written_to_infor_with_bills_reason_and_day(tenant, sandbox, monkeypatch):
    from tests.syncs.test_undone_payments import pair

    monkeypatch.setattr(Conf, "SYNC", True)
    integration = pair(tenant, sandbox, "infor", "bill")
    run_integration(integration.pk)
    bill = SyncRecord.objects.filter(integration=integration, object_type="bill", status=RecordStatus.SYNCED).first()
    payment = sandbox.control("bill/pay", {"billId": bill.target_id})
    run_integration(integration.pk)
    sandbox.control("clock", {"advance_seconds": 86400})
    voided = sandbox.control("bill/payment-status", {"paymentId": payment["id"], "singleStatus": "VOIDED",
                                                      "voidReason": "Duplicate payment"})
    assert run_integration(integration.pk).counters.get("payments_reversed") == 1
    assert infor_row(sandbox, payment["id"])["RVTX"] == \
        f"Voided: Duplicate payment, {day(voided['voidInfo'][-1]['createdTime'])}, " \
        f"payment {payment['transactionNumber']}"


def test_a_bill_void_seen_by_webhook_is_written_with_its_reason(live_server, sandbox, settings, transactional_db,
                                                                tenant):
    """A payment.updated event carries no voidInfo: the payment is read again for the reason."""
    from tests.syncs.test_undone_payments import pair
    from webhooks.subscriptions import subscribe

    settings.PUBLIC_URL = live_server.url
    integration = pair(tenant, sandbox, "infor", "bill")
    subscribe(integration.target, "test")
    run_integration(integration.pk)
    sandbox.control("bill/deliver")  # the bill.created backlog (not subscribed)
    bill = SyncRecord.objects.filter(integration=integration, object_type="bill", status=RecordStatus.SYNCED).first()

    def delivered():
        assert sandbox.control("bill/deliver")["failed"] == 0
        for pk in WebhookEvent.objects.filter(status=WebhookEvent.RECEIVED).order_by("pk").values_list("pk", flat=True):
            process_event(pk)

    payment = sandbox.control("bill/pay", {"billId": bill.target_id})
    delivered()
    assert infor_row(sandbox, payment["id"])["PYST"] == "PAID"
    voided = sandbox.control("bill/payment-status", {"paymentId": payment["id"], "singleStatus": "VOIDED",
                                                      "voidReason": "Paid to the wrong bank account"})
    delivered()
    assert infor_row(sandbox, payment["id"])["RVTX"] == \
        f"Voided: Paid to the wrong bank account, {day(voided['voidInfo'][-1]['createdTime'])}, " \
        f"payment {payment['transactionNumber']}"


def test_the_demos_returned_payment_reaches_infor_as_r01_insufficient_funds(tenant, sandbox, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)
    demo.seed(sandbox.url)
    ends = {}
    for system, spec in (("infor", demo.partner_connection(sandbox.url)),
                         ("avidxchange", demo.connection(sandbox.url))):
        ends[system] = Connection(tenant=tenant, system=system, name=system, base_url=spec["base_url"],
                                  options=spec["options"])
        ends[system].set_credentials(spec["credentials"])
        ends[system].save()
    integration = Integration.objects.create(tenant=tenant, name=demo.INTEGRATION, source=ends["infor"],
                                             target=ends["avidxchange"])
    run_integration(integration.pk)
    demo.pay(sandbox.url)
    run_integration(integration.pk)
    sandbox.control("clock", {"advance_seconds": 301})
    sandbox.simulators["avidxchange"].tick()  # the background loop's turn: the bank returns one
    assert run_integration(integration.pk).counters.get("payments_reversed") == 1
    [returned] = [p for p in sandbox.simulators["infor"].tenants[demo.INFOR_TENANT].payments.values()
                  if p["PYST"] == "VOIDED"]
    assert returned["RVTX"].startswith("Returned by the bank: R01 Insufficient funds, ")
