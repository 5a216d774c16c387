"""What a step does after the bills are made, for each bill still lacking it (its invoice's images attached, its
invoice marked as transferred): several calls at once, each bill's outcome kept on its ledger row.

Which follow-ups there are, and the keys in a bill's data that say one is done or refused, are the models'
(syncs.models.FOLLOW_UPS): the work queue retries the refusals by them (workqueue.retry_follow_ups)."""

from itertools import islice

from connectors.errors import AuthError, ConfigurationError, Deferred, RecordError, TransientError
from connectors.http import fan_out
from syncs.ledger import RETRY_CLASSES
from syncs.models import FOLLOW_UPS, RecordStatus, SyncRecord, refusal_cause_key
from syncs.steps.base import Step

# Follow-up calls on bills made at once, and bills taken from the ledger at a time.
FOLLOW_UP_WORKERS = 8
FOLLOW_UP_CHUNK = 100
# Errors that stop the run rather than one record's follow-up.
STOPPING = (Deferred, AuthError, ConfigurationError)


def attempt(work, record):
    """(result, None), or (None, the error that stopped it): a record's own (RecordError, TransientError) or one
    that stops the run (STOPPING), which FollowUp.run raises once the chunk's other outcomes are kept."""
    try:
        return work(record), None
    except (*STOPPING, RecordError, TransientError) as exc:
        return None, exc


class FollowUp(Step):
    counter = ""  # its key in FOLLOW_UPS, and its counters' prefix

    def work(self, record):
        """The follow-up of one bill, done: (data to keep on its row, audit action, what to say)."""
        raise NotImplementedError

    def bills_lacking(self, key, refused_key):
        """Synced bills whose follow-up (`key` in their data) is not done and was not refused for good."""
        return (SyncRecord.objects.filter(integration=self.sync.integration, object_type="bill",
                                          status=RecordStatus.SYNCED)
                .exclude(data__has_key=key).exclude(data__has_key=refused_key).order_by("pk"))

    def run(self, sync):
        """Each bill lacking the follow-up gets `work(record)`: FOLLOW_UP_WORKERS calls at a time (each system's
        client still holds its own limits), the outcomes written here, in this thread. A passing refusal (a locked
        row, a conflict) waits for the next run, said once; a refusal for good is kept on the bill, audited once,
        and makes the run partial; it is tried again only when a person asks, from the work queue."""
        self.sync = sync
        done_key, refused_key = FOLLOW_UPS[self.counter]
        # The ids first: the rows change as they are settled, which a cursor still open over them must not see.
        pending = iter(list(self.bills_lacking(done_key, refused_key).values_list("pk", flat=True)))
        while ids := list(islice(pending, FOLLOW_UP_CHUNK)):
            chunk = list(SyncRecord.objects.filter(pk__in=ids).order_by("pk"))
            stop = None
            for record, (done, error) in zip(chunk, fan_out(lambda r: attempt(self.work, r), chunk,
                                                            FOLLOW_UP_WORKERS), strict=True):
                if isinstance(error, STOPPING):
                    stop = stop or error  # the calls that did go through are still kept and audited first
                    continue
                self.settle(record, done, error, done_key, refused_key)
            if stop is not None:
                raise stop

    def settle(self, record, done, error, done_key, refused_key):
        sync, ledger, counter = self.sync, self.sync.ledger, self.counter
        waiting_key = f"{done_key}_waiting"
        if error is None:
            ledger.transient_streak = 0
            data, action, said = done
            record.data = {key: value for key, value in {**record.data, **data}.items() if key != waiting_key}
            record.save(update_fields=["data", "updated_at"])
            sync.counters[f"{counter}_done"] += 1
            ledger.log(action, record, said)
        elif isinstance(error, RecordError) and error.error_class not in RETRY_CLASSES:
            sync.failures += 1
            sync.counters[f"{counter}_failed"] += 1
            # Its cause beside it: the work queue groups the refusals by it (refusal_cause_key).
            record.data = {**record.data, refused_key: str(error), refusal_cause_key(refused_key): error.cause}
            record.save(update_fields=["data", "updated_at"])
            ledger.log(f"sync.bill.{counter}_failed", record, str(error))
        else:
            sync.counters[f"{counter}_waiting"] += 1
            if record.data.get(waiting_key) != str(error):
                record.data = {**record.data, waiting_key: str(error)}
                record.save(update_fields=["data", "updated_at"])
                ledger.log(f"sync.bill.{counter}_waiting", record, f"Not done yet, retried next run: {error}")
            ledger.note_transient(error)
