"""The Infor → AvidXchange demo loads, stays apart from the other demos, and shows what it says it shows."""

from django_q.conf import Conf

from connectors.models import Connection
from sandbox.avidxchange import demo
from syncs.engine import run_integration
from syncs.models import Integration, RecordStatus, RunStatus, SyncRecord


def connection(tenant, system, spec):
    made = Connection(tenant=tenant, system=system, name=system, base_url=spec["base_url"], options=spec["options"])
    made.set_credentials(spec["credentials"])
    made.save()
    return made


def test_the_demo_loads_apart_and_runs(tenant, sandbox, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)
    assert not demo.seeded(sandbox.url)
    counts = demo.seed(sandbox.url)
    assert counts == {"suppliers": demo.SUPPLIERS, "accounts": 9, "invoices": demo.INVOICES,
                      "documents": demo.IMAGES}
    assert demo.seeded(sandbox.url)
    assert not sandbox.simulators["infor"].suppliers, "the main Infor tenant is untouched"

    integration = Integration.objects.create(
        tenant=tenant, name=demo.INTEGRATION, options=demo.INTEGRATION_OPTIONS,
        source=connection(tenant, "infor", demo.partner_connection(sandbox.url)),
        target=connection(tenant, "avidxchange", demo.connection(sandbox.url)))
    run = run_integration(integration.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    failed = SyncRecord.objects.filter(integration=integration, object_type="bill", status=RecordStatus.FAILED)
    assert failed.exists() and all("is inactive in AvidXchange" in r.error_detail for r in failed)
    company = sandbox.simulators["avidxchange"].state()["companies"][demo.COMPANY_ID]
    assert sum(len(a) for a in company["attachments"].values()) == demo.IMAGES - 1, "all but the one on hold's"
    assert {c["Code"] for c in company["codes"]["GlAccount"]} == {code for code, _ in demo.GL_ACCOUNTS}

    paid = demo.pay(sandbox.url)["payments"]
    assert run_integration(integration.pk).counters.get("payments_written_back") == len(paid) == 5
    sandbox.control("clock", {"advance_seconds": 301})
    sandbox.simulators["avidxchange"].tick()  # the background loop's turn
    assert run_integration(integration.pk).counters.get("payments_reversed") == 1
    infor = sandbox.control("infor/canonical-state", {"tenant": demo.INFOR_TENANT})["payments"]
    assert sorted(p["status"] for p in infor) == ["PAID"] * 4 + ["VOIDED"]
