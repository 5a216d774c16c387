"""Staff cannot run code; the ops role; operator actions audited with their actor."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django_q.models import Schedule
from django_q.tasks import async_task

from connectors.models import Connection
from portal import jobs
from portal.models import AuditEntry, Membership, Tenant
from portal.roles import OPS_GROUP, permission_keys
from syncs.models import Integration, MappingRule

DJANGO_Q_PAGES = ["schedule", "success", "failure", "ormq"]
FOREIGN_SCHEDULE = {"name": "x", "func": "os.system", "args": "'touch /tmp/pwned'", "schedule_type": "O",
                    "repeats": "-1", "next_run_0": "2026-01-01", "next_run_1": "00:00:00", "minutes": "",
                    "cron": "", "cluster": "", "hook": "", "kwargs": "", "intended_date_kwarg": ""}


@pytest.fixture
def staff_with_every_permission(db):
    user = get_user_model().objects.create_user("eve", password="pw-0123456789", is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    return user


@pytest.mark.parametrize("model", DJANGO_Q_PAGES)
def test_staff_with_every_permission_gets_403_on_django_q_admin(client, staff_with_every_permission, model):
    client.force_login(staff_with_every_permission)
    assert client.get(reverse(f"admin:django_q_{model}_changelist")).status_code == 403
    assert "django_q" not in client.get(reverse("admin:index")).content.decode()


def test_staff_cannot_create_a_schedule_at_all(client, staff_with_every_permission):
    client.force_login(staff_with_every_permission)
    assert client.get(reverse("admin:django_q_schedule_add")).status_code == 403
    assert client.post(reverse("admin:django_q_schedule_add"), FOREIGN_SCHEDULE).status_code == 403
    assert not Schedule.objects.filter(func="os.system").exists()


def test_even_a_superuser_cannot_schedule_a_function_that_is_not_ours(admin_client):
    response = admin_client.post(reverse("admin:django_q_schedule_add"), FOREIGN_SCHEDULE)
    assert response.status_code == 200
    assert "is not one of ml-connector&#x27;s tasks" in response.content.decode()
    assert not Schedule.objects.filter(func="os.system").exists()


def test_nothing_enqueues_or_schedules_a_foreign_function(db):
    with pytest.raises(jobs.TaskNotAllowed):
        Schedule.objects.create(name="evil", func="os.system", args="'id'")
    with pytest.raises(jobs.TaskNotAllowed):
        Schedule.objects.create(name="hooked", func="syncs.tasks.run_integration", hook="os.system")
    with pytest.raises(jobs.TaskNotAllowed):
        async_task("os.system", "id")
    with pytest.raises(jobs.TaskNotAllowed):
        async_task("syncs.tasks.run_integration", 1, hook="os.system")
    with pytest.raises(jobs.TaskNotAllowed, match="no task named"):
        jobs.enqueue("os.system", "id")
    assert not Schedule.objects.filter(name__in=["evil", "hooked"]).exists()


def test_every_scheduled_function_is_on_the_allow_list(db):
    funcs = set(Schedule.objects.values_list("func", flat=True))
    assert funcs and funcs <= jobs.ALLOWED_FUNCTIONS


def test_the_ops_group_comes_from_a_migration_with_exactly_the_ops_permissions(db):
    group = Group.objects.get(name=OPS_GROUP)
    held = set(group.permissions.values_list("content_type__app_label", "codename"))
    assert held == permission_keys()
    assert not {app for app, _ in held} & {"django_q", "auth", "admin", "contenttypes", "sessions"}


@pytest.fixture
def ops(tenant):
    user = get_user_model().objects.create_user("olivia", password="pw-0123456789", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=user, tenant=tenant, role=Membership.OPS)
    return user


@pytest.fixture
def integration(tenant):
    infor = Connection.objects.create(tenant=tenant, system="infor", name="Infor")
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL", base_url="https://x.test/connect")
    return Integration.objects.create(tenant=tenant, name="Infor → BILL", source=infor, target=bill)


def entries(action=None, **filters):
    rows = AuditEntry.objects.filter(**filters)
    return rows.filter(action=action) if action else rows


def test_an_ops_user_runs_integrations_but_not_users_or_tasks(client, ops, integration):
    client.force_login(ops)
    assert client.get(reverse("admin:syncs_integration_changelist")).status_code == 200
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert client.get(reverse("admin:django_q_schedule_changelist")).status_code == 403
    url = reverse("admin:syncs_integration_changelist")
    client.post(url, {"action": "pause", "_selected_action": [integration.pk]})
    integration.refresh_from_db()
    assert integration.paused
    assert Schedule.objects.filter(name=f"integration-{integration.pk}").exists(), "pausing keeps the schedule"
    client.post(url, {"action": "resume", "_selected_action": [integration.pk]})
    integration.refresh_from_db()
    assert not integration.paused
    assert list(entries(object_type="syncs.Integration", actor="olivia").values_list("message", flat=True)) == \
        ["Resumed", "Paused"]


def test_schedule_and_mapping_changes_in_the_integration_form_are_audited(client, ops, integration):
    client.force_login(ops)
    rule = MappingRule.objects.create(integration=integration, kind="gl_account", source_code="6100",
                                      target_id="0ca01")
    response = client.post(reverse("admin:syncs_integration_change", args=[integration.pk]), {
        "tenant": integration.tenant.pk, "name": integration.name, "source": integration.source.pk,
        "target": integration.target.pk, "enabled": "on", "interval_minutes": 5, "options": "{}",
        "initial-options": "{}",
        "mapping_rules-TOTAL_FORMS": 2, "mapping_rules-INITIAL_FORMS": 1,
        "mapping_rules-0-id": rule.pk, "mapping_rules-0-integration": integration.pk,
        "mapping_rules-0-kind": "gl_account", "mapping_rules-0-target_kind": "gl_account",
        "mapping_rules-0-source_code": "6100",
        "mapping_rules-0-target_id": "0ca02", "mapping_rules-0-confirmed": "on",
        "mapping_rules-1-integration": integration.pk, "mapping_rules-1-kind": "gl_account",
        "mapping_rules-1-source_code": "6200", "mapping_rules-1-target_id": "0ca03",
        "mapping_rules-1-confirmed": "on"})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Schedule.objects.get(name=f"integration-{integration.pk}").minutes == 5
    changed = entries("config.changed", object_type="syncs.Integration", actor="olivia").get()
    assert changed.details["changed_fields"] == {"interval_minutes": "5"}
    rule_entries = entries(object_type="syncs.MappingRule", actor="olivia")
    assert {(e.action, e.object_id) for e in rule_entries} == {
        ("config.changed", str(rule.pk)),
        ("config.created", str(MappingRule.objects.get(source_code="6200").pk))}
    assert rule_entries.get(action="config.changed").details["changed_fields"] == {"target_id": "0ca02"}
    assert all(e.tenant == integration.tenant for e in rule_entries)


def test_user_group_membership_and_tenant_changes_are_audited(admin_client, admin_user, tenant):
    response = admin_client.post(reverse("admin:auth_user_add"), {
        "username": "newbie", "password1": "S3cret-horse-battery", "password2": "S3cret-horse-battery",
        "usable_password": "true"})
    assert response.status_code == 302
    newbie = get_user_model().objects.get(username="newbie")
    created = entries("config.created", object_type="auth.User", object_id=str(newbie.pk)).get()
    assert created.actor == admin_user.username
    assert "S3cret-horse-battery" not in str(created.details) + created.message
    group = Group.objects.get(name=OPS_GROUP)
    response = admin_client.post(reverse("admin:auth_user_change", args=[newbie.pk]), {
        "username": "newbie", "is_active": "on", "is_staff": "on", "groups": [group.pk],
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})
    assert response.status_code == 302, response.content.decode()[:2000]
    change = entries("config.changed", object_type="auth.User", object_id=str(newbie.pk)).get()
    assert change.details["changed_fields"]["groups"] == OPS_GROUP
    assert change.details["changed_fields"]["is_staff"] == "True"
    response = admin_client.post(reverse("admin:auth_user_password_change", args=[newbie.pk]), {
        "password1": "An0ther-long-passw0rd", "password2": "An0ther-long-passw0rd", "usable_password": "true"})
    assert response.status_code == 302
    assert entries("auth.password_changed", object_id=str(newbie.pk), actor=admin_user.username).exists()
    response = admin_client.post(reverse("admin:portal_tenant_change", args=[tenant.pk]), {
        "name": "Acme Corporation", "slug": tenant.slug,
        "memberships-TOTAL_FORMS": 1, "memberships-INITIAL_FORMS": 0,
        "memberships-0-user": newbie.pk, "memberships-0-role": Membership.OPS, "memberships-0-tenant": tenant.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert entries("config.changed", object_type="portal.Tenant").get().details["changed_fields"] == {
        "name": "Acme Corporation"}
    membership = entries("config.created", object_type="portal.Membership").get()
    assert membership.tenant == tenant and membership.actor == admin_user.username
    assert "newbie" in membership.object_repr
    response = admin_client.post(reverse("admin:auth_group_change", args=[group.pk]), {
        "name": OPS_GROUP, "permissions": list(group.permissions.values_list("pk", flat=True)[:3])})
    assert response.status_code == 302
    assert "permissions" in entries("config.changed", object_type="auth.Group").get().details["changed_fields"]


def test_connection_credential_changes_name_the_fields_never_the_values(admin_client, tenant):
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL", base_url="https://x.test/connect",
                                     options={"currencies": "USD"})
    bill.set_credentials({"sign_in": "user", "username": "ap@acme.test", "password": "old-PASSWORD-1",
                          "organization_id": "00801", "dev_key": "old-DEVKEY-1"})
    bill.save()
    response = admin_client.post(reverse("admin:connectors_connection_change", args=[bill.pk]), {
        "tenant": tenant.pk, "name": "BILL", "base_url": "https://x.test/connect", "sign_in": "user",
        "username": "ap@acme.test", "password": "new-PASSWORD-2", "organization_id": "00801", "dev_key": "",
        "currencies": "USD"})
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = entries("config.changed", object_type="connectors.Connection").get()
    assert list(entry.details["changed_fields"]) == ["password"], "names the field that changed, only that one"
    text = str(entry.details) + entry.message
    assert "new-PASSWORD-2" not in text and "old-PASSWORD-1" not in text


def test_audit_log_is_append_only_and_searchable_by_invoice_number(admin_client, ops, client, tenant):
    from portal import audit

    audit.record("sync.bill.created", actor="system:sync", tenant=tenant, object_type="syncs.SyncRecord",
                 object_id="7", source_ref="Infor M3 bill INV-200017 (S10007)", target_id="00n0001")
    audit.record("config.changed", actor="olivia", tenant=tenant, object_type="syncs.Integration", object_id="1")
    url = reverse("admin:portal_auditentry_changelist")
    page = admin_client.get(url, {"q": "INV-200017"}).content.decode()
    assert "00n0001" in page
    assert "00n0001" in admin_client.get(url, {"q": "00n0001"}).content.decode()
    by_actor = admin_client.get(url, {"actor": "olivia"}).content.decode()
    assert "syncs.Integration" in by_actor and "INV-200017" not in by_actor
    automation = admin_client.get(url, {"actor": "system:"}).content.decode()
    assert "INV-200017" in automation
    client.force_login(ops)
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:portal_auditentry_add")).status_code == 403
    entry = AuditEntry.objects.first()
    assert client.post(reverse("admin:portal_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403


def test_the_audit_log_filters_by_tenant_actor_and_action(admin_client, tenant):
    from portal import audit

    other = Tenant.objects.create(name="Other Co", slug="other")
    audit.record("config.changed", actor="olivia", tenant=tenant, object_type="syncs.Integration", object_id="1")
    audit.record("config.created", actor="oscar", tenant=other, object_type="syncs.Integration", object_id="2")
    url = reverse("admin:portal_auditentry_changelist")
    page = admin_client.get(url).content.decode()
    assert "By tenant" in page and "By actor" in page and "By action" in page and "Other Co" in page
    theirs = admin_client.get(url, {"tenant__id__exact": other.pk}).content.decode()
    assert "oscar" in theirs and "olivia" not in theirs


def test_a_superusers_schedule_edit_is_audited(admin_client, admin_user, db):
    schedule = Schedule.objects.get(name="webhook-subscriptions-check")
    page = admin_client.get(reverse("admin:django_q_schedule_change", args=[schedule.pk]))
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"minutes": 7, "next_run_0": schedule.next_run.strftime("%Y-%m-%d"),
                 "next_run_1": schedule.next_run.strftime("%H:%M:%S")})
    data = {k: v for k, v in data.items() if k != "next_run"}
    response = admin_client.post(reverse("admin:django_q_schedule_change", args=[schedule.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(object_type="django_q.Schedule")
    assert entry.actor == admin_user.username and entry.details["changed_fields"]["minutes"] == "7"
