"""The ops work queue: failed records grouped by root cause, retried a group at a time, or set aside.

A group is an error class and a folded reason (syncs.reasons.fold): "GL account 6999 is not mapped to a
BILL account" stays one group however many invoices carry it. Grouping reads the distinct reasons with
their counts from the database (one query, using the status index), so it costs the number of distinct
reasons, not the number of failed records.

Setting a record aside (ignoring it) is a person's decision with a reason: the record keeps its reason and
history, is never sent or retried, and can be put back. Both are audited with the actor.

A bill that went across but whose follow-up (its images, its acknowledgement in the ERP) was refused for good
is not a failed record; it has groups of its own, by step and reason, and "try again" lets the next run
make that follow-up once more.
"""

import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count
from django.db.models.fields.json import KT
from django.utils import timezone

from portal import audit
from syncs import operations, reasons
from syncs.models import FOLLOW_UPS, SyncRecord
from syncs.tasks import enqueue_run

# More distinct reasons than this are not folded on one page; the rest are summed as "other reasons".
MAX_DISTINCT_REASONS = 5000
# Statuses a person may set aside: a synced record has already gone.
IGNORABLE = (SyncRecord.FAILED, SyncRecord.PENDING, SyncRecord.SKIPPED)
# What a bill lacks when its follow-up was refused, by FOLLOW_UPS step.
FOLLOW_UP_WORDS = {"acknowledgements": "bill sent, invoice not marked as transferred in the ERP",
                   "documents": "bill sent, invoice images not attached"}


@dataclass
class Group:
    error_class: str
    reason: str
    count: int = 0
    details: set = field(default_factory=set)
    integrations: set = field(default_factory=set)  # "tenant: integration" of its records
    step: str = ""  # a FOLLOW_UPS step, for synced bills whose follow-up was refused

    @property
    def key(self):
        return group_key(f"follow-up {self.step}" if self.step else self.error_class, self.reason)

    @property
    def integrations_shown(self):
        return "; ".join(sorted(self.integrations))

    @property
    def class_in_words(self):
        return FOLLOW_UP_WORDS[self.step] if self.step else reasons.class_in_words(self.error_class)

    @property
    def advice(self):
        return reasons.advice(self.error_class, self.reason)


def group_key(error_class, reason):
    return hashlib.sha256(f"{error_class}\n{reason}".encode()).hexdigest()[:16]


def failed(records=None):
    records = SyncRecord.objects.all() if records is None else records
    return records.filter(status=SyncRecord.FAILED)


def groups(records=None):
    """The failed records of `records` (a SyncRecord queryset), grouped by root cause, largest first.
    Returns (groups, records beyond the reasons folded)."""
    rows = (failed(records).order_by()
            .values("error_class", "error_detail", "integration__tenant__name", "integration__name")
            .annotate(n=Count("pk"))
            .order_by("-n")[:MAX_DISTINCT_REASONS + 1])
    return folded(rows, "error_detail", lambda row, reason: Group(row["error_class"], reason))


def folded(rows, detail, make):
    """Rows of (detail, tenant and integration names, n) as groups by folded reason, largest first, and how
    many records lie beyond the reasons folded."""
    rows = list(rows)
    overflow = rows[MAX_DISTINCT_REASONS:]
    by_key = {}
    for row in rows[:MAX_DISTINCT_REASONS]:
        reason = reasons.fold(row[detail])
        made = make(row, reason)
        group = by_key.setdefault(made.key, made)
        group.count += row["n"]
        group.details.add(row[detail])
        group.integrations.add(f"{row['integration__tenant__name']}: {row['integration__name']}")
    ordered = sorted(by_key.values(), key=lambda g: (-g.count, g.reason))
    return ordered, sum(row["n"] for row in overflow)


def refused(step, records=None):
    """Synced bills whose `step` follow-up was refused for good, each annotated with the refusal as `refusal`."""
    records = SyncRecord.objects.all() if records is None else records
    refused_key = FOLLOW_UPS[step][1]
    return (records.filter(object_type="bill", status=SyncRecord.SYNCED, data__has_key=refused_key)
            .annotate(refusal=KT(f"data__{refused_key}")))


