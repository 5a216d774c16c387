"""How fast the status and ops pages answer with a big ledger and a big audit trail, on PostgreSQL.

Creates its own database (dropped first if it exists), migrates it, fills it in SQL (100,000 sync records,
1,000,000 audit entries, two months of runs every 15 minutes, webhook events), then requests every page through
Django's test client (the whole request: middleware, views, queries, templates; no network) and prints, per page,
the median and slowest of the timed requests and the number of queries. One JSON object at the end.

    .venv/bin/python bench/bench_pages.py                      # postgres://postgres@127.0.0.1:5432/mlc_bench_pages
    .venv/bin/python bench/bench_pages.py --records 20000 --audit 200000 --repeat 5
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL, without the database name")
    parser.add_argument("--database", default="mlc_bench_pages")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10, help="timed requests per page (after two warm-ups)")
    parser.add_argument("--keep", action="store_true", help="reuse the database if it is already filled")
    return parser.parse_args()


def recreate(server, database):
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


FILL = """
-- Ledger: 80 per cent bills, 10 vendors, 10 payment shares; 3 failed with 40 distinct reasons (a few causes,
-- the amounts differing per record as they do), one in 200 set aside, one bill in 250 whose images were refused
-- for good (5 sizes). Each bill names the vendor row of its ten. Spread over 60 days.
INSERT INTO syncs_syncrecord (integration_id, object_type, source_id, source_ref, target_id, number, party, amount,
    currency, document_date, status, note, source_hash, attempts, error_class, cause, subject, error_detail, data,
    created_at, updated_at)
SELECT %(big)s,
       CASE WHEN n %% 10 = 0 THEN 'vendor' WHEN n %% 10 = 1 THEN 'payment' ELSE 'bill' END,
       CASE WHEN n %% 10 = 1 THEN 'PAY' || n || ':00n' || lpad((n - 1)::text, 12, '0')
            WHEN n %% 10 = 0 THEN 'S' || n ELSE 'AAA/' || n END,
       'INV-' || (200000 + n) || ' (S' || (10000 + n %% 3000) || ')',
       CASE WHEN n %% 33 = 7 THEN '' WHEN n %% 10 = 1 THEN 'PAY' || n ELSE '00n' || lpad(n::text, 12, '0') END,
       'INV-' || (200000 + n), 'S' || (10000 + n %% 3000) || ' Supplier ' || (n %% 3000),
       ((n * 7919) %% 500000) / 100.0 + 20, 'USD', DATE '2026-01-01' + (n %% 300),
       CASE WHEN n %% 33 = 7 THEN 'failed' WHEN n %% 200 = 3 THEN 'ignored' ELSE 'synced' END,
       CASE WHEN n %% 200 = 3 THEN 'duplicate: the supplier sent it twice' ELSE '' END,
       md5(n::text), 1,
       CASE WHEN n %% 33 = 7 THEN (ARRAY['mapping', 'data', 'transient'])[1 + n %% 3] ELSE '' END,
       CASE WHEN n %% 33 = 7 THEN (ARRAY['gl_unmapped', 'lines_do_not_add_up', 'no_answer'])[1 + n %% 3] ELSE '' END,
       CASE WHEN n %% 33 = 7 AND n %% 3 = 0 THEN '6999' ELSE '' END,
       CASE WHEN n %% 33 = 7 THEN
         (ARRAY['GL account 6999 is not mapped to a BILL account.',
                'The lines add up to ' || (n %% 13) || '.00 USD but the invoice total is '
                  || (n %% 13 + 1) || '.00 USD.',
                'BILL did not answer properly after retries: HTTP 503'])[1 + n %% 3]
       ELSE '' END,
       CASE WHEN n %% 10 IN (0, 1) THEN '{"marker": "2026-01-01T00:00:00+00:00"}'::jsonb
            ELSE jsonb_build_object('marker', '2026-01-01T00:00:00+00:00', 'supplier', 'S' || (n - n %% 10)) END,
       now() - ((n %% 60) || ' days')::interval - ((n %% 1440) || ' minutes')::interval,
       now() - ((n %% 60) || ' days')::interval - ((n %% 1440) || ' minutes')::interval
FROM generate_series(1, %(records)s) AS n;

