"""Staff who manage users and groups cannot hand out more than they hold: no superusers, no permission or group
beyond their own, no changes to an account that holds more than they do. Superusers still can."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from portal.roles import OPS_GROUP

USER_ADMIN_PERMISSIONS = ["add_user", "change_user", "view_user", "change_group", "view_group"]


def permission(label):
    app, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app, codename=codename)


@pytest.fixture
def keeper(db, client):
    """A staff user holding the user-admin permissions and nothing else."""
    user = get_user_model().objects.create_user("kim", password="pw-0123456789", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="auth",
                                                        codename__in=USER_ADMIN_PERMISSIONS))
    client.force_login(user)
    return user


@pytest.fixture
def clerk(db):
    return get_user_model().objects.create_user("carl", password="pw-0123456789")


def change_user(client, user, **fields):
    data = {"username": user.username, "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
            **fields}
    return client.post(reverse("admin:auth_user_change", args=[user.pk]), data)


@pytest.mark.parametrize("whom", ["themselves", "someone else"])
def test_a_user_admin_makes_nobody_a_superuser(client, keeper, clerk, whom):
    user = keeper if whom == "themselves" else clerk
    assert "is_superuser" not in client.get(reverse("admin:auth_user_change", args=[user.pk])).context[
        "adminform"].form.fields
    answer = change_user(client, user, is_staff="on", is_superuser="on",
                         user_permissions=list(keeper.user_permissions.values_list("pk", flat=True)))
    assert answer.status_code == 302
    user.refresh_from_db()
    assert not user.is_superuser


def test_a_user_admin_grants_no_permission_they_do_not_hold(client, keeper, clerk):
    page = change_user(client, clerk, user_permissions=[permission("portal.delete_tenant").pk,
                                                        permission("auth.view_user").pk])
    assert "You cannot grant permissions you do not hold yourself: portal.delete_tenant." in page.content.decode()
    assert not clerk.user_permissions.exists()
    assert change_user(client, clerk, user_permissions=[permission("auth.view_user").pk]).status_code == 302
    assert list(clerk.user_permissions.values_list("codename", flat=True)) == ["view_user"]


def test_a_user_admin_gives_no_group_whose_permissions_they_do_not_hold(client, keeper, clerk):
    ops = Group.objects.get(name=OPS_GROUP)
    page = change_user(client, clerk, groups=[ops.pk]).content.decode()
    assert "You cannot give the group “Ops”: it carries permissions you do not hold yourself" in page
    assert not clerk.groups.exists()
    viewers = Group.objects.create(name="User viewers")
    viewers.permissions.add(permission("auth.view_user"))
    assert change_user(client, clerk, groups=[viewers.pk]).status_code == 302
    assert list(clerk.groups.all()) == [viewers]


def test_a_user_admin_adds_no_permission_they_do_not_hold_to_a_group(client, keeper):
    group = Group.objects.create(name="Clerks")
    url = reverse("admin:auth_group_change", args=[group.pk])
    page = client.post(url, {"name": "Clerks", "permissions": [permission("syncs.change_integration").pk]})
    assert "You cannot grant permissions you do not hold yourself: syncs.change_integration." in \
        page.content.decode()
    assert not group.permissions.exists()
    assert client.post(url, {"name": "Clerks", "permissions": [permission("auth.view_user").pk]}).status_code == 302
    assert list(group.permissions.values_list("codename", flat=True)) == ["view_user"]


def test_a_group_carrying_more_than_the_user_admin_holds_can_still_be_trimmed(client, keeper):
    group = Group.objects.create(name="Payables")
    group.permissions.set([permission("portal.delete_tenant"), permission("auth.view_user")])
    url = reverse("admin:auth_group_change", args=[group.pk])
    assert client.post(url, {"name": "Payables", "permissions": [permission("auth.view_user").pk]}).status_code == 302
    assert list(group.permissions.values_list("codename", flat=True)) == ["view_user"]


@pytest.mark.parametrize("stronger", ["superuser", "ops"])
def test_a_user_admin_cannot_take_over_a_stronger_account(client, keeper, stronger):
    if stronger == "superuser":
        target = get_user_model().objects.create_superuser("root", password="pw-0123456789")
    else:
        target = get_user_model().objects.create_user("olivia", password="pw-0123456789", is_staff=True)
        target.groups.add(Group.objects.get(name=OPS_GROUP))
    password = reverse("admin:auth_user_password_change", args=[target.pk])
    assert client.get(password).status_code == 403
    assert client.post(password, {"password1": "Take-0ver-passw0rd", "password2": "Take-0ver-passw0rd",
                                  "usable_password": "true"}).status_code == 403
    assert change_user(client, target, username="mine").status_code == 403
    target.refresh_from_db()
    assert target.check_password("pw-0123456789") and target.username != "mine"


def test_a_superuser_still_makes_superusers_and_grants_anything(admin_client, clerk):
    ops = Group.objects.get(name=OPS_GROUP)
    answer = change_user(admin_client, clerk, is_staff="on", is_superuser="on", groups=[ops.pk],
                         user_permissions=[permission("portal.delete_tenant").pk])
    assert answer.status_code == 302
    clerk.refresh_from_db()
    assert clerk.is_superuser and list(clerk.groups.all()) == [ops]
