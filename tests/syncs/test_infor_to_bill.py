"""Infor → BILL end to end, over real HTTP against both simulators: what the two systems' own behaviour decides
(Infor's fields on BILL's bills, payments posted to Infor, both APIs' faults), and the currencies a BILL connection
lists. What the engine does for any pair is shown on the fake pair (tests/syncs/test_engine_steps.py)."""

from collections import Counter
from decimal import Decimal

import pytest

from portal.models import AuditEntry
from sandbox.bill import simulator as bill_sandbox
from sandbox.infor import demo
from syncs import operations
from syncs.engine import run_integration
from syncs.models import MappingRule, RecordStatus, RunStatus, SyncRecord, SyncRun

DATA = demo.infor_data()
INVOICES = {inv["SINO"]: inv for inv in DATA["invoices"]}


def bill_org(sandbox):
    return sandbox.state("bill")["organizations"][bill_sandbox.ORG_ID]


def expected_failures():
    no_tax = {n for n, inv in INVOICES.items() if inv["SUNO"] == demo.SUPPLIER_WITHOUT_TAX_ID}
    return no_tax | {demo.UNBALANCED_INVOICE, demo.UNMAPPED_INVOICE}


def assert_bills_match_infor(sandbox, numbers):
    org = bill_org(sandbox)
    accounts = {a["id"]: a["account"]["number"] for a in org["chart-of-accounts"]}
    bills = org["bills"]
    counts = Counter(b["invoice"]["invoiceNumber"] for b in bills)
    assert [n for n, c in counts.items() if c > 1] == [], "duplicate bills"
    assert set(counts) == numbers
    vendors = {v["id"]: v["shortName"] for v in org["vendors"]}
    for bill in bills:
        source = INVOICES[bill["invoice"]["invoiceNumber"]]
        assert vendors[bill["vendorId"]] == source["SUNO"]
        assert Decimal(str(bill["amount"])) == Decimal(source["CUAM"])
        lines = sorted(source["lines"], key=lambda line: line["LINO"])
        assert [Decimal(str(line["amount"])) for line in bill["billLineItems"]] == \
            [Decimal(line["LNAM"]) for line in lines]
        assert [accounts[line["classifications"]["chartOfAccountId"]] for line in bill["billLineItems"]] == \
            [line["AIT1"] for line in lines]
        assert bill["dueDate"] == f"{source['DUDT'][:4]}-{source['DUDT'][4:6]}-{source['DUDT'][6:]}"


