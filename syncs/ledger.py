"""The idempotency ledger's bookkeeping for one run: each record's row (SyncRecord) succeeded, failed or set aside,
with its audit entry; successes written a batch at a time; remote work guarded so one record's refusal fails that
record only; and the streams' cursors, which start a read early enough to take up what failed for a passing reason.

A step calls these through its run's context (`sync.ledger`); the counters and the failures it adds to are the
run's (engine.Sync).
"""

import hashlib
import json
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import connections, router, transaction
from django.utils import timezone

from connectors import causes
from connectors.cursors import TIMESTAMP, CursorTypeError, earlier, newer
from connectors.errors import AuthError, ConfigurationError, ConnectorError, Deferred, RecordError, TransientError
from portal import audit
from syncs.models import Cursor, RecordStatus, SyncRecord, VendorOwner
from syncs.run import ACTOR, OUTAGE_PAUSE

# Streams read from the AP platform; the others are read from the ERP.
AP_STREAMS = {"payments", "vendor_edits"}
# The fields each outcome writes on a ledger row.
SUCCESS_FIELDS = ("target_id", "status", "source_hash", "attempts", "error_class", "cause", "subject", "error_detail",
                  "data", "updated_at")
FAILURE_FIELDS = ("status", "attempts", "error_class", "cause", "subject", "error_detail", "data", "updated_at")
SET_ASIDE_FIELDS = ("status", "source_hash", "error_class", "cause", "subject", "error_detail", "data", "updated_at")
# Failures that a later run retries by itself; the others wait for a fix and a replay.
RETRY_CLASSES = ("transient", "rate_limit", "conflict", "locked")
# A run stops early (deferred) only on a sustained outage of one system: of its last OUTAGE_WINDOW attempts (a
# record's remote work, or one call for a batch), at least OUTAGE_MIN_ATTEMPTS made and OUTAGE_SHARE of them failed
# for a passing reason after their own retries. A storm that fails calls at random (28 % of them, each retried) lets
# most records through and does not stop the run; a system down for every call stops it after OUTAGE_MIN_ATTEMPTS.
# UNCONFIRMED (C5): no system documents what an outage looks like; with these figures 28 % of attempts failing at
# random even after their retries stops a run of a few hundred attempts once or twice in a thousand (simulated).
OUTAGE_WINDOW = 20
OUTAGE_MIN_ATTEMPTS = 10
OUTAGE_SHARE = 0.8


def plain(value):
    """A record as dicts and lists: dataclasses.asdict without its deep copy of every leaf (a record's leaves are
    immutable), which was a good part of a run's own time. The same JSON as asdict gives."""
    kind = type(value)
    if kind in LEAVES:
        return value
    names = FIELD_NAMES.get(kind)
    if names is None and is_dataclass(kind):
        names = FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


LEAVES = {str, int, float, bool, type(None), Decimal, date, datetime}
FIELD_NAMES = {}  # dataclass -> the names of its fields


def fingerprint(record, said=None):
    """What a record says, hashed; `said`: plain(record), when the caller has it already. Its change stamp is left
    out: some ERPs move it when nothing we carry changed (Acumatica, when a payment is applied to a bill). So is an
    invoice's hold: it is noticed on its own (steps.invoices.Invoices.note_hold), and must not read as a change to
    what was sent."""
    said = plain(record) if said is None else said
    said = {key: value for key, value in said.items() if key not in ("updated_marker", "held")}
    return hashlib.sha256(json.dumps(said, sort_keys=True, default=str).encode()).hexdigest()


