"""A first run's reads do not wait for the writes before them: the invoices and payments are read from the run's start,
while the suppliers step makes vendors (engine.Sync.read_ahead), and the ERP is signed out while the last steps run
once none of them will call it (engine.Sync.sign_out_early). Threads have database connections of their own, so these
run on PostgreSQL: on the suite's in-memory SQLite database every step reads at its turn, as the other tests show."""

import threading

import pytest

from connectors.errors import ConfigurationError, DataError, TransientError
from syncs.engine import Ahead, run_integration
from syncs.models import ObjectType, RecordStatus, SyncRecord
from syncs.steps.documents import Documents
from tests.fakes.fake_ap.connector import FakeApConnector
from tests.fakes.fake_erp.connector import FakeErpConnector


def test_what_was_read_before_an_error_is_kept_and_the_error_raised_where_the_records_are_taken():
    def source():
        yield 1
        yield 2
        raise TransientError("the third page timed out")

    ahead = Ahead(source(), 10)
    assert (ahead.first, ahead.whole) == ([1, 2], False)
    with pytest.raises(TransientError, match="third page"):
        next(ahead.rest)
    assert Ahead(iter([1, 2]), 10).whole and not Ahead(iter([1, 2]), 2).whole


def meet_at(barrier, method):
    """`method`, whose first call waits at `barrier` for the others to reach theirs (a batch of records each)."""
    first = []

    def meeting(self, *args, **kwargs):
        if not first:
            first.append(True)
            barrier.wait()
        return method(self, *args, **kwargs)
    return meeting


def synced(integration, object_type):
    return SyncRecord.objects.filter(integration=integration, object_type=object_type,
                                     status=RecordStatus.SYNCED).count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_invoices_and_payments_are_read_while_the_vendors_are_made(fakes, fake_demo, monkeypatch):
    """Three calls meet at a barrier: read one after another, the vendors' create would wait alone and it would
    break."""
    meeting = threading.Barrier(3, timeout=10)
    invoices = FakeErpConnector.approved_invoices

    def invoices_meeting(self, *args, **kwargs):
        meeting.wait()
        yield from invoices(self, *args, **kwargs)

    payments = FakeApConnector.payments

    def payments_meeting(self, *args, **kwargs):
        meeting.wait()
        yield from payments(self, *args, **kwargs)

    monkeypatch.setattr(FakeErpConnector, "approved_invoices", invoices_meeting)
    monkeypatch.setattr(FakeApConnector, "payments", payments_meeting)
    monkeypatch.setattr(FakeApConnector, "create_vendors", meet_at(meeting, FakeApConnector.create_vendors))
    run = run_integration(fake_demo.pk)
    assert not meeting.broken, "the invoices or the payments were not read while the vendors were made"
    assert run.counters.get("bills_created") == len(fakes.ap().bills) == synced(fake_demo, ObjectType.BILL)
    assert run.counters.get("vendors_created") == len(fakes.ap().vendors)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_read_ahead_that_fails_stops_its_own_step_at_its_turn_and_not_the_steps_before(fakes, fake_demo,
                                                                                        monkeypatch):
    def invoices_failing(self, *args, **kwargs):
        raise ConfigurationError("Fake ERP: this user may not read invoices")
        yield

    monkeypatch.setattr(FakeErpConnector, "approved_invoices", invoices_failing)
    run = run_integration(fake_demo.pk)
    assert run.status == "failed" and "may not read invoices" in run.error
    assert run.counters.get("vendors_created") == len(fakes.ap().vendors) > 0, "the suppliers step ran first"
    assert not fakes.ap().bills


