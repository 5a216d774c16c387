"""A step that carries one stream of records across (suppliers, invoices), a batch at a time: each record checked
against its ledger row, the batch's remote work sent together, the successes written together, and the stream's
cursor moved once the whole stream is read."""

from connectors.cursors import newer
from connectors.records import Unreadable
from syncs.models import SyncRecord
from syncs.steps.base import Step

# The ledger's search fields (finance finds a record by them), refreshed from each read.
SEARCH_FIELDS = ("number", "party", "amount", "currency", "document_date")


class StreamStep(Step):
    stream = ""  # its cursor
    object_type = ""  # its ledger rows

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
        records = ledger.rows(self.object_type, [(item.source_id, item.source_ref if isinstance(item, Unreadable)
                                                  else self.describe(item)) for item in latest.values()])
        self.prefetch([item for item in latest.values() if not isinstance(item, Unreadable)])
        self.refresh_search_fields(latest.values(), records)
        batch = []
        for item in latest.values():
            record = records[item.source_id]
            if ledger.set_aside_by_a_person(record):
                continue  # never sent, never retried, until they undo it
            if isinstance(item, Unreadable):
                ledger.fail(record, "data", item.reason, {"marker": item.updated_marker}, cause="unreadable_record")
                continue
            pending = self.prepare(item, record)
            if pending is not None:
                batch.append(pending)
        try:
            if batch:
                self.send(batch)
        finally:
            ledger.flush()

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
        if stale and not self.sync.dry_run:
            SyncRecord.objects.bulk_update(stale, list(SEARCH_FIELDS))
