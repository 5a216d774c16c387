"""What is SYSPRO's own: the session's life (logoff at the end of a run and when credentials change), e.net's
ERROR texts in words, records joined from two tables read incrementally, the open payables, and the demo."""

from datetime import date
from decimal import Decimal

import pytest

from connectors import canonical
from connectors.errors import AuthError, ConfigurationError, DataError, TransientError
from connectors.models import Connection
from connectors.records import Invoice, OpenItem, Supplier
from connectors.syspro import tables
from sandbox.syspro import demo
from sandbox.syspro import simulator as syspro_sandbox
from tests.connectors.syspro.conftest import make_syspro_connection, seed_suppliers

BOTH = pytest.mark.parametrize("odata", [True, False], ids=["odata", "enet"])


def sessions(sandbox):
    return sandbox.control("syspro/sessions")["open"]


# --- the e.net session ------------------------------------------------------------------------------------
@BOTH
def test_a_run_logs_its_session_off(tenant, sandbox, odata):
    sandbox.control("syspro/seed-canonical")
    connection = make_syspro_connection(tenant, sandbox.url, odata=odata)
    with connection.connector() as connector:
        assert connector.check()
        list(connector.suppliers())
        assert sessions(sandbox) == 1
    assert sessions(sandbox) == 0 and sandbox.state("syspro")["logoffs"] == 1
    with connection.connector() as connector:  # the next run logs on again
        list(connector.approved_invoices())
        connector.check()
    assert sandbox.state("syspro")["logins"] == 2 and sessions(sandbox) == 0


def test_a_connector_that_made_no_e_net_call_logs_nothing_off(tenant, sandbox):
    connection = make_syspro_connection(tenant, sandbox.url)
    connection.connector().check()
    with connection.connector() as connector:
        connector.gl_accounts()  # over OData only
    assert sessions(sandbox) == 1 and sandbox.state("syspro")["logoffs"] == 0


def test_new_credentials_log_the_old_session_off(tenant, sandbox):
    connection = make_syspro_connection(tenant, sandbox.url)
    connection.connector().check()
    connection.connector().forget_token()
    assert sessions(sandbox) == 0 and sandbox.state("syspro")["logoffs"] == 1
    connection.connector().check()
    assert sandbox.state("syspro")["logins"] == 2


def test_a_session_logged_off_by_another_worker_is_replaced(tenant, sandbox):
    sandbox.control("syspro/seed-canonical")
    connection = make_syspro_connection(tenant, sandbox.url, odata=False)
    busy = connection.connector()
    busy.check()
    with connection.connector() as other:  # ends its run, logging the shared session off
        other.check()
    assert len(list(busy.suppliers())) == len(canonical.SUPPLIERS)
    assert sandbox.state("syspro")["logins"] == 2


def test_no_free_licence_is_a_passing_error_in_words(tenant, sandbox):
    sandbox.control("syspro/account", {"licences": 0})
    with pytest.raises(TransientError) as excinfo:
        make_syspro_connection(tenant, sandbox.url).connector().check()
    assert "no e.net licence free" in str(excinfo.value) and "0 of 0 are in use" in str(excinfo.value)


def test_wrong_company_says_so_without_the_passwords(tenant, sandbox):
    with pytest.raises(AuthError) as excinfo:
        make_syspro_connection(tenant, sandbox.url, company_id="Z").connector().check()
    assert "Company 'Z' not found" in str(excinfo.value)
    assert syspro_sandbox.OPERATOR_PASSWORD not in str(excinfo.value)
    assert syspro_sandbox.COMPANY_PASSWORD not in str(excinfo.value)


def test_any_other_error_text_is_a_configuration_error_in_syspros_words(tenant, sandbox):
    connector = make_syspro_connection(tenant, sandbox.url, odata=False).connector()
    with pytest.raises(ConfigurationError) as excinfo:
        connector.client.comfnd(tables.Table("ArCustomer", ("Customer",), tables.columns("Customer A15")), None, 1)
    assert "SYSPRO e.net answered: ERROR: COMFND: Table 'ArCustomer' not found" in str(excinfo.value)


