"""What a step does after the bills are made, for each bill still lacking it (its invoice's images attached, its
invoice marked as transferred): several calls at once, each bill's outcome kept as its follow-up row
(syncs.models.FollowUp, one a bill and kind): the work queue groups the refusals by them and retries them
(workqueue.retry_follow_ups)."""

from itertools import islice

from django.db.models import Exists, OuterRef
from django.utils import timezone

from connectors.errors import AuthError, ConfigurationError, Deferred, RecordError, TransientError
from connectors.http import fan_out
from syncs.ledger import RETRY_CLASSES
from syncs.models import FollowUp, FollowUpState, ObjectType, RecordStatus, SyncRecord
from syncs.steps.base import Step

# Follow-up calls on bills made at once, and bills taken from the ledger at a time.
FOLLOW_UP_WORKERS = 8
FOLLOW_UP_CHUNK = 100
# Errors that stop the run rather than one record's follow-up.
STOPPING = (Deferred, AuthError, ConfigurationError)


def attempt(work, record):
    """(result, None), or (None, the error that stopped it): a record's own (RecordError, TransientError) or one
    that stops the run (STOPPING), which FollowUpStep.run raises once the chunk's other outcomes are kept."""
    try:
        return work(record), None
    except (*STOPPING, RecordError, TransientError) as exc:
        return None, exc


class FollowUpStep(Step):
    counter = ""  # its counters' prefix, and its audit actions'
    kind = ""  # a FollowUpKind: the rows that keep its outcome on each bill

    def work(self, record):
        """The follow-up of one bill, done: (what was attached, kept as its row's detail; audit action; what to
        say)."""
        raise NotImplementedError

    def bills_lacking(self):
        """Synced bills whose follow-up is neither done nor refused for good (a waiting one is tried again)."""
        settled = FollowUp.objects.filter(record=OuterRef("pk"), kind=self.kind,
                                          state__in=[FollowUpState.DONE, FollowUpState.REFUSED])
        return (SyncRecord.objects.filter(integration=self.sync.integration, object_type=ObjectType.BILL,
                                          status=RecordStatus.SYNCED)
                .filter(~Exists(settled)).order_by("pk"))

    def run(self, sync):
        """Each bill lacking the follow-up gets `work(record)`: FOLLOW_UP_WORKERS calls at a time (each system's
        client still holds its own limits), the outcomes written here, in this thread. A passing refusal (a locked
        row, a conflict) waits for the next run, said once; a refusal for good is kept on the bill, audited once,
        and makes the run partial; it is tried again only when a person asks, from the work queue."""
        self.sync = sync
        # The ids first: the rows change as they are settled, which a cursor still open over them must not see.
        pending = iter(list(self.bills_lacking().values_list("pk", flat=True)))
        while ids := list(islice(pending, FOLLOW_UP_CHUNK)):
            chunk = list(SyncRecord.objects.filter(pk__in=ids).order_by("pk"))
            waiting = dict(FollowUp.objects.filter(record__in=ids, kind=self.kind, state=FollowUpState.WAITING)
                           .values_list("record_id", "error"))
            stop = None
            for record, (done, error) in zip(chunk, fan_out(lambda r: attempt(self.work, r), chunk,
                                                            FOLLOW_UP_WORKERS), strict=True):
                if isinstance(error, STOPPING):
                    stop = stop or error  # the calls that did go through are still kept and audited first
                    continue
                self.settle(record, done, error, waiting.get(record.pk))
            if stop is not None:
                raise stop

    def keep(self, record, state, **fields):
        """The bill's follow-up row of this kind, now in `state`; the bill's own row says it changed."""
        FollowUp.objects.update_or_create(record=record, kind=self.kind, defaults={
            "state": state, "done_at": None, "detail": [], "error": "", "cause": "", **fields})
        record.save(update_fields=["updated_at"])

    def settle(self, record, done, error, waiting_for):
        """Keep one bill's outcome; `waiting_for` is what its follow-up already waits on, if it does."""
        sync, ledger, counter = self.sync, self.sync.ledger, self.counter
        if error is None:
            ledger.transient_streak = 0
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
            ledger.note_transient(error)
