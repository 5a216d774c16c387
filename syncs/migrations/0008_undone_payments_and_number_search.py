"""Payments undone get a status of their own, and invoice numbers are searched by any part.

- `undone`: a payment share written back as paid and then voided, returned, escheated or reversed. Rows already
  holding such a reversal (`data.posted` "VOIDED" on a synced row) become undone.
- On PostgreSQL, a trigram index on the upper-cased number serves the finance search's `icontains` (Django's
  `UPPER(number::text) LIKE UPPER('%…%')`). It needs the pg_trgm extension, which a database owner may create
  (a trusted extension since PostgreSQL 13). Where it cannot be created the search still works, as a scan of
  one integration's rows, and the migration says so instead of failing. The index is built CONCURRENTLY, outside
  a transaction, so a large ledger is not locked against writes while it builds.
"""

from django.db import DatabaseError, migrations, models

TRIGRAM_INDEX = "record_number_trgm"


def mark_undone(apps, schema_editor):
    SyncRecord = apps.get_model("syncs", "SyncRecord")
    SyncRecord.objects.filter(object_type="payment", status="synced", data__posted="VOIDED").update(status="undone")


def unmark_undone(apps, schema_editor):
    SyncRecord = apps.get_model("syncs", "SyncRecord")
    SyncRecord.objects.filter(status="undone").update(status="synced")


def add_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("syncs", "SyncRecord")._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:
            print(f"\n  pg_trgm cannot be created here ({str(exc).strip().splitlines()[0]}): invoice numbers are "
                  "searched without an index. To add it, a superuser runs CREATE EXTENSION pg_trgm; and then "
                  f"CREATE INDEX CONCURRENTLY {TRIGRAM_INDEX} ON {table} USING gin (UPPER(number::text) "
                  "gin_trgm_ops);")
            return
        cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TRIGRAM_INDEX} ON {table} "
                       "USING gin (UPPER(number::text) gin_trgm_ops)")


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TRIGRAM_INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction; the data step has one of its own

    dependencies = [
        ("syncs", "0007_vendor_owners"),
    ]

    operations = [
        migrations.AlterField(
            model_name="syncrecord",
            name="status",
            field=models.CharField(choices=[("pending", "Pending"), ("synced", "Synced"), ("failed", "Failed"),
                                            ("skipped", "Skipped"), ("ignored", "Ignored"), ("undone", "Undone")],
                                   default="pending", max_length=10),
        ),
        migrations.RunPython(mark_undone, unmark_undone, atomic=True),
        migrations.RunPython(add_trigram_index, drop_trigram_index, atomic=False),
    ]
