"""Capabilities: one vocabulary, declared truthfully by every system, each required by a step that uses it (the
table of what backs a capability is derived from the steps, syncs/steps/) or said where it is met instead."""

import ast
import inspect
import textwrap

import pytest

from connectors import capabilities as can
from connectors.base import ApConnector, Connector, ErpConnector
from connectors.registry import SYSTEMS
from connectors.spec import AP, ERP, Field, System
from syncs.steps import STEPS
from syncs.steps.base import Step

# Capabilities no step requires, each with the connector methods that back it and where it is met instead. Every
# other capability is backed by the methods a step calls for it (Step.erp_requires, Step.ap_requires).
ELSEWHERE = {
    can.WRITES_PAYMENTS_BACK: ({"post_payment"}, "syncs.payments writes each payment's share to the ERP, for the "
                               "payments step and the webhooks alike; without it payments are recorded here only"),
    can.REPORTS_HELD_INVOICES: (set(), "an option of approved_invoices() that the invoices step asks for"),
    can.PAYMENTS_BY_WEBHOOK: (set(), "the webhooks floor receives them; the payments step only says so in its phrase"),
    can.BATCH_CREATES: ({"create_vendors", "create_bills"}, "how the suppliers and invoices steps' creates are made"),
    can.ARCHIVES_BILLS: ({"archive_bill"}, "ops archive a bill from the admin, never in a run"),
}


def required_by_steps():
    """{capability: the connector methods the steps that require it call for it}."""
    backed = {}
    for step in STEPS:
        for capability, methods in (*step.erp_requires.items(), *step.ap_requires.items()):
            backed.setdefault(capability, set()).update(methods)
    return backed


def backed_by():
    return {**required_by_steps(), **{capability: methods for capability, (methods, _) in ELSEWHERE.items()}}


def defines(connector_class, names):
    own = [k for k in connector_class.__mro__ if k not in (Connector, ErpConnector, ApConnector, object)]
    return {name for name in names if any(name in vars(k) for k in own)}


def connector_calls(step):
    """{"erp": names, "ap": names} of the methods the step's own code reaches on each connector (`sync.ap.x`, or
    `ap.x` once bound to a name)."""
    calls = {"erp": set(), "ap": set()}
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(step)))):
        if isinstance(node, ast.Attribute):
            value = node.value
            side = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else None
            if side in calls:
                calls[side].add(node.attr)
    return calls


def test_every_capability_is_required_by_a_step_or_said_where_it_is_met():
    constants = {v for k, v in vars(can).items() if k.isupper() and isinstance(v, str)}
    by_steps, elsewhere = set(required_by_steps()), set(ELSEWHERE)
    assert not by_steps & elsewhere, "a capability a step requires is not met elsewhere"
    assert by_steps | elsewhere == constants, f"no step and no reason: {sorted(constants - by_steps - elsewhere)}"
    assert all(reason for _, reason in ELSEWHERE.values())


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.__name__)
def test_a_step_calls_every_method_it_requires_and_no_method_of_a_capability_it_does_not(step):
    calls = connector_calls(step)
    gated = set().union(*backed_by().values())
    assert step.erp_requires or step.ap_requires, f"{step.__name__} requires nothing"
    for side, required in (("erp", step.erp_requires), ("ap", step.ap_requires)):
        for capability, methods in required.items():
            assert methods, f"{step.__name__}: {capability} without the methods it calls for it"
            assert set(methods) <= calls[side], f"{step.__name__} requires {capability} but never calls " \
                                                 f"{sorted(set(methods) - calls[side])} on the {side} connector"
        own = set().union(*required.values()) if required else set()
        assert calls[side] & gated <= own, f"{step.__name__} calls {sorted(calls[side] & gated - own)} without " \
                                           "requiring their capability"


def test_what_a_step_calls_is_read_from_its_code():
    class Idle(Step):
        erp_requires = {can.READS_SUPPLIERS: ("suppliers",)}

        def run(self, sync):
            sync.erp.approved_invoices()
            ap = sync.ap
            ap.find_bills([])

    assert connector_calls(Idle) == {"erp": {"approved_invoices"}, "ap": {"find_bills"}}


@pytest.mark.parametrize("system_id", [s.id for s in SYSTEMS.values() if s.built])
def test_a_built_system_declares_exactly_what_its_connector_implements(system_id):
    """Declared: every method behind the capability is the connector's own. Any of them its own: declared."""
    system = SYSTEMS[system_id]
    for capability, methods in backed_by().items():
        if not methods:
            continue
        implemented = defines(system.connector_class(), methods)
        if capability in system.capabilities:
            assert implemented == methods, f"{system_id} declares {capability}, lacks {sorted(methods - implemented)}"
        else:
            assert not implemented, f"{system_id} implements {sorted(implemented)} without declaring {capability}"


def test_every_capability_has_a_phrase_and_a_kind():
    constants = {v for k, v in vars(can).items() if k.isupper() and isinstance(v, str)}
    assert set(can.CAPABILITY_PHRASES) == constants
    assert can.ERP_CAPABILITIES | can.AP_CAPABILITIES == constants
    assert can.ERP_CAPABILITIES & can.AP_CAPABILITIES == {can.READS_REFERENCE_DATA}
    assert all(phrase and phrase == phrase.strip() for phrase in can.CAPABILITY_PHRASES.values())


def test_capabilities_read_in_words_in_the_vocabulary_order():
    system = System(id="x", label="X", kind=ERP, credential_fields=(),
                    capabilities=frozenset({can.READS_REFERENCE_DATA, can.WRITES_PAYMENTS_BACK, can.READS_SUPPLIERS}))
    assert system.capability_phrases == [
        "suppliers are read", "payments are written back", "GL accounts and dimensions are read"]


@pytest.mark.parametrize("kind, capability", [
    (ERP, "reads_supplier"),  # misspelt
    (ERP, can.CREATES_BILLS),  # an AP platform's
    (AP, can.WRITES_PAYMENTS_BACK),  # an ERP's
])
def test_a_system_cannot_declare_what_is_not_in_its_kinds_vocabulary(kind, capability):
    with pytest.raises(ValueError, match=capability):
        System(id="x", label="X", kind=kind, credential_fields=(Field("user", "User"),),
               capabilities=frozenset({capability}))