def test_infor_to_bill_end_to_end(infor_to_bill, sandbox, django_capture_on_commit_callbacks):
    run = run_integration(infor_to_bill.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    failures = expected_failures()
    assert_bills_match_infor(sandbox, set(INVOICES) - failures)
    assert len(bill_org(sandbox)["vendors"]) == demo.SUPPLIERS - 1
    assert run.counters["bills_created"] == len(INVOICES) - len(failures)

    failed = {r.source_ref.split(" ")[0]: r for r in SyncRecord.objects.filter(object_type="bill", status="failed")}
    assert set(failed) == failures
    assert "GL account 6999 is not mapped to a BILL account" in failed[demo.UNMAPPED_INVOICE].error_detail
    assert failed[demo.UNMAPPED_INVOICE].error_class == "mapping"
    assert "The lines add up to" in failed[demo.UNBALANCED_INVOICE].error_detail
    no_tax_invoice = next(n for n in failures if INVOICES[n]["SUNO"] == demo.SUPPLIER_WITHOUT_TAX_ID)
    assert "has no tax ID" in failed[no_tax_invoice].error_detail
    vendor = SyncRecord.objects.get(object_type="vendor", source_id=demo.SUPPLIER_WITHOUT_TAX_ID)
    assert vendor.status == "failed" and "has no tax ID" in vendor.error_detail

    # Fix the causes: propose and confirm the missing GL mapping; add the tax id in Infor. Then replay.
    result = operations.load_reference_data(infor_to_bill, "ops")
    assert result["proposed"] == 1
    MappingRule.objects.filter(integration=infor_to_bill, source_code=demo.UNMAPPED_ACCOUNT).update(confirmed=True)
    sandbox.control("infor/update-supplier", {"SUNO": demo.SUPPLIER_WITHOUT_TAX_ID, "TINO": "55-5555555"})
    with django_capture_on_commit_callbacks(execute=True):
        assert operations.replay_failed(infor_to_bill, "ops") == len(failures) + 1
    replay = SyncRun.objects.filter(trigger="replay").get()
    assert replay.status == RunStatus.PARTIAL
    assert_bills_match_infor(sandbox, set(INVOICES) - {demo.UNBALANCED_INVOICE})
    assert list(SyncRecord.objects.filter(status="failed").values_list("source_ref", flat=True)) == \
        [f"{demo.UNBALANCED_INVOICE} ({INVOICES[demo.UNBALANCED_INVOICE]['SUNO']})"]

    # Pay some bills in BILL; the next run posts each payment to Infor exactly once.
    paid = sorted(bill_org(sandbox)["bills"], key=lambda b: b["invoice"]["invoiceNumber"])[:5]
    for bill in paid:
        sandbox.control("bill/pay", {"billId": bill["id"]})
    run = run_integration(infor_to_bill.pk)
    assert run.counters.get("payments_written_back") == 5
    infor = sandbox.state("infor")
    assert len(infor["payments"]) == 5
    by_number = {inv["SINO"]: inv for inv in infor["invoices"]}
    for bill in paid:
        invoice = by_number[bill["invoice"]["invoiceNumber"]]
        assert invoice["PYST"] == "PAID" and Decimal(invoice["PAAM"]) == Decimal(str(bill["amount"]))

    # Each payment row is found like its invoice: number, supplier, amount and currency.
    shares = SyncRecord.objects.filter(object_type="payment", status=RecordStatus.SYNCED)
    amounts = {b["invoice"]["invoiceNumber"]: Decimal(str(b["amount"])) for b in paid}
    assert {(s.number, s.amount, s.currency) for s in shares} == {(n, a, "USD") for n, a in amounts.items()}
    assert all(s.party for s in shares)
    said = AuditEntry.objects.filter(action="sync.payment.written_back").values_list("message", flat=True)
    assert len(said) == 5 and all(m.startswith("Paid: ") and "seen by polling the AP platform" in m for m in said)
    written = dict(shares.values_list("pk", "updated_at"))

    # Run again: nothing created, nothing re-sent, and the payment rows left as they were.
    before = (len(bill_org(sandbox)["bills"]), len(bill_org(sandbox)["vendors"]))
    run = run_integration(infor_to_bill.pk)
    assert dict(shares.values_list("pk", "updated_at")) == written, "a re-read of a known payment changes no row"
    assert run.counters.get("bills_created", 0) == 0 and run.counters.get("vendors_created", 0) == 0
    assert run.counters.get("payments_written_back", 0) == 0
    assert (len(bill_org(sandbox)["bills"]), len(bill_org(sandbox)["vendors"])) == before
    assert len(sandbox.state("infor")["payments"]) == 5


def test_voided_payment_updates_what_was_written(infor_to_bill, sandbox):
    run_integration(infor_to_bill.pk)
    bill = bill_org(sandbox)["bills"][0]
    payment = sandbox.control("bill/pay", {"billId": bill["id"]})
    run_integration(infor_to_bill.pk)
    sandbox.control("bill/payment-status", {"paymentId": payment["id"], "singleStatus": "VOIDED"})
    run = run_integration(infor_to_bill.pk)
    assert run.counters.get("payments_reversed") == 1
    infor = sandbox.state("infor")
    assert [p["PYST"] for p in infor["payments"]] == ["VOIDED"]
    invoice = next(i for i in infor["invoices"] if i["SINO"] == bill["invoice"]["invoiceNumber"])
    assert invoice["PYST"] == "OPEN"


# Committed, as a deployment's rows are: a run that lasts beyond half a beat has its lease renewed by its heartbeat
# thread, whose own connection sees only committed rows.
@pytest.mark.django_db(transaction=True)
def test_expiring_tokens_429s_and_5xx_on_both_sides_do_not_stop_the_run(infor_to_bill, sandbox):
    # BILL's sessions expire often enough that some surely do over its few dozen calls, whichever calls the
    # simulators' shared dice fall on as the threads interleave.
    for system, expiry in (("infor", 0.03), ("bill", 0.15)):
        sandbox.control("faults", {"system": system, "seed": 3, "session_expiry_rate": expiry,
                                   "rate_limit_rate": 0.08, "error_rate": 0.03})
    first = run_integration(infor_to_bill.pk)
    assert first.status == RunStatus.PARTIAL, first.error
    transient = SyncRecord.objects.filter(status="failed", error_class__in=["transient", "rate_limit"]).count()
    sandbox.control("faults", {"system": "infor"})
    sandbox.control("faults", {"system": "bill"})
    second = run_integration(infor_to_bill.pk)
    assert second.status == RunStatus.PARTIAL, second.error
    assert not SyncRecord.objects.filter(status="failed", error_class__in=["transient", "rate_limit"]).exists(), \
        f"{transient} transient failures were not retried"
    assert_bills_match_infor(sandbox, set(INVOICES) - expected_failures())
    assert sandbox.state("infor")["logins"] >= 1 and sandbox.state("bill")["logins"] > 1



def test_a_bill_connection_pays_bills_in_the_currencies_it_lists_and_in_usd_unless_it_says(integration):
    """What the engine refuses to send is shown on the fake pair; which currencies BILL pays is the connection's."""
    bill = integration.target
    assert bill.connector().payable_currencies() == {"USD"}
    bill.options = {**bill.options, "currencies": "eur, GBP ,"}
    assert bill.connector().payable_currencies() == {"EUR", "GBP"}
