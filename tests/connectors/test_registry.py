"""One registry: a system's connector and simulator are both found from its System entry."""

import importlib.util
import io
from dataclasses import replace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils.module_loading import import_string

from connectors.errors import ConfigurationError
from connectors.registry import SYSTEMS
from connectors.spec import NotBuilt
from sandbox import hub
from sandbox.hub import SandboxHub


@pytest.fixture
def planned_ifs(monkeypatch):
    """IFS as it was before it was built: registered, with neither connector nor simulator."""
    monkeypatch.setitem(SYSTEMS, "ifs", replace(SYSTEMS["ifs"], connector_class_path="connectors.ifs.planned.Connector",
                                                simulator_class_path=""))


def test_the_hub_serves_the_simulator_each_system_declares_and_no_other(sandbox_hub):
    declared = {s.id: s.simulator_class_path for s in SYSTEMS.values() if s.simulator_class_path}
    assert set(declared) >= {s.id for s in SYSTEMS.values() if s.built}, "every built system has a simulator"
    assert set(sandbox_hub.simulators) == set(declared)
    for system_id, path in declared.items():
        assert type(sandbox_hub.simulators[system_id]) is import_string(path)


def test_a_declared_simulator_that_does_not_import_stops_the_hub_at_start(monkeypatch):
    monkeypatch.setitem(SYSTEMS, "acumatica", replace(
        SYSTEMS["acumatica"], simulator_class_path="connectors.acumatica.nowhere.AcumaticaSimulator"))
    with pytest.raises(ImproperlyConfigured, match=r"Acumatica .*connectors\.acumatica\.nowhere\..* does not import"):
        SandboxHub()


def test_the_sandbox_command_refuses_to_start_without_a_declared_simulator(monkeypatch):
    monkeypatch.setitem(SYSTEMS, "ifs", replace(SYSTEMS["ifs"], simulator_class_path="sandbox.ifs.simulator.Missing"))
    with pytest.raises(CommandError, match="IFS Cloud"):
        call_command("sandbox", port=0, stdout=io.StringIO())


def test_a_simulator_answering_to_another_system_id_stops_the_hub(monkeypatch):
    monkeypatch.setitem(SYSTEMS, "acumatica", replace(
        SYSTEMS["acumatica"], simulator_class_path="sandbox.bill.simulator.BillSimulator"))
    with pytest.raises(ImproperlyConfigured, match="has id 'bill'; it must be 'acumatica'"):
        SandboxHub()


@pytest.fixture
def portal_sandbox(sandbox, monkeypatch):
    """The portal's /sandbox/ mount, serving the test session's hub instead of starting its own."""
    monkeypatch.setattr(hub, "_hub", sandbox)
    return sandbox


def test_an_unknown_system_under_sandbox_is_a_404_naming_the_simulated_ones(client, portal_sandbox):
    response = client.get("/sandbox/sap/api/v1/suppliers")
    assert response.status_code == 404
    simulated = ", ".join(f"/{system_id}/" for system_id in portal_sandbox.simulators)
    assert simulated.startswith("/infor/")
    assert response.json()["message"] == f"No system 'sap' is known. Simulated systems: {simulated}"


def test_a_registered_system_without_a_simulator_is_a_404_saying_so(client, portal_sandbox, planned_ifs,
                                                                     monkeypatch):
    monkeypatch.delitem(portal_sandbox.simulators, "ifs", raising=False)
    response = client.get("/sandbox/ifs/main/ifsapplications/projection/v1/Suppliers")
    assert response.status_code == 404
    simulated = ", ".join(f"/{system_id}/" for system_id in portal_sandbox.simulators)
    assert response.json()["message"] == f"IFS Cloud (OData v4) has no simulator yet. Simulated systems: {simulated}"


def test_built_means_the_connector_class_imports(planned_ifs):
    assert not SYSTEMS["ifs"].built
    assert {"infor", "bill"} <= {s.id for s in SYSTEMS.values() if s.built}
    for system in SYSTEMS.values():
        if system.built:
            assert system.connector_class().__name__ == system.connector_class_path.rsplit(".", 1)[1]


def test_every_connector_module_that_exists_imports():
    # `built` treats any import failure as "not built"; this keeps a broken module from passing for one.
    for system in SYSTEMS.values():
        module = system.connector_class_path.rsplit(".", 1)[0]
        if importlib.util.find_spec(module) is not None:
            assert system.built, f"{module} exists but {system.connector_class_path} does not import"


def test_using_an_unbuilt_system_says_so_in_words(planned_ifs):
    with pytest.raises(NotBuilt) as excinfo:
        SYSTEMS["ifs"].connector_class()
    # Both what callers of connectors already catch and what an unimplemented feature always raised.
    assert isinstance(excinfo.value, ConfigurationError)
    assert isinstance(excinfo.value, NotImplementedError)
    assert str(excinfo.value).startswith("IFS Cloud (OData v4) is not built yet: ml-connector has no connector for it")