def test_odata_refuses_a_wrong_password_in_words(tenant, sandbox):
    connector = make_syspro_connection(tenant, sandbox.url, odata_password="not-the-password").connector()
    with pytest.raises(AuthError) as excinfo:
        connector.gl_accounts()
    assert "OData service refused the user name or password" in str(excinfo.value)
    assert "not-the-password" not in str(excinfo.value)


def test_a_malformed_odata_answer_is_a_clear_error(tenant, sandbox):
    connector = make_syspro_connection(tenant, sandbox.url).connector()
    sandbox.control("faults", {"system": "syspro", "malformed_rate": 1})
    with pytest.raises(TransientError) as excinfo:
        connector.gl_accounts()
    assert "not JSON" in str(excinfo.value)


def test_without_odata_check_says_tables_go_through_e_net(tenant, sandbox):
    said = make_syspro_connection(tenant, sandbox.url, odata=False).connector().check()
    assert "Sandbox Manufacturing" in said and "through e.net" in said


# --- records ------------------------------------------------------------------------------------------------
@BOTH
def test_an_address_change_alone_brings_the_supplier_back(tenant, sandbox, odata):
    sandbox.control("syspro/seed-canonical")
    with make_syspro_connection(tenant, sandbox.url, odata=odata).connector() as connector:
        cursor = max(int(s.updated_marker) for s in connector.suppliers())
        sandbox.control("syspro/update", {"table": tables.SUPPLIER_ADDRESSES.name, "key": ["V1002"],
                                          "changes": {"SupAddr3": "Evanston"}})
        again = list(connector.suppliers(since=cursor))
    assert [(s.source_id, s.address.city) for s in again] == [("V1002", "Evanston")]
    assert int(again[0].updated_marker) > cursor


@BOTH
def test_a_distribution_change_alone_brings_the_invoice_back(tenant, sandbox, odata):
    sandbox.control("syspro/seed-canonical")
    with make_syspro_connection(tenant, sandbox.url, odata=odata).connector() as connector:
        cursor = max(int(i.updated_marker) for i in connector.approved_invoices())
        sandbox.control("syspro/update", {"table": tables.DISTRIBUTION.name, "key": ["V1002", "INV-1002", 1],
                                          "changes": {"ExpenseGlCode": "6400"}})
        again = list(connector.approved_invoices(since=cursor))
    assert [(i.invoice_number, i.lines[0].gl_account) for i in again] == [("INV-1002", "6400")]


def test_a_blank_currency_is_the_companys_local_one(tenant, sandbox):
    sandbox.control("syspro/seed", {tables.SUPPLIERS.name: [{"Supplier": "L1", "SupplierName": "Local Co"}]})
    with make_syspro_connection(tenant, sandbox.url).connector() as connector:
        supplier = next(connector.suppliers())
    assert supplier == Supplier("L1", "Local Co", currency=syspro_sandbox.LOCAL_CURRENCY,
                                updated_marker=supplier.updated_marker)


def test_ledger_codes_arrive_as_finance_writes_them(tenant, sandbox):
    sandbox.control("syspro/seed", demo.syspro_data(date(2026, 3, 1)))
    with make_syspro_connection(tenant, sandbox.url).connector() as connector:
        codes = {a.code for a in connector.gl_accounts()}
        unmapped = next(i for i in connector.approved_invoices() if i.invoice_number == demo.UNMAPPED_INVOICE)
    assert codes == {code for code, _ in demo.GL_ACCOUNTS}
    assert unmapped.lines[0].gl_account == demo.UNMAPPED_CODE
    assert unmapped.lines[0].dimensions == {"department": "100"}


@BOTH
def test_open_invoices_are_what_is_still_to_pay(tenant, sandbox, odata):
    sandbox.control("syspro/seed-canonical")
    sandbox.control("syspro/update", {"table": tables.INVOICES.name, "key": ["V1001", "INV-1001"],
                                      "changes": {"MthInvBal1": "0"}})  # paid in SYSPRO
    sandbox.control("syspro/update", {"table": tables.INVOICES.name, "key": ["V1004", "INV-1003"],
                                      "changes": {"MthInvBal1": "1000.00", "MthInvBal2": "628.75"}})  # in part
    with make_syspro_connection(tenant, sandbox.url, odata=odata).connector() as connector:
        items = sorted(connector.open_invoices(), key=lambda i: i.number)
    expected = [OpenItem(f"{i.supplier_id}/{i.number}", i.number, i.supplier_id, i.total, i.currency, i.total)
                for i in canonical.APPROVED_INVOICES if i.number not in ("INV-1001", "INV-1003")]
    expected.append(OpenItem("V1004/INV-1003", "INV-1003", "V1004", Decimal("1628.75"), "USD", Decimal("3628.75")))
    assert items == sorted(expected, key=lambda i: i.number)


