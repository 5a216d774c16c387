"""One failed call in a bulk fan-out keeps the results of the calls that went through: the objects they made are
recorded as made, with their audit entries, and only the failed call's items fail (issue 23: 220 vendors made in
BILL, all 300 marked failed)."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from connectors.bill.client import BillClient
from connectors.errors import ConnectorError, Deferred, TransientError
from connectors.http import Unsafe, fan_out
from portal.models import AuditEntry
from syncs.engine import run_integration
from syncs.models import RecordStatus, RunStatus, SyncRecord
from tests.fakes import demo
from tests.fakes.fake_ap.connector import FakeApConnector


def test_fan_out_keeps_each_call_s_result_when_asked():
    def work(chunk):
        if chunk == "b":
            raise TransientError("HTTP 503")
        return chunk.upper()

    done = fan_out(work, ["a", "b", "c"], 3, keep=ConnectorError)
    assert done[0] == "A" and done[2] == "C"
    assert isinstance(done[1], TransientError)
    with pytest.raises(TransientError):
        fan_out(work, ["a", "b", "c"], 3)


def test_a_bill_bulk_create_keeps_the_objects_of_the_calls_that_went_through():
    calls = []

    def json(method, path, json):
        calls.append(json)
        if len(calls) == 2:
            raise Unsafe("BILL HTTP 502 on a POST: not sent again")
        return [{"id": f"v-{item['name']}"} for item in json]

    client = SimpleNamespace(http=SimpleNamespace(json=json), create_vendor=None)
    items = [{"name": str(n)} for n in range(5)]
    results = BillClient._bulk(client, "/v3/vendors", items, 2, None)
    assert [r["id"] if isinstance(r, dict) else "failed" for r in results] == ["v-0", "v-1", "failed", "failed", "v-4"]
    assert isinstance(results[2], Unsafe) and results[2] is results[3]


def created_but(failing, error):
    """FakeApConnector.create_vendors as a bulk fan-out answers when the call that carried `failing` failed."""
    create = FakeApConnector.create_vendors

    def create_vendors(self, suppliers):
        made = create(self, [s for s in suppliers if s.source_id not in failing])
        return {**made, **{s.source_id: error for s in suppliers if s.source_id in failing}}

    return create_vendors


def test_a_failed_call_fails_its_own_vendors_and_keeps_the_others(fake_demo, fakes, monkeypatch):
    failing = {"S10002", "S10003", "S10004"}
    monkeypatch.setattr(FakeApConnector, "create_vendors",
                        created_but(failing, TransientError("Fake AP HTTP 503: service unavailable")))
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    made = len(fakes.ap().vendors)
    assert made == demo.SUPPLIERS - 1 - len(failing)  # all but the supplier without a tax id and the failed call's
    assert run.counters["vendors_created"] == made
    synced = SyncRecord.objects.filter(object_type="vendor", status=RecordStatus.SYNCED)
    assert set(synced.values_list("target_id", flat=True)) == set(fakes.ap().vendors)
    assert AuditEntry.objects.filter(action="sync.vendor.created").count() == made
    failed = SyncRecord.objects.filter(object_type="vendor", status=RecordStatus.FAILED, error_class="transient")
    assert set(failed.values_list("source_id", flat=True)) == failing
    assert all("503" in detail for detail in failed.values_list("error_detail", flat=True))


def test_a_call_that_stops_the_run_keeps_the_others_first(fake_demo, fakes, monkeypatch):
    failing = {"S10005"}
    monkeypatch.setattr(FakeApConnector, "create_vendors",
                        created_but(failing, Deferred("Fake AP's hourly limit is spent.",
                                                 until=timezone.now() + timedelta(hours=1))))
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.DEFERRED
    made = SyncRecord.objects.filter(object_type="vendor", status=RecordStatus.SYNCED)
    assert made.count() == len(fakes.ap().vendors) > 0, "what was made is recorded before the run stops"
    assert not SyncRecord.objects.filter(object_type="vendor", source_id="S10005", status=RecordStatus.SYNCED)
