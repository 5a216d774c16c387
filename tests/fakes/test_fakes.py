"""The fake pair is a system like the others: added by the recipe (one folder, one registry line), registered only
for the tests that ask for it, its capabilities declared, implemented and run, the demo's story told on it."""

import ast
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from connectors import capabilities as can
from connectors.base import ApConnector, ErpConnector
from connectors.models import Connection
from connectors.registry import SYSTEMS, registered
from syncs import plan
from syncs.engine import run_integration
from syncs.models import Integration, RunStatus, SyncRecord
from tests.fakes import demo
from tests.fakes.fake_ap.connector import FakeApConnector
from tests.fakes.fake_erp.connector import FakeErpConnector
from tests.fakes.fake_erp.system import SYSTEM as FAKE_ERP


def test_the_fakes_are_registered_only_for_the_tests_that_ask(fakes):
    assert {"fake_erp", "fake_ap"} <= set(SYSTEMS)


def test_without_the_fixture_no_fake_is_registered():
    assert not {"fake_erp", "fake_ap"} & set(SYSTEMS)


def test_a_connection_to_a_fake_is_a_valid_choice_only_while_it_is_registered(tenant):
    connection = Connection(tenant=tenant, system="fake_erp", name="Fake ERP")
    with pytest.raises(ValidationError, match="fake_erp"):
        connection.full_clean()
    with registered(FAKE_ERP):
        connection.full_clean()
        assert connection.get_system_display() == "Fake ERP"
    assert "fake_erp" not in SYSTEMS


def test_a_system_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="bill is already registered"), registered(SYSTEMS["bill"]):
        pass
    assert "bill" in SYSTEMS, "the registered one stays"


def test_a_fake_implements_every_method_of_its_contract_but_those_of_what_it_leaves_out(fakes):
    """The fake ERP declares every ERP capability; the fake AP platform all but two, and publish_codes is the one
    method behind them (tests/fakes/fake_ap/system.py says why)."""
    assert SYSTEMS["fake_erp"].capabilities == can.ERP_CAPABILITIES
    assert can.AP_CAPABILITIES - SYSTEMS["fake_ap"].capabilities == {can.PAYMENTS_BY_WEBHOOK,
                                                                     can.ACCEPTS_REFERENCE_DATA}
    for fake, contract, left_out in ((FakeErpConnector, ErpConnector, set()),
                                     (FakeApConnector, ApConnector, {"publish_codes"})):
        methods = {name for name, value in vars(contract).items() if callable(value) and not name.startswith("_")}
        assert {name for name in methods if name not in vars(fake)} == left_out, fake.__name__


def test_every_step_of_the_engine_runs_on_the_fake_pair(fake_demo, fakes):
    erp, ap = fakes.erp(), fakes.ap()
    erp.documents["INV-200002"] = [("INV-200002.pdf", b"%PDF-1.4 the image")]
    run = run_integration(fake_demo.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    failed = set(SyncRecord.objects.filter(object_type="bill", status="failed").values_list("source_id", flat=True))
    assert failed == demo.expected_failures()
    assert len(ap.bills) == demo.INVOICES - len(failed), "suppliers → vendors, invoices → bills"
    assert erp.acknowledged == {bill["number"] for bill in ap.bills.values()}, "invoices marked as transferred"
    [(bill_id, bill)] = [(i, b) for i, b in ap.bills.items() if b["number"] == "INV-200002"]
    assert ap.attachments[bill_id] == [("INV-200002.pdf", b"%PDF-1.4 the image")], "images attached"
    ap.pay(bill_id)
    vendor_id = ap.vendor_keyed("S10001")
    ap.edit_vendor(vendor_id, email="payables@supplier.test")
    again = run_integration(fake_demo.pk)
    assert again.counters["payments_written_back"] == 1 and erp.payments, "payments polled and written back"
    assert again.counters["supplier_updates_written_back"] == 1, "vendor edits written back"
    assert erp.suppliers["S10001"].email == "payables@supplier.test"


FOLDERS = {"fake_erp": Path(FakeErpConnector.__module__.replace(".", "/")).parent,
           "fake_ap": Path(FakeApConnector.__module__.replace(".", "/")).parent}
PRODUCT = ("portal", "connectors", "syncs", "webhooks", "sandbox", "templates")


def test_a_fake_is_one_folder_holding_its_declaration_and_its_connector_and_nothing_else_knows_it():
    """The recipe for a new system, kept by the fakes: one folder of system.py and connector.py, built on the
    contracts (connectors/) and the fake's own state (tests/fakes/world.py), with the contract suites' hooks in
    contract.py (tests/fakes/test_fake_contracts.py); the product names neither."""
    root = Path(__file__).resolve().parents[2]
    for system_id, folder in FOLDERS.items():
        files = {p.name for p in (root / folder).iterdir() if p.name != "__pycache__"}
        assert files == {"__init__.py", "system.py", "connector.py", "contract.py"}, system_id
        for module in ("system.py", "connector.py"):
            tree = ast.parse((root / folder / module).read_text())
            imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
            imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
            assert all(name.startswith("connectors.") or name in ("connectors", "dataclasses", "tests.fakes")
                       for name in imported), (system_id, module, imported)
    naming = [str(path.relative_to(root)) for package in PRODUCT for path in (root / package).rglob("*")
              if path.suffix in (".py", ".html", ".txt") and re.search(r"fake_(erp|ap)|tests\.fakes", path.read_text())]
    assert naming == [], "a system added by the recipe is known only to the registry"


def test_registered_the_pair_is_offered_connected_described_and_run_through_the_admin(admin_client, tenant, fakes,
                                                                                      db, monkeypatch):
    """Nothing edited but the registry's list (here `registered`, by the `fakes` fixture): the connection form
    offers both systems, the integration form pairs them, the plan says what a run does, and a run completes."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    demo.seed_erp()
    demo.seed_ap()
    chooser = admin_client.get(reverse("admin:connectors_connection_add")).content.decode()
    assert 'value="fake_erp"' in chooser and 'value="fake_ap"' in chooser and "Fake AP" in chooser
    for system_id, name in (("fake_erp", "Our ERP"), ("fake_ap", "Our AP")):
        added = admin_client.post(reverse("admin:connectors_connection_add") + f"?system={system_id}",
                                  {"tenant": tenant.pk, "name": name, "base_url": ""})
        assert added.status_code == 302, added.content.decode()[:2000]
    erp, ap = Connection.objects.get(system="fake_erp"), Connection.objects.get(system="fake_ap")
    paired = admin_client.post(reverse("admin:syncs_integration_add"), {
        "tenant": tenant.pk, "name": "Fake ERP to Fake AP", "source": erp.pk, "target": ap.pk, "enabled": "on",
        "interval_minutes": 15, "options": "{}", "mapping_rules-TOTAL_FORMS": 0, "mapping_rules-INITIAL_FORMS": 0})
    assert paired.status_code == 302, paired.content.decode()[:2000]
    integration = Integration.objects.get()
    assert plan.describe(integration) == (
        "vendor contact edits made in Fake AP → Fake ERP suppliers; suppliers → vendors; approved invoices → bills; "
        "invoice images → Fake AP; invoices marked as transferred in Fake ERP; payments ← Fake AP by polling, "
        "written to Fake ERP")
    page = admin_client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert "What a run does" in page and "payments ← Fake AP by polling" in page

    run = run_integration(integration.pk)
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.error
    assert len(fakes.ap().vendors) == demo.SUPPLIERS - 1, "every supplier with a tax id is a vendor"
