"""SYSPRO's assumption probes (Y1 to Y3, connectors/syspro/client.py) beyond the generic both-ways test
(tests/connectors/test_assumption_probes.py): the OData service's $metadata the probes read, and what the connector
does once a probe found its assumption contradicted: stop the steps reading tables OData does not publish (Y1),
read TimeStamp as SQL Server's binary and keep the changed rows itself (Y2), tell an ended e.net session by asking
(Y3)."""

from functools import partial

import pytest
import requests

from connectors import assumptions, canonical
from connectors import capabilities as can
from connectors.errors import ConfigurationError, ConnectorError
from connectors.syspro import tables
from connectors.syspro.client import stamp_number
from sandbox.syspro import simulator as syspro_sandbox
from syncs.engine import run_integration
from syncs.models import Integration, RunStatus
from tests.assumptions import set_variant
from tests.connectors.contracts.base import contract_for, make_connection
from tests.connectors.syspro.conftest import make_syspro_connection

variant = partial(set_variant, system="syspro")


def checked(connection):
    """The connection after a real assumption check (its report kept on it, as the runs read it)."""
    report = assumptions.run_check(connection, "ops")
    assert report["state"] == "done", report["error"]
    return connection


def state(sandbox, table):
    return {tuple(row[k] for k in table.key): row for row in sandbox.state("syspro")["tables"][table.name]}


# --- $metadata ----------------------------------------------------------------------------------------------
def test_metadata_publishes_every_table_read_with_the_types_syspro_gives_them(tenant, sandbox):
    published = make_syspro_connection(tenant, sandbox.url).connector().client.metadata().entity_sets
    assert set(published) == set(tables.TABLES)
    for table in tables.TABLES.values():
        assert list(published[table.name]) == list(table.names)
    invoice = published[tables.INVOICES.name]
    assert invoice["TimeStamp"] == "Edm.Int64" and invoice["Invoice"] == "Edm.String"
    assert invoice["OrigInvValue"] == "Edm.Decimal" and invoice["InvoiceDate"] == "Edm.DateTimeOffset"


def test_metadata_takes_the_odata_credentials_like_the_entity_sets(sandbox):
    answer = requests.get(syspro_sandbox.odata_url(sandbox.url) + "/$metadata", timeout=10)
    assert answer.status_code == 401


# --- Y1: tables OData does not publish stop the steps reading them -------------------------------------------
@pytest.fixture
def syspro_to_bill(tenant, sandbox):
    contract_for("syspro").seed_canonical(sandbox)
    contract_for("bill").seed_canonical(sandbox)
    return Integration.objects.create(tenant=tenant, name="SYSPRO → BILL",
                                      source=make_syspro_connection(tenant, sandbox.url),
                                      target=make_connection("bill", tenant, sandbox))


def test_a_table_odata_does_not_publish_stops_every_step_reading_tables_before_it_writes(syspro_to_bill, sandbox):
    variant(sandbox, "Y1", "no ApJnlDistrib")
    connection = checked(syspro_to_bill.source)
    found = {r["id"]: r for r in connection.assumptions_report["results"]}["Y1"]
    assert found["status"] == assumptions.CONTRADICTED and "ApJnlDistrib is not published" in found["seen"]
    assert assumptions.stopped_capabilities(connection) == {
        capability: ["Y1"] for capability in (can.READS_SUPPLIERS, can.READS_APPROVED_INVOICES,
                                              can.REPORTS_HELD_INVOICES, can.READS_REFERENCE_DATA)}

    run = run_integration(syspro_to_bill.pk)
    assert run.status == RunStatus.PARTIAL and run.counters["steps_stopped"] >= 2
    assert "Y1 contradicted" in run.error
    written = contract_for("bill").canonical_state(sandbox)
    assert written["vendors"] == [] and written["bills"] == [], "nothing is written while Y1 stands contradicted"


def test_a_column_odata_leaves_out_is_named(tenant, sandbox):
    variant(sandbox, "Y1", "ApInvoice without MthInvBal3")
    connection = checked(make_syspro_connection(tenant, sandbox.url))
    found = {r["id"]: r for r in connection.assumptions_report["results"]}["Y1"]
    assert found["status"] == assumptions.CONTRADICTED and "ApInvoice has no MthInvBal3" in found["seen"]


def test_over_e_net_what_odata_publishes_is_not_checked_and_stops_nothing(tenant, sandbox):
    variant(sandbox, "Y1", "no ApJnlDistrib")
    connection = checked(make_syspro_connection(tenant, sandbox.url, odata=False))
    statuses = {r["id"]: r["status"] for r in connection.assumptions_report["results"]}
    assert statuses["Y1"] == statuses["Y2"] == assumptions.UNCHECKED
    assert assumptions.stopped_capabilities(connection) == {}


