"""What the Infor connector does once the assumption check (connectors.assumptions) finds one of its assumptions
contradicted: the safe alternative it takes by itself (I2, I5, I15), or the capabilities the check stops (I1, I3, I4,
I8, I9). The probes themselves, both ways, are in tests/connectors/test_assumption_probes.py."""

from datetime import datetime

import pytest

from connectors import assumptions
from connectors import capabilities as can
from connectors.capabilities import CAPABILITY_PHRASES
from connectors.errors import ConfigurationError
from connectors.infor import m3
from connectors.infor.connector import EARLIEST, lmts_to_iso
from tests.assumptions import contradict

SUPPLIER = "V1002"


def calls(sandbox, transaction):
    return sandbox.state("infor")["transaction_calls"].get(str(transaction), 0)


def read_since(connection, since):
    with connection.connector() as connector:
        return {s.source_id: s for s in connector.suppliers(since=since)}


@pytest.fixture
def changed_at(sandbox):
    """The canonical seed with one supplier changed later: the moment of its change, as M3 stamped it."""
    sandbox.control("infor/seed-canonical")
    sandbox.control("infor/canonical-supplier", {"source_id": SUPPLIER, "phone": "555-0199"})
    stamp = next(s["LMTS"] for s in sandbox.state("infor")["suppliers"] if s["SUNO"] == SUPPLIER)
    return datetime.fromisoformat(lmts_to_iso(stamp))


def test_with_i5_contradicted_a_read_since_a_supplier_s_own_stamp_still_returns_it(infor_connection, sandbox,
                                                                                   changed_at):
    assert SUPPLIER not in read_since(infor_connection, changed_at), "as assumed, LMTS selects changes after it"

    contradict(infor_connection, "I5")
    read = read_since(infor_connection, changed_at)

    assert SUPPLIER in read and read[SUPPLIER].phone == "555-0199"
    assert set(read) == {s["SUNO"] for s in sandbox.state("infor")["suppliers"]}, "every supplier, in full"
    assert {s.updated_marker for s in read.values()} == {EARLIEST.isoformat()}


def test_with_i5_contradicted_m3_is_not_asked_which_suppliers_changed(infor_connection, sandbox, changed_at):
    sandbox.control("variant", {"system": "infor", "assumption": "I5", "value": "ignored"})
    before = calls(sandbox, m3.SUPPLIERS)
    read_since(infor_connection, changed_at)
    asked_unswitched = calls(sandbox, m3.SUPPLIERS) - before

    contradict(infor_connection, "I5")
    before = calls(sandbox, m3.SUPPLIERS)
    read = read_since(infor_connection, changed_at)

    assert SUPPLIER in read
    assert calls(sandbox, m3.SUPPLIERS) - before < asked_unswitched, "no list call filtered on LMTS for the markers"


def test_with_i2_contradicted_a_read_since_an_invoice_s_own_stamp_still_returns_it(infor_connection, sandbox):
    sandbox.control("infor/seed-canonical")
    invoice = next(i for i in sandbox.state("infor")["invoices"] if i["APRV"] == "1")
    sandbox.control("infor/canonical-invoice", {"supplier_id": invoice["SUNO"], "number": invoice["SINO"],
                                                "approved": True})
    stamp = next(i["LMTS"] for i in sandbox.state("infor")["invoices"] if i["KEY"] == invoice["KEY"])
    since = datetime.fromisoformat(lmts_to_iso(stamp))

    def read():
        with infor_connection.connector() as connector:
            return {i.source_id for i in connector.approved_invoices(since=since)}

    assert invoice["KEY"] not in read(), "as assumed, F_LMTS selects changes after it"
    contradict(infor_connection, "I2")
    assert invoice["KEY"] in read()
    assert len(read()) == sum(i["APRV"] == "1" for i in sandbox.state("infor")["invoices"]), "every approved invoice"


def test_with_i15_contradicted_the_open_invoices_are_not_asked_for_and_the_error_names_i15(infor_connection,
                                                                                            sandbox):
    sandbox.control("infor/seed-canonical")
    with infor_connection.connector() as connector:
        assert list(connector.open_invoices()), "read from M3 while I15 holds"

    contradict(infor_connection, "I15")
    before = calls(sandbox, m3.OPEN_INVOICES)
    with infor_connection.connector() as connector, pytest.raises(ConfigurationError, match=r"\(I15\)"):
        list(connector.open_invoices())
    assert calls(sandbox, m3.OPEN_INVOICES) == before


@pytest.mark.parametrize(("assumption_id", "value", "capability"), [
    ("I1", "missing", can.READS_APPROVED_INVOICES),
    ("I1", "missing", can.REPORTS_HELD_INVOICES),
    ("I3", "missing", can.WRITES_PAYMENTS_BACK),
    ("I4", "Swedish", can.WRITES_PAYMENTS_BACK),
    ("I8", "02", can.READS_SUPPLIERS),
    ("I9", "30", can.READS_SUPPLIERS),
])
def test_a_contradiction_without_a_safe_alternative_stops_its_capability(infor_connection, sandbox, assumption_id,
                                                                         value, capability):
    sandbox.control("infor/seed-canonical")
    sandbox.control("variant", {"system": "infor", "assumption": assumption_id, "value": value})

    results = {r["id"]: r for r in assumptions.check(infor_connection)}
    infor_connection.assumptions_report = assumptions.report(list(results.values()), "test")
    infor_connection.save()

    assert results[assumption_id]["status"] == assumptions.CONTRADICTED, results[assumption_id]["seen"]
    assert CAPABILITY_PHRASES[capability] in results[assumption_id]["advice"]
    assert assumption_id in assumptions.stopped_capabilities(infor_connection).get(capability, ())


def test_against_the_default_simulator_the_check_stops_nothing_and_changes_nothing(infor_connection, sandbox):
    sandbox.control("infor/seed-canonical")
    results = assumptions.check(infor_connection)
    infor_connection.assumptions_report = assumptions.report(results, "test")
    infor_connection.save()

    assert not assumptions.contradicted_ids(infor_connection), [r["seen"] for r in results]
    assert assumptions.stopped_capabilities(infor_connection) == {}
