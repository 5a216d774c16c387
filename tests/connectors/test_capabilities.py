"""Capabilities: one vocabulary, declared truthfully by every system."""

import pytest

from connectors import capabilities as can
from connectors.base import ApConnector, Connector, ErpConnector
from connectors.registry import SYSTEMS
from connectors.spec import AP, ERP, Field, System

# A built system may declare a capability only if its connector itself defines a method behind it.
BACKED_BY = {
    can.READS_SUPPLIERS: {"suppliers"},
    can.READS_APPROVED_INVOICES: {"approved_invoices"},
    can.WRITES_PAYMENTS_BACK: {"post_payment"},
    can.READS_REFERENCE_DATA: {"gl_accounts"},
    can.CREATES_VENDORS: {"create_vendors"},
    can.CREATES_BILLS: {"create_bills"},
    can.BATCH_CREATES: {"create_vendors", "create_bills"},
    can.PAYMENTS_BY_POLLING: {"payments"},
    can.ACKNOWLEDGES_TRANSFERRED_INVOICES: {"acknowledge_invoice"},
    can.ACCEPTS_SUPPLIER_UPDATES: {"update_supplier"},
    can.SERVES_INVOICE_DOCUMENTS: {"invoice_documents"},
    can.ACCEPTS_REFERENCE_DATA: {"publish_codes"},
    can.ACCEPTS_INVOICE_DOCUMENTS: {"attach_document"},
    can.REPORTS_VENDOR_EDITS: {"vendor_edits"},
    can.ARCHIVES_BILLS: {"archive_bill"},
}


def defines(connector_class, names):
    own = [k for k in connector_class.__mro__ if k not in (Connector, ErpConnector, ApConnector, object)]
    return any(name in vars(k) for k in own for name in names)


def test_every_capability_has_a_phrase_and_a_kind():
    constants = {v for k, v in vars(can).items() if k.isupper() and isinstance(v, str)}
    assert set(can.CAPABILITY_PHRASES) == constants
    assert can.ERP_CAPABILITIES | can.AP_CAPABILITIES == constants
    assert can.ERP_CAPABILITIES & can.AP_CAPABILITIES == {can.READS_REFERENCE_DATA}
    assert all(phrase and phrase == phrase.strip() for phrase in can.CAPABILITY_PHRASES.values())


@pytest.mark.parametrize("system_id", [s.id for s in SYSTEMS.values() if s.built])
def test_a_built_system_declares_exactly_what_its_connector_implements(system_id):
    system = SYSTEMS[system_id]
    for capability, methods in BACKED_BY.items():
        implemented = defines(system.connector_class(), methods)
        assert implemented == (capability in system.capabilities), f"{system_id}: {capability} vs {sorted(methods)}"


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
