"""`manage.py check_assumptions <connection>`: each assumption of the connection's system held, contradicted (with
what was seen and what changes), could not be checked (why) or ask the customer; `--json` the same as a list;
exit 0 when nothing is contradicted, 3 when something is, 1 when the check could not run. The report is kept on the
connection and audited. Probes of the test's own, so the command is shown apart from any system's probes."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors import assumptions
from connectors import capabilities as can
from portal.models import AuditEntry
from tests.connectors.infor.conftest import make_infor_connection


@pytest.fixture
def probes(monkeypatch):
    """I5 held, I8 as the test says; every other Infor assumption left to the customer."""
    assumptions.probes_for("infor")  # Infor's own probes registered first, then set aside for the test's
    found = {}
    monkeypatch.setattr(assumptions, "PROBES", found)

    def declare(assumption_id, check, **consequence):
        found[assumption_id] = assumptions.Probe(assumption_id, "infor", check, **consequence)

    declare("I5", lambda connector: assumptions.held("LMTS=20261201 listed 0 suppliers changed at it"),
            fallback="reads every supplier in full on each run")
    return declare


def run(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command("check_assumptions", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_every_assumption_held_or_left_to_the_customer_exits_0_and_is_kept_and_audited(tenant, sandbox, probes):
    connection = make_infor_connection(tenant, sandbox.url)
    code, out, _ = run(str(connection.pk))
    assert code == 0, out
    assert "I5    held" in out and "LMTS=20261201" in out
    assert "I8    ask the customer" in out, "an assumption without a probe says what to ask"
    assert "I10" not in out, "an assumption about our simulator is not the customer's to confirm"
    assert "advice: Confirmed by" not in out and "advice: Confirm (customer): Should payments go" in out
    connection.refresh_from_db()
    kept = connection.assumptions_report
    assert kept["state"] == "done" and kept["checked_by"].startswith("command:")
    statuses = {r["id"]: r["status"] for r in kept["results"]}
    assert statuses["I5"] == assumptions.HELD and statuses["I8"] == assumptions.ASK
    assert set(statuses) == {e.id for e in assumptions.entries_for("infor")}
    entry = AuditEntry.objects.get(action="connection.assumptions_checked")
    assert entry.actor.startswith("command:") and "1 held" in entry.message


def test_a_contradicted_assumption_exits_3_and_says_what_was_seen_and_what_changes(tenant, sandbox, probes):
    probes("I3", lambda connector: assumptions.contradicted("MMS200MI/GetPayment: the transaction does not exist"),
           stops=(can.WRITES_PAYMENTS_BACK,))
    connection = make_infor_connection(tenant, sandbox.url)
    code, out, _ = run(connection.name, "--json")
    assert code == 3
    listed = {r["id"]: r for r in json.loads(out)}
    assert all(set(r) == {"id", "status", "seen", "advice"} for r in listed.values())
    assert listed["I3"]["status"] == "contradicted" and "does not exist" in listed["I3"]["seen"]
    assert listed["I3"]["advice"] == ("Stopped before writing, until ops confirm an override on the connection: the "
                                      "steps by which payments are written back.")
    connection.refresh_from_db()
    assert connection.assumption_contradicted("I3") and not connection.assumption_contradicted("I5")
    assert assumptions.stopped_capabilities(connection) == {can.WRITES_PAYMENTS_BACK: ["I3"]}


def test_a_probe_that_breaks_is_could_not_check_and_the_others_still_run(tenant, sandbox, probes):
    probes("I8", lambda connector: 1 / 0, fallback="reads the e-mail type seen")
    connection = make_infor_connection(tenant, sandbox.url)
    code, out, _ = run(str(connection.pk), "--json")
    listed = {r["id"]: r for r in json.loads(out)}
    assert code == 0
    assert listed["I8"]["status"] == assumptions.UNCHECKED and "ZeroDivisionError" in listed["I8"]["seen"]
    assert listed["I8"]["advice"], "what to ask instead"
    assert listed["I5"]["status"] == assumptions.HELD


def test_a_system_that_cannot_be_reached_exits_1_with_the_reason_in_words(tenant, probes):
    connection = make_infor_connection(tenant, "http://127.0.0.1:9")
    code, _, err = run(str(connection.pk))
    assert code == 1 and "The check could not run" in err
    connection.refresh_from_db()
    assert connection.assumptions_report["state"] == "failed" and connection.assumptions_report["error"]
    assert "{" not in connection.assumptions_report["error"], "in words, never a raw dict"


def test_an_unknown_connection_is_named_with_the_ones_there_are(tenant, sandbox):
    make_infor_connection(tenant, sandbox.url, name="Infor production")
    with pytest.raises(CommandError, match="Infor production"):
        call_command("check_assumptions", "Infor prod", stdout=StringIO())


def test_a_check_that_could_not_run_keeps_the_last_reports_stops(tenant, sandbox, probes):
    probes("I3", lambda connector: assumptions.contradicted("no such transaction"), stops=(can.WRITES_PAYMENTS_BACK,))
    connection = make_infor_connection(tenant, sandbox.url)
    assert run(str(connection.pk))[0] == 3
    connection.refresh_from_db()
    connection.base_url = "http://127.0.0.1:9"
    connection.set_credentials({**connection.credentials, "iu": "http://127.0.0.1:9", "pu": "http://127.0.0.1:9/"})
    connection.save()
    assert run(str(connection.pk))[0] == 1
    connection.refresh_from_db()
    assert connection.assumptions_report["state"] == "failed"
    assert assumptions.stopped_capabilities(connection) == {can.WRITES_PAYMENTS_BACK: ["I3"]}, \
        "a re-check that could not run lifts no stop"


def test_an_override_lasts_until_a_check_no_longer_finds_its_assumption_contradicted(tenant, sandbox, probes):
    seen = {"I3": assumptions.contradicted("no such transaction")}
    probes("I3", lambda connector: seen["I3"], stops=(can.WRITES_PAYMENTS_BACK,))
    connection = make_infor_connection(tenant, sandbox.url)
    run(str(connection.pk))
    connection.refresh_from_db()
    connection.assumption_overrides = {"I3": {"by": "olivia", "at": "2026-12-07T12:00:00+00:00"}}
    connection.save()
    assert assumptions.stopped_capabilities(connection) == {}

    seen["I3"] = assumptions.held("GetPayment answered")
    assert run(str(connection.pk))[0] == 0
    connection.refresh_from_db()
    assert connection.assumption_overrides == {}
    checked = AuditEntry.objects.filter(action="connection.assumptions_checked").order_by("pk")
    assert "withdrawn: I3" in checked.last().message

    seen["I3"] = assumptions.contradicted("no such transaction")
    assert run(str(connection.pk))[0] == 3
    connection.refresh_from_db()
    assert assumptions.stopped_capabilities(connection) == {can.WRITES_PAYMENTS_BACK: ["I3"]}, \
        "found contradicted again, it stops the steps again until ops look afresh"


def test_a_contradiction_ops_overrode_says_its_steps_run_under_the_override_by_whom_and_since_when(
        tenant, sandbox, probes):
    probes("I3", lambda connector: assumptions.contradicted("no such transaction"), stops=(can.WRITES_PAYMENTS_BACK,))
    connection = make_infor_connection(tenant, sandbox.url)
    run(str(connection.pk))
    connection.refresh_from_db()
    connection.assumption_overrides = {"I3": {"by": "olivia", "at": "2026-12-07T12:00:00+00:00"}}
    connection.save()

    code, out, _ = run(str(connection.pk))
    assert code == 3, "still contradicted: the override lets the steps run, it does not make the assumption hold"
    under = ("The steps by which payments are written back run under the override confirmed by olivia on "
             "2026-12-07 12:00 UTC, although the check finds the assumption contradicted.")
    assert f"advice: {under}" in out and "Stopped before writing" not in out
    listed = {r["id"]: r for r in json.loads(run(str(connection.pk), "--json")[1])}
    assert listed["I3"]["advice"] == under
