"""Every system's demo tenant, as `make run` seeds it: loaded, mapped, and working on its first run."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from portal.models import Membership
from sandbox import demo
from syncs import reference
from syncs.engine import run_integration
from syncs.models import Integration, MappingRule, RecordStatus, RunStatus, SyncRecord


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
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.error
    assert SyncRecord.objects.filter(integration=integration, object_type="bill",
                                     status=RecordStatus.SYNCED).exists(), \
        run.counters
    again = seeded(system_id)
    assert again.pk == integration.pk
    assert SyncRecord.objects.filter(integration=integration, status=RecordStatus.SYNCED).exists(), \
        "the simulators kept their data, so the ledger is kept"


def test_every_demo_is_a_module_that_gives_what_seed_demo_reads():
    modules = demo.demo_modules()
    assert (modules["infor"].TENANT, modules["infor"].INTEGRATION) == (("demo", "Demo Manufacturing"), "Infor → BILL")
    unique = [{m.TENANT[0] for m in modules.values()}, {m.INTEGRATION for m in modules.values()}]
    assert [len(names) for names in unique] == [len(modules)] * 2, "each demo has its own tenant and integration"
    for module in modules.values():
        assert callable(module.seed) and callable(module.connection), module.__name__
        if getattr(module, "PARTNER", "bill") != "bill":
            assert callable(module.partner_connection) and callable(module.seeded), module.__name__
            continue
        codes = {("gl_account", code) for code, _ in module.GL_ACCOUNTS}
        codes |= {(kind, code) for kind, code, _ in module.DIMENSIONS}
        assert {kind for kind, _ in codes} - {"gl_account"} <= set(demo.BILL_DIMENSIONS), module.__name__
        assert module.UNMAPPED and module.UNMAPPED <= codes, module.__name__


def test_the_main_demo_keeps_its_tenant_users_connections_and_unmapped_account(sandbox, db):
    from sandbox.bill import simulator as bill_sandbox
    from sandbox.infor import demo as infor

    out = io.StringIO()
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=out)
    integration = Integration.objects.get(name="Infor → BILL")
    assert (integration.tenant.slug, integration.tenant.name) == ("demo", "Demo Manufacturing")
    assert dict(Membership.objects.filter(tenant=integration.tenant).values_list("user__username", "role")) == {
        "demo-ops": Membership.OPS, "demo-finance": Membership.FINANCE}
    assert (integration.source.name, integration.target.name) == ("Infor M3 (sandbox)", "BILL (sandbox)")
    assert integration.target.credentials["organization_id"] == bill_sandbox.ORG_ID
    assert "BILL webhooks for 'Infor → BILL': subscription " in out.getvalue()
    assert "simulators loaded with fresh demo data" in out.getvalue()
    rules = MappingRule.objects.filter(integration=integration, confirmed=True)
    assert sorted(rules.values_list("kind", "source_code")) == sorted(
        [("gl_account", code) for code, _ in infor.GL_ACCOUNTS if code != infor.UNMAPPED_ACCOUNT]
        + [("department", code) for code, _ in infor.DEPARTMENTS])
    proposed = MappingRule.objects.create(integration=integration, kind="gl_account", confirmed=False,
                                          source_code=infor.UNMAPPED_ACCOUNT, target_id=rules.first().target_id)
    again = io.StringIO()
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=again)
    assert not MappingRule.objects.filter(pk=proposed.pk).exists(), "a re-seed shows the unmapped account again"
    assert "fresh" not in again.getvalue() and Integration.objects.get(name="Infor → BILL").pk == integration.pk


def test_an_unknown_demo_is_refused_in_words(sandbox, db):
    with pytest.raises(CommandError, match="No demo for sap; demos: infor, "):
        call_command("seed_demo", sandbox_url=sandbox.url, only=["sap"], stdout=io.StringIO())


def test_the_acumatica_demo_shows_its_three_problems(seeded):
    from sandbox.acumatica import demo as acumatica

    integration = seeded("acumatica")
    run_integration(integration.pk)
    failed = {r.number: r.error_detail for r in SyncRecord.objects.filter(
        integration=integration, object_type="bill", status=RecordStatus.FAILED)}
    assert "is in EUR, and the BILL account pays bills in USD only" in failed[acumatica.EURO_BILL]
    assert f"Subaccount {acumatica.UNMAPPED_SUBACCOUNT} is not mapped" in failed[acumatica.UNMAPPED_BILL]
    on_hold = SyncRecord.objects.get(integration=integration, object_type="vendor", source_id=acumatica.VENDOR_ON_HOLD)
    assert on_hold.status == RecordStatus.SKIPPED


def test_the_ifs_demo_shows_its_problems(seeded, sandbox):
    from portal.models import AuditEntry
    from sandbox.ifs import demo as ifs

    integration = seeded("ifs")
    first = run_integration(integration.pk)
    assert first.counters["acknowledgements_waiting"] == 1, "the invoice on a locked row waits"
    waiting = SyncRecord.objects.get(integration=integration, object_type="bill", number=ifs.LOCKED_INVOICE)
    assert waiting.follow_ups.get(kind="acknowledgement").state == "waiting"
    org = demo.bill_organization(ifs.TENANT[0])
    sandbox.control("bill/edit-vendor", {"organizationId": org, "shortName": ifs.BOTH_SIDES_SUPPLIER,
                                         "changes": {"email": "ap-desk@vendor-side.test"}})
    second = run_integration(integration.pk)
    assert second.counters["supplier_update_conflicts"] == 1, second.counters
    assert AuditEntry.objects.filter(action="sync.supplier.conflict", tenant=integration.tenant).count() == 1