-- The bills (one in 250) whose invoice images were refused for good.
INSERT INTO syncs_followup (record_id, kind, state, done_at, detail, error, cause, updated_at)
SELECT id, 'documents', 'refused', NULL, '[]'::jsonb,
       'Invoice image ' || number || '.pdf is ' || (26 + split_part(source_id, '/', 2)::int %% 5)
         || '.0 MB; AvidXchange takes invoice images of at most 25.0 MB.', '', updated_at
FROM syncs_syncrecord
WHERE integration_id = %(big)s AND source_id LIKE 'AAA/%%' AND split_part(source_id, '/', 2)::int %% 250 = 5;

INSERT INTO syncs_syncrecord (integration_id, object_type, source_id, source_ref, target_id, number, party, amount,
    currency, status, note, source_hash, attempts, error_class, cause, subject, error_detail, data, created_at,
    updated_at)
SELECT %(small)s, 'bill', 'BBB/' || n, 'INV-' || n, '00x' || n, 'INV-' || n, 'S1 Other', 10, 'USD', 'synced', '', '',
       1, '', '', '', '', '{}'::jsonb, now(), now()
FROM generate_series(1, 500) AS n;

-- Audit: ten entries a record on average, most of them on the ledger rows, the rest configuration and runs.
INSERT INTO portal_auditentry (created_at, tenant_id, actor, action, object_type, object_id, object_repr, source_ref,
    target_id, message, details)
SELECT now() - ((n %% 86400) || ' minutes')::interval, %(tenant)s,
       CASE WHEN n %% 50 = 0 THEN 'demo-ops' ELSE 'system:sync' END,
       (ARRAY['sync.bill.created', 'sync.bill.failed', 'sync.vendor.created', 'sync.payment.written_back',
              'sync.run', 'config.changed'])[1 + n %% 6],
       'syncs.SyncRecord', (SELECT min(id) FROM syncs_syncrecord) + n %% %(records)s, '',
       'Infor bill INV-' || (200000 + n %% %(records)s), '00n' || lpad((n %% %(records)s)::text, 12, '0'),
       'Created BILL bill', '{"run": 1}'::jsonb
FROM generate_series(1, %(audit)s) AS n;

-- Runs: every 15 minutes for 60 days, one in 20 partial, one in 100 failed.
INSERT INTO syncs_syncrun (integration_id, trigger, dry_run, status, started_at, heartbeat_at, finished_at, counters,
    error, plan, deferral, refused_starts)
SELECT %(big)s, 'schedule', false,
       CASE WHEN n %% 100 = 0 THEN 'failed' WHEN n %% 20 = 0 THEN 'partial' ELSE 'succeeded' END,
       now() - (n * 15 || ' minutes')::interval, NULL, now() - (n * 15 - 1 || ' minutes')::interval,
       '{"api_calls": 5, "bills_created": 3, "unchanged": 40}'::jsonb,
       CASE WHEN n %% 100 = 0 THEN 'TransientError: BILL did not answer' ELSE '' END, '[]'::jsonb, '', 0
FROM generate_series(1, 5760) AS n;

INSERT INTO webhooks_webhookevent (connection_id, event_id, event_type, raw_body, signature_ok, status, rejection,
    reason, attempts, received_at)
SELECT %(target)s, 'evt-' || n, 'payment.updated', '{}', true, 'processed', '', '', 1,
       now() - (n || ' minutes')::interval