@pytest.fixture
def erp_only_reads(fake_demo, monkeypatch):
    """The fake pair with no step after the invoices that calls the ERP but the payments': the transfer marks off, and
    the documents step taken as one that calls it no more. Its invoices fit in a batch, so they are read ahead whole,
    as a BILL batch of 300 holds a small first run's."""
    fake_demo.options = {**fake_demo.options, "acknowledge_invoices": False}
    fake_demo.save()
    monkeypatch.setattr(Documents, "done_with_erp", classmethod(lambda cls, sync: True))
    monkeypatch.setattr(FakeApConnector, "batch_size", 100)
    closed = []
    close = FakeErpConnector.close

    def recorded_close(self):
        closed.append(threading.current_thread().name)
        return close(self)

    monkeypatch.setattr(FakeErpConnector, "close", recorded_close)
    return closed


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_erp_is_signed_out_while_the_bills_are_made_when_no_step_after_calls_it(fakes, fake_demo, erp_only_reads,
                                                                                      monkeypatch):
    meeting = threading.Barrier(2, timeout=10)
    close = FakeErpConnector.close
    monkeypatch.setattr(FakeErpConnector, "close", meet_at(meeting, close))
    monkeypatch.setattr(FakeApConnector, "create_bills", meet_at(meeting, FakeApConnector.create_bills))
    run = run_integration(fake_demo.pk)
    assert not meeting.broken, "the ERP was not signed out while the bills were made"
    assert run.counters.get("bills_created") == synced(fake_demo, ObjectType.BILL) > 0
    assert erp_only_reads[0] != "MainThread", "signed out on a thread of its own, while the bills were made"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_payments_to_write_back_the_erp_is_signed_out_after_them(fakes, fake_demo, erp_only_reads, monkeypatch):
    run_integration(fake_demo.pk)
    for bill_id in list(fakes.ap().bills)[:3]:
        fakes.ap().pay(bill_id)
    erp_only_reads.clear()
    written = []
    post = FakeErpConnector.post_payment

    def recorded_post(self, invoice_reference, payment):
        written.append(len(erp_only_reads))
        return post(self, invoice_reference, payment)

    monkeypatch.setattr(FakeErpConnector, "post_payment", recorded_post)
    run = run_integration(fake_demo.pk)
    assert run.counters.get("payments_written_back") == 3
    assert written == [0, 0, 0], "a payment was written after the ERP was signed out"
    assert erp_only_reads == ["MainThread"], "signed out once, at the run's end"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_invoices_images_are_looked_up_while_their_bills_are_made(fakes, fake_demo, monkeypatch):
    """Documents.ahead_of_bills: the look-up meets the bills' create at a barrier; a look-up that fails fails that
    bill's images alone, at its turn, as the look-up made there would."""
    invoices = list(fakes.erp().invoices.values())
    for invoice in invoices:
        fakes.erp().documents[invoice.source_id] = [(f"{invoice.invoice_number}.pdf", b"%PDF-1.4 image")]
    unreadable = invoices[1].source_id
    meeting = threading.Barrier(2, timeout=10)
    look_up = FakeErpConnector.invoice_documents
    looked_up = []

    def looking_up(self, reference):
        looked_up.append(threading.current_thread().name)
        if reference.get("id") == unreadable:
            raise DataError("Fake ERP: this invoice's image cannot be read")
        return look_up(self, reference)

    sent = []
    create = FakeApConnector.create_bills

    def creating(self, items):
        sent.extend(items)
        return create(self, items)

    monkeypatch.setattr(FakeErpConnector, "invoice_documents", meet_at(meeting, looking_up))
    monkeypatch.setattr(FakeApConnector, "create_bills", meet_at(meeting, creating))
    run = run_integration(fake_demo.pk)
    assert not meeting.broken, "the images were not looked up while the bills were made"
    bills = synced(fake_demo, ObjectType.BILL)
    assert run.counters.get("documents_done") == bills - 1 == len(fakes.ap().attachments)
    assert run.counters.get("documents_failed") == 1
    assert len(looked_up) == len(sent), "each invoice sent looked up once, ahead of its bill, and not again"


def test_every_step_with_a_source_says_what_it_reads():
    """The rule that keeps a read ahead from running before the writes it depends on needs each source to say what it
    reads, and a step writing it to say so."""
    from syncs.steps import STEPS
    from syncs.steps.base import Step

    with_source = [step for step in STEPS if step.source.__func__ is not Step.source.__func__]
    assert with_source and all(step.source_reads for step in with_source)
    written = {what for step in STEPS for what in step.writes}
    assert "erp:suppliers" in written and "erp:invoices" in written


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_suppliers_are_not_read_ahead_of_the_vendor_edits_written_back_to_them(fakes, fake_demo, monkeypatch):
    """The fake pair's plan writes vendor edits to the ERP's suppliers first: the suppliers are read at their turn,
    after those writes; the invoices and payments, which no step before writes, are read ahead."""
    from syncs import engine

    seen = {}
    read_ahead = engine.Sync.read_ahead

    def recorded(self, steps):
        read_ahead(self, steps)
        seen["ahead"] = sorted(step.__name__ for step in self.ahead)
        seen["plan"] = [step.__name__ for step in self.steps]

    monkeypatch.setattr(engine.Sync, "read_ahead", recorded)
    run_integration(fake_demo.pk)
    assert seen["plan"][:2] == ["VendorEdits", "Suppliers"]
    assert seen["ahead"] == ["Invoices", "Payments"]
