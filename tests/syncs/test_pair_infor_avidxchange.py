"""Infor → AvidXchange as a whole integration: what this pair adds to the pair contract (test_pairs.py) — payees
on hold in AvidXchange, payments returned after they were written to Infor, invoice images from IDM, code lists."""

import base64
import hashlib

import pytest
from django_q.conf import Conf

from connectors import canonical
from connectors.infor import idm
from syncs import operations, reasons
from syncs.engine import run_integration
from syncs.models import RecordStatus, RunStatus, SyncRecord
from syncs.templatetags.status import day
from tests.connectors.contracts.base import make_connection
from tests.syncs.test_pairs import infor_to_avidxchange

SUMMIT = "V1002"  # Summit Freight: INV-1002 and INV-1009 are good invoices of it
PDF = b"%PDF-1.4 invoice INV-1001\n" * 500


@pytest.fixture
def integration(tenant, sandbox, monkeypatch):
    """Both simulators loaded with the canonical seed, every code mapped but the unmapped account, and the Infor
    connection reading invoice images from IDM."""
    monkeypatch.setattr(Conf, "SYNC", True)
    source = make_connection("infor", tenant, sandbox)
    source.options = {**source.options, "document_store": idm.DOCUMENT_STORE}
    source.save()
    integration = infor_to_avidxchange(tenant, sandbox, source=source)
    sandbox.control("infor/seed", {"documents": [{"SUNO": "V1001", "SINO": "INV-1001", "filename": "INV-1001.pdf",
                                                  "content_base64": base64.b64encode(PDF).decode()}]})
    return integration


def avid(sandbox):
    from sandbox.avidxchange import simulator as avid_sandbox

    return sandbox.simulators["avidxchange"].state()["companies"][avid_sandbox.COMPANY_ID]


def bill_of(integration, number):
    return SyncRecord.objects.get(integration=integration, object_type="bill", source_ref__startswith=f"{number} ")


def infor_payments(sandbox):
    return {p["PYID"]: p for p in sandbox.simulators["infor"].payments.values()}


