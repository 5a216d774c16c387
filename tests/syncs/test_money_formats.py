"""Money and dates one way on every finance page, in the tie-out command and in every message that names an amount:
"6,538.60 USD", "3 Mar 2026"; and an amount typed back as the pages show it is read."""

import types
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from syncs import tieout, views
from syncs.models import RecordStatus, SyncRecord
from syncs.templatetags.status import amounts, day, figure, moment, money
from tests.syncs.test_status_pages import invoice, page, world

D = Decimal


@pytest.mark.parametrize("amount, currency, said", [
    (D("6538.6"), "USD", "6,538.60 USD"),
    (D("1234567.891"), "EUR", "1,234,567.89 EUR"),
    ("80", "CAD", "80.00 CAD"),
    (D("-12.5"), "USD", "-12.50 USD"),
    (D("1004"), "", "1,004.00 (no currency)"),
    (None, "USD", "—"),
])
def test_money_has_separators_two_decimals_and_its_currency(amount, currency, said):
    assert money(amount, currency) == said


def test_pages_and_messages_share_the_one_money_format():
    """The engine and the connectors write their messages with the function the pages use (a lower floor's, which
    every floor may import), so a reason reads as the page around it."""
    from connectors import values
    from syncs.templatetags import status as filters

    assert filters.money is values.money


@pytest.mark.parametrize("typed, read", [
    ("6,538.60", (D("6538.60"), "")),
    ("6538.6", (D("6538.6"), "")),
    (" 6,538.60 usd ", (D("6538.60"), "USD")),
    ("1,234,567.89 EUR", (D("1234567.89"), "EUR")),
    ("-12.50USD", (D("-12.50"), "USD")),
])
def test_an_amount_typed_as_the_pages_show_it_is_read(typed, read):
    from connectors.values import typed_amount

    assert typed_amount(typed) == read


@pytest.mark.parametrize("typed", ["abc", "", "6,53", "65,38.60", "6538.605", "6,538.60 US", "USD 6538.60", "1e3",
                                   "12345678901234567"])
def test_what_is_no_amount_is_not_read_as_one(typed):
    from connectors.values import typed_amount

    assert typed_amount(typed) is None


def test_amounts_and_figures_keep_currencies_apart():
    assert amounts({"USD": D("12345"), "EUR": D("80")}) == "80.00 EUR · 12,345.00 USD"
    assert figure({"count": 2, "amounts": {"USD": D("7143.19")}}) == "2 · 7,143.19 USD"
    assert figure({"count": 0, "amounts": {}}) == "0"


def test_dates_read_one_way_whatever_they_come_as(monkeypatch):
    assert day(date(2026, 3, 3)) == day("2026-03-03") == day(datetime(2026, 3, 3, 23, 0, tzinfo=UTC)) == "3 Mar 2026"
    assert day(None) == day("") == "—"
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 5, 10, 12, 0, tzinfo=UTC))
    assert moment(datetime(2026, 5, 10, 9, 5, tzinfo=UTC)) == "09:05 today"
    assert moment(datetime(2026, 5, 9, 16, 5, tzinfo=UTC)) == "yesterday 16:05"
    assert moment(datetime(2026, 3, 3, 10, 42, tzinfo=UTC)) == "3 Mar 2026 10:42", "the year, as on every date"


@pytest.fixture
def w(db):
    w = world()
    w.big = invoice(w.mine, 77, amount="6538.60", document_date=date(2026, 3, 3))
    return w


def test_records_page_shows_money_and_dates_one_way(client, w):
    html = page(client, w.finance, reverse("status:records", args=[w.mine.pk]), number="INV-77")
    assert "6,538.60 USD" in html and "3 Mar 2026" in html
    assert "6538.60" not in html


def test_dashboard_amounts_have_thousands_separators(client, w):
    html = page(client, w.finance, reverse("status:home"))
    assert "4 · 6,846.10 USD" in html  # 101.50 + 102.50 + 103.50 + 6,538.60, today and this week


def test_lineage_shows_the_payment_date_and_amount_one_way(client, w):
    SyncRecord.objects.filter(pk=w.payment.pk).update(amount=D("3676.33"), data={**w.payment.data, "amount": "3676.33"})
    html = page(client, w.finance, reverse("status:record", args=[w.bills[0].pk]))
    assert "Paid on 20 Mar 2026" in html and "3,676.33 USD" in html
    assert "Dated 2 Mar 2026" in html
    assert "Paid on 2026-03-20" not in html


def test_the_tie_out_page_and_command_print_amounts_the_same_way(client, w, monkeypatch):
    result = tieout.TieOut("ERP", "AP", rows=[
        tieout.Difference(tieout.AMOUNT_DIFFERS, "INV-2", "S1 Acme Paper", D("6538.60"), D("6000"), "USD", None)],
        erp_count=1, erp_totals={"USD": D("6538.60")}, ap_count=2, ap_totals={"": D("1004"), "USD": D("6000")})
    monkeypatch.setattr(views, "tieout", types.SimpleNamespace(report=lambda integration: result))
    client.force_login(w.finance)
    client.post(reverse("status:tieout", args=[w.mine.pk]))
    html = page(client, w.finance, reverse("status:tieout", args=[w.mine.pk]))
    for said in ("6,538.60 USD", "6,000.00 USD", "1,004.00 (no currency) · 6,000.00 USD"):
        assert said in html, said

    from syncs.management.commands import tieout as command

    monkeypatch.setattr(command, "report", lambda integration: result)
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("tieout", str(w.mine.pk), stdout=out)
    text = out.getvalue()
    assert "1 open in ERP (6,538.60 USD), 2 open in AP (1,004.00 (no currency) · 6,000.00 USD)" in text
    assert "amount differs: INV-2 (S1 Acme Paper) 6,538.60 USD / 6,000.00 USD" in text


def test_a_payment_s_audit_entry_says_money_and_date_as_the_pages_do(db, tenant, monkeypatch):
    """The entry is shown on the invoice's page, so it is written in the same words."""
    from connectors.records import Payment
    from portal.models import AuditEntry
    from syncs import payments
    from tests.syncs.test_status_pages import make_integration

    integration = make_integration(tenant)
    invoice(integration, 5)
    monkeypatch.setattr(payments, "writes_payments_back", lambda integration: False)
    paid = Payment("PAY-9", ("00n000000000005",), D("6538.6"), "USD", "CLEARED", True,
                   process_date=date(2026, 3, 3), updated_at=(timezone.now() - timedelta(minutes=1)).isoformat())
    payments.apply_payment(integration, paid)
    [entry] = AuditEntry.objects.filter(action="sync.payment.written_back")
    assert entry.message.startswith("Paid: 6,538.60 USD, dated 3 Mar 2026, seen by polling")


def test_the_work_queue_shows_money_as_the_finance_pages_do(admin_client, w):
    from syncs import workqueue

    invoice(w.mine, 88, RecordStatus.FAILED, amount="4041.07", error_class="data", cause="lines_do_not_add_up",
            error_detail="The lines add up to 3,941.07 USD but the invoice total is 4,041.07 USD.")
    group = next(g for g in workqueue.groups()[0] if g.cause == "lines_do_not_add_up")
    html = admin_client.get(reverse("admin:syncs_syncrecord_group", args=[group.key])).content.decode()
    assert "<td>4,041.07 USD</td>" in html and "4041.07" not in html
    listed = admin_client.get(reverse("admin:syncs_syncrecord_changelist")).content.decode()
    assert "4,041.07 USD" in listed and "4041.07" not in listed
