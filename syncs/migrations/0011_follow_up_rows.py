# A synced bill's follow-ups (its invoice images, its invoice marked as transferred) as rows of their own, one a bill
# and kind, instead of keys in its data; the keys already kept are moved to the rows, and back on reversal.

from datetime import datetime

import django.db.models.deletion
from django.db import migrations, models

# The keys as they were, by kind: (done, refused); the passing refusal was kept under "<done>_waiting", a refusal's
# cause under "<refused>_cause". Frozen here: the models no longer know them.
KEYS = {"acknowledgement": ("acknowledged", "acknowledge_refused"),
        "documents": ("documents", "documents_refused")}
BATCH = 1000


def old_keys(kind):
    done, refused = KEYS[kind]
    return done, f"{done}_waiting", refused, f"{refused}_cause"


def batches(queryset):
    """The rows of `queryset` a batch at a time, by primary key. Each batch is written before the next is read: on
    SQLite, rows written under a cursor still open over the same table may be read again or skipped."""
    last = 0
    while batch := list(queryset.filter(pk__gt=last).order_by("pk")[:BATCH]):
        yield batch
        last = batch[-1].pk


def done_at(value):
    """When an acknowledgement was made (its key kept the moment); None for images, whose key kept what was
    attached."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def follow_up(record, kind, FollowUp):
    """The row the keys of one kind in a bill's data stand for, or None; done before refused before waiting, as the
    step read them."""
    done, waiting, refused, cause = old_keys(kind)
    data = record.data
    if done in data:
        attached = data[done] if isinstance(data[done], list) else []
        return FollowUp(record=record, kind=kind, state="done", done_at=done_at(data[done]), detail=attached)
    if refused in data:
        return FollowUp(record=record, kind=kind, state="refused", error=str(data[refused]),
                        cause=data.get(cause) or "")
    if waiting in data:
        return FollowUp(record=record, kind=kind, state="waiting", error=str(data[waiting]))
    return None


def to_rows(apps, schema_editor):
    SyncRecord, FollowUp = apps.get_model("syncs", "SyncRecord"), apps.get_model("syncs", "FollowUp")
    every_key = [key for kind in KEYS for key in old_keys(kind)]
    holding = models.Q()
    for key in every_key:
        holding |= models.Q(data__has_key=key)
    for batch in batches(SyncRecord.objects.filter(holding, object_type="bill").only("pk", "data")):
        rows = [row for record in batch for kind in KEYS if (row := follow_up(record, kind, FollowUp))]
        for record in batch:
            record.data = {key: value for key, value in record.data.items() if key not in every_key}
        FollowUp.objects.bulk_create(rows)
        # bulk_update leaves updated_at as it was: moving the keys changes nothing a person did.
        SyncRecord.objects.bulk_update(batch, ["data"])


def to_keys(apps, schema_editor):
    SyncRecord, FollowUp = apps.get_model("syncs", "SyncRecord"), apps.get_model("syncs", "FollowUp")
    with_rows = SyncRecord.objects.filter(pk__in=FollowUp.objects.values("record_id")).only("pk", "data")
    for batch in batches(with_rows):
        by_record = {record.pk: record for record in batch}
        for row in FollowUp.objects.filter(record_id__in=by_record).iterator(chunk_size=BATCH):
            record = by_record[row.record_id]
            done, waiting, refused, cause = old_keys(row.kind)
            if row.state == "done" and row.kind == "documents":
                kept = {done: row.detail}
            elif row.state == "done":
                kept = {done: row.done_at.isoformat() if row.done_at else ""}
            elif row.state == "refused":
                kept = {refused: row.error, **({cause: row.cause} if row.cause else {})}
            else:
                kept = {waiting: row.error}
            record.data = {**record.data, **kept}
        SyncRecord.objects.bulk_update(batch, ["data"])


class Migration(migrations.Migration):

    dependencies = [
        ('syncs', '0010_record_types_and_run_triggers'),
    ]

    operations = [
        migrations.CreateModel(
            name='FollowUp',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('acknowledgement', 'Invoice marked as transferred'), ('documents', 'Invoice images attached')], max_length=20)),
                ('state', models.CharField(choices=[('done', 'Done'), ('waiting', 'Waiting'), ('refused', 'Refused')], max_length=10)),
                ('done_at', models.DateTimeField(blank=True, null=True)),
                ('detail', models.JSONField(blank=True, default=list, help_text="What was attached: each invoice image's name and its id in the AP platform.")),
                ('error', models.TextField(blank=True, help_text='Why it waits or was refused, as the system said it.')),
                ('cause', models.CharField(blank=True, max_length=40)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('record', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='follow_ups', to='syncs.syncrecord')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('state', 'refused')), fields=['kind', 'cause'], name='follow_up_refused')],
                'constraints': [models.UniqueConstraint(fields=('record', 'kind'), name='one_follow_up_per_bill_and_kind')],
            },
        ),
        # Before the rows are written: on PostgreSQL a table with writes pending their deferred checks cannot be
        # altered in the same transaction.
        migrations.RemoveIndex(
            model_name='syncrecord',
            name='record_acknowledge_refused',
        ),
        migrations.RemoveIndex(
            model_name='syncrecord',
            name='record_documents_refused',
        ),
        migrations.RunPython(to_rows, to_keys),
    ]
