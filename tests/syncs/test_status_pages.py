"""The finance pages: dashboard, record search, one invoice's lineage, the tie-out; each tenant sees only its own."""

import types
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection
from portal import audit
from portal.models import Membership, Tenant
from syncs import views
from syncs.models import Integration, RecordStatus, RunStatus, SyncRecord, SyncRun
from syncs.plan import describe


def make_integration(tenant, name="ERP → AP"):
    erp = Connection.objects.create(tenant=tenant, system="infor", name=f"{tenant.slug} ERP")
    ap = Connection.objects.create(tenant=tenant, system="bill", name=f"{tenant.slug} AP",
                                   base_url="https://ap.invalid/connect")
    return Integration.objects.create(tenant=tenant, name=name, source=erp, target=ap, interval_minutes=15)


def make_user(tenant, username, role=Membership.FINANCE):
    user = get_user_model().objects.create_user(username, password="pw-0123456789")
    Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def invoice(integration, n, status=RecordStatus.SYNCED, amount="100.00", supplier="S1 Acme Paper", **fields):
    defaults = {"source_ref": f"INV-{n} (S1)", "number": f"INV-{n}", "party": supplier,
                "amount": Decimal(amount), "currency": "USD",
                "document_date": date(2026, 3, 1) + timedelta(days=n % 20),
                "target_id": f"00n{n:012d}" if status == RecordStatus.SYNCED else ""}
    defaults.update(fields)
    return SyncRecord.objects.create(integration=integration, object_type="bill", source_id=f"AAA/{n}", status=status,
                                     **defaults)


def world(records=3):
    """Two tenants; the first with an integration, a completed run, invoices (one failed), a payment and its
    audit trail."""
    acme = Tenant.objects.create(name="Acme Corp", slug="acme")
    other = Tenant.objects.create(name="Other Co", slug="other")
    mine, theirs = make_integration(acme), make_integration(other, "Their flow")
    run = SyncRun.objects.create(integration=mine, trigger="schedule", status=RunStatus.SUCCEEDED,
                                 finished_at=timezone.now(), counters={"bills_created": records})
    SyncRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=2))
    bills = [invoice(mine, n, amount=f"{100 + n}.50") for n in range(1, records + 1)]
    failed = invoice(mine, 900, RecordStatus.FAILED, amount="75.00", supplier="S2 Harbor Freight",
                     error_class="mapping",
                     error_detail="GL account 6999 is not mapped to a BILL account.")
    paid = bills[0]
    payment = SyncRecord.objects.create(
        integration=mine, object_type="payment", source_id=f"PAY-1:{paid.target_id}", source_ref=f"PAY-1 for {paid}",
        target_id="PAY-1", status=RecordStatus.SYNCED, amount=paid.amount, currency="USD",
        data={"posted": "PAID", "amount": str(paid.amount), "date": "2026-03-20",
              "erp_reference": "Payment recorded on invoice INV-1"})
    for record, action, message in ((paid, "sync.bill.created", "Created BILL bill"),
                                    (payment, "sync.payment.written_back", "PAID 101.50 USD on 2026-03-20 (poll)")):
        audit.record(action, actor="system:sync", tenant=acme, object_type="syncs.SyncRecord", object_id=record.pk,
                     source_ref=record.source_ref, target_id=record.target_id, message=message)
    invoice(theirs, 1, amount="999.00")
    return types.SimpleNamespace(acme=acme, other=other, mine=mine, theirs=theirs, bills=bills, failed=failed,
                                 payment=payment, finance=make_user(acme, "fiona"), outsider=make_user(other, "otto"))


@pytest.fixture
def w(db):
    return world()


