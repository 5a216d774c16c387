"""IFS's assumption probes read each projection's $metadata (F1, F4, F5) and send one read-only $batch (F12); what
changes once the last check found them contradicted: F12 makes the connector read without $batch, F1, F4 and F5
stop the steps that read or write through what is not there. The probes themselves are tested both ways in
tests/connectors/test_assumption_probes.py. Also the simulator's $metadata and $openapi, which the probes read."""

from datetime import UTC, datetime
from functools import partial

import pytest

from connectors import assumptions
from connectors import capabilities as can
from connectors.errors import DataError
from connectors.ifs import projections as p
from connectors.models import Connection
from connectors.odata import ODataPagingError
from connectors.records import Supplier, Unreadable
from sandbox.ifs import simulator as ifs_sandbox
from syncs.engine import run_integration
from syncs.models import Integration
from tests.assumptions import contradict, set_variant
from tests.connectors.contracts.base import contract_for, make_connection
from tests.connectors.ifs.conftest import make_ifs_connection

variant = partial(set_variant, system="ifs")


def found(report):
    return {r["id"]: r for r in report["results"]}


# --- the simulator's $metadata and $openapi -----------------------------------------------------------------------
def test_every_projection_answers_its_metadata_with_the_sets_properties_and_enums_it_filters_with(ifs_connection,
                                                                                                    sandbox):
    connector = ifs_connection.connector()
    for spec in p.DEFAULTS.values():
        properties = p.declared(connector, spec)
        assert set(properties) >= set(spec.fields), spec.name
        for name, kind in p.odata_fields(spec).items():
            if isinstance(kind, tuple):
                assert properties[name] == kind[1]
                assert connector.client.metadata(spec.projection).enums[kind[1]] == kind[2]
    invoices = connector.client.metadata("SupplierInvoiceHandling")
    assert invoices.entity_sets["SupplierInvoiceSet"]["Rowversion"] == "Edm.DateTimeOffset"
    assert set(invoices.entity_sets) == {"SupplierInvoiceSet", "SupplierInvoicePostingSet"}, \
        "a projection declares its own sets only"


def test_an_unknown_projection_has_no_metadata(ifs_connection, sandbox):
    assert ifs_connection.connector().client.metadata("NoSuchHandling") is None


def test_openapi_lists_the_projections_entity_sets_as_paths_on_both_documented_roots(ifs_connection, sandbox):
    http = ifs_connection.connector().client.http
    for root in (p.ROOT, p.ROOT.replace("/main/", "/int/")):
        document = http.json("GET", f"{root}/SuppliersHandling.svc/$openapi")
        assert document["openapi"].startswith("3.")
        assert "/SupplierInfoGeneralSet" in document["paths"]
        assert "/SupplierInfoGeneralSet(SupplierId='{SupplierId}')" in document["paths"]
        supplier = document["components"]["schemas"]["SupplierInfo"]["properties"]
        assert supplier["BlockedForUse"] == {"type": "boolean"}
        methods = document["components"]["schemas"]["CommMethod"]["properties"]
        assert methods["MethodId"]["enum"] == list(p.COMM_METHODS)


def test_metadata_follows_the_names_a_tenant_serves(ifs_connection, sandbox):
    sandbox.control("ifs/account", {"names": {"suppliers": "SupplierHandling/SupplierSet"}})
    metadata = ifs_connection.connector().client.metadata("SupplierHandling")
    assert "SupplierSet" in metadata.entity_sets
    address = metadata.navigation_target(metadata.entity_sets["SupplierSet"], "SupplierInfoAddresses")
    assert "ZipCode" in address, "the addresses follow their parent's projection"


# --- what a contradiction changes ---------------------------------------------------------------------------------
def test_the_check_finds_each_contradiction_and_says_what_it_saw(ifs_connection, sandbox):
    contract_for("ifs").seed_canonical(sandbox)
    for assumption_id, value in (("F1", "ManSuppInvoiceHandling"), ("F5", "absent"), ("F12", "refused")):
        variant(sandbox, assumption_id, value)
    results = found(assumptions.run_check(ifs_connection, "ops"))
    assert {i for i, r in results.items() if r["status"] == assumptions.CONTRADICTED} == {"F1", "F5", "F12"}
    assert "SupplierInvoiceHandling is no projection of this tenant" in results["F1"]["seen"]
    assert results["F4"]["status"] == assumptions.UNCHECKED, "no invoice set to read the states of"
    assert "CExternalPaymentHandling" in results["F5"]["seen"]
    assert "$batch" in results["F12"]["seen"]
    ifs_connection.refresh_from_db()
    stopped = assumptions.stopped_capabilities(ifs_connection)
    assert stopped[can.READS_APPROVED_INVOICES] == ["F1"] and stopped[can.WRITES_PAYMENTS_BACK] == ["F5"]
    assert "F12" not in {i for ids in stopped.values() for i in ids}, "F12 has a fallback, it stops nothing"


