"""What the assumption report takes from docs/ASSUMPTIONS.md: the question to ask from an entry's **Confirm** line
only (not its **Confirmed** notes), no entry about our simulator (no customer system can confirm it), and no row for
an assumption without a probe and with nothing to ask (settled by the vendor's documentation, or showing only on a
write)."""

import re

import pytest

from connectors import assumptions
from connectors.registry import SYSTEMS
from tests.connectors.contracts.base import make_connection

HEADING = re.compile(r"^### (\w+)\. .*?(?: — (.*))?$", re.M)


def headings():
    """{id: the heading's status words} of every entry of the catalogue."""
    return {m[1]: m[2] or "" for m in HEADING.finditer(assumptions.CATALOGUE.read_text(encoding="utf-8"))}


@pytest.fixture
def no_probes(monkeypatch):
    """Every assumption of the systems left to the customer: the report's rows are the catalogue's alone."""
    for system in SYSTEMS:
        assumptions.probes_for(system)  # registered first, then set aside
    monkeypatch.setattr(assumptions, "PROBES", {})


def test_the_question_is_the_confirm_line_not_a_confirmed_by_note():
    entries = assumptions.catalogue()
    assert entries["I11"].confirm == ("Confirm (customer): Should payments go to the postal address, or do they keep "
                                      "a separate payment (remit-to) address type?")
    for entry in entries.values():
        assert "Confirmed" not in entry.confirm, f"{entry.id}: {entry.confirm}"


@pytest.mark.parametrize("assumption_id", ["I10", "F9", "F10"])
def test_an_assumption_about_our_simulator_is_not_one_of_the_customers_system(assumption_id):
    assert assumption_id in headings(), "the catalogue still has the entry"
    assert assumption_id not in assumptions.catalogue()


@pytest.mark.parametrize(("system", "left_out", "asked"), [
    ("bill", {"B6"}, {"B2", "B4", "B5"}),
    ("infor", {"I10"}, {"I11", "I12"}),
    ("ifs", {"F9", "F10"}, {"F2", "F11"}),
    ("acumatica", {"AC10", "AC11"}, {"AC2", "AC12"}),
])
def test_the_report_has_a_row_for_each_assumption_there_is_something_to_ask_about(
        system, left_out, asked, tenant, sandbox, no_probes):
    results = {r["id"]: r for r in assumptions.check(make_connection(system, tenant, sandbox))}
    assert not left_out & set(results)
    assert asked <= set(results)
    for row in results.values():
        assert row["status"] == assumptions.ASK
        assert re.match(r"Confirm( \([^)]*\))?: ", row["advice"]), row
        assert not re.match(r"Confirm( \([^)]*\))?: nothing\b", row["advice"], re.I), row


def test_every_assumption_its_heading_calls_confirmed_without_a_probe_has_nothing_left_to_ask():
    """The report leaves out what has no probe and nothing to ask; so it leaves out every such confirmed entry."""
    probed = {p.id for system in SYSTEMS for p in assumptions.probes_for(system)}
    confirmed = {i for i, status in headings().items() if status.startswith("confirmed")}
    assert confirmed - probed, "the catalogue has entries confirmed by their vendor's documentation"
    for assumption_id in (confirmed - probed) & set(assumptions.catalogue()):
        assert not assumptions.catalogue()[assumption_id].asks, \
            f"{assumption_id} is confirmed yet has a question: the report would leave it out"
