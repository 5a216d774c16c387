"""A run's plan comes from what the pair's systems declare, and the engine runs only its steps."""

from dataclasses import replace
from types import SimpleNamespace

import pytest
from django.urls import reverse

from connectors import capabilities as can
from connectors.models import Connection
from connectors.registry import SYSTEMS
from syncs import plan
from syncs.engine import run_integration
from syncs.models import Integration, RecordStatus, RunStatus, SyncRecord
from syncs.steps import STEPS
from syncs.steps.acknowledgements import Acknowledgements
from syncs.steps.base import Step
from syncs.steps.documents import Documents
from syncs.steps.invoices import Invoices
from syncs.steps.payments import Payments
from syncs.steps.suppliers import Suppliers


def test_the_demo_pair_plan_in_words(integration, admin_client):
    assert plan.describe(integration) == ("suppliers → vendors; approved invoices → bills; payments ← BILL by "
                                         "webhook and polling, written to Infor CloudSuite")
    page = admin_client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert "What a run does" in page and "approved invoices → bills" in page


def test_an_erp_that_takes_no_payments_still_gets_them_recorded_and_nothing_fails(fake_demo, fakes, monkeypatch):
    erp = SYSTEMS["fake_erp"]
    # Undone inside the test: the fakes' registration ends before the test's own monkeypatch is undone.
    with monkeypatch.context() as patch:
        patch.setitem(SYSTEMS, "fake_erp", replace(erp, capabilities=erp.capabilities - {can.WRITES_PAYMENTS_BACK}))
        assert plan.describe(fake_demo).endswith("recorded here (Fake ERP does not take them)")
        run_integration(fake_demo.pk)
        fakes.ap().pay(next(iter(fakes.ap().bills)))
        run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL and run.counters["payments_written_back"] == 1
    payment = SyncRecord.objects.get(object_type="payment")
    assert payment.status == RecordStatus.SYNCED and "does not take payments" in payment.data["erp_reference"]
    assert fakes.erp().payments == {}, "nothing was written to the ERP"


def test_an_ap_platform_without_vendors_skips_that_step(integration, monkeypatch):
    bill = SYSTEMS["bill"]
    monkeypatch.setitem(SYSTEMS, "bill", replace(bill, capabilities=bill.capabilities - {can.CREATES_VENDORS}))
    assert plan.plan_for(integration) == [Invoices, Payments]


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


def pair(erp=can.ERP_CAPABILITIES, ap=can.AP_CAPABILITIES, **options):
    return SimpleNamespace(source=SimpleNamespace(spec=SimpleNamespace(capabilities=erp, label="E")),
                           target=SimpleNamespace(spec=SimpleNamespace(capabilities=ap, label="A")), options=options)


def test_a_step_that_works_on_another_steps_records_goes_only_with_it():
    everything = plan.plan_for(pair())
    assert {Documents, Acknowledgements} <= set(everything) and everything == [s for s in STEPS if s in everything]
    without_bills = plan.plan_for(pair(ap=can.AP_CAPABILITIES - {can.CREATES_BILLS}))
    assert not {Invoices, Documents, Acknowledgements} & set(without_bills), "their own capabilities alone do not do"
    assert Acknowledgements not in plan.plan_for(pair(acknowledge_invoices=False)), "an integration option turns it off"


def test_a_step_cannot_require_what_no_system_of_that_kind_declares():
    with pytest.raises(TypeError, match="creates_bills of the ERP"):
        type("Misplaced", (Step,), {"erp_requires": {can.CREATES_BILLS: ("create_bills",)}})


def test_a_new_step_is_one_class_and_one_entry_in_the_list(fake_demo, monkeypatch):
    """Where it stands in the list is where it runs and where the plan says it; a dry run leaves it out unless it
    says it sends nothing."""
    seen = []

    class CountSuppliers(Step):
        erp_requires = {can.READS_SUPPLIERS: ("suppliers",)}

        @classmethod
        def phrase(cls, source, *_):
            return f"suppliers of {source} counted"

        def run(self, sync):
            vendors_so_far = SyncRecord.objects.filter(integration=sync.integration, object_type="vendor").count()
            seen.append((sync.dry_run, vendors_so_far, sum(1 for _ in sync.erp.suppliers(None))))

    steps = list(STEPS)
    steps.insert(steps.index(Suppliers), CountSuppliers)
    monkeypatch.setattr(plan, "STEPS", tuple(steps))
    words = plan.describe(fake_demo).split("; ")
    assert words.index("suppliers of Fake ERP counted") == words.index("suppliers → vendors") - 1
    run = run_integration(fake_demo.pk)
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.error
    (dry_run, vendors_so_far, suppliers), = seen
    assert not dry_run and suppliers > 0 and vendors_so_far == 0, "it ran, with the ERP open, before the vendors"
    run_integration(fake_demo.pk, trigger="dry_run", dry_run=True)
    assert len(seen) == 1, "a dry run leaves out a step that may change something"
    monkeypatch.setattr(CountSuppliers, "in_dry_run", True)
    run_integration(fake_demo.pk, trigger="dry_run", dry_run=True)
    assert len(seen) == 2 and seen[1][0] is True
