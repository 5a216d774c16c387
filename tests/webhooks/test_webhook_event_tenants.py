"""Webhook events are told apart by tenant in the admin: a tenant column and a tenant filter, the filter offering
only the tenants the user operates (portal.admin_utils.TenantScopedAdminMixin)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from connectors.models import Connection
from portal.models import Membership, Tenant
from portal.roles import OPS_GROUP
from webhooks.models import WebhookEvent

URL = "admin:webhooks_webhookevent_changelist"


@pytest.fixture
def tenants(db):
    """Three tenants, each with a BILL connection of the same name (as every demo tenant's is) and one event."""
    made = {}
    for name in ("Acme", "Beta", "Zulu"):
        tenant = Tenant.objects.create(name=f"{name} Co", slug=name.lower())
        bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL (sandbox)")
        WebhookEvent.objects.create(connection=bill, event_id=f"{name.lower()}-1", event_type="payment.updated",
                                    status=WebhookEvent.PROCESSED)
        made[name] = tenant
    return made


@pytest.fixture
def ops(client, tenants):
    user = get_user_model().objects.create_user("olivia", password="pw-0123456789", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    for name in ("Acme", "Beta"):
        Membership.objects.create(user=user, tenant=tenants[name], role=Membership.OPS)
    client.force_login(user)
    return client


def listed(page):
    return {(event.connection.tenant.name, event.event_id) for event in page.context["cl"].result_list}


def test_each_event_shows_its_tenant(ops):
    page = ops.get(reverse(URL))
    assert listed(page) == {("Acme Co", "acme-1"), ("Beta Co", "beta-1")}
    rows = page.context["cl"].result_list
    html = page.content.decode()
    assert '<th scope="col" class="sortable column-tenant">' in html
    for event in rows:
        assert f'<td class="field-tenant">{event.connection.tenant.name}</td>' in html


def test_the_tenant_filter_narrows_the_list_and_offers_only_operated_tenants(ops, tenants):
    page = ops.get(reverse(URL), {"connection__tenant__id__exact": tenants["Beta"].pk})
    assert listed(page) == {("Beta Co", "beta-1")}
    tenant_filter = next(f for f in page.context["cl"].filter_specs if f.title == "tenant")
    assert {label for _, label in tenant_filter.lookup_choices} == {"Acme Co", "Beta Co"}


def test_another_tenants_events_are_not_reached_through_the_filter(ops, tenants):
    page = ops.get(reverse(URL), {"connection__tenant__id__exact": tenants["Zulu"].pk})
    assert listed(page) == set()