FROM generate_series(1, 20000) AS n;
"""


def fill(args):
    from django.contrib.auth import get_user_model
    from django.db import connection

    from connectors.models import Connection
    from portal.models import Membership, Tenant
    from syncs.models import Integration, MappingRule

    tenant = Tenant.objects.create(name="Bench Manufacturing", slug="bench")
    other = Tenant.objects.create(name="Other Co", slug="other")
    integrations = []
    for owner, name in ((tenant, "Big flow"), (other, "Small flow")):
        erp = Connection.objects.create(tenant=owner, system="infor", name=f"{owner.slug} ERP")
        ap = Connection.objects.create(tenant=owner, system="bill", name=f"{owner.slug} AP",
                                       base_url="https://ap.invalid/connect")
        integrations.append(Integration.objects.create(tenant=owner, name=name, source=erp, target=ap))
    big, small = integrations
    for code in range(6000, 6100):
        MappingRule.objects.create(integration=big, kind="gl_account", source_code=str(code), target_id=f"0ca{code}",
                                   target_label=f"Account {code}", problem="" if code % 17 else "It is archived")
    User = get_user_model()
    finance = User.objects.create_user("finance", password="bench-password-1")
    Membership.objects.create(user=finance, tenant=tenant, role=Membership.FINANCE)
    User.objects.create_superuser("root", password="bench-password-1")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(FILL, {"big": big.pk, "small": small.pk, "tenant": tenant.pk, "target": big.target_id,
                              "records": args.records, "audit": args.audit})
        cursor.execute("ANALYZE")
    return time.monotonic() - started


def pages():
    from django.urls import reverse

    from syncs.models import Integration, SyncRecord

    big = Integration.objects.get(name="Big flow")
    bill = SyncRecord.objects.filter(integration=big, object_type="bill", status="synced").order_by("pk")[100]
    paid = SyncRecord.objects.filter(integration=big, object_type="payment").order_by("pk").first()
    records = reverse("status:records", args=[big.pk])
    from syncs import workqueue

    key = workqueue.groups(SyncRecord.objects.filter(integration=big))[0][0].key
    refused = workqueue.follow_up_groups(SyncRecord.objects.filter(integration=big))[0][0].key
    return [
        ("finance", "Dashboard", reverse("status:home")),
        ("finance", "Records, newest", records),
        ("finance", "Records by invoice number", f"{records}?number={bill.number}"),
        ("finance", "Records by supplier", f"{records}?supplier=Supplier 2999"),
        ("finance", "Records by amount", f"{records}?amount={bill.amount}"),
        ("finance", "Records by date", f"{records}?date_from=2026-03-01&date_to=2026-03-01"),
        ("finance", "Failed records", f"{records}?status=failed"),
        ("finance", "Lineage of an invoice", reverse("status:record", args=[bill.pk])),
        ("finance", "Lineage from a payment", reverse("status:record", args=[paid.pk])),
        ("finance", "Tie-out (last report)", reverse("status:tieout", args=[big.pk])),
        ("root", "Work queue", reverse("admin:syncs_syncrecord_workqueue")),
        ("root", "Work queue group", reverse("admin:syncs_syncrecord_group", args=[key])),
        ("root", "Work queue follow-up group", reverse("admin:syncs_syncrecord_group", args=[refused])),
        ("root", "Integration page", reverse("admin:syncs_integration_change", args=[big.pk])),
        ("root", "Sync records list", reverse("admin:syncs_syncrecord_changelist")),
        ("root", "Sync records search", reverse("admin:syncs_syncrecord_changelist") + f"?q={bill.number}"),
        ("root", "Mapping rules with a problem",
         reverse("admin:syncs_mappingrule_changelist") + "?problem__isempty=0"),
        ("root", "Audit trail", reverse("admin:portal_auditentry_changelist")),
        ("root", "Metrics", "/metrics"),
        ("root", "Health", "/healthz"),
    ]


def measure(args):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {}
    from django.contrib.auth import get_user_model

    for name in ("finance", "root"):
        clients[name] = Client(HTTP_HOST="localhost")
        clients[name].force_login(get_user_model().objects.get(username=name))
    results = []
    for who, label, url in pages():
        client = clients[who]
        for _ in range(2):
            client.get(url)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        if response.status_code not in (200, 503):
            raise SystemExit(f"{label}: HTTP {response.status_code}")
        results.append({"page": label, "median_ms": round(statistics.median(times), 1),
                        "max_ms": round(max(times), 1), "queries": len(queries)})
        print(f"{label:34} median {results[-1]['median_ms']:7.1f} ms   max {results[-1]['max_ms']:7.1f} ms   "
              f"{results[-1]['queries']:3} queries", flush=True)
    return results


def main():
    args = parse()
    os.environ["DATABASE_URL"] = f"{args.server}/{args.database}"
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["SANDBOX_ENABLED"] = "0"
    if not args.keep:
        recreate(args.server, args.database)
    import django

    django.setup()
    from django.core.management import call_command

    from syncs.models import SyncRecord

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    filled = None
    if not SyncRecord.objects.exists():
        filled = fill(args)
    from portal.models import AuditEntry

    summary = {"records": SyncRecord.objects.count(), "audit_entries": AuditEntry.objects.count(),
               "fill_seconds": round(filled, 1) if filled else None, "repeat": args.repeat}
    print(json.dumps(summary), flush=True)
    summary["pages"] = measure(args)
    summary["slowest_median_ms"] = max(p["median_ms"] for p in summary["pages"])
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
