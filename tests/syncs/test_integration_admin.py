from django.urls import reverse

from connectors.models import Connection
from portal.models import AuditEntry, Tenant
from syncs import tasks
from syncs.models import Integration, RunStatus


def post(client, tenant, source, target, name="Infor to BILL"):
    return client.post(reverse("admin:syncs_integration_add"), {
        "tenant": tenant.pk, "name": name, "source": source.pk, "target": target.pk, "enabled": "on",
        "interval_minutes": 15, "options": "{}", "mapping_rules-TOTAL_FORMS": 0, "mapping_rules-INITIAL_FORMS": 0})


def test_integration_from_erp_to_ap_is_created_and_audited(admin_client, tenant, connections):
    infor, bill = connections
    response = post(admin_client, tenant, infor, bill)
    assert response.status_code == 302
    integration = Integration.objects.get()
    assert integration.source == infor and integration.target == bill
    entry = AuditEntry.objects.get(object_type="syncs.Integration")
    assert entry.action == "config.created" and entry.object_id == str(integration.pk)
    assert set(entry.details["changed_fields"]) >= {"name", "source", "target"}


def test_ap_platform_as_source_is_refused(admin_client, tenant, connections):
    infor, bill = connections
    response = post(admin_client, tenant, bill, infor)
    assert response.status_code == 200
    html = response.content.decode()
    assert "the source of an integration must be an ERP" in html
    assert "the target of an integration must be an AP platform" in html
    assert not Integration.objects.exists()


def test_connection_of_another_tenant_is_refused(admin_client, tenant, connections):
    infor, _ = connections
    other = Tenant.objects.create(name="Other", slug="other")
    foreign_bill = Connection.objects.create(tenant=other, system="bill", name="Their BILL")
    response = post(admin_client, tenant, infor, foreign_bill)
    assert "belongs to another tenant" in response.content.decode()
    assert not Integration.objects.exists()


def test_a_dry_run_while_a_run_is_in_progress_says_so_in_words(admin_client, tenant, connections):
    from syncs.models import SyncRun

    infor, bill = connections
    integration = Integration.objects.create(tenant=tenant, name="Infor to BILL", source=infor, target=bill)
    SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.RUNNING)
    page = admin_client.post(reverse("admin:syncs_integration_changelist"),
                             {"action": "dry_run", "_selected_action": [integration.pk]})
    tasks.dry_run(integration.pk, "dry_run")  # what the queued task does, run here
    text = admin_client.get(page["Location"]).content.decode()
    assert "No dry run now, because a run of it is in progress; try again in a moment" in text
    assert "See the plan" not in text
