"""The fake pair is a system like the others: registered only for the tests that ask for it, its capabilities
declared, implemented and run, the demo's story told on it."""

import pytest
from django.core.exceptions import ValidationError

from connectors import capabilities as can
from connectors.base import ApConnector, ErpConnector
from connectors.models import Connection
from connectors.registry import SYSTEMS, registered
from syncs.engine import run_integration
from syncs.models import RunStatus, SyncRecord
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
