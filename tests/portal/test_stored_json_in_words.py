"""What the admin shows of stored JSON (an audit entry's details, a record's data) is a table a person reads,
never the raw dict."""

from django.urls import reverse

from portal import audit
from portal.models import AuditEntry
from syncs.models import Integration, SyncRecord
from tests.connectors.bill.conftest import make_bill_connection


def test_an_audit_entrys_details_read_as_a_table(admin_client, tenant):
    audit.record("connection.address_changed", actor="olivia", tenant=tenant, object_type="connection",
                 object_id="7", message="The base URL changed.",
                 details={"field": "base_url", "old": "https://a.example.com", "new": "https://b.example.com"})
    entry = AuditEntry.objects.get()
    page = admin_client.get(reverse("admin:portal_auditentry_change", args=[entry.pk])).content.decode()
    assert "<th>old</th><td>https://a.example.com</td>" in page
    assert "{&quot;field&quot;" not in page and '{"field"' not in page


def test_a_sync_records_data_reads_as_a_table(admin_client, tenant, sandbox):
    bill = make_bill_connection(tenant, sandbox.url)
    integration = Integration.objects.create(tenant=tenant, name="Infor → BILL", source=bill, target=bill)
    record = SyncRecord.objects.create(integration=integration, object_type="bill", source_id="INV-1",
                                       data={"sent": {"amount": "10.00", "lines": [{"gl": "6000"}]}})
    page = admin_client.get(reverse("admin:syncs_syncrecord_change", args=[record.pk])).content.decode()
    assert "<th>amount</th><td>10.00</td>" in page
    assert "<th>gl</th><td>6000</td>" in page
    assert "{&#x27;sent&#x27;" not in page and "{&quot;sent&quot;" not in page