def test_an_open_invoice_that_cannot_be_read_stops_the_tie_out_with_its_reason(tenant, sandbox):
    sandbox.control("syspro/seed-canonical")
    sandbox.simulators["syspro"].rows[tables.INVOICES.name][("V1002", "INV-1002")]["Currency"] = 7
    with pytest.raises(DataError) as excinfo:
        list(make_syspro_connection(tenant, sandbox.url).connector().open_invoices())
    assert "INV-1002" in str(excinfo.value) and "ApInvoice.Currency 7 is not text" in str(excinfo.value)


# --- the demo -------------------------------------------------------------------------------------------------
def test_the_demo_loads_and_reads_through_the_connector(tenant, sandbox):
    demo.seed(sandbox.url, today=date(2026, 3, 1))
    fields = demo.connection(sandbox.url)
    connection = Connection(tenant=tenant, system="syspro", name="SYSPRO demo", base_url=fields["base_url"],
                            options=fields["options"])
    connection.set_credentials(fields["credentials"])
    connection.save()
    with connection.connector() as connector:
        suppliers = list(connector.suppliers())
        invoices = list(connector.approved_invoices())
        accounts = connector.gl_accounts()
        departments = connector.dimensions()
    assert len(suppliers) == demo.SUPPLIERS and all(isinstance(s, Supplier) for s in suppliers)
    assert [s.source_id for s in suppliers if not s.active] == [demo.SUPPLIER_ON_HOLD]
    assert all(isinstance(i, Invoice) for i in invoices)
    numbers = {i.invoice_number for i in invoices}
    assert len(numbers) == demo.INVOICES - 1 and demo.HELD_INVOICE not in numbers
    assert {i.supplier_id for i in invoices} >= {demo.SUPPLIER_ON_HOLD}
    assert all(sum(line.amount for line in i.lines) == i.total for i in invoices)
    assert {(a.code, a.name) for a in accounts} == set(demo.GL_ACCOUNTS)
    assert {("department", d.code, d.name) for d in departments} == set(demo.DIMENSIONS)
    mapped = {code for code, _ in demo.GL_ACCOUNTS} - {code for _, code in demo.UNMAPPED}
    unmapped = [i.invoice_number for i in invoices if any(line.gl_account not in mapped for line in i.lines)]
    assert unmapped == [demo.UNMAPPED_INVOICE]
    assert demo.UNMAPPED_CODE in demo.WALKTHROUGH and demo.UNMAPPED_INVOICE in demo.WALKTHROUGH


def test_the_demo_seed_is_safe_to_repeat(sandbox):
    demo.seed(sandbox.url, today=date(2026, 3, 1))
    demo.seed(sandbox.url, today=date(2026, 3, 1))
    held = sandbox.state("syspro")["tables"]
    assert len(held[tables.SUPPLIERS.name]) == demo.SUPPLIERS and len(held[tables.INVOICES.name]) == demo.INVOICES


def test_ending_a_run_whose_session_already_timed_out_is_quiet(tenant, sandbox, caplog):
    connection = make_syspro_connection(tenant, sandbox.url)
    with connection.connector() as connector:
        connector.check()
        sandbox.control("clock", {"advance_seconds": syspro_sandbox.SESSION_TIMEOUT + 1})
    assert not [r for r in caplog.records if "Closing the syspro connector" in r.getMessage()]
    assert sandbox.state("syspro")["logoffs"] == 0
    connection.connector().check()  # the dropped session is not offered again
    assert sandbox.state("syspro")["logins"] == 2


def test_a_gl_account_row_that_cannot_be_read_is_an_error_naming_it_not_a_code_gone_missing(tenant, sandbox):
    sandbox.control("syspro/seed-canonical")
    simulator = sandbox.simulators["syspro"]
    good = next(iter(simulator.rows["GenMaster"].values()))
    # What no SQL column holds but a broken view or a middleware could answer: a number where text belongs.
    simulator.rows["GenMaster"][("9999-000",)] = {**good, "GlCode": "9999-000", "Description": 42}
    with make_syspro_connection(tenant, sandbox.url).connector() as connector, \
            pytest.raises(DataError, match="GenMaster row '9999-000'"):
        connector.gl_accounts()