def follow_up_groups(records=None):
    """Synced bills whose follow-up was refused for good, grouped by step and reason, largest first."""
    found, overflow = [], 0
    for step in FOLLOW_UPS:
        rows = (refused(step, records).order_by()
                .values("refusal", "integration__tenant__name", "integration__name")
                .annotate(n=Count("pk")).order_by("-n")[:MAX_DISTINCT_REASONS + 1])
        step_groups, beyond = folded(rows, "refusal", lambda row, reason, step=step: Group("", reason, step=step))
        found += step_groups
        overflow += beyond
    return sorted(found, key=lambda g: (-g.count, g.reason)), overflow


def find_group(key, records=None):
    """The group of failed records, else of refused follow-ups, with this key; None if it has gone."""
    found = next((g for g in groups(records)[0] if g.key == key), None)
    return found or next((g for g in follow_up_groups(records)[0] if g.key == key), None)


def records_of(group, records=None):
    if group.step:
        # On the JSON key, not on the `refusal` text: SQLite compares the key's values as JSON.
        return refused(group.step, records).filter(**{f"data__{FOLLOW_UPS[group.step][1]}__in": list(group.details)})
    return failed(records).filter(error_class=group.error_class, error_detail__in=group.details)


def retry(records, actor):
    """Replay these failed records, integration by integration (syncs.operations.replay_failed). Returns how
    many were queued."""
    by_integration = {}
    for record in records.filter(status=SyncRecord.FAILED).select_related("integration__tenant"):
        by_integration.setdefault(record.integration, []).append(record)
    return sum(operations.replay_failed(integration, actor, rows) for integration, rows in by_integration.items())


def retry_follow_ups(group, records, actor):
    """Let the next run make the refused follow-up of these bills once more, and queue that run for each of their
    integrations. Returns how many bills."""
    refused_key = FOLLOW_UPS[group.step][1]
    rows = list(records.select_related("integration__tenant"))
    by_integration = {}
    for record in rows:
        record.data = {k: v for k, v in record.data.items() if k != refused_key}
        by_integration.setdefault(record.integration, []).append(record)
    with transaction.atomic():
        save_with_entries(rows, ["data"], operations.person_entries(
            "sync.record.follow_up_retried", actor, rows,
            lambda record: f"Asked to try again ({FOLLOW_UP_WORDS[group.step]})."))
        for integration, bills in by_integration.items():
            audit.record("sync.follow_up.retry", actor=actor, tenant=integration.tenant, obj=integration,
                         message=f"Trying again for {len(bills)} bill(s) ({FOLLOW_UP_WORDS[group.step]}): "
                                 f"{group.reason}", details={"records": [r.pk for r in bills[:200]]})
            enqueue_run(integration, "replay")
    return len(rows)


def ignore(records, reason, actor):
    """Set these records aside with a reason: never sent, never retried. Returns how many."""
    reason = reason.strip()
    if not reason:
        raise ValueError("Say why these records are set aside: the reason is kept with them.")
    rows = list(records.filter(status__in=IGNORABLE).select_related("integration__tenant"))
    entries = operations.person_entries("sync.record.ignored", actor, rows, lambda record: f"Set aside: {reason}")
    now = timezone.now()
    for record in rows:
        record.data = {**record.data, "status_before_ignored": record.status}
        record.status, record.note, record.updated_at = SyncRecord.IGNORED, reason, now
    with transaction.atomic():
        save_with_entries(rows, ["status", "note", "data", "updated_at"], entries)
    return len(rows)


def unignore(records, actor):
    """Put set-aside records back where they were; a failed one is retried by the next replay. Returns how many."""
    rows = list(records.filter(status=SyncRecord.IGNORED).select_related("integration__tenant"))
    entries = operations.person_entries("sync.record.unignored", actor, rows,
                                        lambda record: f"Put back (it had been set aside: {record.note})")
    now = timezone.now()
    for record in rows:
        before = record.data.get("status_before_ignored") or SyncRecord.FAILED
        record.data = {k: v for k, v in record.data.items() if k != "status_before_ignored"}
        record.status, record.note, record.updated_at = before, "", now
    with transaction.atomic():
        save_with_entries(rows, ["status", "note", "data", "updated_at"], entries)
    return len(rows)


def save_with_entries(rows, fields, entries):
    """The changed rows and the entries that say who changed them, written together (in the caller's
    transaction)."""
    SyncRecord.objects.bulk_update(rows, fields, batch_size=500)
    audit.record_all(entries)