def write_rows(records, names):
    """UPDATE these fields of these ledger rows: one statement, executed for every row (executemany). Django's
    bulk_update builds a CASE over every row and field, slower than one UPDATE per row, which is slower than this."""
    using = router.db_for_write(SyncRecord)
    connection = connections[using]
    meta = SyncRecord._meta
    columns = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    sql = (f"UPDATE {quote(meta.db_table)} SET {', '.join(f'{quote(c.column)} = %s' for c in columns)} "
           f"WHERE {quote(meta.pk.column)} = %s")
    # pre_save: updated_at (auto_now) takes the time of writing, as save() gives it.
    rows = [[c.get_db_prep_save(c.pre_save(record, False), connection) for c in columns] + [record.pk]
            for record in records]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


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
    """Each outcome changes its row and stages it with its audit entry. Inside a batch (`with ledger.batch():`, what a
    stream step takes at a time) the rows, the vendor owners and the entries are written together when it ends,
    a few statements for the whole batch; outside one, at once."""

    def __init__(self, sync):
        self.sync = sync
        self.staged = {}  # row pk -> (row, the names of its fields to write), written by flush()
        self.entries = []  # audit entries of the staged changes, written with them
        self.claims = []  # VendorOwner rows staged with the vendor ledger rows, written by flush()
        self.writes = []  # other writes of the batch (a step's own rows), made by flush() in the same transaction
        self.depth = 0  # batches open
        self.attempts = {}  # system -> its last OUTAGE_WINDOW attempts, True for each that failed for a passing reason

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
    def row(self, object_type, source_id, source_ref, search=None):
        return self.rows(object_type, [(source_id, source_ref)], {source_id: search} if search else None)[source_id]

    def rows(self, object_type, refs, search=None):
        """The ledger rows of these (source id, source ref) pairs, created where missing, with their search fields
        (`search`: {source id: {field: value}}) from the start: a few queries per batch, each by the unique key, not
        one transaction per record. A dry run creates nothing."""
        integration = self.sync.integration
        refs = dict(refs)
        search = search or {}
        rows = {r.source_id: r for r in SyncRecord.objects.filter(
            integration=integration, object_type=object_type, source_id__in=list(refs)).order_by()}
        missing = [SyncRecord(integration=integration, object_type=object_type, source_id=source_id,
                              source_ref=str(source_ref)[:200], **search.get(source_id, {}))
                   for source_id, source_ref in refs.items() if source_id not in rows]
        if missing and not self.sync.dry_run:
            SyncRecord.objects.bulk_create(missing, ignore_conflicts=True)
            rows.update((r.source_id, r) for r in SyncRecord.objects.filter(
                integration=integration, object_type=object_type,
                source_id__in=[m.source_id for m in missing]).order_by())
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
        """An audit entry about the row, written with the row's staged change (at once outside a batch)."""
        self.entries.append(self.entry(action, record, message, transformation))
        self.settle()

    # --- writing, a batch at a time -----------------------------------------------------------------------
    @contextmanager
    def batch(self):
        """What is staged inside is written when the outermost batch ends, even when it ends by an error: the
        outcomes of the calls that did go through are kept before the run stops."""
        self.depth += 1
        try:
            yield self
        finally:
            self.depth -= 1
            if not self.depth:
                self.flush()

    def stage(self, record, names):
        """The row's fields `names` are to be written with the batch. A second copy of a row already staged (read
        again by another query) first has the first one written, so the newer copy's values win."""
        if self.sync.dry_run or record.pk is None:
            return
        staged = self.staged.get(record.pk)
        if staged is not None and staged[0] is not record:
            self.flush()
            staged = None
        self.staged[record.pk] = (record, set(names) | (staged[1] if staged else set()))

    def together(self, write):
        """`write()` is made with the batch's rows, in the same transaction (once, however many flushes follow)."""
        self.writes.append(write)
        self.settle()

    def settle(self):
        if not self.depth:
            self.flush()

    def flush(self):
        """Write the staged rows, the owners of the vendors among them, and their audit entries, in one transaction:
        a success and its entry are written together or not at all. Rows are written a statement per set of fields."""
        if not (self.staged or self.entries or self.claims or self.writes):
            return
        staged, self.staged = self.staged, {}
        entries, self.entries = self.entries, []
        claims, self.claims = self.claims, []
        writes, self.writes = self.writes, []
        by_fields = {}
        for record, names in staged.values():
            by_fields.setdefault(tuple(sorted(names)), []).append(record)
        with transaction.atomic():
            for names, records in by_fields.items():
                write_rows(records, names)
            # Checked before sending, under the account's lock (steps.suppliers.Suppliers.owned_by_another): a
            # conflict here is an owner row this integration already has.
            if claims:
                VendorOwner.objects.bulk_create(claims, ignore_conflicts=True)
            for write in writes:
                write()
            if entries:
                audit.record_all(entries)

    # --- outcomes -----------------------------------------------------------------------------------------
    def set_aside_by_a_person(self, record):
        """A record a person set aside (ignored, with a note) keeps that status whatever a read finds."""
        if record.status != RecordStatus.IGNORED:
            return False
        self.sync.counters[f"{record.object_type}s_ignored"] += 1
        return True

    def succeed(self, record, action, target_id, source_hash, data=None, transformation=None):
        """Staged, then written with the rest of its batch."""
        if self.set_aside_by_a_person(record):
            return
        sync = self.sync
        record.target_id = target_id
        record.status = RecordStatus.SYNCED
        record.source_hash = source_hash
        record.attempts += 1
        record.error_class = record.cause = record.subject = record.error_detail = ""
        record.data = {**record.data, **(data or {})}
        sync.counters[f"{record.object_type}s_{action}"] += 1
        if record.object_type == "vendor":
            # Created or matched first by this integration: its own from now on (a no-op when it already is).
            self.claims.append(VendorOwner(account=sync.account, vendor_key=sync.ap.vendor_key(record.source_id),
                                           vendor_id=target_id, integration=sync.integration))
        self.stage(record, SUCCESS_FIELDS)
        self.log(f"sync.{record.object_type}.{action}", record,
                 f"{action.capitalize()} {sync.target_name} {record.object_type} {target_id}", transformation)

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
        record.status = RecordStatus.FAILED
        record.attempts += 1
        record.error_class = error_class
        record.cause, record.subject = cause, str(subject)[:200]
        record.error_detail = detail
        record.data = {**record.data, **(data or {})}
        self.stage(record, FAILURE_FIELDS)
        if repeated:
            # The same failure seen again on a re-read: its first entry already tells the story.
            sync.counters[f"{record.object_type}s_still_failing"] += 1
            self.settle()
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
        self.stage(record, SET_ASIDE_FIELDS)
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
        self.stage(record, ("data", "updated_at"))
        self.log(f"sync.{record.object_type}.changed_after_sending", record,
                 f"Changed in {sync.source_name} after it was sent to {sync.target_name}; bills are not re-sent. "
                 "Correct it in both systems.")

    # --- guarded remote work ------------------------------------------------------------------------------
    def guarded(self, record, work, data=None, system=None):
        """Run one record's remote work; a refusal about the record or a passing failure fails that record
        only. A system that keeps failing for a passing reason is down: the run stops, deferred (attempted())."""
        system = system or self.sync.target_name
        try:
            work()
        except RecordError as exc:
            self.attempted(system)
            self.fail(record, exc.error_class, refused_in_words(system, exc), data, cause=exc.cause,
                      subject=exc.subject)
        except (Deferred, AuthError, ConfigurationError):
            raise
        except TransientError as exc:
            self.fail(record, exc.error_class, f"{system} did not answer properly after retries: {exc}", data,
                      cause=exc.cause, subject=exc.subject)
            self.attempted(system, exc)
        else:
            self.attempted(system)

    def attempted(self, system=None, failure=None):
        """One attempt on `system` answered (`failure` None, or an error about the record alone) or failed for a passing
        reason (`failure`, a TransientError). When most of the last attempts failed so, the system is down: the run
        stops, deferred, instead of spending every retry on every remaining record."""
        system = system or self.sync.target_name
        window = self.attempts.setdefault(system, deque(maxlen=OUTAGE_WINDOW))
        window.append(isinstance(failure, TransientError))
        failed = sum(window)
        if window[-1] and len(window) >= OUTAGE_MIN_ATTEMPTS and failed >= OUTAGE_SHARE * len(window):
            raise Deferred(f"{system} failed {failed} of the last {len(window)} attempts for a passing reason, each "
                           f"after its own retries (last: {failure}). Stopped early; the next run retries.",
                           until=timezone.now() + OUTAGE_PAUSE, kind="outage") from None

    def guarded_batch(self, batch, work):
        """A call for a whole batch: if it fails for a passing reason every item of the batch fails with
        it (and is read again by the next run). Returns the call's result, or None when it failed."""
        try:
            result = work()
        except (Deferred, AuthError, ConfigurationError):
            raise
        except (RecordError, TransientError) as exc:
            # An error whose words say it all (in_full: a refusal, our own disk full) is kept as it is.
            said = str(exc) if getattr(exc, "in_full", False) else (
                f"{self.sync.target_name} did not answer properly: {exc}")
            for pending in batch:
                self.fail(pending.record, exc.error_class, said, pending.data, cause=exc.cause, subject=exc.subject)
            self.attempted(None, exc)
            return None
        self.attempted()
        return result

    def record_results(self, batch, results, succeeded=None):
        """Per item of a batch create ({ledger source id: result}): created with its id (`succeeded(pending, id)`,
        by default the row succeeds as created), refused with its reason, or failed with the call that carried it (a
        bulk call of several that failed while the others went through: theirs are kept). A call that stopped the run
        (Deferred, AuthError, ConfigurationError) stops it once every other item is kept."""
        target = self.sync.target_name
        succeeded = succeeded or (lambda p, target_id: self.succeed(p.record, "created", target_id, p.source_hash,
                                                                    p.data, p.transformation))
        calls, stop = {}, None  # the calls that failed for a passing reason, each once; the first one to stop the run
        for pending in batch:
            result = results.get(pending.record.source_id)
            if isinstance(result, (Deferred, AuthError, ConfigurationError)):
                stop = stop or result
            elif isinstance(result, RecordError):
                self.fail(pending.record, result.error_class, refused_in_words(target, result),
                          pending.data, cause=result.cause, subject=result.subject)
            elif isinstance(result, ConnectorError):
                calls[id(result)] = result
                self.fail(pending.record, result.error_class, f"{target} did not answer properly: {result}",
                          pending.data, cause=result.cause, subject=result.subject)
            elif result:
                succeeded(pending, result)
            else:
                self.fail(pending.record, "transient", f"{target} did not say what became of it; the next run "
                                                       "finds out before sending it again.", pending.data,
                          cause="outcome_unknown")
        if stop is not None:
            raise stop
        if any(result and (isinstance(result, RecordError) or not isinstance(result, ConnectorError))
               for result in results.values()):
            self.attempted()  # it answered, for some of them at least
        for failure in calls.values():
            self.attempted(None, failure)
