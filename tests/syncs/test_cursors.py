"""Typed cursors: stored without loss, compared by type, each with its own overlap."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from connectors.cursors import ROWVERSION, TIMESTAMP, TOKEN, CursorTypeError, newer
from connectors.models import Connection
from syncs.engine import Sync
from syncs.models import Cursor, Integration, RecordStatus, RunStatus, SyncRecord, SyncRun


def test_each_type_parses_its_own_text_and_refuses_others():
    moment = TIMESTAMP.parse("2026-11-30T10:00:00.123456+01:00")
    assert TIMESTAMP.render(moment) == "2026-11-30T10:00:00.123456+01:00", "kept whole, offset included"
    with pytest.raises(CursorTypeError, match="no time zone"):
        TIMESTAMP.parse("2026-11-30 10:00:00")
    assert ROWVERSION.parse("0x00000000000007D1") == 2001 and ROWVERSION.parse("18446744073709551615") == 2**64 - 1
    with pytest.raises(CursorTypeError):
        ROWVERSION.parse("2026-11-30T10:00:00+00:00")
    with pytest.raises(CursorTypeError):
        TOKEN.parse("")


def test_values_compare_by_type_not_as_text():
    assert newer(ROWVERSION, 999, 1000) == 1000, "as text '999' > '1000'"
    early = TIMESTAMP.parse("2026-11-30T10:00:00+01:00")
    late = TIMESTAMP.parse("2026-11-30T09:30:00+00:00")
    assert newer(TIMESTAMP, early, late) == late, "as text the +01:00 one would win"
    assert newer(TOKEN, "b-token", "a-token") == "a-token", "a token stream keeps the last one given"


@pytest.fixture
def sync(tenant):
    erp = Connection.objects.create(tenant=tenant, system="infor", name="ERP")
    ap = Connection.objects.create(tenant=tenant, system="bill", name="AP")
    integration = Integration.objects.create(tenant=tenant, name="i", source=erp, target=ap)
    run = SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.SUCCEEDED)
    sync = Sync(integration, run)
    sync.erp = SimpleNamespace(cursor_types={"invoices": ROWVERSION})
    sync.ap = SimpleNamespace()
    return sync


def test_a_rowversion_stream_reads_back_its_overlap_and_its_failed_records(sync):
    assert sync.ledger.since("invoices", "bill") is None
    sync.ledger.advance_cursor("invoices", 1_000_000)
    sync.ledger.advance_cursor("invoices", 999_999)
    cursor = Cursor.objects.get(stream="invoices")
    assert (cursor.kind, cursor.value) == ("rowversion", "1000000"), "never moves backwards"
    assert sync.ledger.since("invoices", "bill") == 1_000_000 - ROWVERSION.overlap
    SyncRecord.objects.create(integration=sync.integration, object_type="bill", source_id="7",
                              status=RecordStatus.FAILED, error_class="transient", data={"marker": "500"})
    SyncRecord.objects.create(integration=sync.integration, object_type="bill", source_id="8",
                              status=RecordStatus.FAILED, error_class="data", data={"marker": "100"})
    assert sync.ledger.since("invoices", "bill") == 499, "a passing failure is read again by the next run"
    sync.run.trigger = "replay"
    assert sync.ledger.since("invoices", "bill") == 99, "a replay reads every failed record again"


def test_a_timestamp_stream_keeps_its_offset_and_a_type_change_starts_over(sync):
    moment = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    sync.ledger.advance_cursor("suppliers", moment)
    assert sync.ledger.since("suppliers", "vendor") == moment - TIMESTAMP.overlap
    sync.erp.cursor_types["suppliers"] = ROWVERSION
    assert sync.ledger.since("suppliers", "vendor") is None, "a timestamp is no row version: read from the start"
    sync.since_override = moment - timedelta(days=1)
    sync.erp.cursor_types["suppliers"] = TIMESTAMP
    assert sync.ledger.since("suppliers", "vendor") == moment - timedelta(days=1)
