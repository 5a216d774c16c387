"""Two integrations sending to one BILL organization at once, from two processes (PostgreSQL): every
vendor and bill exists once, each vendor belongs to one of them (tests/syncs/test_vendor_ownership.py has
the rule), and BILL never sees more than its 3 concurrent calls."""

from collections import Counter

import pytest
from django.core.management import call_command

from connectors.models import Connection
from sandbox.bill import simulator as bill_sandbox
from syncs.models import Integration, MappingRule, RecordStatus, SyncRecord, VendorOwner
from tests.conftest import run_in_processes

RUN = """
from syncs.engine import run_integration
run = run_integration(INTEGRATION_ID, trigger="manual")
print(run.status, run.error)
raise SystemExit(0 if run.status in ("succeeded", "partial") else 1)
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_integrations_on_one_bill_organization_create_nothing_twice(sandbox):
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=open("/dev/null", "w"))
    first = Integration.objects.get(name="Infor → BILL")
    # A second connection to the same organization (another tenant's BILL login, say) and its integration.
    bill = Connection.objects.get(pk=first.target_id)
    twin = Connection.objects.create(tenant=first.tenant, system="bill", name="BILL (second login)",
                                     base_url=bill.base_url)
    twin.set_credentials(bill.credentials)
    twin.save()
    second = Integration.objects.create(tenant=first.tenant, name="Infor → BILL (second)", source=first.source,
                                        target=twin, enabled=False)
    for rule in MappingRule.objects.filter(integration=first):
        rule.pk, rule.integration = None, second
        rule.save()
    sandbox.control("faults", {"system": "bill", "latency_ms": 20})
    results = run_in_processes([RUN.replace("INTEGRATION_ID", str(i.pk)) for i in (first, second)], 2,
                               timeout=300)
    for code, out, err in results:
        assert code == 0, out + err[-3000:]
    state = sandbox.state("bill")
    org = state["organizations"][bill_sandbox.ORG_ID]
    assert [k for k, n in Counter(v["shortName"] for v in org["vendors"]).items() if n > 1] == []
    assert [k for k, n in Counter((b["vendorId"], b["invoice"]["invoiceNumber"]) for b in org["bills"]).items()
            if n > 1] == []
    assert len(org["vendors"]) == 299 and len(org["bills"]) == 383
    held = Counter(SyncRecord.objects.filter(object_type="vendor", status=RecordStatus.SYNCED)
                   .values_list("target_id", flat=True))
    assert len(held) == 299 and [v for v, n in held.items() if n > 1] == [], "no vendor taken by both"
    assert VendorOwner.objects.count() == 299
    assert state["max_in_flight"] <= 3 and state["rejected_concurrent"] == 0
