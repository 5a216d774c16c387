"""The idempotency ledger's bookkeeping for one run: each record's row (SyncRecord) succeeded, failed or set aside,
with its audit entry; successes written a batch at a time; remote work guarded so one record's refusal fails that
record only; and the streams' cursors, which start a read early enough to take up what failed for a passing reason.

A step calls these through its run's context (`sync.ledger`); the counters and the failures it adds to are the
run's (engine.Sync).
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.utils import timezone

from connectors import causes
from connectors.cursors import TIMESTAMP, CursorTypeError, earlier, newer
from connectors.errors import AuthError, ConfigurationError, Deferred, RecordError, TransientError
from portal import audit
from syncs.models import Cursor, RecordStatus, SyncRecord, VendorOwner
from syncs.run import ACTOR, OUTAGE_PAUSE

# Streams read from the AP platform; the others are read from the ERP.
AP_STREAMS = {"payments", "vendor_edits"}
SUCCESS_FIELDS = ["target_id", "status", "source_hash", "attempts", "error_class", "cause", "subject", "error_detail",
                  "data", "updated_at"]
# Failures that a later run retries by itself; the others wait for a fix and a replay.
RETRY_CLASSES = ("transient", "rate_limit", "conflict", "locked")
# After this many records in a row failed for a passing reason, the remote system is taken to be
# down: the run stops (deferred) instead of spending every retry on every remaining record.
OUTAGE_STREAK = 3


def fingerprint(record):
    """What a record says, hashed. Its change stamp is left out: some ERPs move it when nothing we carry
    changed (Acumatica, when a payment is applied to a bill). So is an invoice's hold: it is noticed on its own
    (steps.invoices.Invoices.note_hold), and must not read as a change to what was sent."""
    said = asdict(record)
    said.pop("updated_marker", None)
    said.pop("held", None)
    return hashlib.sha256(json.dumps(said, sort_keys=True, default=str).encode()).hexdigest()


def refused_in_words(system, error):
    """A record's refusal as kept: led by the system that refused it, unless its words already say (RecordError)."""
    return str(error) if error.in_full else f"{system} refused it: {error}"


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


