"""Every permission the README promises the Ops group ("Who may do what"), tried as an ops user would: staff, in the
Ops group, with an ops membership in their tenant, through the admin pages they use, against the simulators. And
what the role must not reach: users, groups and the task cluster's pages."""

import types

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django_q.models import OrmQ

from connectors.models import Connection
from portal import audit
from portal.models import AuditEntry, Membership, Tenant
from portal.roles import OPS_GROUP
from syncs.models import Cursor, Integration, MappingRule, RecordStatus, RunStatus, SyncRun
from tests.connectors.bill.conftest import make_bill_connection
from tests.connectors.infor.conftest import make_infor_connection
from tests.syncs.test_status_pages import invoice
from webhooks import subscriptions
from webhooks.models import WebhookEvent, WebhookSubscription

DONE, READ_ONLY, REFUSED = "done", "read only", "refused"


@pytest.fixture
def w(sandbox, tenant, client, django_capture_on_commit_callbacks):
    """The ops user's tenant, its connections to the simulators, an integration with what a few runs leave behind,
    and the client logged in as the ops user. `w.queued()` runs a request and lists the tasks it queued."""
    user = get_user_model().objects.create_user("olivia", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=user, tenant=tenant, role=Membership.OPS)
    client.force_login(user)
    infor, bill = make_infor_connection(tenant, sandbox.url), make_bill_connection(tenant, sandbox.url)
    integration = Integration.objects.create(tenant=tenant, name="Infor → BILL", source=infor, target=bill,
                                             interval_minutes=15)
    subscription = subscriptions.subscribe(bill, "setup")

    def queued(request):
        before = set(OrmQ.objects.values_list("pk", flat=True))
        with django_capture_on_commit_callbacks(execute=True):
            response = request()
        return response, [q.task["func"] for q in OrmQ.objects.exclude(pk__in=before)]

    return types.SimpleNamespace(
        client=client, user=user, tenant=tenant, infor=infor, bill=bill, integration=integration,
        subscription=subscription, queued=queued,
        newcomer=get_user_model().objects.create_user("newcomer"),
        rule=MappingRule.objects.create(integration=integration, kind=MappingRule.GL_ACCOUNT, source_code="6100",
                                        target_id="0ca01", confirmed=False),
        record=invoice(integration, 1, RecordStatus.FAILED, error_class="mapping",
                       error_detail="GL account 6999 is not mapped to a BILL account."),
        run=SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.SUCCEEDED),
        cursor=Cursor.objects.create(integration=integration, stream="invoices", value="2026-01-01T00:00:00+00:00"),
        event=WebhookEvent.objects.create(connection=bill, subscription=subscription, event_id="evt-1",
                                          event_type="payment.updated", status=WebhookEvent.PROCESSED),
        entry=audit.record("config.changed", actor="system:test", tenant=tenant, obj=integration, message="x"))


def form_data(page, **changes):
    """What an admin change form posts back as it was drawn (its fields and its inlines' rows), with `changes`."""
    context = page.context
    data = {}

    def add(form):
        for name in form.fields:
            value = form[name].value()
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
            elif isinstance(value, list | tuple):
                data[form.add_prefix(name)] = [str(v) for v in value]
            elif value is not None:
                data[form.add_prefix(name)] = str(value)

    add(context["adminform"].form)
    for inline in context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    data.update(changes)
    return data


def acted(response, effect):
    """What came of a request: refused (403), done (it did what it was asked), or how it failed."""
    if response.status_code == 403:
        return REFUSED
    if response.status_code not in (200, 302):
        return f"answered {response.status_code}"
    return DONE if effect() else f"answered {response.status_code}, and nothing was done: {text(response)[:600]}"


def text(response):
    return response.content.decode() if hasattr(response, "content") else ""


def audited(w, action):
    return AuditEntry.objects.filter(action=action, actor="olivia").exists()


def action(w, admin_name, name, selected, **data):
    return w.client.post(reverse(f"admin:{admin_name}_changelist"),
                         {"action": name, "_selected_action": [selected.pk], **data}, follow=True)


