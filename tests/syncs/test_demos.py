"""Every system's demo tenant, as `make run` seeds it: loaded, mapped, and working on its first run."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox import demo
from syncs import reference
from syncs.engine import run_integration
from syncs.models import Integration, SyncRecord, SyncRun


@pytest.fixture
def seeded(sandbox, db, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)

    def seed(system_id):
        call_command("seed_demo", sandbox_url=sandbox.url, only=[system_id], stdout=io.StringIO())
        return Integration.objects.get(name=demo.demo_modules()[system_id].INTEGRATION)
    return seed


@pytest.mark.parametrize("system_id", list(demo.demo_modules()))
def test_each_demo_runs_and_a_second_seed_changes_nothing(seeded, system_id):
    integration = seeded(system_id)
    assert reference.cached(integration.target), "mapping rules are picked from a list from the start"
    run = run_integration(integration.pk)
    assert run.status in (SyncRun.SUCCEEDED, SyncRun.PARTIAL), run.error
    assert SyncRecord.objects.filter(integration=integration, object_type="bill", status=SyncRecord.SYNCED).exists(), \
        run.counters
    again = seeded(system_id)
    assert again.pk == integration.pk
    assert SyncRecord.objects.filter(integration=integration, status=SyncRecord.SYNCED).exists(), \
        "the simulators kept their data, so the ledger is kept"


def test_an_unknown_demo_is_refused_in_words(sandbox, db):
    with pytest.raises(CommandError, match="No demo for sap; demos: infor, "):
        call_command("seed_demo", sandbox_url=sandbox.url, only=["sap"], stdout=io.StringIO())


def test_the_acumatica_demo_shows_its_three_problems(seeded):
    from sandbox.acumatica import demo as acumatica

    integration = seeded("acumatica")
    run_integration(integration.pk)
    failed = {r.number: r.error_detail for r in SyncRecord.objects.filter(
        integration=integration, object_type="bill", status=SyncRecord.FAILED)}
    assert "is in EUR, and the BILL account pays bills in USD only" in failed[acumatica.EURO_BILL]
    assert f"Subaccount {acumatica.UNMAPPED_SUBACCOUNT} is not mapped" in failed[acumatica.UNMAPPED_BILL]
    on_hold = SyncRecord.objects.get(integration=integration, object_type="vendor", source_id=acumatica.VENDOR_ON_HOLD)
    assert on_hold.status == SyncRecord.SKIPPED


def test_the_ifs_demo_shows_its_problems(seeded, sandbox):
    from portal.models import AuditEntry
    from sandbox.ifs import demo as ifs
    from tests.syncs.test_infor_to_bill import control

    integration = seeded("ifs")
    first = run_integration(integration.pk)
    assert first.counters["acknowledgements_waiting"] == 1, "the invoice on a locked row waits"
    waiting = SyncRecord.objects.get(integration=integration, object_type="bill", number=ifs.LOCKED_INVOICE)
    assert "acknowledged_waiting" in waiting.data
    org = demo.bill_organization(ifs.TENANT[0])
    control(sandbox, "bill/edit-vendor", {"organizationId": org, "shortName": ifs.BOTH_SIDES_SUPPLIER,
                                          "changes": {"email": "ap-desk@vendor-side.test"}})
    second = run_integration(integration.pk)
    assert second.counters["supplier_update_conflicts"] == 1, second.counters
    assert AuditEntry.objects.filter(action="sync.supplier.conflict", tenant=integration.tenant).count() == 1