def test_an_e_net_read_goes_on_past_a_page_the_site_cut_short(tenant, sandbox, monkeypatch):
    """A site that answers fewer rows than ReturnRows asks (its own cap, Y8) is read to the end: only an empty
    page ends a key-range read."""
    seed_suppliers(sandbox, 10)
    monkeypatch.setattr(syspro_sandbox, "MAX_ROWS", 4)
    with make_syspro_connection(tenant, sandbox.url, odata=False).connector() as connector:
        read = [row["Supplier"] for row in connector.client.rows(tables.SUPPLIERS, page_size=6)]
    assert read == [f"S{n:05d}" for n in range(10)]


# --- rows looked up by key --------------------------------------------------------------------------------
def seed_addresses(sandbox, count):
    seed_suppliers(sandbox, count)
    sandbox.control("syspro/seed", {tables.SUPPLIER_ADDRESSES.name: [
        {"Supplier": f"S{n:05d}", "SupAddr1": f"{n} Main St", "SupAddr3": "Omaha"} for n in range(count)]})


def looked_up(connector, keys, page_size):
    before = connector.client.calls()
    rows = list(connector.client.rows_by_key(tables.SUPPLIER_ADDRESSES, [(k,) for k in keys], page_size=page_size))
    return sorted(row["Supplier"] for row in rows), connector.client.calls() - before


@BOTH
def test_the_rows_of_many_keys_come_from_one_read_in_key_order(tenant, sandbox, odata):
    """A cursor's overlap re-reads a hundred suppliers at once: their addresses come in one page, not five calls of
    20 keys."""
    seed_addresses(sandbox, 100)
    wanted = [f"S{n:05d}" for n in range(0, 100, 2)] + ["S99999"]  # one key the table does not hold
    with make_syspro_connection(tenant, sandbox.url, odata=odata).connector() as connector:
        connector.client.profile()  # e.net's logon is not part of the count
        # e.net knows that a table ended only from an empty page (Y8): one call more.
        assert looked_up(connector, wanted, page_size=500) == (wanted[:-1], 1 if odata else 2)


@BOTH
def test_keys_not_seen_whole_within_the_calls_asking_by_name_would_cost_are_asked_by_name(tenant, sandbox, odata):
    """The read in key order stops after as many pages as asking by name would cost (here 3 of 10 rows); the keys
    past it are asked by name: never more than twice the calls by name, and every row is there."""
    seed_addresses(sandbox, 100)
    wanted = [f"S{n:05d}" for n in range(59, 100)]  # 41 keys: 3 calls by name
    with make_syspro_connection(tenant, sandbox.url, odata=odata).connector() as connector:
        connector.client.profile()  # e.net's logon is not part of the count
        rows, calls = looked_up(connector, wanted, page_size=10)
    assert rows == wanted
    # Then 3 calls by name, each one more over e.net for its empty page.
    assert calls == 3 + (3 if odata else 6)


def test_a_few_keys_are_asked_by_name(tenant, sandbox):
    seed_addresses(sandbox, 100)
    with make_syspro_connection(tenant, sandbox.url).connector() as connector:
        assert looked_up(connector, ["S00007", "S00093"], page_size=500) == (["S00007", "S00093"], 1)
    assert sandbox.state("syspro")["calls_by_path"] == {"GET /odata/ApSupplierAddr": 1}


@BOTH
def test_lines_spread_over_a_page_boundary_are_read_whole(tenant, sandbox, odata):
    """An invoice whose lines the page cut in two is looked up by key: it never comes with part of its lines."""
    sandbox.control("syspro/seed-canonical")
    with make_syspro_connection(tenant, sandbox.url, odata=odata).connector() as connector:
        whole = {i.source_id: len(i.lines) for i in connector.approved_invoices()}
        connector.page_size = 1
        again = {i.source_id: len(i.lines) for i in connector.approved_invoices(since=0)}
    assert again == whole and max(whole.values()) > 1
