"""The sync engine: the one way an integration runs, whatever triggered it.

Order of work (DESIGN.md "How a sync runs"): reference data and mapping validation; suppliers to
vendors; approved invoices to bills, one record per transaction, failures isolated and classified;
payments back to the ERP. The engine names no system: it asks each connection for its connector.
"""

import hashlib
import json
import logging
import re
import threading
from collections import Counter
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from itertools import islice

from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone

from connectors import capabilities as can
from connectors import causes
from connectors.cursors import TIMESTAMP, CursorTypeError, earlier, newer
from connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    Deferred,
    RecordError,
    TransientError,
)
from connectors.http import fan_out
from connectors.limits import exclusive
from connectors.records import (
    CONTACT_FIELDS,
    Address,
    Dimension,
    GlAccount,
    Invoice,
    Supplier,
    Unreadable,
    code_key,
)
from connectors.values import money
from portal import audit
from portal.fields import CredentialsUnreadable
from syncs import alerts, reference
from syncs.models import (
    FOLLOW_UPS,
    Cursor,
    Integration,
    MappingRule,
    SyncRecord,
    SyncRun,
    VendorOwner,
    ap_account,
    owned_elsewhere,
    refusal_cause_key,
)
from syncs.payments import apply_payment
from syncs.plan import plan_for, system_name

# What a dry run does of the plan: it shows what would be sent. The other steps change things in one of
# the systems (code lists, write-backs, acknowledgements, payments) and are left out.
DRY_RUN_STEPS = {"sync_suppliers", "sync_invoices"}
# Streams read from the AP platform; the others are read from the ERP.
AP_STREAMS = {"payments", "vendor_edits"}
# Follow-up calls on bills (acknowledgements, images) made at once, and bills taken from the ledger at a time.
FOLLOW_UP_WORKERS = 8
FOLLOW_UP_CHUNK = 100
# The ledger's search fields (finance finds a record by them), refreshed from each read.
SEARCH_FIELDS = ("number", "party", "amount", "currency", "document_date")

logger = logging.getLogger("syncs.engine")

# Incremental reads start this far before a timestamp cursor; the ledger drops what was already synced.
OVERLAP = TIMESTAMP.overlap
# A run's heartbeat is written by a thread of its own, so a long remote wait never looks like death.
HEARTBEAT_EVERY = timedelta(seconds=10)
MISSED_BEATS = 3
SUCCESS_FIELDS = ["target_id", "status", "source_hash", "attempts", "error_class", "cause", "subject", "error_detail",
                  "data", "updated_at"]
# Failures that a later run retries by itself; the others wait for a fix and a replay.
RETRY_CLASSES = ("transient", "rate_limit", "conflict", "locked")
# After this many records in a row failed for a passing reason, the remote system is taken to be
# down: the run stops (deferred) instead of spending every retry on every remaining record.
OUTAGE_STREAK = 3
OUTAGE_PAUSE = timedelta(minutes=5)
# How long a run waits for another run sending to the same AP account before it defers.
TARGET_LOCK_WAIT = timedelta(minutes=5)
ACTOR = "system:sync"


def contact_fields(record):
    """The contact fields of a Supplier or VendorEdit, in the form the ledger keeps them."""
    return {name: asdict(value) if isinstance(value, Address) else value
            for name, value in ((f, getattr(record, f)) for f in CONTACT_FIELDS)}


def contact_value(name, stored):
    return Address(**stored) if name == "address" and isinstance(stored, dict) else stored


def said(name, value):
    """A contact field's value as a sentence quotes it."""
    if isinstance(value, dict):
        value = ", ".join(part for part in value.values() if part)
    return f"{name} {value!r}" if value else f"{name} empty"


def stale_after():
    """A running run whose heartbeat thread has missed a few beats has lost its worker."""
    return HEARTBEAT_EVERY * MISSED_BEATS + timedelta(seconds=5)


class Heartbeat:
    """Writes the run's heartbeat every HEARTBEAT_EVERY until stopped, whatever the run is waiting on, with
    the counters so far (`progress()`), so a long run (a backfill) shows how far it has come."""

    def __init__(self, run_pk, every=HEARTBEAT_EVERY, progress=None):
        self.run_pk = run_pk
        self.progress = progress
        self.every = every.total_seconds()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, name=f"heartbeat-run-{run_pk}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(timeout=self.every)

    def loop(self):
        try:
            while not self.stopped.wait(self.every):
                try:
                    beat = {"heartbeat_at": timezone.now()}
                    if self.progress is not None:
                        beat["counters"] = self.progress()
                    SyncRun.objects.filter(pk=self.run_pk, status=SyncRun.RUNNING).update(**beat)
                except Exception as exc:  # a missed beat is survivable; a dead heartbeat thread is not
                    logger.warning("heartbeat of run %s not written: %s", self.run_pk, type(exc).__name__)
        finally:
            close_old_connections()


