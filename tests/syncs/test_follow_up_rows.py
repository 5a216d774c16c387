"""A synced bill's follow-ups as rows of their own (syncs.models.FollowUp), one a bill and kind: which bills still
lack one, the work queue reading the refused row of its own kind, the record's admin page showing them, and the
migration that moved the keys bills kept in their data to these rows (and back)."""

from datetime import datetime
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from portal.models import Tenant
from syncs import workqueue
from syncs.models import FollowUp, FollowUpKind, FollowUpState, RecordStatus, SyncRecord
from syncs.steps.acknowledgements import Acknowledgements
from tests.syncs.test_status_pages import invoice, make_integration

MOVE = import_module("syncs.migrations.0011_follow_up_rows")
BEFORE, AFTER = ("syncs", "0010_record_types_and_run_triggers"), ("syncs", "0011_follow_up_rows")
# The connections as they were then: a column added to them later has no default in the database.
CONNECTIONS_THEN = ("connectors", "0003_system_choices_from_registry")
ACKNOWLEDGED = "2026-03-02T10:42:00+00:00"
# Each shape a bill's data held a follow-up in before the rows, and the row it becomes: (kind, state, detail, error,
# cause). "reference" is the bill's own and stays.
SHAPES = [
    ({"acknowledged": ACKNOWLEDGED}, [("acknowledgement", "done", [], "", "")]),
    ({"acknowledged_waiting": "Invoice INV-1 is locked by another user."},
     [("acknowledgement", "waiting", [], "Invoice INV-1 is locked by another user.", "")]),
    ({"acknowledge_refused": "The company is closed for posting.", "acknowledge_refused_cause": "refused"},
     [("acknowledgement", "refused", [], "The company is closed for posting.", "refused")]),
    ({"acknowledge_refused": "Refused before refusals kept a cause."},
     [("acknowledgement", "refused", [], "Refused before refusals kept a cause.", "")]),
    ({"documents": [{"name": "INV-5.pdf", "id": "att-5"}]},
     [("documents", "done", [{"name": "INV-5.pdf", "id": "att-5"}], "", "")]),
    ({"documents": []}, [("documents", "done", [], "", "")]),
    ({"documents_waiting": "AP platform busy."}, [("documents", "waiting", [], "AP platform busy.", "")]),
    ({"documents_refused": "Image too large.", "documents_refused_cause": "file_too_large"},
     [("documents", "refused", [], "Image too large.", "file_too_large")]),
    ({"acknowledged": ACKNOWLEDGED, "documents_refused": "Image too large.", "documents_refused_cause": "refused"},
     [("acknowledgement", "done", [], "", ""), ("documents", "refused", [], "Image too large.", "refused")]),
    ({}, []),
]


@pytest.fixture
def integration():
    return make_integration(Tenant.objects.create(name="Acme", slug="acme"))


def rows_of(record):
    return sorted((row.kind, row.state, row.detail, row.error, row.cause) for row in record.follow_ups.all())


def lacking(integration):
    step = Acknowledgements()
    step.sync = SimpleNamespace(integration=integration)
    return set(step.bills_lacking().values_list("number", flat=True))


@pytest.mark.django_db
def test_a_bill_has_one_follow_up_of_each_kind(integration):
    bill = invoice(integration, 1)
    FollowUp.objects.create(record=bill, kind=FollowUpKind.DOCUMENTS, state=FollowUpState.DONE)
    FollowUp.objects.create(record=bill, kind=FollowUpKind.ACKNOWLEDGEMENT, state=FollowUpState.WAITING)
    with pytest.raises(IntegrityError), transaction.atomic():
        FollowUp.objects.create(record=bill, kind=FollowUpKind.DOCUMENTS, state=FollowUpState.REFUSED)
    bill.delete()
    assert not FollowUp.objects.exists(), "a bill's follow-ups go with it"


@pytest.mark.django_db
def test_a_bill_lacks_a_follow_up_until_it_is_done_or_refused_for_good(integration):
    states = {1: None, 2: FollowUpState.WAITING, 3: FollowUpState.DONE, 4: FollowUpState.REFUSED}
    for n, state in states.items():
        bill = invoice(integration, n)
        if state:
            FollowUp.objects.create(record=bill, kind=FollowUpKind.ACKNOWLEDGEMENT, state=state)
    FollowUp.objects.create(record=SyncRecord.objects.get(number="INV-1"), kind=FollowUpKind.DOCUMENTS,
                            state=FollowUpState.DONE)
    invoice(integration, 5, status=RecordStatus.FAILED)
    assert lacking(integration) == {"INV-1", "INV-2"}, "images attached say nothing of its acknowledgement"


