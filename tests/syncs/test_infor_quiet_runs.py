"""The Infor side of a quiet run, on both Infor demos as seed_demo loads them: a supplier whose marker is the one the
ledger holds as done, and that M3 lists as unchanged since it was read, is not read again in detail (its address and
status); one changed since, or one that failed for a passing reason, is."""

from collections import Counter

from syncs.engine import run_integration
from syncs.models import RecordStatus, SyncRecord
from tests.syncs.test_quiet_runs import QUIET_LIMIT, run_counted, total

ADDRESSES = "CRS620MI/LstAddresses"


def by_transaction(made):
    """{program/transaction: calls} of Infor's calls by endpoint (whose paths carry the call's matrix parameters)."""
    counted = Counter()
    for path, count in made.items():
        counted["/".join(path.split(";")[0].rsplit("/", 2)[-2:])] += count
    return counted


def detail_calls(made):
    """The calls that read one supplier each."""
    counted = by_transaction(made)
    return counted[ADDRESSES] + counted["CRS620MI/GetBasicData"]


def test_a_quiet_infor_to_bill_run_right_after_seeding_reads_no_supplier_in_detail(seeded, sandbox):
    integration = seeded("infor")
    run_integration(integration.pk, trigger="schedule")
    quiet, made = run_counted(sandbox, integration, "infor")
    assert quiet.counters.get("vendors_updated", 0) == quiet.counters.get("bills_created", 0) == 0
    assert detail_calls(made["infor"]) == 0, by_transaction(made["infor"])
    assert total(made["infor"]) <= QUIET_LIMIT, by_transaction(made["infor"])


def test_a_quiet_infor_to_avidxchange_run_right_after_seeding_reads_no_supplier_in_detail(seeded, sandbox):
    integration = seeded("avidxchange")  # seed_demo runs it once, and pays some of its bills in AvidXchange
    run_integration(integration.pk, trigger="schedule")  # brings those payments back
    quiet, made = run_counted(sandbox, integration, "infor")
    assert quiet.counters.get("vendors_updated", 0) == 0
    assert detail_calls(made["infor"]) == 0, by_transaction(made["infor"])
    assert total(made["infor"]) <= QUIET_LIMIT, by_transaction(made["infor"])


def test_an_address_changed_right_after_the_first_run_is_read_again_and_reaches_bill(seeded, sandbox):
    integration = seeded("infor")
    run_integration(integration.pk, trigger="schedule")
    # Within the same ten minutes as the first read: the supplier's marker (a point of that grid) does not move.
    sandbox.control("infor/update-supplier", {"SUNO": "S10002", "TOWN": "Fargo"})
    run, made = run_counted(sandbox, integration, "infor")
    assert run.counters["vendors_updated"] == 1
    assert by_transaction(made["infor"])[ADDRESSES] == 1
    vendors = next(iter(sandbox.state("bill")["organizations"].values()))["vendors"]
    assert [v["address"]["city"] for v in vendors if v.get("shortName") == "S10002"] == ["Fargo"]
    quiet, made = run_counted(sandbox, integration, "infor")
    assert detail_calls(made["infor"]) == 0, by_transaction(made["infor"])


def test_a_supplier_that_failed_for_a_passing_reason_is_read_again(seeded, sandbox):
    integration = seeded("infor")
    run_integration(integration.pk, trigger="schedule")
    record = SyncRecord.objects.get(integration=integration, object_type="vendor", source_id="S10003")
    record.status, record.error_class, record.cause = RecordStatus.FAILED, "transient", "remote_unavailable"
    record.save()
    run, made = run_counted(sandbox, integration, "infor")
    assert detail_calls(made["infor"]) >= 1, by_transaction(made["infor"])
    record.refresh_from_db()
    assert record.status == RecordStatus.SYNCED
    quiet, made = run_counted(sandbox, integration, "infor")
    assert detail_calls(made["infor"]) == 0, by_transaction(made["infor"])
