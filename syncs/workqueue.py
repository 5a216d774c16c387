"""The ops work queue: failed records grouped by cause, retried a group at a time, or set aside.

A group is what one fix in one integration mends: its records share an integration, an error class and a cause code
(SyncRecord.cause, connectors.causes), and their subject too where the cause's entry says a fix mends one subject
(`by_subject`: each unmapped code is its own group, with its own "Add the rule for …"; every invoice on it is in that
group however many there are). A group never spans integrations, so "Retry all" and what a group offers act on one.
Its heading reads the records' shared message, or else the cause's title with the values they share, and "(varies)"
for those they do not ("The lines do not add up…" with different amounts, "Invoices in (varies)…"). Grouping reads
counts per cause, integration and grouped subject from the database (one query, using the cause index), so it costs
the number of groups, not the number of failed records. A cause a retry cannot fix (a currency the account does not
pay) offers what can be done instead (syncs.admin.records), never "Retry all".

Setting a record aside (ignoring it) is a person's decision with a reason: the record keeps its reason and
history, is never sent or retried, and can be put back. Both are audited with the actor.

A bill that went across but whose follow-up (its images, its acknowledgement in the ERP) was refused for good
is not a failed record; it has groups of its own, by integration, kind of follow-up and the refusal's cause (its
syncs.models.FollowUp rows), and "try again" lets the next run make that follow-up once more.
"""

import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Case, Count, F, FilteredRelation, Min, Q, Value, When
from django.utils import timezone

from connectors.causes import CAUSES
from connectors.registry import get_system
from portal import audit
from syncs import operations, reasons
from syncs.models import (
    FollowUp,
    FollowUpKind,
    FollowUpState,
    MappingRule,
    ObjectType,
    RecordStatus,
    SyncRecord,
    Trigger,
)
from syncs.tasks import enqueue_run

# More (cause, integration, subject) rows than this are not grouped on one page; the rest are summed as "other
# reasons".
MAX_DISTINCT_REASONS = 5000
# Statuses a person may set aside: a synced record has already gone.
IGNORABLE = (RecordStatus.FAILED, RecordStatus.PENDING, RecordStatus.SKIPPED)
# What a bill lacks when its follow-up was refused, by its kind.
FOLLOW_UP_WORDS = {FollowUpKind.ACKNOWLEDGEMENT: "bill sent, invoice not marked as transferred in the ERP",
                   FollowUpKind.DOCUMENTS: "bill sent, invoice images not attached"}
# The cause of a refusal kept before refusals kept theirs: what a RecordError is by default.
REFUSED_CAUSE = "refused"
# Bills whose refusals are dropped by one statement: a group may hold more than SQLite takes as parameters.
RETRIED_AT_ONCE = 500


@dataclass
class Group:
    error_class: str
    cause: str
    integration_id: int
    integration_name: str  # "tenant: integration"
    subject_key: str | None = None  # the subject its records are grouped by; None for a cause grouped without it
    step: str = ""  # a FollowUpKind, for synced bills whose follow-up of that kind was refused
    count: int = 0
    stored: set = field(default_factory=set)  # the cause values stored on its records ("" for a row without one)
    # The values its records share, each None once two of them differ: message, subject, ERP, AP platform.
    shared: dict = field(default_factory=dict)

    @property
    def key(self):
        return group_key(f"follow-up {self.step}" if self.step else self.error_class, self.cause,
                         self.integration_id, self.subject_key)

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
        """One row of counts (records of its integration stored under the cause `stored`) into the group."""
        self.count += row["n"]
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


def group_key(kind, cause, integration_id, subject=None):
    return hashlib.sha256(f"{kind}\n{cause}\n{integration_id}\n{subject or ''}".encode()).hexdigest()[:16]


def failed(records=None):
    records = SyncRecord.objects.all() if records is None else records
    return records.filter(status=RecordStatus.FAILED)