def page(client, user, url, **params):
    client.force_login(user)
    response = client.get(url, params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_dashboard_says_how_fresh_what_moved_and_draws_the_month(client, w):
    html = page(client, w.finance, reverse("status:home"))
    assert "Up to date as of" in html and "today" in html
    assert describe(w.mine) in html, "the plan in words"
    assert "Their flow" not in html
    assert "<svg" in html and 'class="synced"' in html and 'class="failed"' in html
    # Three bills and one payment today, with their amounts (101.50 + 102.50 + 103.50).
    assert "307.50 USD" in html and "101.50 USD" in html
    assert "1 record could not be sent" in html
    assert "Not up to date" not in html
    assert "busiest day: 5" in html, "three bills, a payment and the record that failed, all today"


def test_an_empty_month_names_no_busiest_day():
    from syncs.status import Day, chart

    empty = chart([Day(timezone.localdate())])
    assert empty["top"] == 0 and all(bar["synced_h"] == 0 for bar in empty["bars"])


def test_dashboard_warns_when_no_run_completed_for_three_intervals(client, w):
    SyncRun.objects.update(finished_at=timezone.now() - timedelta(minutes=50))
    SyncRun.objects.update(started_at=timezone.now() - timedelta(minutes=50))
    html = page(client, w.finance, reverse("status:home"))
    assert "Not up to date: no run has completed for 3 intervals" in html


def test_a_search_that_does_not_read_shows_its_error_and_no_rows_and_any_page_number_answers(client, w):
    url = reverse("status:records", args=[w.mine.pk])
    html = page(client, w.finance, url, amount="abc")
    assert "INV-1<" not in html and "INV-2<" not in html, "an unread search lists nothing, not everything"
    assert "Amount: enter an amount as the pages show it" in html
    null = page(client, w.finance, url, supplier="a\x00b")
    assert "Null characters are not allowed." in null and "allowed.." not in null, "one full stop"
    assert client.get(url, {"page": "99999999999999999999"}).status_code == 200
    past = page(client, w.finance, url, page="999")
    assert "No record on page 999: the records end before it." in past and "No record matches." not in past


@pytest.mark.parametrize("params, found, not_found", [
    ({"number": "INV-2"}, ["INV-2"], ["INV-1<", "INV-3<"]),
    ({"supplier": "harbor"}, ["INV-900"], ["INV-1<"]),
    ({"amount": "103.50"}, ["INV-3"], ["INV-1<", "INV-2<"]),
    ({"date_from": "2026-03-03", "date_to": "2026-03-03"}, ["INV-2"], ["INV-1<", "INV-3<"]),
])
def test_records_are_found_by_number_supplier_amount_and_date(client, w, params, found, not_found):
    html = page(client, w.finance, reverse("status:records", args=[w.mine.pk]), **params)
    for text in found:
        assert f"{text}<" in html
    for text in not_found:
        assert text not in html


def test_a_failed_record_says_why_and_what_to_do_in_words(client, w):
    SyncRecord.objects.filter(pk=w.bills[1].pk).update(
        status=RecordStatus.FAILED, error_class="transient",
        error_detail="TransientError: BILL did not answer properly: {'response_data': {'error_code': 'BDC_1145'}}\n"
                     "Traceback (most recent call last):\n  File \"x.py\"")
    html = page(client, w.finance, reverse("status:records", args=[w.mine.pk]), status="failed")
    assert "A code on it has no match in the AP platform." in html
    assert "GL account 6999 is not mapped to a BILL account." in html
    assert "What to do: Ask your operations team to map the code" in html
    assert "Nothing: it is retried automatically." in html
    assert "Traceback" not in html and "TransientError" not in html and "response_data" not in html


def test_lineage_goes_from_invoice_to_bill_to_payment_to_write_back(client, w):
    vendor = SyncRecord.objects.create(integration=w.mine, object_type="vendor", source_id="S1", source_ref="S1",
                                       party="S1 Acme Paper", target_id="00901VENDOR0001", status=RecordStatus.SYNCED)
    audit.record("sync.vendor.created", actor="system:sync", tenant=w.acme, obj=vendor, message="Created vendor S1")
    SyncRecord.objects.filter(pk=w.bills[0].pk).update(data={"supplier": "S1"})
    html = page(client, w.finance, reverse("status:record", args=[w.bills[0].pk]))
    assert html.index("Supplier in") < html.index("Invoice in") < html.index("Bill in") < html.index(
        "Payment PAY-1") < html.index("Written back")
    assert "00901VENDOR0001" in html and "Created vendor S1" in html
    assert w.bills[0].target_id in html and "Payment recorded on invoice INV-1" in html
    assert "Created BILL bill" in html and "PAID 101.50 USD on 2026-03-20" in html
    # From the payment's side, the same chain.
    assert "Invoice INV-1" in page(client, w.finance, reverse("status:record", args=[w.payment.pk]))


def test_a_reversed_payment_says_reversed_not_paid(client, w):
    SyncRecord.objects.filter(pk=w.payment.pk).update(data={**w.payment.data, "posted": "VOIDED", "status": "Returned"})
    html = page(client, w.finance, reverse("status:record", args=[w.bills[0].pk]))
    assert "Reversed" in html and "Paid on" not in html


def test_a_superuser_reads_every_tenant_and_staff_only_their_own(client, w):
    root = get_user_model().objects.create_superuser("root", password="pw-0123456789")
    html = page(client, root, reverse("status:home"))
    assert "Their flow" in html and w.mine.name in html
    page(client, root, reverse("status:records", args=[w.theirs.pk]))
    staff = get_user_model().objects.create_user("stan", password="pw-0123456789", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("status:records", args=[w.theirs.pk])).status_code == 404


def test_another_tenants_pages_answer_404(client, w):
    client.force_login(w.outsider)
    for url in (reverse("status:records", args=[w.mine.pk]), reverse("status:record", args=[w.bills[0].pk]),
                reverse("status:tieout", args=[w.mine.pk])):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("status:tieout", args=[w.mine.pk])).status_code == 404


