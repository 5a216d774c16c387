"""Finance status pages: a user sees only the tenants they are a member of."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render

from portal.models import Tenant
from syncs.models import Integration, SyncRecord


def visible_tenants(user):
    return Tenant.objects.filter(memberships__user=user).distinct()


@login_required
def home(request):
    integrations = (
        Integration.objects.filter(tenant__in=visible_tenants(request.user))
        .select_related("tenant", "source", "target")
        .annotate(
            synced=Count("records", filter=Q(records__status=SyncRecord.SYNCED)),
            failed=Count("records", filter=Q(records__status=SyncRecord.FAILED)),
        )
    )
    return render(request, "syncs/home.html", {"integrations": integrations})