# --- Y2: TimeStamp typed as binary over OData -----------------------------------------------------------------
def test_a_binary_timestamp_is_read_as_sql_servers_number_and_changes_are_kept_here(tenant, sandbox):
    sandbox.control("syspro/seed-canonical")
    variant(sandbox, "Y2", "Edm.Binary")
    connection = checked(make_syspro_connection(tenant, sandbox.url))
    assert connection.assumption_contradicted("Y2")
    with connection.connector() as connector:
        everyone = list(connector.suppliers())
    held = state(sandbox, tables.SUPPLIERS)
    assert {s.source_id: s.updated_marker for s in everyone} == {
        s.source_id: str(max(held[(s.source_id,)]["TimeStamp"], state(sandbox, tables.SUPPLIER_ADDRESSES)[
            (s.source_id,)]["TimeStamp"])) for s in canonical.SUPPLIERS}

    since = max(int(s.updated_marker) for s in everyone)
    changed = canonical.SUPPLIERS[0].source_id
    sandbox.control("syspro/canonical-supplier", {"source_id": changed, "phone": "555-0199"})
    with connection.connector() as connector:
        assert [s.source_id for s in connector.suppliers(since=since)] == [changed]


def test_without_the_fallback_a_binary_timestamp_refuses_the_incremental_read(tenant, sandbox):
    sandbox.control("syspro/seed-canonical")
    variant(sandbox, "Y2", "Edm.Binary")
    connection = make_syspro_connection(tenant, sandbox.url)
    with connection.connector() as connector, pytest.raises(ConnectorError) as excinfo:
        list(connector.suppliers(since=2000))
    assert "incompatible types" in str(excinfo.value) and "Edm.Binary" in str(excinfo.value)


def test_a_rowversion_reads_from_base64_or_base64url_and_a_number_stays_one():
    assert stamp_number("AAAAAAAAB9E=") == 2001 == stamp_number("AAAAAAAAB9E")
    assert stamp_number("AAAAAAD_-_8") == 0xFFFBFF
    assert stamp_number("2001") == "2001" and stamp_number(2001) == 2001
    assert stamp_number("not a stamp!") == "not a stamp!", "left for typed() to name"


# --- Y3: e.net words an ended session otherwise ------------------------------------------------------------------
def test_an_ended_session_in_other_words_is_replaced_once_the_check_found_them(tenant, sandbox):
    sandbox.control("syspro/seed-canonical")
    variant(sandbox, "Y3", "unknown GUID")
    connection = checked(make_syspro_connection(tenant, sandbox.url, odata=False))
    assert connection.assumption_contradicted("Y3")
    with connection.connector() as connector:
        list(connector.suppliers())
        logins = sandbox.state("syspro")["logins"]
        sandbox.control("clock", {"advance_seconds": syspro_sandbox.SESSION_TIMEOUT + 1})
        assert len(list(connector.suppliers())) == len(canonical.SUPPLIERS)
    assert sandbox.state("syspro")["logins"] == logins + 1


def test_without_the_fallback_an_ended_session_in_other_words_fails_in_syspros_words(tenant, sandbox):
    sandbox.control("syspro/seed-canonical")
    variant(sandbox, "Y3", "unknown GUID")
    connector = make_syspro_connection(tenant, sandbox.url, odata=False).connector()
    list(connector.suppliers())
    sandbox.control("clock", {"advance_seconds": syspro_sandbox.SESSION_TIMEOUT + 1})
    with pytest.raises(ConfigurationError) as excinfo:
        list(connector.suppliers())
    assert "is unknown or has expired" in str(excinfo.value)


def test_with_the_fallback_an_error_on_a_live_session_stands_without_a_new_logon(tenant, sandbox):
    variant(sandbox, "Y3", "unknown GUID")
    connection = checked(make_syspro_connection(tenant, sandbox.url, odata=False))
    with connection.connector() as connector:
        connector.check()
        logins = sandbox.state("syspro")["logins"]
        with pytest.raises(ConfigurationError) as excinfo:
            connector.client.comfnd(tables.Table("ArCustomer", ("Customer",), tables.columns("Customer A15")), None, 1)
        assert "Table 'ArCustomer' not found" in str(excinfo.value)
        assert sandbox.state("syspro")["logins"] == logins


def test_with_the_fallback_ending_a_run_whose_session_timed_out_is_quiet(tenant, sandbox, caplog):
    variant(sandbox, "Y3", "unknown GUID")
    connection = checked(make_syspro_connection(tenant, sandbox.url, odata=False))
    logoffs = sandbox.state("syspro")["logoffs"]
    with connection.connector() as connector:
        connector.check()
        sandbox.control("clock", {"advance_seconds": syspro_sandbox.SESSION_TIMEOUT + 1})
    assert not [r for r in caplog.records if "Closing the syspro connector" in r.getMessage()]
    assert sandbox.state("syspro")["logoffs"] == logoffs
