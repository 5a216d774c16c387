"""What the status pages, the alerts, /metrics and the tie-out say about integrations: freshness, what moved,
payments that stand and payments undone, the daily chart and one invoice's lineage. Every function here costs a
fixed number of queries, whatever the size of the ledger."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from portal.models import AuditEntry
from syncs.models import Integration, ObjectType, RecordStatus, RunStatus, SyncRecord, SyncRun

# A run that finished its work, with or without failed records: the integration was up to date then.
COMPLETED = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
# No completed run for this many intervals and the integration is stale.
STALE_INTERVALS = 3
CHART_DAYS = 30
LABEL_WIDTH = 60  # a date under the chart ("30 Mar 2026") at its 10px font
MOVED_TYPES = [(ObjectType.VENDOR, "Vendors"), (ObjectType.BILL, "Bills"), (ObjectType.PAYMENT, "Payments back")]


def with_last_completed(integrations):
    """Annotate `last_completed_at`: when the newest completed, real (not dry) run finished."""
    last = (SyncRun.objects.filter(integration=OuterRef("pk"), status__in=COMPLETED, dry_run=False)
            .order_by("-started_at").values("finished_at")[:1])
    return integrations.annotate(last_completed_at=Subquery(last))


def stale_since(integration, now=None):
    """The moment an enabled, running integration became stale, or None. Needs `last_completed_at`."""
    if not integration.enabled or integration.paused:
        return None
    now = now or timezone.now()
    window = timedelta(minutes=integration.interval_minutes * STALE_INTERVALS)
    reference = integration.last_completed_at or integration.created_at
    return reference + window if now - reference > window else None


def stale_integrations(now=None):
    return [i for i in with_last_completed(Integration.objects.select_related("tenant")) if stale_since(i, now)]


def week_start(now):
    today = timezone.localtime(now).date()
    return today - timedelta(days=today.weekday())


def day_start(day):
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass
class Figure:
    """How many, and how much in each currency (amounts in two currencies never add up)."""

    count: int = 0
    amounts: dict = field(default_factory=dict)  # currency -> Decimal

    def add(self, count, currency, amount):
        self.count += count
        if amount:
            self.amounts[currency] = self.amounts.get(currency, Decimal("0")) + amount


# A payment share is paid while its row is synced; undone (voided, returned, escheated, reversed) once the reversal
# was written back. The dashboard, /metrics and the tie-out all count payments by this, and nothing else.
PAID, UNDONE = "paid", "undone"
PAYMENT_STATES = {RecordStatus.SYNCED: PAID, RecordStatus.UNDONE: UNDONE}


@dataclass
class Moved:
    label: str
    kind: str  # the records page's "What" filter
    status: str = RecordStatus.SYNCED
    hint: str = ""
    today: Figure = field(default_factory=Figure)
    week: Figure = field(default_factory=Figure)


def moved_rows():
    rows = {kind: Moved(label, kind) for kind, label in MOVED_TYPES}
    rows[UNDONE] = Moved("Undone", ObjectType.PAYMENT, RecordStatus.UNDONE,
                         "payments voided, returned, escheated or reversed")
    return rows


def moved(integrations, now=None):
    """{integration id: [Moved]}: what was synced today and this week, with amounts, per object type; payments that
    were undone on a line of their own, never among the payments back."""
    now = now or timezone.now()
    today = day_start(timezone.localtime(now).date())
    week = day_start(week_start(now))
    rows = (SyncRecord.objects.filter(integration__in=integrations, updated_at__gte=week,
                                      status__in=[RecordStatus.SYNCED, RecordStatus.UNDONE],
                                      object_type__in=[t for t, _ in MOVED_TYPES])
            .order_by().values("integration_id", "object_type", "status", "currency")
            .annotate(week=Count("pk"), today=Count("pk", filter=Q(updated_at__gte=today)),
                      week_amount=Sum("amount"), today_amount=Sum("amount", filter=Q(updated_at__gte=today))))
    result = defaultdict(moved_rows)
    for row in rows:
        item = result[row["integration_id"]][UNDONE if row["status"] == RecordStatus.UNDONE else row["object_type"]]
        money = row["object_type"] != ObjectType.VENDOR  # a vendor row has no amount of its own
        item.week.add(row["week"], row["currency"], row["week_amount"] if money else None)
        item.today.add(row["today"], row["currency"], row["today_amount"] if money else None)
    return {i.pk: list(result[i.pk].values()) for i in integrations}


def payment_totals(integrations=None):
    """{PAID: Figure, UNDONE: Figure}: every payment share recorded for these integrations (every integration when
    None), split into what stands and what was undone. One aggregate query on the status index."""
    records = SyncRecord.objects.filter(object_type=ObjectType.PAYMENT, status__in=list(PAYMENT_STATES))
    if integrations is not None:
        records = records.filter(integration__in=integrations)
    totals = {PAID: Figure(), UNDONE: Figure()}
    for row in records.order_by().values("status", "currency").annotate(n=Count("pk"), total=Sum("amount")):
        totals[PAYMENT_STATES[row["status"]]].add(row["n"], row["currency"], row["total"])
    return totals


@dataclass
class Day:
    day: object
    synced: int = 0
    failed: int = 0
    undone: int = 0


def daily(integrations, now=None, days=CHART_DAYS):
    """{integration id: [Day] oldest first}: records synced, records failed and payments undone, by the day they
    last changed."""
    now = now or timezone.now()
    first = timezone.localtime(now).date() - timedelta(days=days - 1)
    rows = (SyncRecord.objects.filter(integration__in=integrations, updated_at__gte=day_start(first),
                                      status__in=[RecordStatus.SYNCED, RecordStatus.FAILED, RecordStatus.UNDONE])
            .annotate(day=TruncDate("updated_at")).order_by()
            .values("integration_id", "day", "status").annotate(n=Count("pk")))
    table = defaultdict(dict)
    for row in rows:
        day = table[row["integration_id"]].setdefault(row["day"], Day(row["day"]))
        setattr(day, row["status"], getattr(day, row["status"]) + row["n"])
    span = [first + timedelta(days=n) for n in range(days)]
    return {pk: [table[pk].get(d) or Day(d) for d in span] for pk in {*table, *[i.pk for i in integrations]}}


def chart(days, width=620, height=170):
    """Bars for a server-rendered SVG: synced (up), payments undone and failed stacked above, scaled to the busiest
    day."""
    busiest = max((d.synced + d.undone + d.failed for d in days), default=0)
    top = busiest or 1  # the scale; an empty month has no busiest day to name
    plot = height - 30
    slot = width / max(len(days), 1)
    bars = []
    for n, d in enumerate(days):
        synced_h, undone_h, failed_h = (plot * count / top for count in (d.synced, d.undone, d.failed))
        bars.append({"x": round(n * slot + 1, 1), "w": round(max(slot - 2, 1), 1), "day": d.day,
                     "synced": d.synced, "undone": d.undone, "failed": d.failed,
                     "synced_y": round(plot - synced_h, 1), "synced_h": round(synced_h, 1),
                     "undone_y": round(plot - synced_h - undone_h, 1), "undone_h": round(undone_h, 1),
                     "failed_y": round(plot - synced_h - undone_h - failed_h, 1), "failed_h": round(failed_h, 1),
                     # A date under every seventh bar, and under the last one when it has room; near the right
                     # edge it ends under its bar rather than running off the chart.
                     "label": n % 7 == 0 or (n == len(days) - 1 and n % 7 >= 4),
                     "anchor": "start" if n * slot < width - LABEL_WIDTH else "end",
                     "label_x": round(n * slot + 1 if n * slot < width - LABEL_WIDTH else (n + 1) * slot - 1, 1)})
    return {"width": width, "height": height, "plot": plot, "top": busiest, "bars": bars,
            "synced": sum(d.synced for d in days), "undone": sum(d.undone for d in days),
            "failed": sum(d.failed for d in days)}


# --- one invoice's way through the systems ----------------------------------------------------------------
@dataclass
class Lineage:
    record: SyncRecord
    bill: SyncRecord | None
    payments: list
    entries: dict  # record pk -> [AuditEntry]
    vendor: SyncRecord | None = None  # the supplier's row, where the bill names its supplier


def bill_of(record):
    """The bill a record belongs to: itself, or the bill a payment share was written for."""
    if record.object_type == ObjectType.BILL:
        return record
    if record.object_type == ObjectType.PAYMENT and ":" in record.source_id:
        bill_id = record.source_id.rsplit(":", 1)[1]
        return SyncRecord.objects.filter(integration=record.integration_id, object_type=ObjectType.BILL,
                                         target_id=bill_id).first()
    return None


def payments_of(bill):
    if bill is None or not bill.target_id:
        return []
    return list(SyncRecord.objects.filter(integration=bill.integration_id, object_type=ObjectType.PAYMENT,
                                          source_id__endswith=f":{bill.target_id}").order_by("created_at")[:50])


def vendor_of(bill):
    supplier = (bill.data or {}).get("supplier") if bill is not None else None
    if not supplier:
        return None
    return SyncRecord.objects.filter(integration=bill.integration_id, object_type=ObjectType.VENDOR,
                                     source_id=supplier).first()


def lineage(record):
    bill = bill_of(record)
    payments = payments_of(bill)
    vendor = vendor_of(bill)
    chain = [record] if bill is None else [bill, *payments]
    if vendor is not None:
        chain.insert(0, vendor)
    if record not in chain:
        chain.insert(0, record)
    entries = defaultdict(list)
    for entry in (AuditEntry.objects.filter(object_type="syncs.SyncRecord",
                                            object_id__in=[str(r.pk) for r in chain])
                  .order_by("created_at", "id")[:500]):
        entries[int(entry.object_id)].append(entry)
    return Lineage(record, bill, payments, dict(entries), vendor)