def test_an_invoice_of_a_payee_on_hold_fails_in_words_and_goes_through_on_replay(integration, sandbox,
                                                                                 django_capture_on_commit_callbacks):
    """A payee AvidXchange holds inactive (vendor enrolment) is found and kept, its invoices refused with the reason;
    once it is active again, a replay sends them."""
    sandbox.control("avidxchange/seed", {"payees": [{
        "ExternalId": SUMMIT, "Name": "Summit Freight LLC", "Status": "Inactive",
        "Address": {"Line1": "233 S Wacker Dr", "City": "Chicago", "State": "IL", "PostalCode": "60606",
                   "Country": "US"}}]})
    run = run_integration(integration.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    assert SyncRecord.objects.get(integration=integration, object_type="vendor", source_id=SUMMIT).status == \
        RecordStatus.SYNCED, "the payee is matched, not made twice"
    payee = next(p["Id"] for p in avid(sandbox)["payees"] if p["ExternalId"] == SUMMIT)
    for number in ("INV-1002", "INV-1009"):
        record = bill_of(integration, number)
        assert (record.status, record.error_class) == (RecordStatus.FAILED, "data")
        assert record.error_detail == (f"Supplier {SUMMIT}'s payee is inactive in AvidXchange (payee {payee}, Summit "
                                       "Freight LLC): activate it there, then retry."), "one sentence, supplier first"
        assert (record.cause, record.subject) == ("payee_inactive", SUMMIT)
        assert reasons.advice(record.cause).ops.startswith(
            "Have the payee activated in the AP platform"), "the fix is in AvidXchange, not in the ERP"

    sandbox.control("avidxchange/payee-status", {"ExternalId": SUMMIT, "Status": "Active"})
    with django_capture_on_commit_callbacks(execute=True):
        operations.replay_failed(integration, "ops")
    for number in ("INV-1002", "INV-1009"):
        assert bill_of(integration, number).status == RecordStatus.SYNCED
    assert sorted(i["InvoiceNumber"] for i in avid(sandbox)["invoices"] if i["PayeeId"] ==
                  next(p["Id"] for p in avid(sandbox)["payees"] if p["ExternalId"] == SUMMIT)) == ["INV-1002",
                                                                                                  "INV-1009"]


@pytest.mark.parametrize("seed", [4, 8])
def test_a_returned_payment_is_reversed_in_infor_once_with_its_reason(integration, sandbox, seed):
    run_integration(integration.pk)
    bill = bill_of(integration, "INV-1001")
    payment = sandbox.control("avidxchange/pay", {"Invoices": [{"InvoiceId": bill.target_id}], "Method": "ACH"})
    assert run_integration(integration.pk).counters.get("payments_written_back") == 1
    assert infor_payments(sandbox)[payment["Id"]]["PYST"] == "PAID"

    sandbox.control("clock", {"advance_seconds": 60})
    returned = sandbox.control("avidxchange/payment-status", {"PaymentId": payment["Id"], "Status": "Returned",
                                                              "ReturnCode": "R01"})
    sandbox.control("faults", {"system": "infor", "seed": seed, "error_rate": 0.3, "timeout_rate": 0.1,
                               "timeout_seconds": 0.2, "rate_limit_rate": 0.1})
    reversed_ = 0
    for _ in range(3):  # the share that failed for a passing reason is read again by the next run
        reversed_ += run_integration(integration.pk).counters.get("payments_reversed", 0)
    sandbox.control("faults", {"system": "infor"})
    reversed_ += run_integration(integration.pk).counters.get("payments_reversed", 0)
    assert reversed_ == 1
    row = infor_payments(sandbox)[payment["Id"]]
    assert (row["PYST"], row["RVTX"]) == ("VOIDED", f"Returned by the bank: R01 Insufficient funds, "
                                                    f"{day(returned['ModifiedDate'])}, "
                                                    f"payment {payment['AchTraceNumber']}")
    assert [h["PYST"] for h in row["history"]] == ["PAID", "VOIDED"], "paid once, reversed once"
    share = SyncRecord.objects.get(integration=integration, object_type="payment",
                                   source_id=f"{payment['Id']}:{bill.target_id}")
    assert (share.status, share.data["posted"]) == (RecordStatus.UNDONE, "VOIDED")


def test_invoice_images_travel_from_idm_to_avidxchange(integration, sandbox):
    run = run_integration(integration.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    bill = bill_of(integration, "INV-1001")
    [attached] = avid(sandbox)["attachments"][bill.target_id]
    assert (attached["FileName"], attached["Size"], attached["Sha256"]) == ("INV-1001.pdf", len(PDF),
                                                                            hashlib.sha256(PDF).hexdigest())
    assert bill.follow_ups.get(kind="documents").detail == [{"name": "INV-1001.pdf", "id": attached["Id"]}]
    assert bill_of(integration, "INV-1002").follow_ups.get(kind="documents").detail == [], "sent without an image"
    run_integration(integration.pk)
    assert len(avid(sandbox)["attachments"][bill.target_id]) == 1, "attached once"


def test_infor_codes_become_code_lists_and_a_blocked_account_is_deactivated_not_deleted(integration, sandbox):
    run_integration(integration.pk)
    held = avid(sandbox)["codes"]
    assert {c["Code"] for c in held["GlAccount"]} == {a.code for a in canonical.GL_ACCOUNTS}
    assert {c["Code"] for c in held["Department"]} == {d.code for d in canonical.DEPARTMENTS}
    sandbox.control("infor/seed", {"accounts": [{"AITP": "1", "AITM": "6400", "TX40": "Janitorial", "LCCD": "1"}]})
    run_integration(integration.pk)
    janitorial = [c for c in avid(sandbox)["codes"]["GlAccount"] if c["Code"] == "6400"]
    assert [(c["IsActive"], c["Name"]) for c in janitorial] == [(False, "Janitorial")]