def fake_tieout(calls):
    from syncs import tieout

    def report(integration):
        calls.append(integration.pk)
        return tieout.TieOut("ERP", "AP", rows=[
            tieout.Difference(tieout.MISSING, "INV-900", "S2 Harbor Freight", Decimal("75.00"), None, "USD", None),
            tieout.Difference(tieout.AMOUNT_DIFFERS, "INV-2", "S1 Acme Paper", Decimal("102.50"), Decimal("100.00"),
                              "USD", 42)],
            erp_count=3, erp_totals={"EUR": Decimal("80.00"), "USD": Decimal("200.50")}, ap_count=2,
            ap_totals={"USD": Decimal("203.50")}, matched=1)

    return types.SimpleNamespace(report=report)


def test_tieout_runs_when_asked_and_lists_every_difference(client, w, monkeypatch):
    calls = []
    monkeypatch.setattr(views, "tieout", fake_tieout(calls))
    url = reverse("status:tieout", args=[w.mine.pk])
    assert "Run the tie-out" in page(client, w.finance, url)
    page(client, w.finance, reverse("status:home"))
    assert calls == [], "neither the dashboard nor opening the page reads the remote systems"
    client.post(url)
    html = page(client, w.finance, url)
    assert calls == [w.mine.pk]
    assert "Missing in the AP platform: 1" in html and "Amount differs: 1" in html
    assert "80.00 EUR · 200.50 USD" in html and "203.50 USD" in html and "102.50 USD" in html
    assert reverse("status:record", args=[42]) in html


def test_tieout_that_cannot_read_a_side_says_so(client, w, monkeypatch):
    from syncs import tieout

    monkeypatch.setattr(views, "tieout", types.SimpleNamespace(
        report=lambda integration: tieout.TieOut("ERP", "AP", error="The open items could not be read: timed out")))
    client.force_login(w.finance)
    client.post(reverse("status:tieout", args=[w.mine.pk]))
    html = page(client, w.finance, reverse("status:tieout", args=[w.mine.pk]))
    assert "The open items could not be read: timed out" in html
    assert "Every open item matches" not in html