class Ledger:
    def __init__(self, sync):
        self.sync = sync
        self.finished = []  # (record, audit entry) staged by succeed(), written by flush()
        self.claims = []  # VendorOwner rows staged with the vendor ledger rows, written by flush()
        self.transient_streak = 0

    # --- cursors ------------------------------------------------------------------------------------------
    def cursor_type(self, stream):
        """The stream's cursor type, as the connector that reads the stream declares it."""
        reader = self.sync.ap if stream in AP_STREAMS else self.sync.erp
        return getattr(reader, "cursor_types", {}).get(stream, TIMESTAMP)

    @staticmethod
    def marker(kind, text):
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
        since_override = self.sync.since_override
        if since_override is not None and kind is TIMESTAMP:
            return since_override
        cursor = Cursor.objects.filter(integration=self.sync.integration, stream=stream).first()
        if cursor is None or not cursor.value or cursor.kind != kind.name:
            return None  # never read, or read with another type of cursor: from the start (the ledger dedups)
        try:
            start = kind.start(kind.parse(cursor.value))
        except CursorTypeError:
            raise ConfigurationError(f"The {stream} cursor holds {cursor.value!r}, which is not a {kind.name}. Use "
                                     "\"Resync from date…\" on the integration to set it again.") from None
        failed = SyncRecord.objects.filter(integration=self.sync.integration, object_type=object_type,
                                           status=RecordStatus.FAILED)
        if since_override is None and self.sync.run.trigger != "replay":
            failed = failed.filter(error_class__in=RETRY_CLASSES)
        for text in failed.values_list("data__marker", flat=True):
            value = self.marker(kind, text)
            if value is not None:
                start = earlier(kind, start, kind.just_before(value))
        return start

    def advance_cursor(self, stream, marker):
        """Called once every record up to `marker` (a typed value) is committed; never moves backwards."""
        if self.sync.dry_run or marker is None:
            return
        kind = self.cursor_type(stream)
        cursor, _ = Cursor.objects.get_or_create(integration=self.sync.integration, stream=stream,
                                                 defaults={"kind": kind.name})
        current = self.marker(kind, cursor.value) if cursor.kind == kind.name else None
        if newer(kind, current, marker) != current:
            cursor.kind, cursor.value = kind.name, kind.render(marker)
            cursor.save()

    # --- rows ---------------------------------------------------------------------------------------------
    def row(self, object_type, source_id, source_ref):
        return self.rows(object_type, [(source_id, source_ref)])[source_id]

    def rows(self, object_type, refs):
        """The ledger rows of these (source id, source ref) pairs, created where missing: a few queries
        per batch, not one transaction per record. A dry run creates nothing."""
        integration = self.sync.integration
        ids = list(dict(refs))
        rows = {r.source_id: r for r in SyncRecord.objects.filter(integration=integration,
                                                                  object_type=object_type, source_id__in=ids)}
        missing = [SyncRecord(integration=integration, object_type=object_type, source_id=source_id,
                              source_ref=str(source_ref)[:200]) for source_id, source_ref in dict(refs).items()
                   if source_id not in rows]
        if missing and not self.sync.dry_run:
            SyncRecord.objects.bulk_create(missing, ignore_conflicts=True)
            rows.update((r.source_id, r) for r in SyncRecord.objects.filter(
                integration=integration, object_type=object_type, source_id__in=[m.source_id for m in missing]))
        else:
            rows.update((m.source_id, m) for m in missing)
        return rows

    def entry(self, action, record, message="", transformation=None):
        return audit.build(action, actor=ACTOR, tenant=self.sync.integration.tenant, object_type="syncs.SyncRecord",
                           object_id=record.pk or "", source_ref=f"{self.sync.source_name} {record.object_type} "
                           f"{record.source_ref or record.source_id}", target_id=record.target_id, message=message,
                           details={"run": self.sync.run.pk,
                                    **({"transformation": transformation} if transformation else {})})

    def log(self, action, record, message="", transformation=None):
        audit.record_all([self.entry(action, record, message, transformation)])

    # --- outcomes -----------------------------------------------------------------------------------------
    def set_aside_by_a_person(self, record):
        """A record a person set aside (ignored, with a note) keeps that status whatever a read finds."""
        if record.status != RecordStatus.IGNORED:
            return False
        self.sync.counters[f"{record.object_type}s_ignored"] += 1
        return True

    def succeed(self, record, action, target_id, source_hash, data=None, transformation=None):
        """Staged, then written with the rest of its batch by flush()."""
        if self.set_aside_by_a_person(record):
            return
        sync = self.sync
        record.target_id = target_id
        record.status = RecordStatus.SYNCED
        record.source_hash = source_hash
        record.attempts += 1
        record.error_class = record.cause = record.subject = record.error_detail = ""
        record.data = {**record.data, **(data or {})}
        record.updated_at = timezone.now()
        sync.counters[f"{record.object_type}s_{action}"] += 1
        if record.object_type == "vendor":
            # Created or matched first by this integration: its own from now on (a no-op when it already is).
            self.claims.append(VendorOwner(account=sync.account, vendor_key=sync.ap.vendor_key(record.source_id),
                                           vendor_id=target_id, integration=sync.integration))
        self.finished.append((record, self.entry(
            f"sync.{record.object_type}.{action}", record,
            f"{action.capitalize()} {sync.target_name} {record.object_type} {target_id}", transformation)))

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
            # Checked before sending, under the account's lock (steps.suppliers.Suppliers.owned_by_another): a
            # conflict here is an owner row this integration already has.
            VendorOwner.objects.bulk_create(claims, ignore_conflicts=True)
            audit.record_all([entry for _, entry in finished])

    def fail(self, record, error_class, detail, data=None, *, cause, subject=""):
        """The record failed: `detail` says why to a person, `cause` (connectors.causes) files it for the work queue
        and the advice, `subject` is what a fix is made on (the ERP supplier, the code)."""
        causes.registered(cause)
        if self.set_aside_by_a_person(record):
            return
        sync = self.sync
        sync.failures += 1
        sync.counters[f"{record.object_type}s_failed"] += 1
        if sync.dry_run:
            sync.plan.append({"action": f"fail {record.object_type}", "source": record.source_ref or record.source_id,
                              "reason": detail, "cause": cause})
            return
        repeated = record.status == RecordStatus.FAILED and record.error_detail == detail
        with transaction.atomic():
            record.status = RecordStatus.FAILED
            record.attempts += 1
            record.error_class = error_class
            record.cause, record.subject = cause, str(subject)[:200]
            record.error_detail = detail
            record.data = {**record.data, **(data or {})}
            record.save()
            if repeated:
                # The same failure seen again on a re-read: its first entry already tells the story.
                sync.counters[f"{record.object_type}s_still_failing"] += 1
            else:
                self.log(f"sync.{record.object_type}.failed", record, detail)

    def set_aside(self, record, source_hash, data, why, *, cause, subject=""):
        """Deliberately not sent (a blocked supplier): not a failure, audited once, then only counted."""
        causes.registered(cause)
        self.sync.counters[f"{record.object_type}s_set_aside"] += 1
        if self.sync.dry_run or (record.status == RecordStatus.SKIPPED and record.source_hash == source_hash):
            return None
        record.status, record.source_hash, record.error_detail = RecordStatus.SKIPPED, source_hash, why
        record.error_class, record.cause, record.subject = "", cause, str(subject)[:200]
        record.data = {**record.data, **data}
        record.save()
        self.log(f"sync.{record.object_type}.set_aside", record, why)
        return None

    def unchanged(self, record):
        """Re-read and already synced as it is: counted on the run, never audited (every overlap re-read
        would otherwise write one entry per record per run)."""
        self.sync.counters[f"{record.object_type}s_unchanged"] += 1
        self.sync.counters["unchanged"] += 1

    def changed_after_sending(self, record, source_hash):
        """Bills are not re-sent; the change is audited once per new version of the invoice, then counted."""
        sync = self.sync
        sync.counters[f"{record.object_type}s_changed_after_sending"] += 1
        if sync.dry_run or record.data.get("changed_hash") == source_hash:
            return
        record.data = {**record.data, "changed_hash": source_hash}
        record.save(update_fields=["data", "updated_at"])
        self.log(f"sync.{record.object_type}.changed_after_sending", record,
                 f"Changed in {sync.source_name} after it was sent to {sync.target_name}; bills are not re-sent. "
                 "Correct it in both systems.")

    # --- guarded remote work ------------------------------------------------------------------------------
    def guarded(self, record, work, data=None, system=None):
        """Run one record's remote work; a refusal about the record or a passing failure fails that record
        only. Several passing failures in a row mean the system is down: the run stops, deferred."""
        system = system or self.sync.target_name
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
            raise Deferred(f"{system or self.sync.target_name} failed {self.transient_streak} times in a row for a "
                           f"passing reason (last: {exc}). Stopped early; the next run retries.",
                           until=timezone.now() + OUTAGE_PAUSE) from None

    def guarded_batch(self, batch, work):
        """A call for a whole batch: if it fails for a passing reason every item of the batch fails with
        it (and is read again by the next run). Returns the call's result, or None when it failed."""
        try:
            result = work()
        except (Deferred, AuthError, ConfigurationError):
            raise
        except (RecordError, TransientError) as exc:
            for pending in batch:
                self.fail(pending.record, exc.error_class, f"{self.sync.target_name} did not answer properly: {exc}",
                          pending.data, cause=exc.cause, subject=exc.subject)
            self.note_transient(exc)
            return None
        self.transient_streak = 0
        return result

    def record_results(self, batch, results):
        """Per item of a batch create: created with its id, or refused with its reason."""
        target = self.sync.target_name
        for pending in batch:
            result = results.get(pending.item.source_id)
            if isinstance(result, RecordError):
                self.fail(pending.record, result.error_class, refused_in_words(target, result),
                          pending.data, cause=result.cause, subject=result.subject)
            elif result:
                self.succeed(pending.record, "created", result, pending.source_hash, pending.data,
                             pending.transformation)
            else:
                self.fail(pending.record, "transient", f"{target} did not say what became of it; the "
                                                       "next run looks it up before creating anything.", pending.data,
                          cause="outcome_unknown")
