"""The integration's Options box takes only the options a run reads (syncs.models.OPTIONS): an unknown or misspelt
key, a value that is not true or false, or something that is not an object is refused on the form, in words naming
the known options, and nothing stored changes."""

import html

import pytest
from django.urls import reverse

from connectors.models import Connection
from syncs.models import OPTIONS, Integration


@pytest.fixture
def integration(tenant):
    infor = Connection.objects.create(tenant=tenant, system="infor", name="Infor")
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL", base_url="https://x.test/connect")
    return Integration.objects.create(tenant=tenant, name="Infor to BILL", source=infor, target=bill,
                                      options={"require_tax_id": False})


def save(client, integration, options):
    response = client.post(reverse("admin:syncs_integration_change", args=[integration.pk]), {
        "name": integration.name, "source": integration.source_id, "target": integration.target_id,
        "enabled": "on", "interval_minutes": 15, "options": options,
        "mapping_rules-TOTAL_FORMS": 0, "mapping_rules-INITIAL_FORMS": 0})
    return response, html.unescape(response.content.decode())


def test_an_unknown_option_is_refused_naming_the_known_ones(admin_client, integration):
    response, text = save(admin_client, integration, '{"require_tax_ids": false, "acknowledge_invoices": false}')
    assert response.status_code == 200
    assert "Unknown option 'require_tax_ids'. The known options: require_tax_id (" in text
    assert all(name in text for name in OPTIONS)
    integration.refresh_from_db()
    assert integration.options == {"require_tax_id": False}, "nothing stored changed"


@pytest.mark.parametrize("options, said", [
    ('{"require_tax_id": "no"}', "require_tax_id: true or false, without quotes."),
    ('["require_tax_id"]', "Options are a JSON object of names, each true or false"),
])
def test_options_of_the_wrong_shape_are_refused_in_words(admin_client, integration, options, said):
    response, text = save(admin_client, integration, options)
    assert response.status_code == 200 and said in text
    integration.refresh_from_db()
    assert integration.options == {"require_tax_id": False}


def test_the_known_options_are_saved(admin_client, integration):
    response, _ = save(admin_client, integration, '{"require_tax_id": true, "acknowledge_invoices": false}')
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.options == {"require_tax_id": True, "acknowledge_invoices": False}


def test_the_form_says_which_options_there_are(admin_client, integration):
    page = admin_client.get(reverse("admin:syncs_integration_change", args=[integration.pk]))
    text = html.unescape(page.content.decode())
    assert "the known options, each true or false: require_tax_id (true by default" in text
