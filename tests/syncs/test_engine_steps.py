"""What the engine does for every pair, shown on Infor → BILL: records findable by their own fields,
records a person ignored never sent, bills in a currency the AP account cannot pay refused in words, and amounts in a
reason written as the finance pages write them."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from sandbox.infor import demo
from syncs.engine import run_integration
from syncs.models import Integration, RecordStatus, RunStatus, SyncRecord
from tests.syncs.test_infor_to_bill import INVOICES, bill_org


@pytest.fixture
def integration(sandbox, db, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=open("/dev/null", "w"))
    return Integration.objects.get(name="Infor → BILL")


def bill_record(integration, number):
    return SyncRecord.objects.get(integration=integration, object_type="bill", number=number)


def test_invoice_records_carry_number_supplier_amount_and_date(integration):
    run_integration(integration.pk)
    source = INVOICES["INV-200002"]
    record = bill_record(integration, "INV-200002")
    supplier = next(s for s in demo.infor_data()["suppliers"] if s["SUNO"] == source["SUNO"])
    assert record.party == f"{source['SUNO']} {supplier['SUNM']}"
    assert record.amount == Decimal(source["CUAM"])
    assert record.currency == "USD"
    assert record.document_date.strftime("%Y%m%d") == source["IVDT"]
    vendor = SyncRecord.objects.get(integration=integration, object_type="vendor", source_id=source["SUNO"])
    assert (vendor.number, vendor.party) == (source["SUNO"], f"{source['SUNO']} {supplier['SUNM']}")


def test_an_ignored_record_is_never_sent_even_when_everything_is_read_again(integration, sandbox):
    run_integration(integration.pk)
    record = bill_record(integration, demo.UNBALANCED_INVOICE)
    assert record.status == RecordStatus.FAILED
    record.status, record.note = RecordStatus.IGNORED, "The supplier sent this invoice twice."
    record.save()

    rerun = run_integration(integration.pk, trigger="resync", since=datetime(2000, 1, 1, tzinfo=UTC))
    assert rerun.counters.get("bills_ignored") == 1
    record.refresh_from_db()
    assert (record.status, record.note) == (RecordStatus.IGNORED, "The supplier sent this invoice twice.")
    assert demo.UNBALANCED_INVOICE not in {b["invoice"]["invoiceNumber"] for b in bill_org(sandbox)["bills"]}


def test_an_invoice_whose_lines_do_not_add_up_gives_both_amounts_as_the_pages_show_money(integration, client):
    run_integration(integration.pk)
    record = bill_record(integration, demo.UNBALANCED_INVOICE)
    said = "The lines add up to 3,580.24 USD but the invoice total is 3,680.24 USD"
    assert record.status == RecordStatus.FAILED and said in record.error_detail
    assert record.cause == "lines_do_not_add_up" and record.subject == "", "the cause and its subject stay as they were"

    client.force_login(get_user_model().objects.create_superuser("ops-reader", password="pw-0123456789"))
    html = client.get(reverse("status:records", args=[integration.pk]), {"number": "200017"}).content.decode()
    assert said in html and "3580.24" not in html


def test_a_bill_in_a_currency_the_account_cannot_pay_fails_with_that_reason_and_nothing_is_converted(
        integration, sandbox):
    bill = integration.target
    bill.options = {**bill.options, "currencies": "EUR, GBP"}
    bill.save()
    run = run_integration(integration.pk)
    assert run.status == RunStatus.PARTIAL
    assert bill_org(sandbox)["bills"] == []
    record = bill_record(integration, "INV-200002")
    assert record.status == RecordStatus.FAILED and record.error_class == "data"
    assert ("The invoice is in USD, and the BILL account pays bills in EUR, GBP only; nothing is converted"
            in record.error_detail)

    bill.options = {**bill.options, "currencies": "USD"}
    bill.save()
    replay = run_integration(integration.pk, trigger="replay")
    assert replay.counters["bills_created"] > 0
    assert bill_record(integration, "INV-200002").status == RecordStatus.SYNCED


def test_a_read_that_still_fails_after_retries_defers_the_run_and_moves_no_cursor(integration, sandbox):
    from syncs.models import Cursor
    from tests.syncs.test_infor_to_bill import control

    control(sandbox, "faults", {"system": "infor", "error_rate": 1})
    run = run_integration(integration.pk)
    assert run.status == RunStatus.DEFERRED
    assert run.error.startswith("A remote system did not answer properly after retries")
    assert not Cursor.objects.filter(integration=integration).exists()
    integration.refresh_from_db()
    assert integration.next_run_at > run.finished_at, "the next run waits out the outage"


def test_a_record_set_aside_stays_so_when_a_read_finds_it_unreadable(integration):
    from syncs.engine import Sync

    run = run_integration(integration.pk)
    record = SyncRecord.objects.create(integration=integration, object_type="payment", source_id="stpX:00nX",
                                       status=RecordStatus.IGNORED, note="Paid by hand, outside BILL.")
    sync = Sync(integration, run)
    sync.ledger.fail(record, "data", "BILL payment stpX: amount 'x' is not a number.", cause="unreadable_record")
    record.refresh_from_db()
    assert (record.status, record.note, record.error_detail) == (
        RecordStatus.IGNORED, "Paid by hand, outside BILL.", "")
    assert sync.counters == {"payments_ignored": 1} and sync.failures == 0
