"""Ops staff act only within the tenants they hold an ops membership in: every admin list, list filter, page,
action, custom view, autocomplete and form choice follows portal.tenancy.operated_tenants; superusers see all."""

import io
import types

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from connectors.errors import ConnectorError
from portal import audit
from portal.models import AuditEntry, Membership, Tenant
from portal.roles import OPS_GROUP
from portal.tenancy import operated_tenants
from sandbox.management.commands.seed_demo import Command
from syncs import operations, workqueue
from syncs.models import Cursor, Integration, MappingRule, RecordStatus, RunStatus, SyncRecord, SyncRun
from tests.syncs.test_status_pages import invoice, make_integration
from webhooks import subscriptions, tasks
from webhooks.models import WebhookEvent, WebhookSubscription

SLUGS = ["acme", "gamma", "zulu"]

# (admin, the attribute of a tenant's objects it lists, the lookup from its rows to their tenant)
ADMINS = [
    ("portal_tenant", "tenant", "pk"),
    ("portal_membership", "membership", "tenant"),
    ("portal_auditentry", "entry", "tenant"),
    ("connectors_connection", "connection", "tenant"),
    ("syncs_integration", "integration", "tenant"),
    ("syncs_mappingrule", "rule", "integration__tenant"),
    ("syncs_syncrecord", "record", "integration__tenant"),
    ("syncs_syncrun", "run", "integration__tenant"),
    ("syncs_cursor", "cursor", "integration__tenant"),
    ("webhooks_webhooksubscription", "subscription", "connection__tenant"),
    ("webhooks_webhookevent", "event", "connection__tenant"),
]
ADMIN_IDS = [name for name, _, _ in ADMINS]
TENANT_PATHS = {Tenant: "pk", Integration: "tenant"}


def tenant_world(slug):
    tenant = Tenant.objects.create(name=f"{slug.title()} Co", slug=slug)
    integration = make_integration(tenant, f"{slug} flow")
    finance = get_user_model().objects.create_user(f"{slug}-fin")
    bill = integration.target
    subscription = WebhookSubscription.objects.create(connection=bill, name=f"{slug} payments",
                                                      notification_url="https://portal.test/webhooks/bill/x/")
    return types.SimpleNamespace(
        slug=slug, tenant=tenant, integration=integration, connection=integration.source, bill=bill,
        finance=finance, membership=Membership.objects.create(user=finance, tenant=tenant, role=Membership.FINANCE),
        rule=MappingRule.objects.create(integration=integration, kind=MappingRule.GL_ACCOUNT, source_code="6100",
                                        target_id=f"{slug}-0ca01", confirmed=False),
        record=invoice(integration, 1, RecordStatus.FAILED, error_class="mapping",
                       error_detail=f"GL account 6100 of {slug} is not mapped to a BILL account."),
        run=SyncRun.objects.create(integration=integration, trigger="schedule", status=RunStatus.SUCCEEDED),
        cursor=Cursor.objects.create(integration=integration, stream="bills", value="2026-01-01T00:00:00+00:00"),
        entry=audit.record("config.changed", actor="system:test", tenant=tenant, obj=integration,
                           message=f"{slug} changed"),
        subscription=subscription,
        event=WebhookEvent.objects.create(connection=bill, subscription=subscription, event_id=f"{slug}-1",
                                          event_type="bill.paid", status=WebhookEvent.FAILED))


@pytest.fixture
def world(db):
    return {slug: tenant_world(slug) for slug in SLUGS}


