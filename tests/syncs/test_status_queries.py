"""Every status and ops page costs the same number of queries however many records, runs and audit entries
there are: the pages aggregate in the database and show bounded slices. (Timing is measured by
bench/bench_pages.py, never asserted here.)"""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal import audit
from syncs.models import RecordStatus, RunStatus, SyncRecord, SyncRun
from tests.syncs.test_status_pages import invoice, world


def grow(w, n, start):
    """n more invoices (some failed with distinct reasons, some paid), runs, and audit entries for each."""
    for k in range(start, start + n):
        number = 1000 + k
        failed = k % 3 == 0
        record = invoice(w.mine, number, RecordStatus.FAILED if failed else RecordStatus.SYNCED,
                         error_class="data" if failed else "",
                         error_detail=f"The lines add up to {k}.00 USD but the invoice total is {k + 1}.00 USD."
                         if failed else "")
        if not failed and k % 2:
            SyncRecord.objects.create(integration=w.mine, object_type="payment",
                                      source_id=f"PAY-{k}:{record.target_id}", target_id=f"PAY-{k}",
                                      status=RecordStatus.SYNCED, amount=record.amount, currency="USD")
        SyncRun.objects.create(integration=w.mine, trigger="schedule", status=RunStatus.PARTIAL,
                               counters={"bills_created": 1, "api_calls": 3})
        for action in ("sync.bill.created", "sync.bill.failed"):
            audit.record(action, actor="system:sync", tenant=w.acme, object_type="syncs.SyncRecord",
                         object_id=record.pk, message="x")


def pages(w):
    return {
        "dashboard": (w.finance, reverse("status:home")),
        "records": (w.finance, reverse("status:records", args=[w.mine.pk])),
        "search": (w.finance, reverse("status:records", args=[w.mine.pk]) + "?number=INV-1&supplier=acme"),
        "failed": (w.finance, reverse("status:records", args=[w.mine.pk]) + "?status=failed"),
        "lineage": (w.finance, reverse("status:record", args=[w.bills[0].pk])),
        "tie-out": (w.finance, reverse("status:tieout", args=[w.mine.pk])),
        "work queue": (w.admin, reverse("admin:syncs_syncrecord_workqueue")),
        "integration": (w.admin, reverse("admin:syncs_integration_change", args=[w.mine.pk])),
        "sync records": (w.admin, reverse("admin:syncs_syncrecord_changelist")),
        "mapping rules": (w.admin, reverse("admin:syncs_mappingrule_changelist")),
        "audit trail": (w.admin, reverse("admin:portal_auditentry_changelist")),
        "metrics": (w.admin, "/metrics"),
    }


def count_queries(client, user, url):
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries)


@pytest.mark.django_db
def test_queries_per_page_do_not_grow_with_the_data(client):
    w = world()
    w.admin = get_user_model().objects.create_superuser("root", password="pw-0123456789")
    grow(w, 3, 0)
    for user, url in pages(w).values():  # warm the per-process caches (content types, sessions)
        count_queries(client, user, url)
    small = {name: count_queries(client, user, url) for name, (user, url) in pages(w).items()}
    grow(w, 40, 3)
    large = {name: count_queries(client, user, url) for name, (user, url) in pages(w).items()}
    assert large == small
