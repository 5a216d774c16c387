"""Every registered system held to its contract suites, generated from the registry: for each system in
connectors.registry.SYSTEMS, each way of connecting its tests declare (a Contract in its tests folder's
contract.py) runs the transport suite and the suite of its kind. Adding a system adds nothing here.

A system that cannot run a test says so in its Contract's `skips`, with the reason; the tests at the bottom fail
when a registered system has no connection factory, leaves a suite of its kind unrun, or lists a skip that names
no test."""

import re

import pytest

from connectors import capabilities as can
from connectors.registry import SYSTEMS
from connectors.spec import ERP, System
from tests.connectors.contracts import CONNECTOR, SUITES, contracts_of
from tests.connectors.contracts.base import contract_for


def class_name(contract, suite):
    words = [contract.system, *re.split(r"[\s-]+", contract.variant), suite]
    return "Test" + "".join(re.sub(r"\W", "", word).capitalize() for word in words)


def generated(systems=SYSTEMS):
    for system in systems:
        for contract in contracts_of(system):
            for suite in contract.suite_names():
                way = f" ({contract.variant})" if contract.variant else ""
                yield type(class_name(contract, suite), (SUITES[suite],), {
                    "contract": contract, "__module__": __name__,
                    "__doc__": f"{contract.spec.label}{way} held to the {suite} contract."})


globals().update({cls.__name__: cls for cls in generated()})


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_registered_system_has_a_test_connection_factory(system):
    contract = contract_for(system)
    assert contract.has_connection_factory(), \
        f"{type(contract).__name__} does not say how to connect to {system}'s simulator (make_connection)"


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_registered_system_runs_the_suites_of_its_kind(system):
    wanted = {CONNECTOR, SYSTEMS[system].kind}
    run = {suite for contract in contracts_of(system) for suite in contract.suite_names()}
    assert run == wanted, f"{system} runs {sorted(run)}; a system of its kind runs {sorted(wanted)}"


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_skip_names_a_suite_or_a_test_and_says_why(system):
    suites = (CONNECTOR, SYSTEMS[system].kind)
    tests = {name for suite in suites for name in dir(SUITES[suite]) if name.startswith("test_")}
    for contract in contracts_of(system):
        for name, reason in contract.skips.items():
            assert name in tests or name in suites, f"{type(contract).__name__} skips {name!r}, which is no test"
            assert len(reason.split()) >= 5, f"{type(contract).__name__} skips {name} without saying why"


def test_a_system_without_a_contract_is_named_with_where_to_declare_one(monkeypatch):
    monkeypatch.setitem(SYSTEMS, "nowhere", System(id="nowhere", label="Nowhere ERP", kind=ERP, credential_fields=(),
                                                   capabilities=frozenset({can.READS_REFERENCE_DATA})))
    assert contracts_of("nowhere") == []
    with pytest.raises(LookupError) as excinfo:
        contract_for("nowhere")
    assert "Nowhere ERP has no test connection factory" in str(excinfo.value)
    assert "tests.connectors.nowhere.contract" in str(excinfo.value)