def fingerprint(record):
    """What a record says, hashed. Its change stamp is left out: some ERPs move it when nothing we carry
    changed (Acumatica, when a payment is applied to a bill). So is an invoice's hold: it is noticed on its own
    (Sync.note_hold), and must not read as a change to what was sent."""
    said = asdict(record)
    said.pop("updated_marker", None)
    said.pop("held", None)
    return hashlib.sha256(json.dumps(said, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Problem:
    """Why a record cannot be sent: its cause (connectors.causes), what a fix is made on, and the words for a person."""

    cause: str
    subject: str
    words: str


@dataclass
class Pending:
    """One record's remote work, waiting for its batch."""

    record: SyncRecord
    item: object
    source_hash: str
    data: dict
    transformation: dict
    vendor_id: str = ""
    coding: dict = field(default_factory=dict)


def reap_dead_runs(integration=None):
    """Mark runs whose worker died as failed, so nothing stays 'running' forever."""
    cutoff = timezone.now() - stale_after()
    runs = SyncRun.objects.filter(status=SyncRun.RUNNING, heartbeat_at__lt=cutoff)
    if integration is not None:
        runs = runs.filter(integration=integration)
    for run in runs.select_related("integration__tenant"):
        run.status = SyncRun.FAILED
        run.finished_at = timezone.now()
        run.error = (f"The worker running this sync stopped (last sign of life {run.heartbeat_at:%Y-%m-%d %H:%M:%S} "
                     "UTC). Marked failed; the next run picks up where the cursors stand.")
        run.save(update_fields=["status", "finished_at", "error"])
        audit.record("sync.run.reaped", actor=ACTOR, tenant=run.integration.tenant, obj=run, message=run.error)


def start_run(integration, trigger, dry_run):
    now = timezone.now()
    try:
        with transaction.atomic():
            return SyncRun.objects.create(integration=integration, trigger=trigger, dry_run=dry_run,
                                          status=SyncRun.RUNNING, heartbeat_at=now)
    except IntegrityError:
        running = SyncRun.objects.filter(integration=integration, status=SyncRun.RUNNING).first()
        return SyncRun.objects.create(
            integration=integration, trigger=trigger, dry_run=dry_run, status=SyncRun.SKIPPED, finished_at=now,
            error=f"Run {running.pk if running else '?'} of this integration is still in progress.")


def run_integration(integration_id, trigger="manual", dry_run=False, since=None, actor=ACTOR):
    """Run one integration now and return its SyncRun. `since` (a datetime) re-reads from that moment
    instead of the cursors (replay, resync); the ledger keeps it from creating anything twice."""
    integration = Integration.objects.select_related("tenant", "source", "target").get(pk=integration_id)
    reap_dead_runs(integration)
    if trigger == "schedule" and (not integration.enabled or integration.paused):
        return SyncRun.objects.create(integration=integration, trigger=trigger, status=SyncRun.SKIPPED,
                                      finished_at=timezone.now(), error="The integration is paused.")
    run = start_run(integration, trigger, dry_run)
    if run.status == SyncRun.SKIPPED:
        return run
    sync = Sync(integration, run, dry_run=dry_run, since=since)
    next_run = timezone.now() + timedelta(minutes=integration.interval_minutes)
    try:
        with Heartbeat(run.pk, progress=sync.progress):
            sync.execute()
        run.status = SyncRun.PARTIAL if sync.failures else SyncRun.SUCCEEDED
    except Deferred as exc:
        run.status, run.error = SyncRun.DEFERRED, str(exc)
        next_run = exc.until
    except TransientError as exc:
        # A read (or a whole-batch call) still failing after the client's retries cannot be pinned on one
        # record: the run stops, deferred like an outage, and the next one starts again from the same cursors.
        run.status = SyncRun.DEFERRED
        run.error = f"A remote system did not answer properly after retries ({exc}); the next run tries again."
        next_run = timezone.now() + max(timedelta(seconds=getattr(exc, "retry_after", None) or 0), OUTAGE_PAUSE)
    except CredentialsUnreadable as exc:
        run.status, run.error = SyncRun.FAILED, str(exc)
    except ConnectorError as exc:
        run.status, run.error = SyncRun.FAILED, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # the run must end recorded, whatever happened
        logger.exception("sync run %s crashed", run.pk)
        run.status, run.error = SyncRun.FAILED, f"Internal error ({type(exc).__name__}); see the worker log."
    finally:
        sync.counters["api_calls"] = sync.api_calls()
        run.counters = dict(sync.counters)
        run.plan = sync.plan
        run.finished_at = timezone.now()
        run.save()
    if not dry_run:
        Integration.objects.filter(pk=integration.pk).update(last_run_at=run.started_at, next_run_at=next_run)
    if worth_auditing(run):
        audit.record("sync.run.dry_run" if dry_run else "sync.run", actor=actor, tenant=integration.tenant, obj=run,
                     message=f"{run.get_status_display()}: {describe_counters(run.counters)}"
                     + (f" — {run.error}" if run.error else ""),
                     details={"counters": run.counters, "trigger": trigger})
    return run


# Counters that say nothing happened to any record; a scheduled run with only these is not audited.
QUIET_COUNTERS = {"api_calls", "unchanged", "mapping_rules_invalid"}
QUIET_SUFFIXES = ("_unchanged", "_still_failing", "_ignored", "_set_aside", "_not_ours", "_without_baseline",
                  "_waiting")


def kind_in_words(kind):
    """"department", "GL account": a kind as it reads inside a sentence."""
    label = dict(MappingRule.KINDS)[kind]
    return label if label.startswith("GL") else label.lower()


def refused_in_words(system, error):
    """A record's refusal as kept: led by the system that refused it, unless its words already say (RecordError)."""
    return str(error) if error.in_full else f"{system} refused it: {error}"


def worth_auditing(run):
    """A person's run, a run that failed, or one that moved something. A scheduled re-read that found
    nothing new (records unchanged, known failures failing again) stays on its SyncRun row only."""
    if run.trigger != "schedule" or run.status not in (SyncRun.SUCCEEDED, SyncRun.PARTIAL):
        return True
    quiet = {key for key in run.counters if key in QUIET_COUNTERS or key.endswith(QUIET_SUFFIXES)}
    newly_failed = sum(run.counters.get(key, 0) for key in run.counters if key.endswith("_failed")) - sum(
        run.counters.get(key, 0) for key in run.counters if key.endswith("_still_failing"))
    return newly_failed > 0 or any(count for key, count in run.counters.items()
                                   if key not in quiet and not key.endswith("_failed"))


def describe_counters(counters):
    said = [f"{key.replace('_', ' ')} {value}" for key, value in sorted(counters.items()) if value]
    return ", ".join(said) or "nothing"


class Sync:
    def __init__(self, integration, run, *, dry_run=False, since=None):
        self.integration = integration
        self.run = run
        self.dry_run = dry_run
        self.since_override = since
        self.counters = Counter()
        self.plan = []
        self.planned_vendors = {}  # dry run: supplier id -> placeholder for the vendor it would create
        self.failures = 0
        self.transient_streak = 0
        self.finished = []
        self.vendor_records = {}
        self.account = None  # the AP account (models.ap_account), once the AP connector is open
        self.owners = {}  # vendor key -> VendorOwner, for the suppliers of the batch at hand
        self.claims = []  # VendorOwner rows staged with the vendor ledger rows, written by flush()
        self.erp = None
        self.ap = None
        self.source_name = system_name(integration.source)
        self.target_name = system_name(integration.target)
        self._payable_currencies = False  # not asked yet

    def api_calls(self):
        return sum(c.calls for c in (self.erp, self.ap) if c is not None)

    def progress(self):
        """The counters so far, read from the heartbeat's thread while this one adds to them."""
        while True:
            try:
                return dict(self.counters)
            except RuntimeError:  # changed size while being copied: copy again
                continue

    def execute(self):
        """The plan's steps, in order, with both connectors open (and closed, logged out, after)."""
        with ExitStack() as stack:
            self.erp = stack.enter_context(self.integration.source.connector())
            self.ap = stack.enter_context(self.integration.target.connector())
            self.ap.vendor_key_prefix = self.integration.vendor_key_prefix
            self.account = ap_account(self.integration.target, self.ap)
            self.load_reference_data()
            for step in plan_for(self.integration):
                if self.dry_run and step.name not in DRY_RUN_STEPS:
                    continue
                getattr(self, step.name)()

    # --- bookkeeping ------------------------------------------------------------------------------------
    def cursor_type(self, stream):
        """The stream's cursor type, as the connector that reads the stream declares it."""
        reader = self.ap if stream in AP_STREAMS else self.erp
        return getattr(reader, "cursor_types", {}).get(stream, TIMESTAMP)

    def marker(self, kind, text):
        """A record's marker as a value of the stream's cursor type, or None when it is not one."""
        if not text:
            return None
        try:
            return kind.parse(text)
        except CursorTypeError:
            return None

    def since(self, stream, object_type=None):
        """Where to start reading, as a value of the stream's cursor type: the cursor less its overlap,
        or earlier when records failed for a passing reason and must be read again (on a replay: every
        failed record). A date given for a resync applies to timestamp streams; the others keep their
        cursor and re-read their failed records."""
        kind = self.cursor_type(stream)
        if self.since_override is not None and kind is TIMESTAMP:
            return self.since_override
        cursor = Cursor.objects.filter(integration=self.integration, stream=stream).first()
        if cursor is None or not cursor.value or cursor.kind != kind.name:
            return None  # never read, or read with another type of cursor: from the start (the ledger dedups)
        try:
            start = kind.start(kind.parse(cursor.value))
        except CursorTypeError:
            raise ConfigurationError(f"The {stream} cursor holds {cursor.value!r}, which is not a {kind.name}. Use "
                                     "\"Resync from date…\" on the integration to set it again.") from None
        failed = SyncRecord.objects.filter(integration=self.integration, object_type=object_type,
                                           status=SyncRecord.FAILED)
        if self.since_override is None and self.run.trigger != "replay":
            failed = failed.filter(error_class__in=RETRY_CLASSES)
        for text in failed.values_list("data__marker", flat=True):
            value = self.marker(kind, text)
            if value is not None:
                start = earlier(kind, start, kind.just_before(value))
        return start

    def advance_cursor(self, stream, marker):
        """Called once every record up to `marker` (a typed value) is committed; never moves backwards."""
        if self.dry_run or marker is None:
            return
        kind = self.cursor_type(stream)
        cursor, _ = Cursor.objects.get_or_create(integration=self.integration, stream=stream,
                                                 defaults={"kind": kind.name})
        current = self.marker(kind, cursor.value) if cursor.kind == kind.name else None
        if newer(kind, current, marker) != current:
            cursor.kind, cursor.value = kind.name, kind.render(marker)
            cursor.save()

    def ledger(self, object_type, source_id, source_ref):
        return self.ledgers(object_type, [(source_id, source_ref)])[source_id]

    def ledgers(self, object_type, refs):
        """The ledger rows of these (source id, source ref) pairs, created where missing: a few queries
        per batch, not one transaction per record. A dry run creates nothing."""
        ids = list(dict(refs))
        rows = {r.source_id: r for r in SyncRecord.objects.filter(integration=self.integration,
                                                                  object_type=object_type, source_id__in=ids)}
        missing = [SyncRecord(integration=self.integration, object_type=object_type, source_id=source_id,
                              source_ref=str(source_ref)[:200]) for source_id, source_ref in dict(refs).items()
                   if source_id not in rows]
        if missing and not self.dry_run:
            SyncRecord.objects.bulk_create(missing, ignore_conflicts=True)
            rows.update((r.source_id, r) for r in SyncRecord.objects.filter(
                integration=self.integration, object_type=object_type, source_id__in=[m.source_id for m in missing]))
        else:
            rows.update((m.source_id, m) for m in missing)
        return rows

    def entry(self, action, record, message="", transformation=None):
        return audit.build(action, actor=ACTOR, tenant=self.integration.tenant, object_type="syncs.SyncRecord",
                           object_id=record.pk or "", source_ref=f"{self.source_name} {record.object_type} "
                           f"{record.source_ref or record.source_id}", target_id=record.target_id, message=message,
                           details={"run": self.run.pk,
                                    **({"transformation": transformation} if transformation else {})})

    def log(self, action, record, message="", transformation=None):
        audit.record_all([self.entry(action, record, message, transformation)])

    def set_aside_by_a_person(self, record):
        """A record a person set aside (ignored, with a note) keeps that status whatever a read finds."""
        if record.status != SyncRecord.IGNORED:
            return False
        self.counters[f"{record.object_type}s_ignored"] += 1
        return True

    def succeed(self, record, action, target_id, source_hash, data=None, transformation=None):
        """Staged, then written with the rest of its batch by flush()."""
        if self.set_aside_by_a_person(record):
            return
        record.target_id = target_id
        record.status = SyncRecord.SYNCED
        record.source_hash = source_hash
        record.attempts += 1
        record.error_class = record.cause = record.subject = record.error_detail = ""
        record.data = {**record.data, **(data or {})}
        record.updated_at = timezone.now()
        self.counters[f"{record.object_type}s_{action}"] += 1
        if record.object_type == "vendor":
            # Created or matched first by this integration: its own from now on (a no-op when it already is).
            self.claims.append(VendorOwner(account=self.account, vendor_key=self.ap.vendor_key(record.source_id),
                                           vendor_id=target_id, integration=self.integration))
        self.finished.append((record, self.entry(
            f"sync.{record.object_type}.{action}", record,
            f"{action.capitalize()} {self.target_name} {record.object_type} {target_id}", transformation)))

    def flush(self):
        """Write the staged successes of a batch, the owners of the vendors among them, and their audit entries, in one
        transaction."""
        if not self.finished:
            return
        finished, self.finished = self.finished, []
        claims, self.claims = self.claims, []
        with transaction.atomic():
            # One plain UPDATE per row: bulk_update's CASE over every field is slower than that here.
            for record, _ in finished:
                record.save(update_fields=SUCCESS_FIELDS)
            # Checked before sending, under the account's lock (owned_by_another): a conflict here is an owner row
            # this integration already has.
            VendorOwner.objects.bulk_create(claims, ignore_conflicts=True)
            audit.record_all([entry for _, entry in finished])

    def fail(self, record, error_class, detail, data=None, *, cause, subject=""):
        """The record failed: `detail` says why to a person, `cause` (connectors.causes) files it for the work queue
        and the advice, `subject` is what a fix is made on (the ERP supplier, the code)."""
        causes.registered(cause)
        if self.set_aside_by_a_person(record):
            return
        self.failures += 1
        self.counters[f"{record.object_type}s_failed"] += 1
        if self.dry_run:
            self.plan.append({"action": f"fail {record.object_type}", "source": record.source_ref or record.source_id,
                              "reason": detail, "cause": cause})
            return
        repeated = record.status == SyncRecord.FAILED and record.error_detail == detail
        with transaction.atomic():
            record.status = SyncRecord.FAILED
            record.attempts += 1
            record.error_class = error_class
            record.cause, record.subject = cause, str(subject)[:200]
            record.error_detail = detail
            record.data = {**record.data, **(data or {})}
            record.save()
            if repeated:
                # The same failure seen again on a re-read: its first entry already tells the story.
                self.counters[f"{record.object_type}s_still_failing"] += 1
            else:
                self.log(f"sync.{record.object_type}.failed", record, detail)

    def set_aside(self, record, source_hash, data, why, *, cause, subject=""):
        """Deliberately not sent (a blocked supplier): not a failure, audited once, then only counted."""
        causes.registered(cause)
        self.counters[f"{record.object_type}s_set_aside"] += 1
        if self.dry_run or (record.status == SyncRecord.SKIPPED and record.source_hash == source_hash):
            return None
        record.status, record.source_hash, record.error_detail = SyncRecord.SKIPPED, source_hash, why
        record.error_class, record.cause, record.subject = "", cause, str(subject)[:200]
        record.data = {**record.data, **data}
        record.save()
        self.log(f"sync.{record.object_type}.set_aside", record, why)
        return None

    def unchanged(self, record):
        """Re-read and already synced as it is: counted on the run, never audited (every overlap re-read
        would otherwise write one entry per record per run)."""
        self.counters[f"{record.object_type}s_unchanged"] += 1
        self.counters["unchanged"] += 1

    def changed_after_sending(self, record, source_hash):
        """Bills are not re-sent; the change is audited once per new version of the invoice, then counted."""
        self.counters[f"{record.object_type}s_changed_after_sending"] += 1
        if self.dry_run or record.data.get("changed_hash") == source_hash:
            return
        record.data = {**record.data, "changed_hash": source_hash}
        record.save(update_fields=["data", "updated_at"])
        self.log(f"sync.{record.object_type}.changed_after_sending", record,
                 f"Changed in {self.source_name} after it was sent to {self.target_name}; bills are not re-sent. "
                 "Correct it in both systems.")

    def guarded(self, record, work, data=None, system=None):
        """Run one record's remote work; a refusal about the record or a passing failure fails that record
        only. Several passing failures in a row mean the system is down: the run stops, deferred."""
        system = system or self.target_name
        try:
            work()
        except RecordError as exc:
            self.transient_streak = 0
            self.fail(record, exc.error_class, refused_in_words(system, exc), data, cause=exc.cause,
                      subject=exc.subject)
        except (Deferred, AuthError, ConfigurationError):
            raise
        except TransientError as exc:
            self.fail(record, exc.error_class, f"{system} did not answer properly after retries: {exc}", data,
                      cause=exc.cause, subject=exc.subject)
            self.note_transient(exc, system)
        else:
            self.transient_streak = 0

    def note_transient(self, exc, system=None):
        if not isinstance(exc, TransientError):
            return
        self.transient_streak += 1
        if self.transient_streak >= OUTAGE_STREAK:
            raise Deferred(f"{system or self.target_name} failed {self.transient_streak} times in a row for a "
                           f"passing reason (last: {exc}). Stopped early; the next run retries.",
                           until=timezone.now() + OUTAGE_PAUSE) from None

    # --- reference data ---------------------------------------------------------------------------------
    def load_reference_data(self):
        """The AP platform's accounts and dimensions, and every confirmed rule checked against the right kind
        of them. A rule that cannot be used says why, on the rule (the Integration page lists them)."""
        targets = {MappingRule.GL_ACCOUNT: {a.id: a for a in self.ap.gl_accounts()}}
        for dimension in self.ap.dimensions():
            targets.setdefault(dimension.kind, {})[dimension.id] = dimension
        self.rules = {}
        self.mapping_problems = {}
        now = timezone.now()
        checked = []
        erp_list, ap_list = reference.cached(self.integration.source), reference.cached(self.integration.target)
        for rule in MappingRule.objects.filter(integration=self.integration, confirmed=True):
            problem = self.rule_problem(rule, targets, ap_list)
            if problem:
                self.mapping_problems[(rule.kind, rule.source_code)] = problem
            else:
                self.rules.setdefault(rule.kind, {})[rule.source_code] = (rule.target_kind or rule.kind, rule.target_id)
                # Flagged, yet applied: the ERP's list may be older than the code.
                problem = reference.unlisted_source(rule, erp_list, self.source_name)
            if rule.problem != (problem or "") or rule.checked_at is None:
                rule.problem, rule.checked_at = problem or "", now
                checked.append(rule)
        if checked and not self.dry_run:
            MappingRule.objects.bulk_update(checked, ["problem", "checked_at"])
        self.counters["mapping_rules_invalid"] = len(self.mapping_problems)

    def rule_problem(self, rule, targets, ap_list):
        """Why a rule cannot be used, in words, or None. `ap_list`: the AP platform's list as last loaded, which
        names a target that has gone since."""
        target_kind = rule.target_kind or rule.kind
        if rule.kinds_problem():
            return f"{rule.get_kind_display()} {rule.source_code}: {rule.kinds_problem()}"
        if target_kind == MappingRule.VENDOR:
            return None
        label = kind_in_words(target_kind)
        what = f"{rule.get_kind_display()} {rule.source_code}"
        if target_kind not in targets:
            return f"{what} is mapped to a {label} in {self.target_name}, which has no {label}s"
        target = targets[target_kind].get(rule.target_id)
        if target is None:
            elsewhere = next((kind_in_words(kind) for kind, known in targets.items() if rule.target_id in known),
                             None)
            if elsewhere:
                return (f"{what} is mapped to {self.target_name} id {rule.target_id}, which is a {elsewhere} there, "
                        f"not a {label}")
            return reference.gone_target(rule, ap_list, self.target_name, label)
        if not target.active:
            return f"{what} is mapped to {self.target_name} {label} {target.name or rule.target_id}, which is archived"
        return None

    # --- suppliers → vendors ----------------------------------------------------------------------------
    def sync_suppliers(self):
        with self.target_lock("vendors"):
            self.sync_stream("suppliers", "vendor", self.erp.suppliers(self.since("suppliers", "vendor")),
                             lambda supplier: supplier.name, self.prepare_supplier, self.send_vendors,
                             before=self.prefetch_owners)

    def prefetch_owners(self, suppliers):
        """Who owns the vendors a batch of suppliers would become, in one query. Read under the account's lock, so
        no other integration claims one of them before this batch is written."""
        keys = {self.ap.vendor_key(supplier.source_id) for supplier in suppliers}
        self.owners = {owner.vendor_key: owner for owner in VendorOwner.objects.filter(
            account=self.account, vendor_key__in=keys).select_related("integration")}

    def owned_by_another(self, supplier):
        """Why the supplier's vendor is not this integration's to create, match or update, in words; None when it is
        this integration's or nobody's yet."""
        key = self.ap.vendor_key(supplier.source_id)
        owner = self.owners.get(key)
        if owner is None or owner.integration_id == self.integration.pk:
            return None
        return owned_elsewhere(key, self.ap.account_label, owner.integration.name,
                               owner.integration.tenant_id == self.integration.tenant_id)

    def sync_stream(self, stream, object_type, items, describe, prepare, send, before=None):
        """Read the stream a batch at a time: each item against the ledger (`prepare` returns its Pending
        remote work, or None), the batch's remote work to `send`, then the cursor to the newest item."""
        kind = self.cursor_type(stream)
        newest = None
        chunk = []
        for item in items:
            chunk.append(item)
            newest = newer(kind, newest, self.marker(kind, item.updated_marker))
            if len(chunk) >= self.batch_size:
                self.sync_chunk(object_type, chunk, describe, prepare, send, before)
                chunk = []
        if chunk:
            self.sync_chunk(object_type, chunk, describe, prepare, send, before)
        self.advance_cursor(stream, newest)

    def sync_chunk(self, object_type, chunk, describe, prepare, send, before):
        # A record read twice in one batch (paging drift) is sent once, as last read.
        latest = {item.source_id: item for item in chunk}
        records = self.ledgers(object_type, [(item.source_id, item.source_ref if isinstance(item, Unreadable)
                                              else describe(item)) for item in latest.values()])
        if before is not None:
            before([item for item in latest.values() if not isinstance(item, Unreadable)])
        self.refresh_search_fields(latest.values(), records)
        batch = []
        for item in latest.values():
            record = records[item.source_id]
            if self.set_aside_by_a_person(record):
                continue  # never sent, never retried, until they undo it
            if isinstance(item, Unreadable):
                self.fail(record, "data", item.reason, {"marker": item.updated_marker}, cause="unreadable_record")
                continue
            pending = prepare(item, record)
            if pending is not None:
                batch.append(pending)
        try:
            if batch:
                send(batch)
        finally:
            self.flush()

    def search_fields(self, item):
        """What finance searches a record by, taken from what was just read."""
        if isinstance(item, Invoice):
            vendor = self.vendor_records.get(item.supplier_id)
            party = f"{item.supplier_id} {vendor.source_ref}" if vendor and vendor.source_ref else item.supplier_id
            return {"number": item.invoice_number[:100], "party": party[:200], "amount": item.total,
                    "currency": item.currency[:3], "document_date": item.invoice_date}
        if isinstance(item, Supplier):
            return {"number": item.source_id[:100], "party": f"{item.source_id} {item.name}"[:200]}
        return {}

    def refresh_search_fields(self, items, records):
        """Kept true to the source on every read, in one query per batch, and only where they changed."""
        stale = []
        for item in items:
            record = records[item.source_id]
            fields = self.search_fields(item)
            if any(getattr(record, name) != value for name, value in fields.items()):
                for name, value in fields.items():
                    setattr(record, name, value)
                if record.pk:
                    stale.append(record)
        if stale and not self.dry_run:
            SyncRecord.objects.bulk_update(stale, list(SEARCH_FIELDS))

    @property
    def batch_size(self):
        return max(1, getattr(self.ap, "batch_size", 1))

    @contextmanager
    def target_lock(self, what):
        """Serialises "look up, then create" per AP account and kind of object across every integration
        and process, so two integrations sending to one BILL organization never create the same vendor.
        Held for a whole stream: a connector may then trust what it listed earlier in the stream. A run
        that cannot get it in time is deferred, not failed: the other integration is simply busy."""
        stack = ExitStack()
        try:
            stack.enter_context(exclusive(f"{self.account}:{what}", wait_seconds=TARGET_LOCK_WAIT.total_seconds()))
        except TransientError:
            raise Deferred(f"Another run is sending {what} to the same {self.target_name} account; this one resumes "
                           "at its next turn.", until=timezone.now() + TARGET_LOCK_WAIT) from None
        with stack:
            yield

    def supplier_problem(self, supplier):
        """The Problem of a supplier that cannot be sent as it is, or None."""
        if self.integration.options.get("require_tax_id", True) and not supplier.tax_id:
            return Problem(cause="supplier_tax_id_missing", subject=supplier.source_id,
                           words=f"Supplier {supplier.source_id} ({supplier.name}) has no tax ID; {self.target_name} "
                                 f"needs it for 1099 reporting. Add it in {self.source_name}, then replay.")
        if not supplier.name:
            return Problem(cause="supplier_name_missing", subject=supplier.source_id,
                           words=f"Supplier {supplier.source_id} has no name.")
        return None

    def prepare_supplier(self, supplier, record):
        source_hash = fingerprint(supplier)
        if record.status == SyncRecord.SYNCED and record.source_hash == source_hash:
            return self.unchanged(record)
        # "sent": the contact fields as the AP platform got them, the baseline its vendor edits are read against.
        data = {"marker": supplier.updated_marker, "sent": contact_fields(supplier)}
        if not supplier.active and not record.target_id:
            return self.set_aside(record, source_hash, data, f"Supplier {supplier.source_id} is blocked or on hold in "
                                  f"{self.source_name}; no vendor is made for it while it is.",
                                  cause="supplier_on_hold", subject=supplier.source_id)
        if not supplier.active:
            return self.hold_vendor(record, source_hash, supplier)
        self.release_vendor(record, supplier)
        problem = self.supplier_problem(supplier)
        if problem:
            return self.fail(record, "data", problem.words, data, cause=problem.cause, subject=problem.subject)
        problem = self.owned_by_another(supplier)
        if problem:
            # Nothing is sent: the other integration's vendor keeps what its own ERP said.
            return self.fail(record, "configuration", problem, data, cause="vendor_owned_elsewhere",
                             subject=supplier.source_id)
        payload = self.ap.vendor_payload(supplier)
        if self.dry_run:
            self.planned_vendors[supplier.source_id] = record.target_id or f"(new vendor for {supplier.source_id})"
            self.counters["vendors_" + ("would_update" if record.target_id else "would_create")] += 1
            self.plan.append({"action": "update vendor" if record.target_id else "create vendor",
                              "source": f"{supplier.source_id} {supplier.name}", "payload": payload})
            return None
        return Pending(record, supplier, source_hash, data, {"input": asdict(supplier), "output": payload})

    def hold_vendor(self, record, source_hash, supplier):
        """A supplier blocked or put on hold after its vendor was made: nothing is sent for it while it is, its
        vendor stays as it is, and its new invoices wait with the reason (prepare_invoice) until it is released and
        they are replayed, as those of a supplier held before it had a vendor do. Audited once."""
        why = (f"Supplier {supplier.source_id} is blocked or on hold in {self.source_name}; its invoices are not sent "
               f"to {self.target_name} while it is.")
        if self.dry_run or (record.data.get("on_hold") == why and record.source_hash == source_hash):
            self.counters["vendors_set_aside"] += 1
            return None
        first = record.data.get("on_hold") != why
        record.source_hash = source_hash
        record.data = {**record.data, "marker": supplier.updated_marker, "on_hold": why}
        if record.status == SyncRecord.SYNCED:
            # A failed record keeps its own reason.
            record.error_detail, record.cause, record.subject = why, "supplier_on_hold", supplier.source_id
        record.save()
        self.counters["vendors_on_hold" if first else "vendors_set_aside"] += 1
        if first:
            self.log("sync.vendor.on_hold", record, why)
        return None

    def release_vendor(self, record, supplier):
        """A supplier held after its vendor was made, active again: the hold is dropped from its record, written with
        the outcome of this read (succeed or fail)."""
        if self.dry_run or not record.data.get("on_hold"):
            return
        record.data = {key: value for key, value in record.data.items() if key != "on_hold"}
        self.counters["vendors_released"] += 1
        self.log("sync.vendor.released", record,
                 f"Supplier {supplier.source_id} is no longer blocked or on hold in {self.source_name}; its invoices "
                 f"that waited go to {self.target_name} when they are replayed.")

    def send_vendors(self, batch):
        # A vendor once made keeps its id, even when its last update failed: update it, never look again.
        for pending in batch:
            if pending.record.target_id:
                self.guarded(pending.record, lambda p=pending: self.update_vendor(p, p.record.target_id, "updated"),
                             pending.data)
        new = [p for p in batch if not p.record.target_id]
        if not new:
            return
        found = self.guarded_batch(new, lambda: self.ap.find_vendors([p.item for p in new]))
        if found is None:
            return
        for pending in new:
            if pending.item.source_id in found:
                vendor_id = found[pending.item.source_id]
                self.guarded(pending.record, lambda p=pending, v=vendor_id: self.update_vendor(p, v, "matched"),
                             pending.data)
        missing = [p for p in new if p.item.source_id not in found]
        if missing:
            created = self.guarded_batch(missing, lambda: self.ap.create_vendors([p.item for p in missing]))
            if created is not None:
                self.record_results(missing, created)

    def update_vendor(self, pending, vendor_id, action):
        self.ap.update_vendor(vendor_id, pending.item)
        self.succeed(pending.record, action, vendor_id, pending.source_hash, pending.data, pending.transformation)

    def record_results(self, batch, results):
        """Per item of a batch create: created with its id, or refused with its reason."""
        for pending in batch:
            result = results.get(pending.item.source_id)
            if isinstance(result, RecordError):
                self.fail(pending.record, result.error_class, refused_in_words(self.target_name, result),
                          pending.data, cause=result.cause, subject=result.subject)
            elif result:
                self.succeed(pending.record, "created", result, pending.source_hash, pending.data,
                             pending.transformation)
            else:
                self.fail(pending.record, "transient", f"{self.target_name} did not say what became of it; the "
                                                       "next run looks it up before creating anything.", pending.data,
                          cause="outcome_unknown")

    def guarded_batch(self, batch, work):
        """A call for a whole batch: if it fails for a passing reason every item of the batch fails with
        it (and is read again by the next run). Returns the call's result, or None when it failed."""
        try:
            result = work()
        except (Deferred, AuthError, ConfigurationError):
            raise
        except (RecordError, TransientError) as exc:
            for pending in batch:
                self.fail(pending.record, exc.error_class, f"{self.target_name} did not answer properly: {exc}",
                          pending.data, cause=exc.cause, subject=exc.subject)
            self.note_transient(exc)
            return None
        self.transient_streak = 0
        return result

    # --- invoices → bills -------------------------------------------------------------------------------
    def sync_invoices(self):
        self.newly_held = []
        try:
            with self.target_lock("bills"):
                self.sync_stream("invoices", "bill", self.read_invoices(),
                                 lambda invoice: f"{invoice.invoice_number} ({invoice.supplier_id})",
                                 self.prepare_invoice, self.send_bills, before=self.prefetch_vendors)
        finally:
            if self.newly_held:  # what was noticed is said, even when the run stops later
                alerts.bills_held_after_sending(self.integration, self.run, self.newly_held)

    def read_invoices(self):
        """The approved invoices, and, from an ERP that reports holds (REPORTS_HELD_INVOICES, read in the same
        calls), the held, cancelled or voided ones that have a ledger row: a hold matters once a bill was sent or
        tried. One held before it was ever read is left out, no row made for it, as before holds were read."""
        since = self.since("invoices", "bill")
        if can.REPORTS_HELD_INVOICES not in self.integration.source.spec.capabilities:
            yield from self.erp.approved_invoices(since)
            return
        invoices = iter(self.erp.approved_invoices(since, include_held=True))
        while chunk := list(islice(invoices, self.batch_size)):
            held = [i.source_id for i in chunk if getattr(i, "held", None)]
            known = set(SyncRecord.objects.filter(integration=self.integration, object_type="bill",
                                                  source_id__in=held).values_list("source_id", flat=True)
                        ) if held else set()
            yield from (i for i in chunk if not getattr(i, "held", None) or i.source_id in known)

    def coding_for(self, invoice):
        """Each line's target GL account and dimensions, or the list of Problems that keep it from being coded."""
        problems, coding = [], {}
        gl_rules = self.rules.get(MappingRule.GL_ACCOUNT, {})
        kinds = dict(MappingRule.KINDS)
        for index, line in enumerate(invoice.lines):
            code = line.gl_account
            if not code:
                problems.append(Problem(cause="line_without_gl_account", subject="",
                                        words=f"Line {index + 1} has no GL account"))
                continue
            if (MappingRule.GL_ACCOUNT, code) in self.mapping_problems:
                problems.append(Problem(cause="mapping_rule_unusable", subject=f"GL account {code}",
                                        words=self.mapping_problems[(MappingRule.GL_ACCOUNT, code)]))
                continue
            if code not in gl_rules:
                problems.append(Problem(cause="gl_unmapped", subject=code,
                                        words=f"GL account {code} is not mapped to a {self.target_name} account"))
                continue
            coding[index] = {"gl_account": gl_rules[code][1]}
            for kind, value in line.dimensions.items():
                if (kind, value) in self.mapping_problems:
                    problems.append(Problem(cause="mapping_rule_unusable", subject=f"{kinds.get(kind, kind)} {value}",
                                            words=self.mapping_problems[(kind, value)]))
                    continue
                kind_rules = self.rules.get(kind)
                if not kind_rules:
                    continue  # this integration does not carry that dimension across
                if value not in kind_rules:
                    problems.append(Problem(cause="code_unmapped", subject=f"{kind.capitalize()} {value}",
                                            words=f"{kind.capitalize()} {value} is not mapped to a "
                                                  f"{self.target_name} {kind}"))
                else:
                    target_kind, target_id = kind_rules[value]
                    if target_kind in coding[index]:
                        problems.append(Problem(cause="codes_collide", subject="",
                                                words=f"Line {index + 1}: two of its codes map to the "
                                                      f"{self.target_name} {kind_in_words(target_kind)}; only one can"))
                    else:
                        coding[index][target_kind] = target_id
        return list(dict.fromkeys(problems)), coding

    def prefetch_vendors(self, invoices):
        """The vendor ledger rows a batch of invoices needs, in one query."""
        wanted = {invoice.supplier_id for invoice in invoices} - set(self.vendor_records)
        self.vendor_records.update((r.source_id, r) for r in SyncRecord.objects.filter(
            integration=self.integration, object_type="vendor", source_id__in=wanted))

    def prepare_invoice(self, invoice, record):
        source_hash = fingerprint(invoice)
        data = {"marker": invoice.updated_marker, "reference": invoice.reference, "total": str(invoice.total),
                "currency": invoice.currency, "supplier": invoice.supplier_id}
        if record.status == SyncRecord.SYNCED:
            self.note_hold(record, invoice)
            if record.source_hash == source_hash:
                return self.unchanged(record)
            return self.changed_after_sending(record, source_hash)
        if invoice.held:
            return self.set_aside(record, source_hash, data, f"Held in {self.source_name} ({invoice.held}); it is not "
                                  f"sent to {self.target_name} while it is.", cause="invoice_held",
                                  subject=invoice.supplier_id)
        vendor = self.vendor_records.get(invoice.supplier_id)
        problems, kind = [], "data"
        vendor_id = vendor.target_id if vendor and vendor.status == SyncRecord.SYNCED else None
        if self.dry_run:
            vendor_id = vendor_id or self.planned_vendors.get(invoice.supplier_id)
        supplier = invoice.supplier_id
        if vendor is not None and vendor.data.get("on_hold"):
            # Held after its vendor was made: it waits, as it says.
            problems.append(Problem(cause="supplier_on_hold", subject=supplier, words=vendor.data["on_hold"]))
        elif vendor_id is None:
            cause = "supplier_not_synced"
            why = vendor.error_detail.rstrip(".") if vendor and vendor.error_detail else "it has not been synced"
            if vendor is not None and vendor.status == SyncRecord.IGNORED:
                cause = "supplier_set_aside"
                why = f"it was set aside ({vendor.note.rstrip('.')})"
            elif vendor is not None and vendor.cause:
                cause = vendor.cause  # filed under its supplier's own cause: fixed, and advised, as the supplier is
            # The vendor's own reason names the supplier again ("Supplier S1 (Acme) has no tax ID"): "it" says it.
            why = re.sub(rf"^Supplier {re.escape(supplier)} (\([^)]*\) )?", "it ", why)
            problems.append(Problem(cause=cause, subject=supplier,
                                    words=f"Supplier {supplier} is not in {self.target_name} yet: {why}"))
            if vendor is not None and vendor.status != SyncRecord.IGNORED and vendor.error_class in (
                    *RETRY_CLASSES, "configuration"):
                # Waiting on a vendor that failed for a passing reason: retried with it, not left for a replay. Or on
                # an integration setting (a vendor owned by another integration): fixed there, as the vendor is.
                kind = vendor.error_class
        lines_total = sum((line.amount for line in invoice.lines), Decimal("0.00"))
        if lines_total != invoice.total:
            problems.append(Problem(cause="lines_do_not_add_up", subject="",
                                    words=f"The lines add up to {money(lines_total, invoice.currency)} but the "
                                          f"invoice total is {money(invoice.total, invoice.currency)}"))
        currencies = self.payable_currencies()
        if currencies is not None and invoice.currency.upper() not in currencies:
            problems.append(Problem(cause="currency_not_payable", subject=invoice.currency,
                                    words=f"The invoice is in {invoice.currency}, and the {self.target_name} account "
                                          f"pays bills in {', '.join(sorted(currencies))} only; nothing is converted. "
                                          f"Pay it outside {self.target_name}, or ignore this record"))
        mapping_problems, coding = self.coding_for(invoice)
        if mapping_problems:
            problems += mapping_problems
            kind = "mapping" if len(problems) == len(mapping_problems) else kind
        if problems:
            # Filed under the first problem, the one to fix first; the words say them all.
            return self.fail(record, kind, "; ".join(p.words.rstrip(".") for p in problems) + ".", data,
                             cause=problems[0].cause, subject=problems[0].subject)
        payload = self.ap.bill_payload(vendor_id, invoice, coding)
        if self.dry_run:
            self.counters["bills_would_create"] += 1
            self.plan.append({"action": "create bill", "source": record.source_ref, "payload": payload})
            return None
        return Pending(record, invoice, source_hash, data, {"input": asdict(invoice), "output": payload},
                       vendor_id=vendor_id, coding=coding)

    def note_hold(self, record, invoice):
        """An invoice held, cancelled or voided in the ERP after its bill was sent, or released again. The bill is
        never changed or deleted from here: the record says what happened, a person decides in the AP platform,
        and the run's alert names it (sync_invoices). Noticed once per change."""
        held = invoice.held or None
        if self.dry_run or record.data.get("held") == held:
            return
        if held:
            said = (f"Held in {self.source_name} after it was sent — stop it in {self.target_name} if it must not be "
                    f"paid ({self.source_name}: {held}).")
            record.data = {**record.data, "held": held, "held_at": timezone.now().isoformat()}
            record.error_detail, record.cause, record.subject = said, "held_after_sending", invoice.supplier_id
            self.newly_held.append(record)
            action, counter = "sync.bill.held_after_sending", "bills_held_after_sending"
        else:
            said = f"No longer held in {self.source_name}; its bill in {self.target_name} stands as it was sent."
            record.data = {key: value for key, value in record.data.items() if key not in ("held", "held_at")}
            record.error_detail = record.cause = record.subject = ""
            action, counter = "sync.bill.released", "bills_released"
        record.save(update_fields=["data", "error_detail", "cause", "subject", "updated_at"])
        self.counters[counter] += 1
        self.log(action, record, said)

    def payable_currencies(self):
        if self._payable_currencies is False:
            self._payable_currencies = self.ap.payable_currencies()
        return self._payable_currencies

    def send_bills(self, batch):
        found = self.guarded_batch(batch, lambda: self.ap.find_bills([(p.vendor_id, p.item) for p in batch]))
        if found is None:
            return
        for pending in batch:
            if pending.item.source_id in found:
                self.succeed(pending.record, "matched", found[pending.item.source_id], pending.source_hash,
                             pending.data, pending.transformation)
        missing = [p for p in batch if p.item.source_id not in found]
        if missing:
            created = self.guarded_batch(
                missing, lambda: self.ap.create_bills([(p.vendor_id, p.item, p.coding) for p in missing]))
            if created is not None:
                self.record_results(missing, created)

    # --- payments → ERP ---------------------------------------------------------------------------------
    def sync_payments(self):
        """Each payment on its own: one the ERP refuses fails its ledger row and the next goes on. The
        cursor stops short of the first payment that failed for a passing reason, so it is read again."""
        kind = self.cursor_type("payments")
        newest = held_at = None
        for payment in self.ap.payments(self.since("payments", "payment")):
            if isinstance(payment, Unreadable):
                self.fail(self.ledger("payment", payment.source_id, payment.source_ref), "data", payment.reason,
                          {"marker": payment.updated_marker}, cause="unreadable_record")
                newest = newer(kind, newest, self.marker(kind, payment.updated_marker))
                continue
            marker = self.marker(kind, payment.updated_at)
            try:
                self.counters.update(apply_payment(self.integration, payment, erp=self.erp, via="poll"))
            except RecordError as exc:
                self.failures += 1
                self.counters.update(getattr(exc, "outcome", {"payments_failed": 1}))
            except TransientError as exc:
                self.failures += 1
                self.counters.update(getattr(exc, "outcome", {"payments_failed": 1}))
                held_at = earlier(kind, held_at, marker) if marker is not None else held_at
            newest = newer(kind, newest, marker)
        if held_at is not None and newest is not None:
            newest = earlier(kind, newest, kind.just_before(held_at))
        self.advance_cursor("payments", newest)

    # --- code lists → AP platform -----------------------------------------------------------------------
    def publish_reference_data(self):
        """The ERP's GL accounts and dimensions published as the AP platform's code lists: new and changed
        codes sent, codes gone from the ERP deactivated (never deleted, old bills still point at them). Each
        published code gets its mapping rule, so invoice lines are coded by the ERP's own codes."""
        codes = {code_key(code): code for code in [*self.erp.gl_accounts(), *self.erp.dimensions()]}
        gone = (SyncRecord.objects.filter(integration=self.integration, object_type="code", status=SyncRecord.SYNCED)
                .exclude(source_id__in=list(codes)).exclude(data__active=False))
        for record in gone:
            stored = record.data
            codes[record.source_id] = (GlAccount(code=stored["code"], name=stored.get("name", ""), active=False)
                                       if stored.get("kind") == MappingRule.GL_ACCOUNT else
                                       Dimension(kind=stored["kind"], code=stored["code"], name=stored.get("name", ""),
                                                 active=False))
        keys = list(codes)
        published = 0
        for start in range(0, len(keys), self.batch_size):
            chunk = {key: codes[key] for key in keys[start:start + self.batch_size]}
            records = self.ledgers("code", [(key, f"{key.replace(':', ' ')} {code.name}".strip())
                                            for key, code in chunk.items()])
            batch = []
            for key, code in chunk.items():
                record, source_hash = records[key], fingerprint(code)
                if record.status == SyncRecord.SYNCED and record.source_hash == source_hash:
                    self.unchanged(record)
                    continue
                kind = MappingRule.GL_ACCOUNT if isinstance(code, GlAccount) else code.kind
                batch.append(Pending(record, code, source_hash,
                                     {"kind": kind, "code": code.code, "name": code.name, "active": code.active}, {}))
            if not batch:
                continue
            answers = self.guarded_batch(batch, lambda b=batch: self.ap.publish_codes([p.item for p in b]))
            if answers is None:
                continue
            for pending in batch:
                answer = answers.get(pending.record.source_id)
                if isinstance(answer, RecordError):
                    self.fail(pending.record, answer.error_class, refused_in_words(self.target_name, answer),
                              pending.data, cause=answer.cause, subject=answer.subject)
                elif answer:
                    self.succeed(pending.record, "published" if pending.item.active else "deactivated", answer,
                                 pending.source_hash, pending.data)
                    self.rule_for_published(pending.data, answer)
                    published += 1
                else:
                    self.fail(pending.record, "transient", f"{self.target_name} did not say what became of it.",
                              pending.data, cause="outcome_unknown")
            self.flush()
        if published:
            self.load_reference_data()  # the rules just written take effect in this run

    def rule_for_published(self, code, target_id):
        kind = code["kind"]
        if kind not in dict(MappingRule.KINDS) or not code["active"]:
            return
        # Made where missing only: a rule a person already set for that code stays as they set it.
        MappingRule.objects.get_or_create(
            integration=self.integration, kind=kind, source_code=code["code"],
            defaults={"target_kind": kind, "target_id": target_id, "source_label": code["name"][:200],
                      "target_label": code["name"][:200], "confirmed": True})

    # --- vendor contact edits → ERP suppliers --------------------------------------------------------------
    def sync_vendor_edits(self):
        """Contact edits made in the AP platform to vendors we made, written back to their suppliers. What
        we sent last (the vendor row's "sent") is the baseline: a vendor that still says it changed nothing,
        which is also how our own updates come back. The ERP applies the rule of who wins (update_supplier);
        each conflict is audited with both values."""
        kind = self.cursor_type("vendor_edits")
        newest = held_at = None
        chunk = []
        for edit in self.ap.vendor_edits(self.since("vendor_edits", "supplier_update")):
            chunk.append(edit)
            if len(chunk) >= 100:
                newest, held_at = self.vendor_edit_chunk(chunk, kind, newest, held_at)
                chunk = []
        if chunk:
            newest, held_at = self.vendor_edit_chunk(chunk, kind, newest, held_at)
        if held_at is not None and newest is not None:
            newest = earlier(kind, newest, kind.just_before(held_at))
        self.advance_cursor("vendor_edits", newest)

    def vendor_edit_chunk(self, edits, kind, newest, held_at):
        vendors = {r.target_id: r for r in SyncRecord.objects.filter(
            integration=self.integration, object_type="vendor", status=SyncRecord.SYNCED,
            target_id__in=[e.source_id if isinstance(e, Unreadable) else e.vendor_id for e in edits])}
        # Only the vendors this integration owns: another integration's vendor (the same supplier id from another
        # ERP) holds that ERP's values, never to be written into this one.
        owned = set(VendorOwner.objects.filter(account=self.account, integration=self.integration,
                                               vendor_id__in=list(vendors)).values_list("vendor_id", flat=True))
        vendors = {vendor_id: row for vendor_id, row in vendors.items() if vendor_id in owned}
        for edit in edits:
            if isinstance(edit, Unreadable):
                self.fail(self.ledger("supplier_update", edit.source_id, edit.source_ref), "data", edit.reason,
                          {"marker": edit.updated_marker}, cause="unreadable_record")
                newest = newer(kind, newest, self.marker(kind, edit.updated_marker))
                continue
            marker = self.marker(kind, edit.updated_at)
            newest = newer(kind, newest, marker)
            vendor = vendors.get(edit.vendor_id)
            if vendor is None:
                self.counters["vendor_edits_not_ours"] += 1
                continue
            sent = vendor.data.get("sent")
            if sent is None:
                self.counters["vendor_edits_without_baseline"] += 1  # synced before baselines were kept
                continue
            now = contact_fields(edit)
            changes = {name: (sent.get(name), now[name]) for name in CONTACT_FIELDS if now[name] != sent.get(name)}
            if not changes:
                self.counters["vendor_edits_unchanged"] += 1
                continue
            record = self.ledger("supplier_update", vendor.source_id, vendor.source_ref)
            if self.set_aside_by_a_person(record):
                continue
            failures = self.failures
            self.guarded(record, lambda r=record, v=vendor, c=changes, e=edit: self.write_back_edit(r, v, c, e),
                         {"marker": edit.updated_at}, system=self.source_name)
            if self.failures > failures and record.error_class in RETRY_CLASSES and marker is not None:
                held_at = earlier(kind, held_at, marker)
        self.flush()
        return newest, held_at

    def write_back_edit(self, record, vendor, changes, edit):
        pairs = {name: (contact_value(name, before), contact_value(name, after))
                 for name, (before, after) in changes.items()}
        result = self.erp.update_supplier(vendor.source_id, pairs)
        applied = {name: changes[name][1] for name in result.applied if name in changes}
        vendor.data = {**vendor.data, "sent": {**vendor.data["sent"], **applied}}
        vendor.save(update_fields=["data", "updated_at"])
        # Settled either way (written, or kept by the ERP as the conflict rule says); what happened is audited
        # below in words, field by field, rather than as a generic "synced" entry.
        record.status, record.target_id, record.source_hash = SyncRecord.SYNCED, vendor.source_id, fingerprint(edit)
        record.attempts += 1
        record.error_class = record.cause = record.subject = record.error_detail = ""
        record.data = {**record.data, "marker": edit.updated_at, "applied": applied,
                       "conflicts": {name: list(pair) for name, pair in result.conflicts.items()}}
        record.save()
        if applied:
            self.counters["supplier_updates_written_back"] += 1
        for name, (erp_value, ap_value) in result.conflicts.items():
            erp_value = asdict(erp_value) if isinstance(erp_value, Address) else erp_value
            ap_value = asdict(ap_value) if isinstance(ap_value, Address) else ap_value
            self.counters["supplier_update_conflicts"] += 1
            self.log("sync.supplier.conflict", record,
                     f"Supplier {vendor.source_id} {name} was changed in both systems: {self.source_name} keeps "
                     f"{said(name, erp_value)}; {self.target_name}'s {said(name, ap_value)} is not written back "
                     f"(when both change a contact field, {self.source_name} wins) and is replaced at the next "
                     "supplier sync.")
        if applied:
            written = "; ".join(said(name, value) for name, value in applied.items())
            self.log("sync.supplier.updated", record,
                     f"Supplier {vendor.source_id} updated in {self.source_name} from {self.target_name}: {written}.",
                     {"input": {"vendor": edit.vendor_id, "changes": {n: c[1] for n, c in changes.items()}},
                      "output": {"supplier": vendor.source_id, "written": applied}})

    # --- after the bills ------------------------------------------------------------------------------------
    def bills_lacking(self, key, refused_key):
        """Synced bills whose follow-up (`key` in their data) is not done and was not refused for good."""
        return (SyncRecord.objects.filter(integration=self.integration, object_type="bill", status=SyncRecord.SYNCED)
                .exclude(data__has_key=key).exclude(data__has_key=refused_key).order_by("pk"))

    def follow_ups(self, work, counter):
        """Each bill lacking a follow-up gets `work(record)` -> (data to keep, audit action, what to say):
        FOLLOW_UP_WORKERS calls at a time (each system's client still holds its own limits), the outcomes written
        here, in this thread. A passing refusal (a locked row, a conflict) waits for the next run, said once; a
        refusal for good is kept on the bill, audited once, and makes the run partial; it is tried again only when
        a person asks, from the work queue (workqueue.retry_follow_ups)."""
        done_key, refused_key = FOLLOW_UPS[counter]
        # The ids first: the rows change as they are settled, which a cursor still open over them must not see.
        pending = iter(list(self.bills_lacking(done_key, refused_key).values_list("pk", flat=True)))
        while ids := list(islice(pending, FOLLOW_UP_CHUNK)):
            chunk = list(SyncRecord.objects.filter(pk__in=ids).order_by("pk"))
            stop = None
            for record, (done, error) in zip(chunk, fan_out(lambda r: attempt(work, r), chunk, FOLLOW_UP_WORKERS),
                                             strict=True):
                if isinstance(error, STOPPING):
                    stop = stop or error  # the calls that did go through are still kept and audited first
                    continue
                self.settle_follow_up(record, done, error, done_key, refused_key, counter)
            if stop is not None:
                raise stop

    def settle_follow_up(self, record, done, error, done_key, refused_key, counter):
        waiting_key = f"{done_key}_waiting"
        if error is None:
            self.transient_streak = 0
            data, action, said = done
            record.data = {key: value for key, value in {**record.data, **data}.items() if key != waiting_key}
            record.save(update_fields=["data", "updated_at"])
            self.counters[f"{counter}_done"] += 1
            self.log(action, record, said)
        elif isinstance(error, RecordError) and error.error_class not in RETRY_CLASSES:
            self.failures += 1
            self.counters[f"{counter}_failed"] += 1
            # Its cause beside it: the work queue groups the refusals by it (refusal_cause_key).
            record.data = {**record.data, refused_key: str(error), refusal_cause_key(refused_key): error.cause}
            record.save(update_fields=["data", "updated_at"])
            self.log(f"sync.bill.{counter}_failed", record, str(error))
        else:
            self.counters[f"{counter}_waiting"] += 1
            if record.data.get(waiting_key) != str(error):
                record.data = {**record.data, waiting_key: str(error)}
                record.save(update_fields=["data", "updated_at"])
                self.log(f"sync.bill.{counter}_waiting", record, f"Not done yet, retried next run: {error}")
            self.note_transient(error)

    def acknowledge_invoices(self):
        """Each invoice whose bill exists is marked as transferred in the ERP, once."""
        def work(record):
            said_by_erp = self.erp.acknowledge_invoice(record.data.get("reference") or {})
            return ({"acknowledged": timezone.now().isoformat()}, "sync.invoice.acknowledged",
                    f"Marked as transferred in {self.source_name}: {said_by_erp}")
        self.follow_ups(work, "acknowledgements")

    def attach_documents(self):
        """Each new bill gets its invoice's images, streamed from the ERP to the AP platform; a bill whose
        invoice has none says so."""
        def work(record):
            attached = [{"name": document.name, "id": self.ap.attach_document(record.target_id, document)}
                        for document in self.erp.invoice_documents(record.data.get("reference") or {})]
            if attached:
                return ({"documents": attached}, "sync.bill.documents_attached",
                        f"Attached {', '.join(d['name'] for d in attached)} from {self.source_name}.")
            return ({"documents": []}, "sync.bill.sent_without_image",
                    f"{self.source_name} has no image of this invoice; the bill was sent without one.")
        self.follow_ups(work, "documents")


# Errors that stop the run rather than one record's follow-up.
STOPPING = (Deferred, AuthError, ConfigurationError)


def attempt(work, record):
    """(result, None), or (None, the error that stopped it): a record's own (RecordError, TransientError) or one
    that stops the run (STOPPING), which follow_ups raises once the chunk's other outcomes are kept."""
    try:
        return work(record), None
    except (*STOPPING, RecordError, TransientError) as exc:
        return None, exc
