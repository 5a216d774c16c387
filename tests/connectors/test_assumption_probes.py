"""Every assumption probe (connectors.assumptions), generated from the registry, tested both ways against the
simulators: held against the default simulator, contradicted against each of its simulator's variants for that
assumption (POST /_control/variant). And the catalogue kept true: every probe is an assumption of
docs/ASSUMPTIONS.md under its system, shown there as probed; every simulator variant has its probe."""

import pytest

from connectors import assumptions
from connectors.registry import SYSTEMS
from sandbox.hub import simulator_classes
from tests.connectors.contracts.base import contract_for

PROBES = [p for system in SYSTEMS for p in assumptions.probes_for(system)]
VARIANTS = [(p, value) for p in PROBES
            for value in simulator_classes()[p.system].VARIANTS.get(p.id, ())[1:]]


def probed(tenant, sandbox, found):
    contract = contract_for(found.system)
    contract.seed_canonical(sandbox)
    with contract.make_connection(tenant, sandbox).connector() as connector:
        return assumptions.run_probe(found, connector)


@pytest.mark.parametrize("found", PROBES, ids=lambda p: p.id)
def test_the_probe_holds_against_the_default_simulator(found, tenant, sandbox):
    finding = probed(tenant, sandbox, found)
    assert finding.status == assumptions.HELD, finding.seen
    assert finding.seen, "what was seen is said in words"


@pytest.mark.parametrize(("found", "value"), VARIANTS, ids=lambda v: getattr(v, "id", v))
def test_the_probe_finds_the_simulator_behaving_the_other_way(found, value, tenant, sandbox):
    sandbox.control("variant", {"system": found.system, "assumption": found.id, "value": value})
    finding = probed(tenant, sandbox, found)
    assert finding.status == assumptions.CONTRADICTED, finding.seen
    assert finding.seen


def catalogue_entry_text(assumption_id):
    text = assumptions.CATALOGUE.read_text(encoding="utf-8")
    entry = text[text.index(f"### {assumption_id}. "):]
    return entry[:entry.find("\n#", 1)]


@pytest.mark.parametrize("found", PROBES, ids=lambda p: p.id)
def test_every_probe_is_a_catalogued_assumption_of_its_system_shown_as_probed(found):
    entry = assumptions.catalogue().get(found.id)
    assert entry is not None and entry.system == found.system, \
        f"{found.id} is not an assumption of {found.system} in docs/ASSUMPTIONS.md"
    assert "- **Probe:** `check_assumptions`" in catalogue_entry_text(found.id), \
        f"docs/ASSUMPTIONS.md does not show {found.id}'s probe"


def test_every_assumption_about_a_customer_system_says_how_it_is_checked_and_only_probed_ones_claim_a_probe():
    probed = {p.id for p in PROBES}
    for entry in assumptions.catalogue().values():
        text = catalogue_entry_text(entry.id)
        assert "- **Probe:**" in text, f"{entry.id} says neither its probe nor that the customer is asked"
        assert ("- **Probe:** `check_assumptions`" in text) == (entry.id in probed), \
            f"{entry.id}'s Probe line does not match the code"


@pytest.mark.parametrize("system", simulator_classes())
def test_every_simulator_variant_has_its_probe_and_every_probe_a_variant(system):
    variants = set(simulator_classes()[system].VARIANTS)
    probes = {p.id for p in assumptions.probes_for(system)}
    assert variants == probes, f"variants without a probe: {sorted(variants - probes)}; probes without a variant: " \
                               f"{sorted(probes - variants)}"