def button(w, name):
    return w.client.post(reverse("admin:syncs_integration_do", args=[w.integration.pk, name]))


# --- tenants and memberships ------------------------------------------------------------------------------------
def add_a_tenant(w):
    response = w.client.post(reverse("admin:portal_tenant_add"), {
        "name": "Newco", "slug": "newco", "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0})
    return acted(response, lambda: Membership.objects.filter(user=w.user, tenant__slug="newco",
                                                             role=Membership.OPS).exists())


def add_a_tenant_with_a_member(w):
    response = w.client.post(reverse("admin:portal_tenant_add"), {
        "name": "Newco", "slug": "newco", "memberships-TOTAL_FORMS": 1, "memberships-INITIAL_FORMS": 0,
        "memberships-0-user": w.newcomer.pk, "memberships-0-role": Membership.FINANCE})
    return acted(response, lambda: Membership.objects.filter(user=w.newcomer, tenant__slug="newco").exists())


def change_a_tenant(w):
    url = reverse("admin:portal_tenant_change", args=[w.tenant.pk])
    response = w.client.post(url, form_data(w.client.get(url), name="Acme Corporation"))
    return acted(response, lambda: Tenant.objects.filter(pk=w.tenant.pk, name="Acme Corporation").exists())


def find_a_user_for_the_tenant_page_membership_inline(w):
    # The query the inline's user box sends as one types (Django's autocomplete of Membership.user).
    response = w.client.get(reverse("admin:autocomplete"), {"app_label": "portal", "model_name": "membership",
                                                            "field_name": "user", "term": "new"})
    return acted(response, lambda: [r["text"] for r in response.json()["results"]] == ["newcomer"])


def add_a_membership_on_the_tenant_page(w):
    url = reverse("admin:portal_tenant_change", args=[w.tenant.pk])
    page = w.client.get(url)
    formset = page.context["inline_admin_formsets"][0].formset
    row = formset.initial_form_count()
    assert row < formset.total_form_count(), "the inline offers an empty row to fill"
    response = w.client.post(url, form_data(page, **{f"memberships-{row}-user": str(w.newcomer.pk),
                                                     f"memberships-{row}-role": Membership.FINANCE}))
    return acted(response, lambda: Membership.objects.filter(user=w.newcomer, tenant=w.tenant).exists()
                 and audited(w, "config.created"))


def change_a_membership(w):
    membership = Membership.objects.create(user=w.newcomer, tenant=w.tenant, role=Membership.FINANCE)
    url = reverse("admin:portal_membership_change", args=[membership.pk])
    response = w.client.post(url, form_data(w.client.get(url), role=Membership.OPS))
    return acted(response, lambda: Membership.objects.get(pk=membership.pk).role == Membership.OPS)


def delete_a_membership(w):
    membership = Membership.objects.create(user=w.newcomer, tenant=w.tenant, role=Membership.FINANCE)
    response = w.client.post(reverse("admin:portal_membership_delete", args=[membership.pk]), {"post": "yes"})
    return acted(response, lambda: not Membership.objects.filter(pk=membership.pk).exists())


# --- connections --------------------------------------------------------------------------------------------------
def add_a_connection(w):
    response = w.client.post(reverse("admin:connectors_connection_add") + "?system=bill", {
        "tenant": w.tenant.pk, "name": "BILL second", "base_url": "https://gateway.stage.bill.com/connect",
        "sign_in": "user", "username": "ap@acme.test", "password": "pw-SECRET-1", "organization_id": "00801ABCDEF",
        "dev_key": "devkey-SECRET-2"})
    return acted(response, lambda: Connection.objects.filter(tenant=w.tenant, name="BILL second").exists())


def change_a_connection(w):
    url = reverse("admin:connectors_connection_change", args=[w.bill.pk])
    response = w.client.post(url, form_data(w.client.get(url), name="BILL sandbox"))
    return acted(response, lambda: Connection.objects.get(pk=w.bill.pk).name == "BILL sandbox")


def change_an_infor_connection(w):
    url = reverse("admin:connectors_connection_change", args=[w.infor.pk])
    response = w.client.post(url, form_data(w.client.get(url), name="Infor sandbox"))
    return acted(response, lambda: Connection.objects.get(pk=w.infor.pk).name == "Infor sandbox"
                 and Connection.objects.get(pk=w.infor.pk).credentials["ti"])


def check_a_connection(w):
    response = action(w, "connectors_connection", "test_connection", w.bill)
    return acted(response, lambda: "Signed in to BILL organization" in text(response))


def subscribe_to_webhooks(w):
    WebhookSubscription.objects.all().delete()
    response = action(w, "connectors_connection", "subscribe_to_webhooks", w.bill)
    return acted(response, lambda: "subscribed (" in text(response)
                 and WebhookSubscription.objects.filter(connection=w.bill).exclude(remote_id="").exists())


# --- integrations ---------------------------------------------------------------------------------------------------
def add_an_integration(w):
    response = w.client.post(reverse("admin:syncs_integration_add") + f"?tenant={w.tenant.pk}", {
        "tenant": w.tenant.pk, "name": "Second flow", "source": w.infor.pk, "target": w.bill.pk, "enabled": "on",
        "interval_minutes": 30, "options": "{}", "vendor_key_prefix": "TWO-", "mapping_rules-TOTAL_FORMS": 0,
        "mapping_rules-INITIAL_FORMS": 0})
    return acted(response, lambda: Integration.objects.filter(tenant=w.tenant, name="Second flow").exists())


def change_an_integration(w):
    url = reverse("admin:syncs_integration_change", args=[w.integration.pk])
    response = w.client.post(url, form_data(w.client.get(url), interval_minutes="30"))
    return acted(response, lambda: Integration.objects.get(pk=w.integration.pk).interval_minutes == 30)


def sync_now(w):
    response, tasks = w.queued(lambda: button(w, "sync_now"))
    return acted(response, lambda: tasks == ["syncs.tasks.run_integration"] and audited(w, "sync.queued"))


def pause(w):
    response = button(w, "pause")
    return acted(response, lambda: Integration.objects.get(pk=w.integration.pk).paused)


def resume(w):
    Integration.objects.filter(pk=w.integration.pk).update(paused=True)
    response = button(w, "resume")
    return acted(response, lambda: not Integration.objects.get(pk=w.integration.pk).paused)


def dry_run(w):
    response, tasks = w.queued(lambda: button(w, "dry_run"))
    return acted(response, lambda: tasks == ["syncs.tasks.dry_run"]
                 and w.client.get(response["Location"]).status_code == 200)


def open_an_integration(w):
    page = w.client.get(reverse("admin:syncs_integration_change", args=[w.integration.pk]))
    return acted(page, lambda: all(f'/do/{name}/"' in text(page) for name in ("sync_now", "dry_run", "pause")))


def run_a_backfill(w):
    url = reverse("admin:syncs_integration_backfill", args=[w.integration.pk])
    response, tasks = w.queued(lambda: w.client.post(url, {"since": "2026-01-01", "run": "1", "expected": "10"}))
    return acted(response, lambda: tasks == ["syncs.tasks.run_integration"] and audited(w, "sync.backfill")
                 and w.client.get(response["Location"]).status_code == 200)


def backfill_preview(w):
    url = reverse("admin:syncs_integration_backfill", args=[w.integration.pk])
    response, tasks = w.queued(lambda: w.client.post(url, {"since": "2026-01-01", "preview": "1"}))
    return acted(response, lambda: tasks == ["syncs.tasks.dry_run"])


def replay(w):
    response, tasks = w.queued(lambda: action(w, "syncs_integration", "replay_failed", w.integration))
    return acted(response, lambda: tasks == ["syncs.tasks.run_integration"] and audited(w, "sync.replay"))


def replay_from_the_work_queue(w):
    response, tasks = w.queued(lambda: action(w, "syncs_syncrecord", "replay", w.record))
    return acted(response, lambda: tasks == ["syncs.tasks.run_integration"])


def resync(w):
    response, tasks = w.queued(lambda: action(w, "syncs_integration", "resync_from_date", w.integration,
                                              apply="1", since="2026-01-02"))
    return acted(response, lambda: tasks == ["syncs.tasks.run_integration"] and set(
        Cursor.objects.values_list("value", flat=True)) == {"2026-01-02T00:00:00+00:00"})


def load_reference_data(w):
    response = w.client.post(reverse("admin:syncs_integration_do", args=[w.integration.pk, "load_reference_data"]),
                             follow=True)
    return acted(response, lambda: "GL mapping(s) proposed" in text(response) and audited(w, "mapping.proposed"))


# --- mapping rules ----------------------------------------------------------------------------------------------------
def add_a_mapping_rule(w):
    response = w.client.post(reverse("admin:syncs_mappingrule_add") + f"?integration={w.integration.pk}", {
        "integration": w.integration.pk, "kind": MappingRule.GL_ACCOUNT, "source_code": "6999",
        "target_kind": MappingRule.GL_ACCOUNT, "target_id": "0ca02", "target_label": "Other expenses"})
    return acted(response, lambda: MappingRule.objects.filter(integration=w.integration, source_code="6999").exists())


def change_a_mapping_rule(w):
    url = reverse("admin:syncs_mappingrule_change", args=[w.rule.pk])
    response = w.client.post(url, form_data(w.client.get(url), source_label="Office supplies"))
    return acted(response, lambda: MappingRule.objects.get(pk=w.rule.pk).source_label == "Office supplies")


def delete_a_mapping_rule(w):
    response = w.client.post(reverse("admin:syncs_mappingrule_delete", args=[w.rule.pk]), {"post": "yes"})
    return acted(response, lambda: not MappingRule.objects.filter(pk=w.rule.pk).exists())


def confirm_a_mapping_rule(w):
    response = action(w, "syncs_mappingrule", "confirm", w.rule)
    return acted(response, lambda: MappingRule.objects.get(pk=w.rule.pk).confirmed)


# --- webhook subscriptions ----------------------------------------------------------------------------------------
def rotate_a_webhook_key(w):
    before = w.subscription.security_key
    response = action(w, "webhooks_webhooksubscription", "rotate_security_key", w.subscription)
    return acted(response, lambda: WebhookSubscription.objects.get(pk=w.subscription.pk).security_key != before)


def check_a_subscription_now(w):
    response = action(w, "webhooks_webhooksubscription", "check_now", w.subscription)
    return acted(response, lambda: audited(w, "webhook.checked") and "could not be checked" not in text(response))


# --- what is only read --------------------------------------------------------------------------------------------
def read_only(admin_name, attr):
    def reads(w):
        obj = getattr(w, attr)
        listed = w.client.get(reverse(f"admin:{admin_name}_changelist"))
        page = w.client.get(reverse(f"admin:{admin_name}_change", args=[obj.pk]))
        if 403 in (listed.status_code, page.status_code):
            return REFUSED
        assert (listed.status_code, page.status_code) == (200, 200)
        assert str(obj.pk) in {str(row.pk) for row in listed.context["cl"].result_list}
        saved = w.client.post(reverse(f"admin:{admin_name}_change", args=[obj.pk]), {})
        added = w.client.get(reverse(f"admin:{admin_name}_add"))
        deleted = w.client.post(reverse(f"admin:{admin_name}_delete", args=[obj.pk]), {"post": "yes"})
        unchanged = type(obj).objects.filter(pk=obj.pk).exists()
        if (saved.status_code, added.status_code, deleted.status_code) == (403, 403, 403) and unchanged \
                and 'name="_save"' not in text(page):
            return READ_ONLY
        return f"writable: save {saved.status_code}, add {added.status_code}, delete {deleted.status_code}"
    reads.__name__ = f"read_{admin_name}"
    return reads


def the_work_queue(w):
    page = w.client.get(reverse("admin:syncs_syncrecord_workqueue"))
    return acted(page, lambda: "GL account 6999 is not mapped to a BILL account" in text(page))


def first_step_of(name, query="", says=""):
    """The page an "Add" button opens: a form, or the question that comes before it (which system, which tenant,
    which integration)."""
    def opens(w):
        page = w.client.get(reverse(f"admin:{name}") + query)
        return acted(page, lambda: says in text(page))
    opens.__name__ = f"open_{name}{query.replace('?', '_').replace('=', '_')}"
    return opens


# --- what ops staff never reach ----------------------------------------------------------------------------------
def page_of(name, *args):
    def opens(w):
        response = w.client.get(reverse(f"admin:{name}", args=args))
        return REFUSED if response.status_code == 403 else f"answered {response.status_code}"
    opens.__name__ = name
    return opens


MATRIX = [
    (first_step_of("portal_tenant_add", says='name="memberships-0-user"'), DONE),
    (add_a_tenant, DONE),
    (add_a_tenant_with_a_member, DONE),
    (change_a_tenant, DONE),
    (find_a_user_for_the_tenant_page_membership_inline, DONE),
    (add_a_membership_on_the_tenant_page, DONE),
    (change_a_membership, DONE),
    (delete_a_membership, DONE),
    (first_step_of("portal_membership_add", says='name="user"'), DONE),
    (first_step_of("connectors_connection_add", says="Choose the system to connect"), DONE),
    (first_step_of("connectors_connection_add", "?system=infor", says="ionapi"), DONE),
    (add_a_connection, DONE),
    (change_a_connection, DONE),
    (change_an_infor_connection, DONE),
    (check_a_connection, DONE),
    (subscribe_to_webhooks, DONE),
    (first_step_of("syncs_integration_add", says='name="source"'), DONE),
    (add_an_integration, DONE),
    (open_an_integration, DONE),
    (change_an_integration, DONE),
    (sync_now, DONE),
    (pause, DONE),
    (resume, DONE),
    (dry_run, DONE),
    (backfill_preview, DONE),
    (run_a_backfill, DONE),
    (replay, DONE),
    (replay_from_the_work_queue, DONE),
    (resync, DONE),
    (load_reference_data, DONE),
    (first_step_of("syncs_mappingrule_add", says="which integration?"), DONE),
    (add_a_mapping_rule, DONE),
    (change_a_mapping_rule, DONE),
    (delete_a_mapping_rule, DONE),
    (confirm_a_mapping_rule, DONE),
    (rotate_a_webhook_key, DONE),
    (check_a_subscription_now, DONE),
    (read_only("syncs_syncrecord", "record"), READ_ONLY),
    (read_only("syncs_syncrun", "run"), READ_ONLY),
    (read_only("syncs_cursor", "cursor"), READ_ONLY),
    (read_only("webhooks_webhookevent", "event"), READ_ONLY),
    (read_only("portal_auditentry", "entry"), READ_ONLY),
    (the_work_queue, DONE),
    (page_of("auth_user_changelist"), REFUSED),
    (page_of("auth_user_add"), REFUSED),
    (page_of("auth_group_changelist"), REFUSED),
    (page_of("auth_group_add"), REFUSED),
    (page_of("django_q_schedule_changelist"), REFUSED),
    (page_of("django_q_schedule_add"), REFUSED),
    (page_of("django_q_ormq_changelist"), REFUSED),
    (page_of("django_q_success_changelist"), REFUSED),
    (page_of("django_q_failure_changelist"), REFUSED),
]


@pytest.mark.parametrize("attempt, expected", MATRIX, ids=[f"{a.__name__}: {e}" for a, e in MATRIX])
def test_what_the_ops_group_may_do(w, attempt, expected):
    assert attempt(w) == expected


def test_the_user_and_task_pages_of_another_user_are_refused_too(w, admin_user):
    for name in ("auth_user_change", "auth_user_password_change"):
        assert w.client.get(reverse(f"admin:{name}", args=[w.newcomer.pk])).status_code == 403
    group = Group.objects.get(name=OPS_GROUP)
    assert w.client.post(reverse("admin:auth_group_change", args=[group.pk]), {"name": "Ops"}).status_code == 403
    index = w.client.get(reverse("admin:index")).content.decode()
    assert "django_q" not in index and "/admin/auth/" not in index, "the index offers none of them"
