"""Who may reach which tenant: the one place that decides it, for the finance pages (syncs/views.py) and the admin
(portal/admin_utils.py TenantScopedAdminMixin).

Any membership lets a user read a tenant's status pages; only an ops membership lets staff operate it in the
admin. Superusers see and operate every tenant.
"""

from django.contrib.auth import get_user_model
from django.db.models import Q

from portal.models import Membership, Tenant


def visible_tenants(user):
    """The tenants whose pages a user may read: their memberships', or every tenant for a superuser, who can
    see all of it in the admin anyway."""
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user).distinct()


def operated_tenants(user):
    """The tenants a user may see, change and act on in the admin: those they hold an ops membership in, or every
    tenant for a superuser."""
    if user.is_superuser:
        return Tenant.objects.all()
    if not user.is_active:
        return Tenant.objects.none()
    return Tenant.objects.filter(memberships__user=user, memberships__role=Membership.OPS)


def assignable_users(user):
    """The users a person may give a membership in the tenants they operate: members of those tenants, and
    users who belong to no tenant yet (a superuser only if already such a member). Never a user who belongs
    only to other tenants: their name is not for this operator to see."""
    users = get_user_model().objects.all()
    if user.is_superuser:
        return users
    members = Membership.objects.filter(tenant__in=operated_tenants(user)).values("user")
    unattached = ~Q(pk__in=Membership.objects.values("user")) & Q(is_superuser=False)
    return users.filter(Q(pk__in=members) | unattached)
