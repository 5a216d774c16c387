"""An interval below one minute, or above a week, is one mistake, said in one way, whatever the number typed: a number
the task cluster cannot turn into a time would stop every integration's schedule."""

import pytest
from django.urls import reverse

from syncs.models import Integration


@pytest.mark.parametrize("typed", ["0", "-5", "10081", "40000", "9223372036854775807", "99999999999999999999999"])
def test_an_interval_outside_a_minute_to_a_week_gets_one_message_in_words(admin_client, tenant, connections, typed):
    infor, bill = connections
    response = admin_client.post(reverse("admin:syncs_integration_add"), {
        "tenant": tenant.pk, "name": "Infor to BILL", "source": infor.pk, "target": bill.pk, "enabled": "on",
        "interval_minutes": typed, "options": "{}", "mapping_rules-TOTAL_FORMS": 0, "mapping_rules-INITIAL_FORMS": 0})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "interval_minutes": ["The interval is in minutes, from 1 to 10,080 (a week)."]}
    assert not Integration.objects.exists()


def test_a_week_is_accepted(admin_client, tenant, connections):
    infor, bill = connections
    admin_client.post(reverse("admin:syncs_integration_add"), {
        "tenant": tenant.pk, "name": "Infor to BILL", "source": infor.pk, "target": bill.pk, "enabled": "on",
        "interval_minutes": "10080", "options": "{}", "mapping_rules-TOTAL_FORMS": 0, "mapping_rules-INITIAL_FORMS": 0})
    assert Integration.objects.get().interval_minutes == 10080


def test_an_interval_saved_before_the_rule_is_brought_within_a_week_with_its_schedule(tenant, connections):
    from importlib import import_module

    from django.apps import apps
    from django_q.models import Schedule

    infor, bill = connections
    integration = Integration.objects.create(tenant=tenant, name="Infor to BILL", source=infor, target=bill)
    Integration.objects.filter(pk=integration.pk).update(interval_minutes=40000)
    import_module("syncs.migrations.0014_integration_interval_range").within_a_week(apps, None)
    integration.refresh_from_db()
    assert integration.interval_minutes == 10080
    assert Schedule.objects.get(name=f"integration-{integration.pk}").minutes == 10080
