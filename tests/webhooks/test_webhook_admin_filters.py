"""Admin filters on a connection or an integration name its tenant: two tenants' "BILL (sandbox)" are told apart."""

from django.urls import reverse

from connectors.models import Connection
from portal.models import Tenant


def test_the_connection_filter_names_each_connection_s_tenant(admin_client):
    for name in ("Acme", "Beta"):
        tenant = Tenant.objects.create(name=name, slug=name.lower())
        Connection.objects.create(tenant=tenant, system="bill", name="BILL (sandbox)")
    page = admin_client.get(reverse("admin:webhooks_webhookevent_changelist")).content.decode()
    assert "Acme: BILL (sandbox)" in page and "Beta: BILL (sandbox)" in page