@pytest.mark.django_db
def test_a_group_of_refusals_reads_each_bills_row_of_its_own_kind(integration):
    locked, closed = invoice(integration, 1), invoice(integration, 2)
    FollowUp.objects.create(record=locked, kind=FollowUpKind.ACKNOWLEDGEMENT, state=FollowUpState.REFUSED,
                            error="Locked for good.", cause="locked")
    FollowUp.objects.create(record=locked, kind=FollowUpKind.DOCUMENTS, state=FollowUpState.REFUSED,
                            error="Closed.", cause="refused")
    FollowUp.objects.create(record=closed, kind=FollowUpKind.ACKNOWLEDGEMENT, state=FollowUpState.REFUSED,
                            error="Closed.", cause="refused")
    found = {(g.step, g.cause): g for g in workqueue.follow_up_groups()[0]}
    assert {key: g.count for key, g in found.items()} == {
        ("acknowledgement", "locked"): 1, ("acknowledgement", "refused"): 1, ("documents", "refused"): 1}
    group = found["acknowledgement", "refused"]
    assert [(r.number, r.refusal) for r in workqueue.records_of(group)] == [("INV-2", "Closed.")], \
        "the other bill's images were refused for that cause, not its acknowledgement"

    assert workqueue.retry_follow_ups(group, workqueue.records_of(group), "olivia") == 1
    assert lacking(integration) == {"INV-2"}
    assert locked.follow_ups.count() == 2, "only the group's own refusals are tried again"


@pytest.mark.django_db
def test_the_record_page_shows_its_follow_ups(client, integration):
    bill = invoice(integration, 1)
    FollowUp.objects.create(record=bill, kind=FollowUpKind.DOCUMENTS, state=FollowUpState.DONE,
                            done_at=timezone.now(), detail=[{"name": "INV-1.pdf", "id": "att-1"}])
    FollowUp.objects.create(record=bill, kind=FollowUpKind.ACKNOWLEDGEMENT, state=FollowUpState.REFUSED,
                            error="The company is closed for posting.", cause="refused")
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-0123456789"))
    page = client.get(reverse("admin:syncs_syncrecord_change", args=[bill.pk])).content.decode()
    for said in ("Follow-ups", "Invoice images attached", "INV-1.pdf", "att-1", "Invoice marked as transferred",
                 "Refused", "The company is closed for posting."):
        assert said in page, said


@pytest.mark.django_db
def test_the_migration_moves_each_key_shape_to_rows_and_back(integration):
    bills = [invoice(integration, n, data={"reference": {"id": f"INV-{n}"}, **data})
             for n, (data, _) in enumerate(SHAPES)]
    vendor = SyncRecord.objects.create(integration=integration, object_type="vendor", source_id="S1",
                                       data={"marker": "m"})
    touched = {bill.pk: bill.updated_at for bill in SyncRecord.objects.all()}

    MOVE.to_rows(apps, connection.schema_editor())
    for bill, (_, rows) in zip(bills, SHAPES, strict=True):
        bill.refresh_from_db()
        assert (bill.data, rows_of(bill)) == ({"reference": {"id": bill.number}}, sorted(rows)), bill.number
    done = FollowUp.objects.get(record=bills[0])
    assert done.done_at == datetime.fromisoformat(ACKNOWLEDGED)
    assert FollowUp.objects.get(record=bills[4]).done_at is None, "images done kept no time"
    assert {r.pk: r.updated_at for r in SyncRecord.objects.all()} == touched, "moving keys is not a change to a bill"
    vendor.refresh_from_db()
    assert vendor.data == {"marker": "m"}

    MOVE.to_keys(apps, connection.schema_editor())
    for bill, (data, _) in zip(bills, SHAPES, strict=True):
        bill.refresh_from_db()
        assert bill.data == {"reference": {"id": bill.number}, **data}, bill.number


@pytest.mark.django_db(transaction=True)
def test_the_migration_runs_forward_and_back_on_the_database():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([BEFORE, CONNECTIONS_THEN])
        old = executor.loader.project_state([BEFORE, CONNECTIONS_THEN]).apps
        tenant = old.get_model("portal", "Tenant").objects.create(name="Acme", slug="acme")
        Connection = old.get_model("connectors", "Connection")
        erp = Connection.objects.create(tenant=tenant, system="infor", name="ERP")
        ap = Connection.objects.create(tenant=tenant, system="bill", name="AP")
        flow = old.get_model("syncs", "Integration").objects.create(tenant=tenant, name="Flow", source=erp,
                                                                    target=ap, interval_minutes=15)
        Record = old.get_model("syncs", "SyncRecord")
        for n, (data, _) in enumerate(SHAPES):
            Record.objects.create(integration=flow, object_type="bill", source_id=f"AAA/{n}", status="synced",
                                  data=data)

        executor = MigrationExecutor(connection)
        executor.migrate([AFTER])
        for n, (_, rows) in enumerate(SHAPES):
            bill = SyncRecord.objects.get(source_id=f"AAA/{n}")
            assert (bill.data, rows_of(bill)) == ({}, sorted(rows)), n

        executor = MigrationExecutor(connection)
        executor.migrate([BEFORE])
        old = executor.loader.project_state([BEFORE]).apps
        kept = {r.source_id: r.data for r in old.get_model("syncs", "SyncRecord").objects.all()}
        assert kept == {f"AAA/{n}": data for n, (data, _) in enumerate(SHAPES)}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
