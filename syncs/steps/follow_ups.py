"""What a step does after the bills are made, for each bill still lacking it (its invoice's images attached, its
invoice marked as transferred): several calls at once, each bill's outcome kept as its follow-up row
(syncs.models.FollowUp, one a bill and kind): the work queue groups the refusals by them and retries them
(workqueue.retry_follow_ups). A step whose system takes several bills' follow-ups in one call (`together`) hands it
a chunk at a time instead."""

from datetime import timedelta
from itertools import islice

from django.db.models import Exists, OuterRef
from django.utils import timezone

from connectors.cursors import TIMESTAMP, CursorTypeError
from connectors.errors import AuthError, ConfigurationError, Deferred, RecordError, TransientError
from connectors.http import fan_out
from syncs.ledger import RETRY_CLASSES
from syncs.models import Cursor, FollowUp, FollowUpState, ObjectType, RecordStatus, SyncRecord
from syncs.steps.base import Step

# Follow-up calls on bills made at once, and bills taken from the ledger at a time. Each system's client holds its
# own limit (calls in flight, rate) across every process: this only lets a run reach it, an image's search, fetch and
# attachment chained per bill (Infor's Document Management takes its 3,000 calls a minute with no cap in flight).
FOLLOW_UP_WORKERS = 32
FOLLOW_UP_CHUNK = 100
# Bills handed at a time to a system that takes several in one call: a few of its calls' worth, which it may send
# at once.
TOGETHER_CHUNK = 4 * FOLLOW_UP_CHUNK
# How much earlier than the last whole pass began the next one looks for bills changed since (clocks of several nodes).
PASS_OVERLAP = timedelta(minutes=10)
# Errors that stop the run rather than one record's follow-up.
STOPPING = (Deferred, AuthError, ConfigurationError)


def attempt(work, record):
    """(result, None), or (None, the error that stopped it): a record's own (RecordError, TransientError) or one
    that stops the run (STOPPING), which FollowUpStep.run raises once the chunk's other outcomes are kept."""
    try:
        return work(record), None
    except (*STOPPING, RecordError, TransientError) as exc:
        return None, exc


def attempt_together(work, records):
    """Each record's (result, None) or (None, error) from `work(records)`, which answers each record's own outcome
    that way; an error of the whole call is every record's."""
    try:
        return work(records)
    except (*STOPPING, RecordError, TransientError) as exc:
        return [(None, exc)] * len(records)


