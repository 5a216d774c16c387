"""The ops work queue: failed records grouped by cause, retried a group at a time, or set aside.

A group is an error class and a cause code (SyncRecord.cause, connectors.causes): every invoice on an unmapped GL
account is one group however many there are. Its heading reads the records' shared message, or else the cause's
title with the values they share, and "(varies)" for those they do not ("GL account (varies) is not mapped to a BILL
account"). Grouping reads counts per cause and integration from the database (one query, using the cause index), so
it costs the number of causes, not the number of failed records. A cause a retry cannot fix (a currency the account
does not pay) offers what can be done instead (syncs.admin), never "Retry all".

Setting a record aside (ignoring it) is a person's decision with a reason: the record keeps its reason and
history, is never sent or retried, and can be put back. Both are audited with the actor.

A bill that went across but whose follow-up (its images, its acknowledgement in the ERP) was refused for good
is not a failed record; it has groups of its own, by step and the refusal's cause, and "try again" lets the next run
make that follow-up once more.
"""

import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Min, Q
from django.db.models.fields.json import KT
from django.utils import timezone

from connectors.registry import get_system
from portal import audit
from syncs import operations, reasons
from syncs.models import FOLLOW_UPS, SyncRecord, refusal_cause_key
from syncs.tasks import enqueue_run

# More (cause, integration) rows than this are not grouped on one page; the rest are summed as "other reasons".
MAX_DISTINCT_REASONS = 5000
# Statuses a person may set aside: a synced record has already gone.
IGNORABLE = (SyncRecord.FAILED, SyncRecord.PENDING, SyncRecord.SKIPPED)
# What a bill lacks when its follow-up was refused, by FOLLOW_UPS step.
FOLLOW_UP_WORDS = {"acknowledgements": "bill sent, invoice not marked as transferred in the ERP",
                   "documents": "bill sent, invoice images not attached"}
# The cause of a refusal kept before refusals kept theirs: what a RecordError is by default.
REFUSED_CAUSE = "refused"


@dataclass
class Group:
    error_class: str
    cause: str
    count: int = 0
    integrations: set = field(default_factory=set)  # "tenant: integration" of its records
    integration_ids: set = field(default_factory=set)
    step: str = ""  # a FOLLOW_UPS step, for synced bills whose follow-up was refused
    stored: set = field(default_factory=set)  # the cause values stored on its records ("" for a row without one)
    # The values its records share, each None once two of them differ: message, subject, ERP, AP platform.
    shared: dict = field(default_factory=dict)

    @property
    def key(self):
        return group_key(f"follow-up {self.step}" if self.step else self.error_class, self.cause)

    @property
    def reason(self):
        """The heading: the message every record says, else the cause's title with the values they share."""
        if self.shared.get("message"):
            return reasons.readable(self.shared["message"])
        return reasons.title(self.cause, self.shared.get("subject"), self.shared.get("erp"), self.shared.get("ap"))

    @property
    def subject(self):
        """The subject every record shares ("6999"), or "" when they differ or have none."""
        return self.shared.get("subject") or ""

    @property
    def integrations_shown(self):
        return "; ".join(sorted(self.integrations))

    @property
    def class_in_words(self):
        return FOLLOW_UP_WORDS[self.step] if self.step else reasons.class_in_words(self.error_class)

    @property
    def advice(self):
        return reasons.advice(self.cause)

    @property
    def retry(self):
        """Whether retrying its records can send them: a group a retry cannot fix offers no "Retry all"."""
        return self.advice.retry

    def add(self, row, stored):
        """One row of counts (one integration's records stored under the cause `stored`) into the group."""
        self.count += row["n"]
        self.integrations.add(f"{row['integration__tenant__name']}: {row['integration__name']}")
        self.integration_ids.add(row["integration_id"])
        self.stored.add(stored or "")
        values = {"message": row["message"] if row["messages"] == 1 else None,
                  "subject": row.get("subject") if row.get("subjects") == 1 else None,
                  "erp": system_label(row["integration__source__system"]),
                  "ap": system_label(row["integration__target__system"])}
        for name, value in values.items():
            if name not in self.shared:
                self.shared[name] = value
            elif self.shared[name] != value:
                self.shared[name] = None