ROW_FIELDS = ("integration_id", "integration__tenant__name", "integration__name", "integration__source__system",
              "integration__target__system")
# The causes grouped by their subject (connectors.causes), and the classes whose rows without a cause stored are
# filed under one of them (syncs.reasons.BY_CLASS).
BY_SUBJECT = sorted(code for code, cause in CAUSES.items() if cause.by_subject)
CLASSES_BY_SUBJECT = sorted(error_class for error_class, code in reasons.BY_CLASS.items() if code in BY_SUBJECT)


def groups(records=None):
    """The failed records of `records` (a SyncRecord queryset), grouped by integration, cause and, for a cause
    grouped by its subject, subject; largest first. Returns (groups, records beyond the rows grouped)."""
    by_subject = Q(cause__in=BY_SUBJECT) | Q(cause="", error_class__in=CLASSES_BY_SUBJECT)
    rows = (failed(records).order_by()
            .annotate(grouped_subject=Case(When(by_subject, then=F("subject")), default=Value("")))
            .values("error_class", "cause", "grouped_subject", *ROW_FIELDS)
            .annotate(n=Count("pk"), messages=Count("error_detail", distinct=True), message=Min("error_detail"),
                      subjects=Count("subject", distinct=True), subject=Min("subject"))
            .order_by("-n")[:MAX_DISTINCT_REASONS + 1])

    def make(row):
        cause = reasons.cause_code(row["cause"], row["error_class"])
        return started(row, row["error_class"], cause,
                       subject_key=row["grouped_subject"] if reasons.advice(cause).by_subject else None)
    return grouped(rows, "cause", make)


def started(row, error_class, cause, **kwargs):
    """An empty group for a row of counts: its integration's."""
    return Group(error_class, cause, row["integration_id"],
                 f"{row['integration__tenant__name']}: {row['integration__name']}", **kwargs)


def grouped(rows, stored, make):
    """Rows of counts per cause and integration as groups, largest first, and how many records lie beyond the rows
    grouped."""
    rows = list(rows)
    overflow = rows[MAX_DISTINCT_REASONS:]
    by_key = {}
    for row in rows[:MAX_DISTINCT_REASONS]:
        made = make(row)
        by_key.setdefault(made.key, made).add(row, row[stored])
    ordered = sorted(by_key.values(), key=lambda g: (-g.count, g.reason, g.integration_name))
    return ordered, sum(row["n"] for row in overflow)


def refused(step, records=None):
    """Synced bills whose follow-up of kind `step` was refused for good, each annotated with the refusal as
    `refusal` and its cause as `refusal_cause`. Its row is joined as `refused_follow_up`: a later filter on it
    (records_of) reads the same row, not any follow-up of the bill."""
    records = SyncRecord.objects.all() if records is None else records
    # One row a bill and kind (FollowUp's unique constraint): the join adds no bill twice.
    row = FilteredRelation("follow_ups", condition=Q(follow_ups__kind=step, follow_ups__state=FollowUpState.REFUSED))
    return (records.filter(object_type=ObjectType.BILL, status=RecordStatus.SYNCED)
            .annotate(refused_follow_up=row).filter(refused_follow_up__isnull=False)
            .annotate(refusal=F("refused_follow_up__error"), refusal_cause=F("refused_follow_up__cause")))


def follow_up_groups(records=None):
    """Synced bills whose follow-up was refused for good, grouped by kind and the refusal's cause, largest first."""
    found, overflow = [], 0
    for step in FollowUpKind:
        rows = (refused(step, records).order_by()
                .values("refusal_cause", *ROW_FIELDS)
                .annotate(n=Count("pk"), messages=Count("refusal", distinct=True), message=Min("refusal"))
                .order_by("-n")[:MAX_DISTINCT_REASONS + 1])
        step_groups, beyond = grouped(rows, "refusal_cause", lambda row, step=step: started(
            row, "", row["refusal_cause"] or REFUSED_CAUSE, step=step))
        found += step_groups
        overflow += beyond
    return sorted(found, key=lambda g: (-g.count, g.reason, g.integration_name)), overflow


