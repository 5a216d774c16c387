"""Every assumption probe (connectors.assumptions), generated from the registry, tested both ways against the
simulators: held against the default simulator, contradicted against each of its simulator's variants for that
assumption (POST /_control/variant). And the catalogue kept true: every probe is an assumption of
docs/ASSUMPTIONS.md under its system, shown there as probed; every simulator variant has its probe. What a probe
saw is for ops: it never sends them to a source file."""

import re

import pytest

from connectors import assumptions
from connectors.registry import SYSTEMS
from sandbox.hub import simulator_classes
from tests.connectors.contracts.base import contract_for

PROBES = [p for system in SYSTEMS for p in assumptions.probes_for(system)]
VARIANTS = [(p, value) for p in PROBES
            for value in simulator_classes()[p.system].VARIANTS.get(p.id, ())[1:]]
SOURCE_FILE = re.compile(r"\b[\w/]+\.py\b")


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
    assert not SOURCE_FILE.search(finding.seen + found.consequence), "ops are told what to check in the system"


@pytest.mark.parametrize("missing", ["I1", "I3"])
def test_with_a_custom_transaction_missing_no_infor_probe_sends_ops_to_a_source_file(missing, tenant, sandbox):
    contract = contract_for("infor")
    contract.seed_canonical(sandbox)
    sandbox.control("variant", {"system": "infor", "assumption": missing, "value": "missing"})
    results = {r["id"]: r for r in assumptions.check(contract.make_connection(tenant, sandbox))}
    assert results[missing]["status"] == assumptions.CONTRADICTED
    assert "Ask the customer" in results[missing]["seen"], results[missing]["seen"]
    for row in results.values():
        assert not SOURCE_FILE.search(row["seen"] + row["advice"]), row


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
