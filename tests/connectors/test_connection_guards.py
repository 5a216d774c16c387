"""Connection edits that would break something elsewhere are refused on the form: moving a connection in use to
another tenant (its integrations, webhook subscriptions and events would cross the tenant wall with it), and a
BILL currency list that is not ISO 4217 codes (every bill would then fail on it)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse

from connectors.models import Connection
from portal.models import Membership, Tenant
from portal.roles import OPS_GROUP
from syncs.models import Integration
from webhooks.models import WebhookEvent, WebhookSubscription

BILL_CREDENTIALS = {"sign_in": "user", "username": "ap@demo.test", "password": "pw-SECRET",
                    "organization_id": "00801ABCDEF", "dev_key": "devkey-SECRET"}


@pytest.fixture
def demo(db):
    return Tenant.objects.create(name="Demo Manufacturing", slug="demo")


@pytest.fixture
def other(db):
    return Tenant.objects.create(name="Other Industries", slug="other")


@pytest.fixture
def ops(client, demo, other):
    """An ops user who operates both tenants, as the tester was."""
    user = get_user_model().objects.create_user("olivia", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    for tenant in (demo, other):
        Membership.objects.create(user=user, tenant=tenant, role=Membership.OPS)
    client.force_login(user)
    return client


def make_bill(tenant, name="BILL"):
    connection = Connection(tenant=tenant, system="bill", name=name, base_url="https://gateway.stage.bill.com/connect",
                            options={"currencies": "USD"})
    connection.set_credentials(BILL_CREDENTIALS)
    connection.save()
    return connection


def change_url(connection):
    return reverse("admin:connectors_connection_change", args=[connection.pk])


def edit_post(connection, **overrides):
    """The change form of a BILL connection as submitted with nothing changed (the secrets left blank: kept)."""
    data = {"tenant": connection.tenant_id, "name": connection.name, "base_url": connection.base_url,
            "sign_in": "user", "username": BILL_CREDENTIALS["username"], "password": "",
            "organization_id": BILL_CREDENTIALS["organization_id"], "dev_key": "", "currencies": "USD"}
    data.update(overrides)
    return data


def use_as_source(connection):
    erp = Connection.objects.create(tenant=connection.tenant, system="infor", name="Infor")
    bill = make_bill(connection.tenant, name="Other BILL")
    Integration.objects.create(tenant=connection.tenant, name="Integration 1", source=erp, target=bill)
    return erp


def use_as_target(connection):
    erp = Connection.objects.create(tenant=connection.tenant, system="infor", name="Infor")
    Integration.objects.create(tenant=connection.tenant, name="Integration 1", source=erp, target=connection)
    return connection


def subscribe(connection):
    WebhookSubscription.objects.create(connection=connection, name="payments",
                                       notification_url="https://portal.example.com/webhooks/x/")
    return connection


def receive_event(connection):
    WebhookEvent.objects.create(connection=connection, event_id="evt-1", event_type="payment.updated",
                                status=WebhookEvent.PROCESSED)
    return connection


def test_moving_a_connection_an_integration_uses_is_refused_on_the_tenant_field(ops, demo, other):
    bill = use_as_target(make_bill(demo))
    response = ops.post(change_url(bill), edit_post(bill, tenant=other.pk))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["tenant"]
    assert "Integration 1" in errors["tenant"][0]
    assert "Demo Manufacturing" in errors["tenant"][0]
    bill.refresh_from_db()
    assert bill.tenant == demo
    assert ops.get(change_url(bill)).status_code == 200


@pytest.mark.parametrize("use, said", [
    (use_as_source, "integration 'Integration 1'"),
    (use_as_target, "integration 'Integration 1'"),
    (subscribe, "1 webhook subscription"),
    (receive_event, "1 webhook event"),
])
def test_every_form_refuses_to_move_a_connection_in_use(demo, other, use, said):
    connection = use(make_bill(demo))
    connection.tenant = other
    with pytest.raises(ValidationError) as refused:
        connection.full_clean()
    assert list(refused.value.message_dict) == ["tenant"]
    assert said in refused.value.message_dict["tenant"][0]


def test_a_connection_in_use_can_still_be_edited_in_its_tenant(ops, demo):
    bill = subscribe(use_as_target(make_bill(demo)))
    response = ops.post(change_url(bill), edit_post(bill, name="BILL renamed"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    bill.refresh_from_db()
    assert bill.name == "BILL renamed"


def test_a_connection_nothing_uses_may_move(ops, demo, other):
    bill = make_bill(demo)
    response = ops.post(change_url(bill), edit_post(bill, tenant=other.pk))
    assert response.status_code == 302, response.context["adminform"].form.errors
    bill.refresh_from_db()
    assert bill.tenant == other


@pytest.mark.parametrize("typed, bad", [
    ("dollars", "'dollars'"),
    ("US Dollars, ###", "'US Dollars', '###'"),
    ("USD, US$", "'US$'"),
    ("USD; EUR", "'USD; EUR'"),
    ("ÉUR", "'ÉUR'"),
    ("USD,,EUR", "an empty entry"),
])
def test_currencies_other_than_iso_codes_are_a_form_error_naming_them(ops, demo, typed, bad):
    bill = make_bill(demo)
    response = ops.post(change_url(bill), edit_post(bill, currencies=typed))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["currencies"]
    assert bad in errors["currencies"][0]
    bill.refresh_from_db()
    assert bill.options["currencies"] == "USD"


@pytest.mark.parametrize("typed, stored", [
    ("usd, eur", "USD,EUR"),
    (" Cad ", "CAD"),
    ("USD,EUR,usd", "USD,EUR"),
    ("", ""),
])
def test_currencies_are_stored_as_upper_case_codes(ops, demo, typed, stored):
    bill = make_bill(demo)
    response = ops.post(change_url(bill), edit_post(bill, currencies=typed))
    assert response.status_code == 302, response.context["adminform"].form.errors
    bill.refresh_from_db()
    assert bill.options["currencies"] == stored