def find_group(key, records=None):
    """The group of failed records, else of refused follow-ups, with this key; None if it has gone."""
    found = next((g for g in groups(records)[0] if g.key == key), None)
    return found or next((g for g in follow_up_groups(records)[0] if g.key == key), None)


def records_of(group, records=None):
    """The records of a group: its integration's, by their stored cause ("" (none stored) among them where the group
    holds such rows) and, for a group by subject, its subject."""
    if group.step:
        return refused(group.step, records).filter(refused_follow_up__cause__in=group.stored,
                                                   integration_id=group.integration_id)
    found = failed(records).filter(integration_id=group.integration_id, error_class=group.error_class,
                                   cause__in=group.stored)
    return found if group.subject_key is None else found.filter(subject=group.subject_key)


def rule_wanted(group):
    """The mapping rule a group of an unmapped code asks for, as (kind, code); None where its cause offers no rule to
    add, or its records name no code (rows filed before subjects were)."""
    advice = group.advice
    if advice.offer != "add_rule" or not group.subject:
        return None
    if advice.rule_kind:
        return advice.rule_kind, group.subject
    for kind, label in MappingRule.KINDS:
        # The engine names a dimension's code after its kind ("Subaccount 900-000"); its label reads the same.
        for named in (label, kind.capitalize()):
            if group.subject.startswith(f"{named} "):
                return kind, group.subject[len(named) + 1:]
    return None


def retry(records, actor):
    """Replay these failed records, integration by integration (syncs.operations.replay_failed). Returns how
    many were queued."""
    by_integration = {}
    for record in records.filter(status=RecordStatus.FAILED).select_related("integration__tenant"):
        by_integration.setdefault(record.integration, []).append(record)
    return sum(operations.replay_failed(integration, actor, rows) for integration, rows in by_integration.items())


def retry_follow_ups(group, records, actor):
    """Let the next run make the refused follow-up of these bills once more, and queue that run for each of their
    integrations. Returns how many bills."""
    rows = list(records.select_related("integration__tenant"))
    by_integration = {}
    for record in rows:
        by_integration.setdefault(record.integration, []).append(record)
    with transaction.atomic():
        # Without its row the bill lacks the follow-up again (syncs.steps.follow_ups.FollowUpStep.bills_lacking).
        for start in range(0, len(rows), RETRIED_AT_ONCE):
            FollowUp.objects.filter(record__in=[record.pk for record in rows[start:start + RETRIED_AT_ONCE]],
                                    kind=group.step, state=FollowUpState.REFUSED).delete()
        audit.record_all(operations.person_entries(
            "sync.record.follow_up_retried", actor, rows,
            lambda record: f"Asked to try again ({FOLLOW_UP_WORDS[group.step]})."))
        for integration, bills in by_integration.items():
            audit.record("sync.follow_up.retry", actor=actor, tenant=integration.tenant, obj=integration,
                         message=f"Trying again for {len(bills)} bill(s) ({FOLLOW_UP_WORDS[group.step]}): "
                                 f"{group.reason}", details={"records": [r.pk for r in bills[:200]]})
            enqueue_run(integration, Trigger.REPLAY, None, actor)
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
        record.status, record.note, record.updated_at = RecordStatus.IGNORED, reason, now
    with transaction.atomic():
        save_with_entries(rows, ["status", "note", "data", "updated_at"], entries)
    return len(rows)


def unignore(records, actor):
    """Put set-aside records back where they were; a failed one is retried by the next replay. Returns how many."""
    rows = list(records.filter(status=RecordStatus.IGNORED).select_related("integration__tenant"))
    entries = operations.person_entries("sync.record.unignored", actor, rows,
                                        lambda record: f"Put back (it had been set aside: {record.note})")
    now = timezone.now()
    for record in rows:
        before = record.data.get("status_before_ignored") or RecordStatus.FAILED
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
