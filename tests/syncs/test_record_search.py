"""The finance records search: an invoice number is found by any part of it, and the dashboard's links narrow the list
to what changed since a day. On PostgreSQL the number search is served by a trigram index."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from syncs.models import SyncRecord
from syncs.views import RecordSearch
from tests.syncs.test_status_pages import invoice, page, world


@pytest.fixture
def w(db):
    w = world()
    w.wanted = invoice(w.mine, 200010)
    return w


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
                    status=SyncRecord.SYNCED) for integration in (w.mine, w.theirs) for n in range(3000)])
    with connection.cursor() as cursor:  # what autovacuum does in time: GIN's pending entries merged, statistics
        cursor.execute("SELECT gin_clean_pending_list('record_number_trgm')")
        cursor.execute("ANALYZE syncs_syncrecord")
    form = RecordSearch({"number": "0002718"})
    assert form.is_valid()
    found = form.filter(SyncRecord.objects.filter(integration=w.mine)).order_by("-updated_at", "-pk")[:51]
    assert [r.number for r in found] == ["INV-0002718"]
    plan = found.explain()
    assert "record_number_trgm" in plan, plan
