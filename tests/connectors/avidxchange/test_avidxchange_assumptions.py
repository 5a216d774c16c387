"""What AvidXchange's assumption probes change once the last check found them contradicted (the probes themselves are
tested both ways in tests/connectors/test_assumption_probes.py). X5 (the code lists we publish to exist) has no safe
alternative: publishing codes and creating invoices stop before their first write, and the rest of the run goes on.
X4 (pages of the size asked): lists are read on by the page size AvidXchange answers, so none ends early."""

import pytest
from django_q.conf import Conf

from connectors import assumptions
from connectors import capabilities as can
from sandbox.avidxchange import simulator as avid_sandbox
from syncs.engine import run_integration
from tests.syncs.test_pairs import infor_to_avidxchange


@pytest.fixture
def integration(tenant, sandbox, monkeypatch):
    """Infor → AvidXchange, both simulators loaded with the canonical seed and every code mapped."""
    monkeypatch.setattr(Conf, "SYNC", True)
    return infor_to_avidxchange(tenant, sandbox, every_account=True)


def company(sandbox):
    return sandbox.simulators["avidxchange"].state()["companies"][avid_sandbox.COMPANY_ID]


def test_a_missing_code_list_stops_publishing_codes_and_creating_invoices_before_writing(integration, sandbox):
    sandbox.control("variant", {"system": "avidxchange", "assumption": "X5", "value": "no Project or Subaccount list"})
    report = assumptions.run_check(integration.target, "ops")
    found = next(r for r in report["results"] if r["id"] == "X5")
    assert found["status"] == assumptions.CONTRADICTED
    assert found["seen"].startswith("AvidXchange does not know the code list(s) Project (GET /codes?ListTypes=Project")
    assert "; Subaccount (GET /codes?ListTypes=Subaccount" in found["seen"]
    assert "Stopped before writing" in found["advice"]
    integration.target.refresh_from_db()
    assert assumptions.stopped_capabilities(integration.target) == {can.ACCEPTS_REFERENCE_DATA: ["X5"],
                                                                    can.CREATES_BILLS: ["X5"]}
    codes_before = company(sandbox)["codes"]

    run = run_integration(integration.pk)
    assert "stopped before writing" in run.error and "X5" in run.error
    assert run.counters["steps_stopped"] == 2, run.counters
    assert company(sandbox)["invoices"] == [], "no invoice coded to lists AvidXchange may not keep"
    assert company(sandbox)["codes"] == codes_before, "no code published"
    assert company(sandbox)["payees"], "what does not depend on the code lists still goes on"


def test_every_code_list_kept_stops_nothing(integration, sandbox):
    report = assumptions.run_check(integration.target, "ops")
    assert next(r for r in report["results"] if r["id"] == "X5")["status"] == assumptions.HELD
    run = run_integration(integration.pk)
    assert "steps_stopped" not in run.counters
    assert company(sandbox)["invoices"], "invoices go through as before"


def test_every_code_is_read_when_avidxchange_pages_by_a_smaller_size_than_asked(avid_connection, sandbox):
    sandbox.control("avidxchange/seed", {"codes": {"GlAccount": [
        {"Code": str(6000 + n), "Name": f"Account {n}"} for n in range(120)]}})
    sandbox.control("variant", {"system": "avidxchange", "assumption": "X4", "value": "at most 50 a page"})
    assert len(avid_connection.connector().gl_accounts()) == 100, "paged by the size asked, the list ends early"

    report = assumptions.run_check(avid_connection, "ops")
    found = next(r for r in report["results"] if r["id"] == "X4")
    assert found["status"] == assumptions.CONTRADICTED and "PageSize 50" in found["seen"]
    avid_connection.refresh_from_db()
    assert sorted(a.code for a in avid_connection.connector().gl_accounts()) == [str(6000 + n) for n in range(120)]


def test_file_mode_cannot_be_asked_which_code_lists_exist(tenant, sandbox, tmp_path):
    from connectors.avidxchange.system import MODE_FILES
    from tests.connectors.avidxchange.conftest import make_avidxchange_connection

    folder = tmp_path / "avidxchange"
    folder.mkdir()
    sandbox.control("avidxchange/files", {"folder": str(folder)})
    connection = make_avidxchange_connection(tenant, sandbox.url, mode=MODE_FILES, folder=folder)
    probe = assumptions.PROBES["X5"]
    with connection.connector() as connector:
        finding = assumptions.run_probe(probe, connector)
    assert finding.status == assumptions.UNCHECKED and "files" in finding.seen
