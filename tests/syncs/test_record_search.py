"""The finance records search: an invoice number is found by any part of it, an amount as the pages show it, and the
dashboard's links narrow the list to what changed since a day; a search that cannot be read says which field and what
it expects, and lists nothing. On PostgreSQL the number search is served by a trigram index."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from syncs.models import RecordStatus, SyncRecord
from syncs.views import RecordSearch
from tests.syncs.test_status_pages import invoice, page, world


@pytest.fixture
def w(db):
    w = world()
    w.wanted = invoice(w.mine, 200010)
    return w


def records(client, w, **params):
    return page(client, w.finance, reverse("status:records", args=[w.mine.pk]), **params)


@pytest.mark.parametrize("typed", ["6,538.60", "6538.6", "6,538.60 USD", " 6,538.60 usd ", "6538.60USD"])
def test_an_amount_is_found_as_the_pages_show_it(client, w, typed):
    invoice(w.mine, 77, amount="6538.60")
    invoice(w.mine, 78, amount="6538.61")
    html = records(client, w, amount=typed)
    assert "INV-77<" in html and "INV-78<" not in html and "INV-1<" not in html


def test_an_amount_with_a_currency_finds_only_that_currency(client, w):
    invoice(w.mine, 77, amount="6538.60")
    invoice(w.mine, 78, amount="6538.60", currency="EUR")
    html = records(client, w, amount="6,538.60 EUR")
    assert "INV-78<" in html and "INV-77<" not in html


@pytest.mark.parametrize("params, said", [
    ({"amount": "abc"}, "Amount: enter an amount as the pages show it, such as 6,538.60 or 6,538.60 USD"),
    ({"amount": "6,53"}, "Amount: enter an amount as the pages show it"),
    ({"amount": "6538.605"}, "Amount: enter an amount as the pages show it"),
    ({"date_from": "notadate"}, "Dated from: enter a date such as 2026-03-03"),
    ({"date_to": "2026-02-30"}, "Dated to: enter a date such as 2026-03-03"),
    ({"changed_from": "yesterday"}, "Changed since: enter a date such as 2026-03-03"),
    ({"date_from": "2026-03-05", "date_to": "2026-03-01"},
     "Dated from: 5 Mar 2026 is after the to-date, 1 Mar 2026; give a from-date on or before it"),
    ({"status": "paid"}, "Status: choose one of the listed values"),
])
def test_a_search_that_cannot_be_read_names_the_field_and_what_it_expects_and_is_not_run(client, w, params, said):
    html = records(client, w, number="INV", **params)
    assert said in html
    assert "No record matches." not in html, "no answer pretends the search was run"
    assert "The search was not run" in html
    assert "INV-1<" not in html and "INV-200010<" not in html


def test_a_date_as_the_pages_show_it_is_read_too(client, w):
    html = records(client, w, date_from="3 Mar 2026", date_to="3 Mar 2026")
    assert "INV-2<" in html and "INV-1<" not in html and "INV-3<" not in html


@pytest.mark.parametrize("typed", ["200010", "inv-2000", " 0010 ", "INV-200010"])
def test_an_invoice_number_is_found_by_any_part_of_it(client, w, typed):
    html = page(client, w.finance, reverse("status:records", args=[w.mine.pk]), number=typed)
    assert "INV-200010<" in html and "INV-2<" not in html


def test_a_number_nobody_has_finds_nothing_and_another_tenant_s_rows_stay_out(client, w):
    invoice(w.theirs, 200011)
    assert "No record matches." in page(client, w.finance, reverse("status:records", args=[w.mine.pk]), number="999")
    html = page(client, w.finance, reverse("status:records", args=[w.mine.pk]), number="20001")
    assert "INV-200010<" in html and "INV-200011" not in html


def test_changed_since_leaves_out_what_changed_before_that_day(client, w):
    SyncRecord.objects.filter(pk=w.bills[1].pk).update(updated_at=timezone.now() - timedelta(days=8))
    since = (timezone.localtime() - timedelta(days=1)).date().isoformat()
    html = page(client, w.finance, reverse("status:records", args=[w.mine.pk]), changed_from=since)
    assert "INV-1<" in html and "INV-2<" not in html


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_the_number_search_uses_the_trigram_index():
    w = world()
    SyncRecord.objects.bulk_create(
        [SyncRecord(integration=integration, object_type="bill", source_id=f"B/{n}", number=f"INV-{n:07d}",
                    status=RecordStatus.SYNCED) for integration in (w.mine, w.theirs) for n in range(3000)])
    with connection.cursor() as cursor:  # what autovacuum does in time: GIN's pending entries merged, statistics
        cursor.execute("SELECT gin_clean_pending_list('record_number_trgm')")
        cursor.execute("ANALYZE syncs_syncrecord")
    form = RecordSearch({"number": "0002718"})
    assert form.is_valid()
    found = form.filter(SyncRecord.objects.filter(integration=w.mine)).order_by("-updated_at", "-pk")[:51]
    assert [r.number for r in found] == ["INV-0002718"]
    plan = found.explain()
    assert "record_number_trgm" in plan, plan
