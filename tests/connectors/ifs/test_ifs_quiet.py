"""What IFS → BILL costs in remote calls, counted by the simulators themselves: the demo's first run reads IFS in
a handful of calls besides one PATCH per bill marked as transferred, a re-run with nothing changed makes at most
ten calls on each side even right after the demo was seeded (its suppliers all inside the cursor's overlap), and a
supplier changed in IFS afterwards is read on its own by its change stamp and updated in BILL."""

import io

import pytest
from django.core.management import call_command

from sandbox import demo
from sandbox.ifs import demo as ifs_demo
from syncs.engine import run_integration
from syncs.models import Integration, RunStatus

# Documented in docs/PERFORMANCE.md and issue 24: an unchanged re-run costs at most this many calls a system.
QUIET = 10


def calls(sandbox):
    """Every call each simulator answered so far, sign-ins included."""
    ifs, bill = sandbox.state("ifs"), sandbox.state("bill")
    return {"ifs": ifs["calls"] + ifs["logins"], "bill": bill["calls"] + bill["logins"]}


def spent(sandbox, before):
    return {system: count - before[system] for system, count in calls(sandbox).items()}


@pytest.fixture
def integration(sandbox, db, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    call_command("seed_demo", sandbox_url=sandbox.url, only=["ifs"], stdout=io.StringIO())
    return Integration.objects.get(name=demo.demo_modules()["ifs"].INTEGRATION)


def bill_vendors(sandbox, integration):
    organization = integration.target.credentials["organization_id"]
    return {v["shortName"]: v for v in sandbox.state("bill")["organizations"][organization]["vendors"]}


def test_the_first_run_reads_ifs_in_a_few_calls_and_marks_the_bills_in_batches(integration, sandbox):
    before = calls(sandbox)
    first = run_integration(integration.pk)
    assert first.status == RunStatus.PARTIAL, first.error
    bills = first.counters["bills_created"]
    state = sandbox.state("ifs")
    # One PATCH per bill from the ETag the invoice read brought (the locked invoice's answered 423), no GET first.
    assert state["writes"]["patch"] == bills - 1 and state["writes"]["refused_locked"] == 1
    # Suppliers' addresses and e-mail addresses in two $batch calls, not two calls a supplier; the marks are parts
    # of $batch calls too, 100 a call, not a call a bill.
    assert state["batch_parts"] == 2 * ifs_demo.SUPPLIERS + bills
    assert spent(sandbox, before)["ifs"] <= QUIET
    assert first.counters["acknowledgements_done"] == bills - 1 and first.counters["acknowledgements_waiting"] == 1


def test_an_unchanged_rerun_right_after_seeding_makes_at_most_ten_calls_a_system(integration, sandbox):
    assert run_integration(integration.pk).status == RunStatus.PARTIAL
    for _ in range(2):
        before = calls(sandbox)
        again = run_integration(integration.pk, trigger="schedule")
        assert again.status == RunStatus.PARTIAL, again.error  # the locked invoice's mark still waits
        assert again.counters.get("bills_created", 0) == again.counters.get("vendors_updated", 0) == 0
        assert all(count <= QUIET for count in spent(sandbox, before).values()), spent(sandbox, before)


def test_a_supplier_changed_in_ifs_after_the_first_run_is_read_by_its_change_stamp(integration, sandbox):
    assert run_integration(integration.pk).status == RunStatus.PARTIAL
    for supplier_id, name in (("S1005", "Renamed Castings 5"), ("S1006", "Renamed Steel 6")):
        sandbox.control("clock", {"advance_seconds": 11 * 60})
        sandbox.control("ifs/update-supplier", {"source_id": supplier_id, "name": name})
        parts, before = sandbox.state("ifs")["batch_parts"], calls(sandbox)
        run = run_integration(integration.pk, trigger="schedule")
        assert run.counters["vendors_updated"] == 1, run.counters
        assert bill_vendors(sandbox, integration)[supplier_id]["name"] == name
        assert all(count <= QUIET for count in spent(sandbox, before).values()), spent(sandbox, before)
    # The cursor now stands at S1005's change: only S1005 (inside its overlap) and S1006 were read whole; the
    # locked invoice's mark, tried again, is the fifth part.
    assert sandbox.state("ifs")["batch_parts"] - parts == 2 * 2 + 1