class FollowUpStep(Step):
    counter = ""  # its counters' prefix, and its audit actions'
    kind = ""  # a FollowUpKind: the rows that keep its outcome on each bill
    lock = "bills"  # two runs never follow up the same bills at once (engine.Sync.turn)

    def work(self, record):
        """The follow-up of one bill, done: (what was attached, kept as its row's detail; audit action; what to
        say)."""
        raise NotImplementedError

    def together(self):
        """The follow-up of several bills in one call where the system offers one (an optional method of its
        connector): a function of the records giving each one's outcome as attempt() does, in order; None where the
        system takes one bill a call (then `work`, several at once)."""
        return None

    def bills_lacking(self, since=None):
        """Synced bills whose follow-up is neither done nor refused for good (a waiting one is tried again); with
        `since`, among the bills changed since (a bill is changed when it is made, and each time its follow-up is
        tried): by an index, whatever the size of the ledger."""
        settled = FollowUp.objects.filter(record=OuterRef("pk"), kind=self.kind,
                                          state__in=[FollowUpState.DONE, FollowUpState.REFUSED])
        bills = SyncRecord.objects.filter(integration=self.sync.integration, object_type=ObjectType.BILL,
                                          status=RecordStatus.SYNCED)
        if since is not None:
            bills = bills.filter(updated_at__gte=since)
        return bills.filter(~Exists(settled)).order_by()

    def since(self):
        """When the last whole pass of this follow-up began, less PASS_OVERLAP (clocks of several nodes); None for every
        bill: on the first pass, and on a replay (a person's "Try again" takes a refusal away without changing its
        bill)."""
        if self.sync.run.trigger == "replay":
            return None
        cursor = Cursor.objects.filter(integration=self.sync.integration, stream=self.kind).first()
        try:
            return TIMESTAMP.parse(cursor.value) - PASS_OVERLAP if cursor and cursor.value else None
        except CursorTypeError:
            return None

    def run(self, sync):
        """Each bill lacking the follow-up gets `work(record)` (or, a chunk at a time, `together()`): FOLLOW_UP_WORKERS
        calls at a time (each system's
        client still holds its own limits), the outcomes written here, in this thread, a chunk at a time with their
        audit entries. A passing refusal (a locked row, a conflict) waits for the next run, said once; a refusal for
        good is kept on the bill, audited once, and makes the run partial; it is tried again only when a person asks,
        from the work queue."""
        self.sync = sync
        self.kept = []  # FollowUp rows of the chunk at hand, written with its ledger rows (write_kept)
        began = timezone.now()
        # The ids first: the rows change as they are settled, which a cursor still open over them must not see.
        # In the order they were made, sorted here: the query reads the bills changed since, not all of them in order.
        pending = iter(sorted(self.bills_lacking(self.since()).values_list("pk", flat=True)))
        together = self.together()
        while ids := list(islice(pending, TOGETHER_CHUNK if together else FOLLOW_UP_CHUNK)):
            sync.fence()
            chunk = list(SyncRecord.objects.filter(pk__in=ids).order_by("pk"))
            waiting = dict(FollowUp.objects.filter(record__in=ids, kind=self.kind, state=FollowUpState.WAITING)
                           .values_list("record_id", "error"))
            outcomes = zip(chunk, attempt_together(together, chunk) if together else
                           fan_out(lambda r: attempt(self.work, r), chunk, FOLLOW_UP_WORKERS), strict=True)
            stop = None
            with sync.ledger.batch():
                for record, (done, error) in outcomes:
                    if isinstance(error, STOPPING):
                        stop = stop or error  # the calls that did go through are still kept and audited first
                        continue
                    self.settle(record, done, error, waiting.get(record.pk))
            if stop is not None:
                raise stop
        if not sync.dry_run:
            Cursor.objects.update_or_create(integration=sync.integration, stream=self.kind,
                                            defaults={"kind": TIMESTAMP.name, "value": TIMESTAMP.render(began)})

    def keep(self, record, state, **fields):
        """The bill's follow-up row of this kind, now in `state`, written with the chunk."""
        first = not self.kept
        self.kept.append(FollowUp(record=record, kind=self.kind, **{
            "state": state, "done_at": None, "detail": [], "error": "", "cause": "", **fields}))
        self.touch(record)
        if first:
            self.sync.ledger.together(self.write_kept)

    def touch(self, record):
        """The bill's own row says its follow-up was tried: since() finds it again next run while it waits."""
        self.sync.ledger.stage(record, ("updated_at",))

    def write_kept(self):
        kept, self.kept = self.kept, []
        FollowUp.objects.bulk_create(kept, update_conflicts=True, unique_fields=["record", "kind"],
                                     update_fields=["state", "done_at", "detail", "error", "cause", "updated_at"])

    def settle(self, record, done, error, waiting_for):
        """Keep one bill's outcome; `waiting_for` is what its follow-up already waits on, if it does."""
        sync, ledger, counter = self.sync, self.sync.ledger, self.counter
        if error is None:
            ledger.attempted()
            detail, action, said = done
            self.keep(record, FollowUpState.DONE, done_at=timezone.now(), detail=detail)
            sync.counters[f"{counter}_done"] += 1
            ledger.log(action, record, said)
        elif isinstance(error, RecordError) and error.error_class not in RETRY_CLASSES:
            sync.failures += 1
            sync.counters[f"{counter}_failed"] += 1
            self.keep(record, FollowUpState.REFUSED, error=str(error), cause=error.cause)
            ledger.log(f"sync.bill.{counter}_failed", record, str(error))
        else:
            sync.counters[f"{counter}_waiting"] += 1
            if waiting_for != str(error):
                self.keep(record, FollowUpState.WAITING, error=str(error))
                ledger.log(f"sync.bill.{counter}_waiting", record, f"Not done yet, retried next run: {error}")
            else:
                self.touch(record)
            ledger.attempted(None, error)