def make_ops(username, tenants=()):
    user = get_user_model().objects.create_user(username, password="pw-0123456789", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    for tenant in tenants:
        Membership.objects.create(user=user, tenant=tenant, role=Membership.OPS)
    return user


@pytest.fixture(params=[["acme"], ["acme", "gamma"]], ids=["one tenant", "two tenants"])
def operator(request, world, client):
    """An ops user operating one or two tenants; a finance membership in zulu lets them operate nothing there."""
    own = [world[slug] for slug in request.param]
    user = make_ops("olivia", [w.tenant for w in own])
    Membership.objects.create(user=user, tenant=world["zulu"].tenant, role=Membership.FINANCE)
    client.force_login(user)
    return types.SimpleNamespace(user=user, own=own, foreign=[w for w in world.values() if w not in own],
                                 tenants=[w.tenant for w in own])


def rows_of(model, path, tenants):
    tenants = [t.pk for t in tenants]
    return {str(pk) for pk in model.objects.filter(**{f"{path}__in": tenants}).values_list("pk", flat=True)}


def shown(page):
    return {str(obj.pk) for obj in page.context["cl"].result_list}


# --- every admin: its list, its filters, its pages -------------------------------------------------------------
@pytest.mark.parametrize("name, attr, path", ADMINS, ids=ADMIN_IDS)
def test_a_list_shows_only_the_operated_tenants_rows(client, operator, name, attr, path):
    page = client.get(reverse(f"admin:{name}_changelist"))
    assert page.status_code == 200
    model = type(getattr(operator.own[0], attr))
    assert {str(getattr(w, attr).pk) for w in operator.own} <= shown(page)
    assert shown(page) == rows_of(model, path, operator.tenants)
    html = page.content.decode().lower()
    assert not [w.slug for w in operator.foreign if w.slug in html], "no row, filter choice or name of another tenant"


@pytest.mark.parametrize("name, attr, path", [a for a in ADMINS if a[0] != "portal_tenant"],
                         ids=[n for n in ADMIN_IDS if n != "portal_tenant"])
def test_list_filters_offer_only_the_operated_tenants(client, operator, name, attr, path):
    specs = [spec for spec in client.get(reverse(f"admin:{name}_changelist")).context["cl"].filter_specs
             if getattr(getattr(spec, "field", None), "is_relation", False)]
    # A filter with a single choice is not drawn: with one tenant, only the connection filters are.
    assert specs or len(operator.own) == 1, "each of these admins filters by tenant, connection or integration"
    for spec in specs:
        model = spec.field.related_model
        offered = {str(pk) for pk, _ in spec.lookup_choices}
        assert offered == rows_of(model, TENANT_PATHS.get(model, "tenant"), operator.tenants), spec.title


@pytest.mark.parametrize("name, attr, path", ADMINS, ids=ADMIN_IDS)
def test_another_tenants_row_answers_404_on_every_page_of_it(client, operator, name, attr, path):
    assert client.get(reverse(f"admin:{name}_change", args=[getattr(operator.own[-1], attr).pk])).status_code == 200
    for other in operator.foreign:
        pk = getattr(other, attr).pk
        for page in ("change", "history", "delete"):
            assert client.get(reverse(f"admin:{name}_{page}", args=[pk])).status_code == 404, (page, other.slug)
        assert client.post(reverse(f"admin:{name}_delete", args=[pk]), {"post": "yes"}).status_code == 404
        assert type(getattr(other, attr)).objects.filter(pk=pk).exists()


@pytest.mark.parametrize("name, attr, path", ADMINS, ids=ADMIN_IDS)
def test_a_superuser_still_sees_every_tenant(admin_client, world, name, attr, path):
    assert {str(getattr(w, attr).pk) for w in world.values()} <= shown(
        admin_client.get(reverse(f"admin:{name}_changelist")))
    assert admin_client.get(reverse(f"admin:{name}_change", args=[getattr(world["zulu"], attr).pk])).status_code == 200


def test_search_finds_only_the_operated_tenants_rows(client, operator):
    page = client.get(reverse("admin:syncs_syncrecord_changelist"), {"q": "INV-1"})
    assert shown(page) == {str(w.record.pk) for w in operator.own}
    page = client.get(reverse("admin:portal_tenant_changelist"), {"q": "Co"})
    assert shown(page) == {str(t.pk) for t in operator.tenants}


# --- actions given ids of every tenant act on the operated ones only --------------------------------------------
ACTIONS = [
    ("connectors_connection", "test_connection", "connection", {}),
    ("connectors_connection", "subscribe_to_webhooks", "bill", {}),
    ("syncs_integration", "sync_now", "integration", {}),
    ("syncs_integration", "dry_run", "integration", {}),
    ("syncs_integration", "pause", "integration", {}),
    ("syncs_integration", "resume", "integration", {}),
    ("syncs_integration", "replay_failed", "integration", {}),
    ("syncs_integration", "resync_from_date", "integration", {"apply": "1", "since": "2026-01-01"}),
    ("syncs_integration", "load_reference_data", "integration", {}),
    ("syncs_mappingrule", "confirm", "rule", {}),
    ("syncs_syncrecord", "replay", "record", {}),
    ("syncs_syncrecord", "ignore", "record", {"apply": "1", "reason": "the supplier sent it twice"}),
    ("syncs_syncrecord", "unignore", "record", {}),
    ("webhooks_webhooksubscription", "rotate_security_key", "subscription", {}),
    ("webhooks_webhooksubscription", "check_now", "subscription", {}),
    ("webhooks_webhookevent", "replay_events", "event", {}),
    ("portal_membership", "delete_selected", "membership", {"post": "yes"}),
]
BEFORE = {"resume": lambda: Integration.objects.update(paused=True),
          "unignore": lambda: SyncRecord.objects.update(status=RecordStatus.IGNORED, note="set aside")}


@pytest.fixture
def remote_calls(monkeypatch):
    """Everything an action would ask of a remote system or the task queue, recorded by tenant instead."""
    calls = []

    def of(obj):
        return obj.tenant.slug

    def record(slug, answer=None):
        calls.append(slug)
        return answer

    def refuse(integration, actor):
        calls.append(of(integration))
        raise ConnectorError("not asked in this test")

    monkeypatch.setattr("connectors.admin.check_connection", lambda c, actor=None: record(of(c), (True, "ok")))
    monkeypatch.setattr(subscriptions, "subscribe", lambda c, actor: record(
        of(c), types.SimpleNamespace(remote_id="sub-1", notification_url="https://portal.test/")))
    monkeypatch.setattr(subscriptions, "rotate_key", lambda s, actor: record(of(s)))
    monkeypatch.setattr(subscriptions, "check", lambda s, catch_up=False: record(of(s), "enabled"))
    monkeypatch.setattr(tasks, "replay_event", lambda e, actor: record(e.connection.tenant.slug, "processed"))
    monkeypatch.setattr("syncs.admin.integrations.enqueue_run", lambda integration, *args: record(of(integration)))
    monkeypatch.setattr("syncs.admin.integrations.enqueue_dry_run", lambda integration, *args: record(of(integration)))
    monkeypatch.setattr(operations, "replay_failed", lambda integration, actor, rows=None: record(of(integration), 0))
    monkeypatch.setattr(operations, "resync_from", lambda integration, moment, actor: record(of(integration)))
    monkeypatch.setattr(operations, "load_reference_data", refuse)
    return calls


@pytest.mark.parametrize("name, action, attr, data", ACTIONS, ids=[a[1] for a in ACTIONS])
def test_an_action_given_every_tenants_ids_acts_on_the_operated_ones_only(client, operator, world, remote_calls,
                                                                         name, action, attr, data):
    if action in BEFORE:
        BEFORE[action]()
    audited_before = set(AuditEntry.objects.values_list("pk", flat=True))
    client.post(reverse(f"admin:{name}_changelist"),
                {"action": action, "_selected_action": [getattr(w, attr).pk for w in world.values()], **data})
    audited = AuditEntry.objects.exclude(pk__in=audited_before).filter(actor="olivia").select_related("tenant")
    acted_on = set(remote_calls) | {entry.tenant.slug for entry in audited}
    assert acted_on == {w.slug for w in operator.own}


# --- custom pages --------------------------------------------------------------------------------------------------
def custom_pages(w, key=""):
    """(method, address, data) of each page of our own that names an integration or a tenant."""
    backfill = reverse("admin:syncs_integration_backfill", args=[w.integration.pk])
    return [
        ("post", reverse("admin:syncs_integration_do", args=[w.integration.pk, "sync_now"]), {}),
        ("post", reverse("admin:syncs_integration_do", args=[w.integration.pk, "pause"]), {}),
        ("get", backfill, {}),
        ("post", backfill, {"since": "2026-01-01", "run": "1"}),
        ("get", reverse("admin:syncs_integration_add"), {"tenant": w.tenant.pk}),
        ("post", reverse("admin:syncs_integration_add") + f"?tenant={w.tenant.pk}", {}),
        ("get", reverse("admin:syncs_mappingrule_add"), {"integration": w.integration.pk}),
        ("get", reverse("admin:syncs_syncrecord_workqueue"), {"integration": w.integration.pk}),
        ("post", reverse("admin:syncs_syncrecord_group", args=["0" * 16]) + f"?integration={w.integration.pk}",
         {"retry": "1"}),
    ]


def test_our_own_pages_answer_404_for_another_tenant(client, operator, remote_calls):
    for other in operator.foreign:
        for method, url, data in custom_pages(other):
            assert getattr(client, method)(url, data).status_code == 404, (method, url)
    assert remote_calls == [] and not AuditEntry.objects.filter(actor="olivia").exists()
    assert not Integration.objects.filter(paused=True).exists()
    for method, url, data in custom_pages(operator.own[0])[2:-1]:
        assert getattr(client, method)(url, data).status_code in (200, 302), (method, url)


def test_the_work_queue_holds_the_operated_tenants_failures_only(client, operator, remote_calls):
    page = client.get(reverse("admin:syncs_syncrecord_workqueue"))
    # Every tenant's record has the same cause: a group per integration, of the operated tenants only.
    shown = [group.integration_name for group in page.context["groups"]]
    assert sorted(shown) == sorted(f"{w.tenant.name}: {w.integration.name}" for w in operator.own)
    assert sum(group.count for group in page.context["groups"]) == len(operator.own)
    assert {i.pk for i in page.context["integrations"]} == {w.integration.pk for w in operator.own}
    foreign_group = next(g for g in workqueue.groups()[0] if g.integration_id == operator.foreign[0].integration.pk)
    client.post(reverse("admin:syncs_syncrecord_group", args=[foreign_group.key]), {"retry": "1"})
    client.post(reverse("admin:syncs_syncrecord_group", args=[foreign_group.key]), {"ignore": "1", "reason": "dup"})
    assert set(remote_calls) <= {w.slug for w in operator.own}, "another tenant's group is not acted on"
    operator.foreign[0].record.refresh_from_db()
    assert operator.foreign[0].record.status == RecordStatus.FAILED


# --- autocompletes and the choices of forms ------------------------------------------------------------------------
def autocomplete(client, app_label, model_name, field_name, term=""):
    answer = client.get(reverse("admin:autocomplete"), {"app_label": app_label, "model_name": model_name,
                                                        "field_name": field_name, "term": term})
    assert answer.status_code == 200, answer.content[:200]
    return {row["text"] for row in answer.json()["results"]}


def test_the_tenant_autocomplete_lists_the_operated_tenants(client, operator):
    assert autocomplete(client, "syncs", "integration", "tenant") == {t.name for t in operator.tenants}
    assert autocomplete(client, "portal", "membership", "tenant", "Zulu") == set()


def test_the_membership_user_autocomplete_lists_members_and_newcomers_never_others_or_superusers(
        client, operator, world, admin_user):
    newcomer = get_user_model().objects.create_user("newcomer")
    found = autocomplete(client, "portal", "membership", "user")
    assert found == {"olivia", newcomer.username, *(w.finance.username for w in operator.own)}
    assert admin_user.username not in found and "zulu-fin" not in found


def form_field(client, url, name, **params):
    return client.get(url, params).context["adminform"].form.fields[name]


def test_foreign_keys_on_forms_offer_the_operated_tenants_rows(client, operator, world):
    own = operator.own[0]
    tenants = {t.pk for t in operator.tenants}
    for url, params in ((reverse("admin:connectors_connection_add"), {"system": "bill"}),
                        (reverse("admin:portal_membership_add"), {})):
        assert {t.pk for t in form_field(client, url, "tenant", **params).queryset} == tenants
    add_integration = reverse("admin:syncs_integration_add")
    for name in ("source", "target"):
        field = form_field(client, add_integration, name, tenant=own.tenant.pk)
        assert {c.tenant_id for c in field.queryset} == {own.tenant.pk}
    assert {t.pk for t in form_field(client, add_integration, "tenant", tenant=own.tenant.pk).queryset} == tenants
    field = form_field(client, reverse("admin:syncs_mappingrule_add"), "integration", integration=own.integration.pk)
    assert {i.pk for i in field.queryset} == {w.integration.pk for w in operator.own}
    change = reverse("admin:connectors_connection_change", args=[own.connection.pk])
    assert {t.pk for t in client.get(change).context["adminform"].form.fields["tenant"].queryset} == tenants


def test_an_operator_gives_no_membership_in_a_tenant_they_do_not_operate(client, operator, world):
    zulu = world["zulu"].tenant
    for user in (operator.user, world["acme"].finance):
        page = client.post(reverse("admin:portal_membership_add"),
                           {"user": user.pk, "tenant": zulu.pk, "role": Membership.OPS})
        assert "Select a valid choice" in page.content.decode()
    mine = Membership.objects.get(user=operator.user, tenant=operator.tenants[0])
    page = client.post(reverse("admin:portal_membership_change", args=[mine.pk]),
                       {"user": operator.user.pk, "tenant": zulu.pk, "role": Membership.OPS})
    assert "Select a valid choice" in page.content.decode()
    assert not Membership.objects.filter(tenant=zulu, role=Membership.OPS).exists()
    page = client.post(reverse("admin:portal_membership_add"),
                       {"user": world["zulu"].finance.pk, "tenant": operator.tenants[0].pk, "role": Membership.OPS})
    assert "Select a valid choice" in page.content.decode(), "a user of another tenant only is not theirs to name"
    newcomer = get_user_model().objects.create_user("newcomer")
    page = client.post(reverse("admin:portal_membership_add"),
                       {"user": newcomer.pk, "tenant": operator.tenants[-1].pk, "role": Membership.FINANCE})
    assert page.status_code == 302 and newcomer.memberships.get().tenant == operator.tenants[-1]


def test_an_operator_who_adds_a_tenant_operates_it(client, operator):
    page = client.post(reverse("admin:portal_tenant_add"), {
        "name": "Newco", "slug": "newco", "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0})
    assert page.status_code == 302, page.content.decode()[:2000]
    newco = Tenant.objects.get(slug="newco")
    assert Membership.objects.get(user=operator.user, tenant=newco).role == Membership.OPS
    assert AuditEntry.objects.filter(tenant=newco, object_type="portal.Membership", actor="olivia").exists()
    assert client.get(reverse("admin:portal_tenant_change", args=[newco.pk])).status_code == 200


def test_a_superuser_chooses_among_every_tenant(admin_client, world):
    assert autocomplete(admin_client, "syncs", "integration", "tenant") == {w.tenant.name for w in world.values()}
    field = form_field(admin_client, reverse("admin:portal_membership_add"), "tenant")
    assert {t.pk for t in field.queryset} == {w.tenant.pk for w in world.values()}


# --- the demo ------------------------------------------------------------------------------------------------------
def test_demo_ops_operates_every_demo_tenant(sandbox, db, client, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor", "syspro"], stdout=io.StringIO())
    demo_ops = get_user_model().objects.get(username="demo-ops")
    assert Tenant.objects.count() == 2
    assert set(operated_tenants(demo_ops)) == set(Tenant.objects.all())
    client.force_login(demo_ops)
    assert shown(client.get(reverse("admin:syncs_integration_changelist"))) == {
        str(pk) for pk in Integration.objects.values_list("pk", flat=True)}
    # A role changed by hand is put back by the next seed, so the demo's story holds.
    demo = Tenant.objects.get(slug="demo")
    Membership.objects.filter(user=demo_ops, tenant=demo).update(role=Membership.FINANCE)
    Command(stdout=io.StringIO()).ensure_user("demo-ops", demo, Membership.OPS, staff=True)
    assert demo in operated_tenants(demo_ops)
