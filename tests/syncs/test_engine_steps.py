"""What the engine does for every pair, shown on the fake pair: records findable by their own fields, records a person
ignored never sent, bills in a currency the AP account cannot pay refused in words, amounts in a reason written as
the finance pages write them, a read still failing after retries deferring the run."""

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.urls import reverse

from connectors.errors import TransientError
from syncs.engine import run_integration
from syncs.models import RecordStatus, RunStatus, SyncRecord
from tests.fakes import demo
from tests.fakes.fake_erp.connector import FakeErpConnector


def bill_record(integration, number):
    return SyncRecord.objects.get(integration=integration, object_type="bill", number=number)


def sent_numbers(fakes):
    return {bill["number"] for bill in fakes.ap().bills.values()}


def test_invoice_records_carry_number_supplier_amount_and_date(fake_demo):
    run_integration(fake_demo.pk)
    source = next(i for i in demo.invoices() if i.source_id == "INV-200002")
    supplier = next(s for s in demo.suppliers() if s.source_id == source.supplier_id)
    record = bill_record(fake_demo, "INV-200002")
    assert record.party == f"{supplier.source_id} {supplier.name}"
    assert record.amount == source.total
    assert record.currency == "USD"
    assert record.document_date == source.invoice_date
    vendor = SyncRecord.objects.get(integration=fake_demo, object_type="vendor", source_id=supplier.source_id)
    assert (vendor.number, vendor.party) == (supplier.source_id, f"{supplier.source_id} {supplier.name}")


def test_an_ignored_record_is_never_sent_even_when_everything_is_read_again(fake_demo, fakes):
    run_integration(fake_demo.pk)
    record = bill_record(fake_demo, demo.UNBALANCED_INVOICE)
    assert record.status == RecordStatus.FAILED
    record.status, record.note = RecordStatus.IGNORED, "The supplier sent this invoice twice."
    record.save()

    rerun = run_integration(fake_demo.pk, trigger="resync", since=datetime(2000, 1, 1, tzinfo=UTC))
    assert rerun.counters.get("bills_ignored") == 1
    record.refresh_from_db()
    assert (record.status, record.note) == (RecordStatus.IGNORED, "The supplier sent this invoice twice.")
    assert demo.UNBALANCED_INVOICE not in sent_numbers(fakes)


def test_an_invoice_whose_lines_do_not_add_up_gives_both_amounts_as_the_pages_show_money(fake_demo, client):
    run_integration(fake_demo.pk)
    record = bill_record(fake_demo, demo.UNBALANCED_INVOICE)
    said = "The lines add up to 3,925.88 USD but the invoice total is 4,025.88 USD"
    assert record.status == RecordStatus.FAILED and said in record.error_detail
    assert record.cause == "lines_do_not_add_up" and record.subject == "", "the cause and its subject stay as they were"

    client.force_login(get_user_model().objects.create_superuser("ops-reader", password="pw-0123456789"))
    html = client.get(reverse("status:records", args=[fake_demo.pk]), {"number": "200017"}).content.decode()
    assert said in html and "3925.88" not in html


def test_a_bill_in_a_currency_the_account_cannot_pay_fails_with_that_reason_and_nothing_is_converted(
        fake_demo, fakes):
    fakes.ap().currencies = frozenset({"EUR", "GBP"})
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL
    assert fakes.ap().bills == {}
    record = bill_record(fake_demo, "INV-200002")
    assert record.status == RecordStatus.FAILED and record.error_class == "data"
    assert ("The invoice is in USD, and the Fake AP account pays bills in EUR, GBP only; nothing is converted"
            in record.error_detail)

    fakes.ap().currencies = frozenset({"USD"})
    replay = run_integration(fake_demo.pk, trigger="replay")
    assert replay.counters["bills_created"] > 0
    assert bill_record(fake_demo, "INV-200002").status == RecordStatus.SYNCED


def test_a_read_that_still_fails_after_retries_defers_the_run_and_moves_no_cursor(fake_demo, monkeypatch):
    from syncs.models import Cursor

    def no_answer(self, since=None):
        raise TransientError("Fake ERP answered HTTP 503 to every retry.")
        yield  # a generator, as every connector's reads are: the failure comes when the step reads

    monkeypatch.setattr(FakeErpConnector, "suppliers", no_answer)
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.DEFERRED
    assert run.error.startswith("A remote system did not answer properly after retries")
    assert not Cursor.objects.filter(integration=fake_demo).exists()
    fake_demo.refresh_from_db()
    assert fake_demo.next_run_at > run.finished_at, "the next run waits out the outage"


def test_a_record_set_aside_stays_so_when_a_read_finds_it_unreadable(fake_demo):
    from syncs.engine import Sync

    run = run_integration(fake_demo.pk)
    record = SyncRecord.objects.create(integration=fake_demo, object_type="payment", source_id="stpX:00nX",
                                       status=RecordStatus.IGNORED, note="Paid by hand, outside BILL.")
    sync = Sync(fake_demo, run)
    sync.ledger.fail(record, "data", "BILL payment stpX: amount 'x' is not a number.", cause="unreadable_record")
    record.refresh_from_db()
    assert (record.status, record.note, record.error_detail) == (
        RecordStatus.IGNORED, "Paid by hand, outside BILL.", "")
    assert sync.counters == {"payments_ignored": 1} and sync.failures == 0