def test_a_renamed_state_member_is_seen_and_ifs_refuses_the_invoice_read_that_names_it(ifs_connection, sandbox):
    contract_for("ifs").seed_canonical(sandbox)
    variant(sandbox, "F4", "PartiallyPaid")
    results = found(assumptions.run_check(ifs_connection, "ops"))
    assert results["F4"]["status"] == assumptions.CONTRADICTED
    assert "has no member PartlyPaid" in results["F4"]["seen"] and "PartiallyPaid" in results["F4"]["seen"]
    assert results["F1"]["status"] == assumptions.HELD
    with pytest.raises(DataError, match="PartlyPaid"):
        list(Connection.objects.get(pk=ifs_connection.pk).connector().approved_invoices())


def test_suppliers_are_read_without_batch_once_the_check_found_it_refused(ifs_connection, sandbox):
    contract_for("ifs").seed_canonical(sandbox)
    contradict(ifs_connection, "F12")
    suppliers = list(ifs_connection.connector().suppliers())
    assert suppliers and all(s.email or s.phone or s.address.line1 for s in suppliers)
    assert sandbox.simulators["ifs"].state()["batch_parts"] == 0, "no $batch was sent"


def test_suppliers_are_read_in_batches_while_nothing_is_contradicted(ifs_connection, sandbox):
    contract_for("ifs").seed_canonical(sandbox)
    list(ifs_connection.connector().suppliers())
    assert sandbox.simulators["ifs"].state()["batch_parts"] > 0


def test_invoice_steps_stop_before_writing_to_bill_while_f4_stands_contradicted(tenant, sandbox):
    contract_for("ifs").seed_canonical(sandbox)
    contract_for("bill").seed_canonical(sandbox)
    integration = Integration.objects.create(tenant=tenant, name="IFS → BILL",
                                             source=make_ifs_connection(tenant, sandbox.url),
                                             target=make_connection("bill", tenant, sandbox))
    contradict(integration.source, "F4")
    run = run_integration(integration.pk)
    assert "F4" in run.error and "stopped before writing" in run.error
    state = contract_for("bill").canonical_state(sandbox)
    assert state["bills"] == [], "no bill was created"
    assert state["vendors"], "suppliers do not depend on F4: vendors were still made"
    assert all(i["TransferStatus"] == "NotTransferred" for i in sandbox.simulators["ifs"].state()["invoices"])


def test_suppliers_whose_etags_carry_no_change_time_all_go_whole_once_the_check_found_it(ifs_connection, sandbox):
    variant(sandbox, "F3", "counter")
    contract_for("ifs").seed_canonical(sandbox)
    before = list(ifs_connection.connector().suppliers())
    assert before and all(isinstance(s, Unreadable) for s in before), "no change time: each filed unreadable"

    contradict(ifs_connection, "F3")
    suppliers = list(ifs_connection.connector().suppliers(since=datetime(2100, 1, 1, tzinfo=UTC)))
    assert [s.source_id for s in suppliers] == [s.source_id for s in before], "every one, whatever the cursor"
    assert all(isinstance(s, Supplier) and s.updated_marker == "" for s in suppliers)
    assert {s.source_id: s.email for s in suppliers}["V1001"] == "ar@harborpaper.test", "read whole"


def test_a_collection_ifs_cuts_short_is_read_to_its_end_once_the_check_found_the_cap(ifs_connection, sandbox):
    contract_for("ifs").seed_canonical(sandbox)
    everyone = sorted(s["SupplierId"] for s in sandbox.simulators["ifs"].state()["suppliers"])
    variant(sandbox, "F8", "capped")
    suppliers = ifs_connection.connector().sets["suppliers"]
    cut = [row["SupplierId"] for row in ifs_connection.connector().client.collection(suppliers)]
    assert cut == everyone[:ifs_sandbox.CAPPED_PAGE], "a short window read as the end: the rest is missed"

    contradict(ifs_connection, "F8")
    assert [row["SupplierId"] for row in ifs_connection.connector().client.collection(suppliers)] == everyone


def test_a_capped_read_still_stops_when_ifs_ignores_skip(ifs_connection, sandbox):
    contract_for("ifs").seed_canonical(sandbox)
    variant(sandbox, "F8", "capped")
    contradict(ifs_connection, "F8")
    connector = ifs_connection.connector()
    real_get = connector.client.get
    connector.client.get = lambda path, params: real_get(path, params and "&".join(
        part for part in params.split("&") if not part.startswith("%24skip") and not part.startswith("$skip")))
    with pytest.raises(ODataPagingError, match="ignores \\$skip"):
        list(connector.client.collection(connector.sets["suppliers"]))
