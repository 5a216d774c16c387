"""The commands find an integration by its name as a person types it at a shell: "->" for "→", any case."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors.models import Connection
from syncs.models import Integration, RunStatus, SyncRun
from tests.syncs.test_tieout import OpenAp, OpenErp


@pytest.fixture
def integration(tenant, monkeypatch):
    monkeypatch.setattr(Connection, "connector",
                        lambda self: OpenErp(self) if self.system == "syspro" else OpenAp(self))
    monkeypatch.setattr(OpenErp, "items", [])
    monkeypatch.setattr(OpenAp, "items", [])
    erp = Connection.objects.create(tenant=tenant, name="SYSPRO", system="syspro")
    ap = Connection.objects.create(tenant=tenant, name="BILL", system="bill")
    return Integration.objects.create(tenant=tenant, name="SYSPRO → BILL", source=erp, target=ap)


@pytest.mark.parametrize("typed", ["syspro -> bill", "SYSPRO->BILL", "Syspro  →  Bill"])
def test_tieout_finds_the_integration_by_its_name_typed_with_an_ascii_arrow(integration, typed):
    out = StringIO()
    call_command("tieout", typed, stdout=out)
    assert out.getvalue().startswith("SYSPRO → BILL: 0 open in SYSPRO 8"), out.getvalue()


def test_sync_finds_it_the_same_way(integration):
    # A run in progress makes the command's own run a skip: what it ran is what it found, and nothing is sent.
    SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.RUNNING)
    with pytest.raises(CommandError) as skipped:
        call_command("sync", "syspro -> bill", stdout=StringIO())
    assert skipped.value.returncode == 4, str(skipped.value)


def test_a_name_that_differs_by_more_than_the_arrow_is_still_unknown(integration):
    with pytest.raises(CommandError, match="No integration is named 'syspro -> avid'"):
        call_command("tieout", "syspro -> avid", stdout=StringIO())
