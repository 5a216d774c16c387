"""A step that carries one stream of records across (suppliers, invoices), a batch at a time: each record checked
against its ledger row, the batch's remote work sent together, the successes written together, and the stream's
cursor moved once the whole stream is read."""

import inspect

from django.db.models import Q
from django.utils import timezone

from connectors.cursors import newer
from connectors.errors import TransientError
from connectors.records import Unreadable
from syncs.ledger import RETRY_CLASSES
from syncs.models import RecordStatus, SyncRecord
from syncs.steps.base import Read, Step

# The ledger's search fields (finance finds a record by them), refreshed from each read.
SEARCH_FIELDS = ("number", "party", "amount", "currency", "document_date")


def settled(missing, created, find, create):
    """A batch create's results ({ledger source id: result}), with the items whose call the platform answered with a
    server error looked up at once and, where not there, sent once more. A server that answered is done with the
    request, so what it made is there to be found, as the next run would find it; a call that timed out may still be
    at work, and waits for the next run. A look-up or second send that fails leaves the first results as they were."""
    answered = [p for p in missing if isinstance(created.get(p.record.source_id), TransientError)
                and (created[p.record.source_id].status or 0) >= 500]
    if not answered:
        return created
    created = dict(created)
    try:
        found = find(answered)
    except TransientError:
        return created
    for pending in answered:
        if pending.item.source_id in found:
            created[pending.record.source_id] = found[pending.item.source_id]
    again = [p for p in answered if p.item.source_id not in found]
    if again:
        try:
            created.update(create(again))
        except TransientError:
            pass
    return created


class StreamStep(Step):
    stream = ""  # its cursor
    object_type = ""  # its ledger rows
    read_at = None  # when this run's read began, where the reader takes `known` (read)

    @classmethod
    def read(cls, sync, reader, since):
        """`reader(since)` as a Read, told what the ledger holds as done when the reader takes `known` (its signature
        says so) and this run reads only what changed: {source id: (marker, ISO time it was read)} of each row synced,
        set aside or failed for good, which the reader need not read again while its source says it is unchanged
        since (a quiet run costs no call per record). A resync or a replay reads everything again. The Read's
        `read_at` is kept on each row this read writes, taken before the read starts: what changed during the read
        counts as changed after it."""
        if "known" not in inspect.signature(reader).parameters:
            return Read(reader(since))
        read_at = timezone.now().isoformat()
        if sync.since_override is not None or sync.run.trigger == "replay":
            return Read(reader(since), read_at)
        # A failure that waits for a fix in the source is read again when the source changes it; one for a passing
        # reason is read again every run until it goes through.
        held = SyncRecord.objects.filter(integration=sync.integration, object_type=cls.object_type).filter(
            Q(status__in=(RecordStatus.SYNCED, RecordStatus.SKIPPED))
            | Q(status=RecordStatus.FAILED) & ~Q(error_class__in=RETRY_CLASSES)).order_by()
        known = {source_id: (marker, at) for source_id, marker, at
                 in held.values_list("source_id", "data__marker", "data__read_at") if marker and at}
        return Read(reader(since, known=known), read_at)

    def read_data(self, item):
        """What a row keeps of the read that gave it: the record's marker, and when the read began where kept."""
        return {"marker": item.updated_marker, **({"read_at": self.read_at} if self.read_at else {})}

    def note_read(self, record, item):
        """A row re-read unchanged keeps the marker and time of this read (`read`), so that the next read knows it as
        done; written without an audit entry, and only by a reader that takes `known`."""
        if self.read_at is None or self.sync.dry_run:
            return
        if (record.data.get("marker"), record.data.get("read_at")) != (item.updated_marker, self.read_at):
            record.data = {**record.data, "marker": item.updated_marker, "read_at": self.read_at}
            self.sync.ledger.stage(record, ("data",))

    def describe(self, item):
        """The record as its ledger row names it (source_ref)."""
        raise NotImplementedError

    def search_fields(self, item):
        """What finance searches a record by, taken from what was just read."""
        return {}

    def prefetch(self, items):
        """What the batch's records need from the database, read once for the batch, before any is prepared."""

    def prepare(self, item, record):
        """The record's Pending remote work, or None when nothing is to be sent for it (unchanged, failed, set aside,
        or only shown by a dry run)."""
        raise NotImplementedError

    def send(self, batch):
        """The batch's remote work, each record's outcome kept on the ledger."""
        raise NotImplementedError

    def sync_stream(self, items):
        """Read the stream a batch at a time: each item against the ledger (`prepare` returns its Pending
        remote work, or None), the batch's remote work to `send`, then the cursor to the newest item."""
        ledger = self.sync.ledger
        kind = ledger.cursor_type(self.stream)
        newest = None
        chunk = []
        for item in items:
            chunk.append(item)
            newest = newer(kind, newest, ledger.marker(kind, item.updated_marker))
            if len(chunk) >= self.sync.batch_size:
                self.sync_chunk(chunk)
                chunk = []
        if chunk:
            self.sync_chunk(chunk)
        ledger.advance_cursor(self.stream, newest)

    def sync_chunk(self, chunk):
        ledger = self.sync.ledger
        # A record read twice in one batch (paging drift) is sent once, as last read.
        latest = {item.source_id: item for item in chunk}
        self.prefetch([item for item in latest.values() if not isinstance(item, Unreadable)])
        search = {source_id: self.searched_by(item) for source_id, item in latest.items()}
        records = ledger.rows(self.object_type, [(item.source_id, item.source_ref if isinstance(item, Unreadable)
                                                  else self.describe(item)) for item in latest.values()], search)
        with ledger.batch():
            self.refresh_search_fields(search, records)
            batch = []
            for item in latest.values():
                record = records[item.source_id]
                if ledger.set_aside_by_a_person(record):
                    continue  # never sent, never retried, until they undo it
                if isinstance(item, Unreadable):
                    ledger.fail(record, item.error_class, item.reason, self.read_data(item), cause=item.cause)
                    if item.error_class in RETRY_CLASSES:
                        # The source system failed that read: counted towards the rolling outage rule like any
                        # other attempt, so a source that is down stops the run.
                        ledger.attempted(self.sync.source_name, TransientError(item.reason))
                    continue
                pending = self.prepare(item, record)
                if pending is not None:
                    batch.append(pending)
            if batch:
                self.sync.fence()  # the run still holds its integration: nobody else sends this batch
                self.send(batch)

    def searched_by(self, item):
        """The search fields of a record read, or of one that could not be read, what of them could be (its number)."""
        if isinstance(item, Unreadable):
            return {"number": item.number[:100]} if item.number else {}
        return self.search_fields(item)

    def refresh_search_fields(self, search, records):
        """Kept true to the source on every read, written with the batch, and only where they changed. A row made for
        this batch has them already (Ledger.rows)."""
        ledger = self.sync.ledger
        for source_id, fields in search.items():
            record = records[source_id]
            if any(getattr(record, name) != value for name, value in fields.items()):
                for name, value in fields.items():
                    setattr(record, name, value)
                ledger.stage(record, SEARCH_FIELDS)
