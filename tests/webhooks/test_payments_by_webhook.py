"""Every ERP paired with BILL gets its payments back by webhook: BILL's simulator delivers signed events to the
live portal, the task writes each bill's share to the ERP once (or records it here where the ERP takes none)."""

import pytest

from connectors import canonical
from connectors.registry import SYSTEMS
from portal.models import Tenant
from syncs.engine import run_integration
from syncs.models import Integration, MappingRule, RecordStatus, SyncRecord
from syncs.pair import writes_payments_back
from tests.connectors.contracts.base import make_connection
from tests.webhooks.test_bill_webhooks import process_received
from webhooks.models import WebhookEvent
from webhooks.subscriptions import subscribe


@pytest.mark.parametrize("erp", [s.id for s in SYSTEMS.values() if s.is_erp and s.built])
def test_a_payment_made_in_bill_reaches_the_erp_by_webhook_exactly_once(erp, live_server, sandbox, settings,
                                                                        transactional_db):
    settings.PUBLIC_URL = live_server.url
    tenant = Tenant.objects.create(name="Webhook Co", slug="webhook-co")
    sandbox.control(f"{erp}/seed-canonical")
    ids = sandbox.control("bill/seed-canonical")
    integration = Integration.objects.create(tenant=tenant, name="pair", source=make_connection(erp, tenant, sandbox),
                                             target=make_connection("bill", tenant, sandbox))
    MappingRule.objects.bulk_create(
        MappingRule(integration=integration, kind="gl_account", source_code=code, target_id=target)
        for code, target in ids["gl_accounts"].items() if code != canonical.UNMAPPED_ACCOUNT)
    run_integration(integration.pk)
    subscribe(integration.target, "test")
    sandbox.control("bill/deliver")  # what happened before the subscription is not sent
    bill = sorted(sandbox.control("bill/canonical-state")["bills"], key=lambda b: b["invoice_number"])[0]
    payment_id = sandbox.control("bill/canonical-pay", {"bill_id": bill["id"]})["payment_id"]
    outcome = sandbox.control("bill/deliver", {"repeat": 2})
    assert outcome["failed"] == 0 and outcome["delivered"] >= 1
    process_received()
    process_received()

    assert WebhookEvent.objects.filter(status=WebhookEvent.PROCESSED).exists()
    share = SyncRecord.objects.get(integration=integration, object_type="payment",
                                   source_id=f"{payment_id}:{bill['id']}")
    assert share.status == RecordStatus.SYNCED and share.data["posted"] == "PAID"
    posted = sandbox.control(f"{erp}/canonical-state")["payments"]
    if writes_payments_back(integration):
        assert [(p["invoice_number"], p["amount"], p["status"]) for p in posted] == \
            [(bill["invoice_number"], bill["amount"], "PAID")]
    else:
        assert posted == [] and "does not take payments" in share.data["erp_reference"]
    again = run_integration(integration.pk)
    assert again.counters.get("payments_written_back", 0) == 0, "the poll finds it done"
