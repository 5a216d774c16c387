"""What the admin pages of mapping rules and sync records may act on: the integrations the integration admin
lets the user see."""

from syncs.models import Integration


def operated_integrations(model_admin, request):
    """The integrations the user may act on, as the integration admin scopes them."""
    return model_admin.admin_site.get_model_admin(Integration).get_queryset(request)
