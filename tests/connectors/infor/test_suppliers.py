"""Infor suppliers as canonical records: address, e-mail and blocked status come through; the supplier
cursor advances from one incremental read to the next; markers stay put for unchanged suppliers and
never come after a change; and the reads cost what they should."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

import connectors.infor.connector as infor_connector
from connectors import canonical
from connectors.cursors import TIMESTAMP
from connectors.errors import TransientError
from connectors.infor import m3
from connectors.records import Address, Supplier
from sandbox.infor.simulator import MIError
from syncs.engine import run_integration
from syncs.models import Cursor, Integration, SyncRecord
from tests.connectors.contracts.base import make_connection

OVERLAP = TIMESTAMP.overlap  # the engine reads from the cursor less this
SUPPLIERS = {s.source_id: s for s in canonical.SUPPLIERS}


def by_id(read):
    return {s.source_id: s for s in read}


def newest(read):
    return max(TIMESTAMP.parse(s.updated_marker) for s in read)


def calls(sandbox):
    return dict(sandbox.simulators["infor"].transaction_calls)


def spent(before, after):
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


@pytest.fixture
def connector(infor_connection, sandbox, monkeypatch):
    """The canonical seed loaded; the connector telling time by the simulator's clock, so the tests can
    move M3's time on (the sandbox's change stamps follow that clock)."""
    sandbox.control("infor/seed-canonical")
    monkeypatch.setattr(infor_connector, "timezone", SimpleNamespace(now=sandbox.clock.now))
    return infor_connection.connector()


def test_address_e_mail_and_blocked_status_reach_the_supplier(connector):
    read = by_id(connector.suppliers())
    harbor = read["V1001"]
    assert harbor.address == Address("100 Congress Ave", "", "Austin", "TX", "78701", "US")
    assert (harbor.email, harbor.phone, harbor.tax_id, harbor.active) == \
        ("ar@harborpaper.test", "+1 512 555 0101", "74-1234567", True)
    assert read["V1005"].address == Address("200 Bay St", "", "Toronto", "ON", "M5J 2J2", "CA")
    assert read[canonical.INACTIVE_SUPPLIER].active is False
    assert {k: replace(s, updated_marker="") for k, s in read.items()} == SUPPLIERS


def test_a_supplier_blocked_in_m3_reads_blocked_on_the_next_incremental_read(connector, sandbox):
    first = list(connector.suppliers())
    sandbox.control("clock", {"advance_seconds": 1800})
    sandbox.control("infor/update-supplier", {"SUNO": "V1004", "STAT": m3.BLOCKED_SUPPLIER_STATUS,
                                              "EMAL": "ap@northwind.test", "ADR1": "500 Pine St"})
    again = by_id(connector.suppliers(since=newest(first) - OVERLAP))
    assert set(again) == set(SUPPLIERS), "the others again, in the overlap"
    assert (again["V1004"].active, again["V1004"].email, again["V1004"].address.line1) == \
        (False, "ap@northwind.test", "500 Pine St")


def test_the_supplier_cursor_advances_across_two_incremental_reads(connector, sandbox):
    first = list(connector.suppliers())
    cursor = newest(first)
    sandbox.control("clock", {"advance_seconds": 1800})
    sandbox.control("infor/canonical-supplier", {"source_id": "V1001", "email": "pay@harborpaper.test"})
    second = list(connector.suppliers(since=cursor - OVERLAP))
    assert by_id(second)["V1001"].email == "pay@harborpaper.test"
    assert newest(second) > cursor
    cursor = newest(second)

    sandbox.control("clock", {"advance_seconds": 1800})
    sandbox.control("infor/canonical-supplier", {"source_id": "V1002", "active": False})
    third = list(connector.suppliers(since=cursor - OVERLAP))
    assert set(by_id(third)) == {"V1001", "V1002"}, "the one changed, and the last one read again in the overlap"
    assert by_id(third)["V1002"].active is False
    assert newest(third) > cursor
    assert by_id(third)["V1001"] == by_id(second)["V1001"], "unchanged: the same record, marker included"


def test_markers_never_come_after_the_change_and_stay_put_while_nothing_changes(connector, sandbox):
    """A failed record is read again from just before its marker: the marker must not be later than the
    change. And it must not move while nothing changes: an unchanged supplier comes back the same, marker included."""
    first = by_id(connector.suppliers())
    stamps = {s["SUNO"]: s["LMTS"] for s in sandbox.simulators["infor"].suppliers.values()}
    for suno, supplier in first.items():
        assert infor_connector.iso_to_lmts(TIMESTAMP.parse(supplier.updated_marker)) < stamps[suno]
        just_before = TIMESTAMP.just_before(TIMESTAMP.parse(supplier.updated_marker))
        assert suno in by_id(connector.suppliers(since=just_before)), "read again from just before its marker"
    sandbox.control("clock", {"advance_seconds": 300})
    assert by_id(connector.suppliers()) == first
    assert by_id(connector.suppliers(since=newest(first.values()) - OVERLAP)) == first


def test_what_a_read_costs(connector, sandbox, monkeypatch):
    """One LstAddresses per supplier (M3 has no list of every supplier's address); per page of the
    supplier list one LstByNumber for the statuses; one CRS111MI/List for the e-mail addresses; a few
    filtered LstSuppliers calls for the markers. Nothing changed: one call."""
    monkeypatch.setattr(infor_connector, "PAGE_SIZE", 4)
    before = calls(sandbox)
    first = list(connector.suppliers())
    cost = spent(before, calls(sandbox))
    assert cost["CRS620MI/LstAddresses"] == len(first) == 6
    assert cost["CRS620MI/LstByNumber"] == 2 and cost["CRS111MI/List"] == 1
    assert "CRS620MI/GetBasicData" not in cost, "every status came from the list"
    assert cost["CRS620MI/LstSuppliers"] <= 3 + 1 + 4, "the list, the LMTS check and a few grid points"

    sandbox.control("clock", {"advance_seconds": 3600})
    sandbox.control("infor/update-supplier", {"SUNO": "V1003", "PHNO": "+1 404 555 0199"})
    before = calls(sandbox)
    assert [s.source_id for s in connector.suppliers(since=newest(first) + OVERLAP)] == ["V1003"]
    cost = spent(before, calls(sandbox))
    assert cost["CRS620MI/LstAddresses"] == 1 and cost["CRS620MI/LstByNumber"] == 1
    # The grid points searched grow with the log of the time since the cursor (an hour: 6 points).
    assert cost["CRS620MI/LstSuppliers"] <= 1 + 1 + 2 * 3

    before = calls(sandbox)
    assert list(connector.suppliers(since=sandbox.clock.now())) == []
    assert spent(before, calls(sandbox)) == {"CRS620MI/LstSuppliers": 1}


def test_a_status_the_list_page_missed_is_read_with_getbasicdata(connector, sandbox, monkeypatch):
    statuses = type(connector).listed_statuses
    monkeypatch.setattr(type(connector), "listed_statuses",
                        lambda self, chunk: {k: v for k, v in statuses(self, chunk).items() if k != "V1006"})
    before = calls(sandbox)
    assert by_id(connector.suppliers())["V1006"].active is False
    assert spent(before, calls(sandbox))["CRS620MI/GetBasicData"] == 1


def test_a_supplier_m3_refuses_details_for_is_unreadable_not_the_whole_read(connector, sandbox, monkeypatch):
    sim = sandbox.simulators["infor"]
    addresses = sim.supplier_addresses

    def refuse(inputs, division):
        if inputs["SUNO"] == "V1002":
            raise MIError("Not authorized", "XAU0001", "SUNO")
        return addresses(inputs, division)

    monkeypatch.setattr(sim, "supplier_addresses", refuse)
    read = by_id(connector.suppliers())
    assert not isinstance(read["V1002"], Supplier) and "Not authorized" in read["V1002"].reason
    assert all(isinstance(s, Supplier) for k, s in read.items() if k != "V1002")


def test_when_m3_ignores_the_lmts_filter_every_run_reads_everything_but_nothing_moves(connector, sandbox,
                                                                                       monkeypatch, caplog):
    sim = sandbox.simulators["infor"]
    listed = sim.list_suppliers
    monkeypatch.setattr(sim, "list_suppliers", lambda inputs, division: listed(
        {k: v for k, v in inputs.items() if k != "LMTS"}, division))
    first = list(connector.suppliers())
    assert {s.updated_marker for s in first} == {infor_connector.EARLIEST.isoformat()}
    assert "ignores its LMTS filter" in caplog.text
    assert list(connector.suppliers(since=newest(first) - OVERLAP)) == first


@pytest.fixture
def integration(tenant, sandbox, monkeypatch):
    sandbox.control("infor/seed-canonical")
    sandbox.control("bill/seed-canonical")
    monkeypatch.setattr(infor_connector, "timezone", SimpleNamespace(now=sandbox.clock.now))
    return Integration.objects.create(tenant=tenant, name="Infor → BILL",
                                      source=make_connection("infor", tenant, sandbox),
                                      target=make_connection("bill", tenant, sandbox))


def bill_vendors(sandbox):
    from sandbox.bill import simulator as bill_sandbox

    state = sandbox.state("bill")
    return {v["shortName"]: v for v in state["organizations"][bill_sandbox.ORG_ID]["vendors"]}


def test_through_the_engine_the_cursor_advances_and_the_vendor_gets_address_e_mail_and_status(integration,
                                                                                               sandbox):
    run_integration(integration.pk)
    cursor = Cursor.objects.get(integration=integration, stream="suppliers")
    first = TIMESTAMP.parse(cursor.value)
    vendors = bill_vendors(sandbox)
    assert canonical.INACTIVE_SUPPLIER not in vendors, "blocked in M3: no vendor"
    assert vendors["V1001"]["email"] == "ar@harborpaper.test"
    assert vendors["V1001"]["address"]["line1"] == "100 Congress Ave"

    sandbox.control("clock", {"advance_seconds": 1800})
    sandbox.control("infor/update-supplier", {"SUNO": "V1001", "EMAL": "pay@harborpaper.test",
                                              "ADR1": "1 Harbor Way", "TOWN": "Round Rock"})
    run = run_integration(integration.pk)
    cursor.refresh_from_db()
    assert TIMESTAMP.parse(cursor.value) > first
    assert run.counters.get("vendors_updated") == 1
    vendor = bill_vendors(sandbox)["V1001"]
    assert (vendor["email"], vendor["address"]["line1"], vendor["address"]["city"]) == \
        ("pay@harborpaper.test", "1 Harbor Way", "Round Rock")

    again = run_integration(integration.pk)
    assert again.counters.get("vendors_updated", 0) == 0, "read again in the overlap, unchanged"
    record = SyncRecord.objects.get(integration=integration, object_type="vendor", source_id="V1001")
    assert TIMESTAMP.parse(record.data["marker"]) <= TIMESTAMP.parse(cursor.value)


def test_a_first_read_searches_back_a_few_points_at_a_time():
    """M3 gives no change stamp: a first read finds each supplier's marker by asking which changed after points going
    back from now in doubling steps. Those are asked POINTS_AT_ONCE at a time (side by side where threads are allowed),
    with the filter's check and now itself in the first group: suppliers unchanged for a year are found in a few
    groups rather than a round trip per point, and a few points past them are asked for nothing."""
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    changed_at = {"V1": now - timedelta(days=365), "V2": now - timedelta(days=366)}

    def pages(transaction, inputs, *args, **kwargs):
        after = datetime.strptime(inputs["LMTS"], "%Y%m%d%H%M%S%f").replace(tzinfo=UTC)
        yield [{"SUNO": suno} for suno, at in changed_at.items() if at > after]

    floors = infor_connector.ChangeFloors(SimpleNamespace(pages=pages))
    groups = []
    ask = floors.ask_at_once
    floors.ask_at_once = lambda indexes: (groups.append(list(indexes)), ask(indexes))[1]
    markers = floors.markers(set(changed_at), None, now)
    hi = infor_connector.grid_index(now) + 1
    assert groups[0][1:] == [hi, hi - 1, hi - 2, hi - 4], "the check, now, then the first points back, at once"
    assert all(len(group) <= infor_connector.POINTS_AT_ONCE for group in groups[1:])
    back = [index for group in groups[1:] for index in group]
    assert back == [hi - 2 ** k for k in range(3, 3 + len(back))], "each group goes on doubling where the last stopped"
    assert len(back) >= 17 - 3 and len(groups) <= 7, "a year back: 17 doubling steps, in 7 groups at most"
    for suno, at in changed_at.items():
        found = datetime.fromisoformat(markers[suno])
        assert at - infor_connector.CHANGE_GRID <= found <= at, "the grid point just before each change"


def test_a_page_s_statuses_that_cannot_be_read_fail_the_read_not_its_suppliers_one_by_one(connector, monkeypatch):
    """The addresses go beside the statuses (supplier_work), yet a statuses call that fails still fails the read:
    no supplier is handed back without its status, nor failed alone for its page's error."""
    def timed_out(self, chunk):
        raise TransientError("Infor: LstByNumber timed out")

    monkeypatch.setattr(type(connector), "listed_statuses", timed_out)
    with pytest.raises(TransientError, match="LstByNumber timed out"):
        list(connector.suppliers())
