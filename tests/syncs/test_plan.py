"""A run's plan comes from what the pair's systems declare, and the engine runs only its steps."""

from dataclasses import replace

import pytest
from django.urls import reverse

from connectors import capabilities as can
from connectors.models import Connection
from connectors.registry import SYSTEMS
from syncs import plan
from syncs.engine import run_integration
from syncs.models import Integration, SyncRecord, SyncRun
from tests.syncs.test_infor_to_bill import bill_org, control, integration, state  # noqa: F401 (fixture)


def test_the_demo_pair_plan_in_words(integration, admin_client):  # noqa: F811
    assert integration.plan == ("suppliers → vendors; approved invoices → bills; payments ← BILL by webhook and "
                                "polling, written to Infor CloudSuite")
    page = admin_client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert "What a run does" in page and "approved invoices → bills" in page


def test_an_erp_that_takes_no_payments_still_gets_them_recorded_and_nothing_fails(
        integration, sandbox, monkeypatch):  # noqa: F811
    infor = SYSTEMS["infor"]
    monkeypatch.setitem(SYSTEMS, "infor", replace(infor, capabilities=infor.capabilities - {can.WRITES_PAYMENTS_BACK}))
    assert integration.plan.endswith("recorded here (Infor CloudSuite does not take them)")
    run_integration(integration.pk)
    bill = bill_org(sandbox)["bills"][0]
    control(sandbox, "bill/pay", {"billId": bill["id"]})
    run = run_integration(integration.pk)
    assert run.status == SyncRun.PARTIAL and run.counters["payments_written_back"] == 1
    payment = SyncRecord.objects.get(object_type="payment")
    assert payment.status == SyncRecord.SYNCED and "does not take payments" in payment.data["erp_reference"]
    infor_state = state(sandbox, "infor")
    assert infor_state["payments"] == [], "nothing was written to the ERP"


def test_an_ap_platform_without_vendors_skips_that_step(integration, monkeypatch):  # noqa: F811
    bill = SYSTEMS["bill"]
    monkeypatch.setitem(SYSTEMS, "bill", replace(bill, capabilities=bill.capabilities - {can.CREATES_VENDORS}))
    assert [step.name for step in plan.plan_for(integration)] == ["sync_invoices", "sync_payments"]


def test_an_integration_with_a_system_not_built_is_refused(tenant, monkeypatch):
    from django.core.exceptions import ValidationError

    system_id = "ifs"  # as it was before it was built
    monkeypatch.setitem(SYSTEMS, system_id, replace(SYSTEMS[system_id],
                                                    connector_class_path="connectors.ifs.planned.Connector"))
    spec = SYSTEMS[system_id]
    other = Connection.objects.create(tenant=tenant, system=system_id, name="x")
    erp = other if spec.is_erp else Connection.objects.create(tenant=tenant, system="infor", name="erp")
    ap = other if spec.is_ap else Connection.objects.create(tenant=tenant, system="bill", name="ap")
    with pytest.raises(ValidationError, match="cannot connect to that system yet"):
        Integration(tenant=tenant, name="i", source=erp, target=ap).full_clean()
