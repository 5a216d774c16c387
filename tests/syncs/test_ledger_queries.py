"""The database work of a run grows with the records it reads, never with the ledger it writes to: the same queries,
each by an index, over 1,000 and over 100,000 rows already in the ledger (issue 24)."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors.cursors import TIMESTAMP
from syncs.engine import run_integration
from syncs.models import Cursor, FollowUpKind, RecordStatus, SyncRecord, SyncRun, VendorOwner

LEDGER = "syncs_syncrecord"


def prefill(integration, start, stop):
    """Rows of records read long ago, synced, of both kinds the run writes (bulk, in the test's own time); their
    follow-ups settled by a pass an hour ago, as on a ledger that has been running."""
    SyncRecord.objects.bulk_create(
        (SyncRecord(integration=integration, object_type="bill" if n % 2 else "vendor", source_id=f"OLD-{n:06d}",
                    source_ref=f"OLD-{n:06d}", target_id=f"old-{n}", number=f"OLD-{n:06d}", status=RecordStatus.SYNCED,
                    source_hash="0" * 64, data={"marker": "2020-01-01T00:00:00+00:00"})
         for n in range(start, stop)), batch_size=5_000)
    long_ago = timezone.now() - timedelta(days=30)
    SyncRecord.objects.filter(integration=integration, source_id__startswith="OLD-").update(updated_at=long_ago)
    for kind in FollowUpKind.values:
        Cursor.objects.update_or_create(integration=integration, stream=kind, defaults={
            "value": TIMESTAMP.render(timezone.now() - timedelta(hours=1))})


def first_run(integration):
    """A first run of the demo, its queries captured (this thread's: the heartbeat's own are not the run's work)."""
    with CaptureQueriesContext(connection) as captured:
        run = run_integration(integration.pk)
    assert run.status == "partial", run.error
    return [q["sql"] for q in captured.captured_queries]


def forget_the_run(integration, fakes):
    """Back to before the first run, the old rows kept: its rows, owners, cursors and runs gone, the AP book empty."""
    SyncRecord.objects.filter(integration=integration).exclude(source_id__startswith="OLD-").delete()
    VendorOwner.objects.filter(integration=integration).delete()
    Cursor.objects.filter(integration=integration).exclude(stream__in=FollowUpKind.values).delete()
    SyncRun.objects.filter(integration=integration).delete()
    fakes.ap().vendors.clear()
    fakes.ap().bills.clear()


def reads_it_all(step, sql):
    """Whether a step of a query plan reads the whole ledger, an integration's whole part of it, or all its synced
    rows (its failed ones are read on purpose: as many as are failing, not as the ledger has grown)."""
    return LEDGER in step and (step.startswith("SCAN") or step.endswith("(integration_id=?)") or (
        step.endswith("(integration_id=? AND status=?)") and "'synced'" in sql))


def scans_of_the_ledger(sqls):
    """The queries SQLite answers by reading the whole ledger, or the whole of one integration's part of it."""
    found = []
    with connection.cursor() as cursor:
        for sql in sqls:
            if LEDGER not in sql or not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = [row[-1] for row in cursor.fetchall()]
            if any(reads_it_all(step, sql) for step in plan):
                found.append((sql[:200], plan))
    return found


def test_queries_per_record_are_the_same_at_1k_and_at_100k_ledger_rows(fake_demo, fakes):
    prefill(fake_demo, 0, 1_000)
    first_run(fake_demo)  # what an integration does once in its life (its lease made, its rules first checked)
    forget_the_run(fake_demo, fakes)
    small = first_run(fake_demo)
    forget_the_run(fake_demo, fakes)
    prefill(fake_demo, 1_000, 100_000)
    assert SyncRecord.objects.filter(integration=fake_demo).count() == 100_000
    big = first_run(fake_demo)
    assert len(big) == len(small), "no query per record more at 100k rows than at 1k"
    if connection.vendor == "sqlite":
        # SQLite's plans say what each query reads; PostgreSQL's planner picks a scan on whatever is cheapest at the
        # moment, so only the count of queries is compared there.
        assert scans_of_the_ledger(big) == []