def system_label(system_id):
    """A system as a sentence names it ("BILL"), as syncs.plan.system_name does for a connection."""
    try:
        return get_system(system_id).label.split(" (")[0]
    except Exception:  # a system no longer registered is still named, by its id
        return system_id


def group_key(error_class, cause):
    return hashlib.sha256(f"{error_class}\n{cause}".encode()).hexdigest()[:16]


def failed(records=None):
    records = SyncRecord.objects.all() if records is None else records
    return records.filter(status=SyncRecord.FAILED)


ROW_FIELDS = ("integration_id", "integration__tenant__name", "integration__name", "integration__source__system",
              "integration__target__system")


def groups(records=None):
    """The failed records of `records` (a SyncRecord queryset), grouped by cause, largest first. Returns (groups,
    records beyond the rows grouped)."""
    rows = (failed(records).order_by()
            .values("error_class", "cause", *ROW_FIELDS)
            .annotate(n=Count("pk"), messages=Count("error_detail", distinct=True), message=Min("error_detail"),
                      subjects=Count("subject", distinct=True), subject=Min("subject"))
            .order_by("-n")[:MAX_DISTINCT_REASONS + 1])
    return grouped(rows, "cause", lambda row: Group(row["error_class"],
                                                    reasons.cause_code(row["cause"], row["error_class"])))


def grouped(rows, stored, make):
    """Rows of counts per cause and integration as groups, largest first, and how many records lie beyond the rows
    grouped."""
    rows = list(rows)
    overflow = rows[MAX_DISTINCT_REASONS:]
    by_key = {}
    for row in rows[:MAX_DISTINCT_REASONS]:
        made = make(row)
        by_key.setdefault(made.key, made).add(row, row[stored])
    ordered = sorted(by_key.values(), key=lambda g: (-g.count, g.reason))
    return ordered, sum(row["n"] for row in overflow)


def refused(step, records=None):
    """Synced bills whose `step` follow-up was refused for good, each annotated with the refusal as `refusal`."""
    records = SyncRecord.objects.all() if records is None else records
    refused_key = FOLLOW_UPS[step][1]
    return (records.filter(object_type="bill", status=SyncRecord.SYNCED, data__has_key=refused_key)
            .annotate(refusal=KT(f"data__{refused_key}")))


def follow_up_groups(records=None):
    """Synced bills whose follow-up was refused for good, grouped by step and the refusal's cause, largest first."""
    found, overflow = [], 0
    for step in FOLLOW_UPS:
        cause_key = refusal_cause_key(FOLLOW_UPS[step][1])
        rows = (refused(step, records).order_by().annotate(refusal_cause=KT(f"data__{cause_key}"))
                .values("refusal_cause", *ROW_FIELDS)
                .annotate(n=Count("pk"), messages=Count("refusal", distinct=True), message=Min("refusal"))
                .order_by("-n")[:MAX_DISTINCT_REASONS + 1])
        step_groups, beyond = grouped(rows, "refusal_cause", lambda row, step=step: Group(
            "", row["refusal_cause"] or REFUSED_CAUSE, step=step))
        found += step_groups
        overflow += beyond
    return sorted(found, key=lambda g: (-g.count, g.reason)), overflow


def find_group(key, records=None):
    """The group of failed records, else of refused follow-ups, with this key; None if it has gone."""
    found = next((g for g in groups(records)[0] if g.key == key), None)
    return found or next((g for g in follow_up_groups(records)[0] if g.key == key), None)


def records_of(group, records=None):
    """The records of a group: by their stored cause, "" (none stored) among them where the group holds such rows."""
    if group.step:
        cause_key = refusal_cause_key(FOLLOW_UPS[group.step][1])
        # On the JSON key: SQLite compares the key's values as JSON.
        wanted = Q(**{f"data__{cause_key}__in": [cause for cause in group.stored if cause]})
        if "" in group.stored:
            wanted |= Q(**{f"data__{cause_key}__isnull": True})
        return refused(group.step, records).filter(wanted)
    return failed(records).filter(error_class=group.error_class, cause__in=group.stored)


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
    dropped = {refused_key, refusal_cause_key(refused_key)}
    rows = list(records.select_related("integration__tenant"))
    by_integration = {}
    for record in rows:
        record.data = {k: v for k, v in record.data.items() if k not in dropped}
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
