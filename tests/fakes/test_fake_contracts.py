"""The fake ERP and AP platform held to the ERP and AP contracts the real systems are held to, so that what the
engine's tests prove on them holds for a real pair. The suites are generated as tests/connectors/test_contract_matrix.py
generates them; the fakes are registered only here, while the classes are made and around each test."""

import pytest

from connectors.registry import registered
from tests.connectors import test_contract_matrix as matrix
from tests.fakes.fake_ap.system import SYSTEM as FAKE_AP
from tests.fakes.fake_erp.system import SYSTEM as FAKE_ERP

FAKES = (FAKE_ERP.id, FAKE_AP.id)


@pytest.fixture(autouse=True)
def fake_systems(fakes):
    """Every test here runs with the fakes registered over empty books."""


with registered(FAKE_ERP, FAKE_AP):
    for cls in matrix.generated(FAKES):
        cls.__module__ = __name__
        globals()[cls.__name__] = cls


@pytest.mark.parametrize("system", FAKES)
def test_each_fake_runs_the_suites_of_its_kind(system):
    matrix.test_every_registered_system_runs_the_suites_of_its_kind(system)


@pytest.mark.parametrize("system", FAKES)
def test_each_skip_of_a_fake_names_a_suite_or_a_test_and_says_why(system):
    matrix.test_every_skip_names_a_suite_or_a_test_and_says_why(system)
