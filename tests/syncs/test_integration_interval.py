"""An interval below one minute is one mistake, said in one way, whatever the number typed."""

import pytest
from django.urls import reverse

from syncs.models import Integration


@pytest.mark.parametrize("typed", ["0", "-5"])
def test_an_interval_below_one_minute_gets_one_message_in_words(admin_client, tenant, connections, typed):
    infor, bill = connections
    response = admin_client.post(reverse("admin:syncs_integration_add"), {
        "tenant": tenant.pk, "name": "Infor to BILL", "source": infor.pk, "target": bill.pk, "enabled": "on",
        "interval_minutes": typed, "options": "{}", "mapping_rules-TOTAL_FORMS": 0, "mapping_rules-INITIAL_FORMS": 0})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "interval_minutes": ["The interval is in minutes and must be at least 1."]}
    assert not Integration.objects.exists()
