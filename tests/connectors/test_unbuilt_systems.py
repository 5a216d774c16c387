"""Systems that are registered but not built: never chosen for a new connection, never a 500."""

import json
import logging
from dataclasses import replace

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse

from connectors.bill.connector import BillConnector
from connectors.health import check_connection
from connectors.models import Connection
from connectors.registry import SYSTEMS
from portal.models import AuditEntry
from sandbox.bill import simulator as bill_sandbox
from sandbox.infor import simulator as infor_sandbox

ADD_URL = reverse("admin:connectors_connection_add")
CHANGELIST_URL = reverse("admin:connectors_connection_changelist")
IFS_NOT_BUILT = "IFS Cloud (OData v4) is not built yet"


@pytest.fixture(autouse=True)
def planned_ifs(monkeypatch):
    """IFS as it was before it was built: registered, planned capabilities, no connector or simulator."""
    monkeypatch.setitem(SYSTEMS, "ifs", replace(SYSTEMS["ifs"], connector_class_path="connectors.ifs.planned.Connector",
                                                simulator_class_path=""))


def sandbox_connection(tenant, system_id, url):
    """A connection of the system as an operator would have saved it; against the simulator where one exists."""
    fields = {"base_url": "https://erp.acme.test", "credentials": {}, "options": {}}
    if system_id == "infor":
        fields = {"base_url": "", "credentials": infor_sandbox.ionapi_for(url),
                  "options": {"company": infor_sandbox.COMPANY, "division": "AAA"}}
    if system_id == "bill":
        fields = {"base_url": f"{url}/bill/connect", "options": {},
                  "credentials": {"sign_in": "user", "username": bill_sandbox.USERNAME,
                                  "password": bill_sandbox.PASSWORD, "organization_id": bill_sandbox.ORG_ID,
                                  "dev_key": bill_sandbox.DEV_KEY}}
    return Connection.objects.create(tenant=tenant, system=system_id, name=f"{system_id} connection",
                                     base_url=fields["base_url"], options=fields["options"],
                                     credentials_blob=json.dumps(fields["credentials"]))


def shown_messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_choose_page_offers_built_systems_and_shows_the_others_as_coming(admin_client):
    html = admin_client.get(ADD_URL).content.decode()
    for system in SYSTEMS.values():
        radio = f'<input type="radio" name="system" value="{system.id}" id="system-{system.id}" '
        assert radio + ("required>" if system.built else "disabled>") in html
    assert "IFS Cloud (OData v4)</label> — coming, not built yet" in html
    assert f"Planned: {SYSTEMS['ifs'].capability_phrases[0]}" in html, "an unbuilt system shows what it will do"
    assert "vendors are created and updated" in html, "a built system shows what it does"


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unbuilt_system_cannot_be_chosen_even_by_hand(admin_client, tenant, method):
    data = {"tenant": tenant.pk, "name": "IFS", "base_url": "https://acme.ifs.cloud", "realm": "acme",
            "client_id": "ml", "client_secret": "s3cret", "company": "10"}
    if method == "get":
        response = admin_client.get(ADD_URL, {**data, "system": "ifs"})
    else:
        response = admin_client.post(f"{ADD_URL}?system=ifs", data)
    assert response.status_code == 200
    assert f"{IFS_NOT_BUILT}, so no connection to it can be added." in response.content.decode()
    assert 'name="client_secret"' not in response.content.decode(), "the IFS form is not offered"
    assert not Connection.objects.exists()


def test_an_unknown_system_cannot_be_chosen(admin_client):
    response = admin_client.post(ADD_URL, {"system": "sap"})
    assert response.status_code == 200
    built = ", ".join(s.label for s in SYSTEMS.values() if s.built)
    assert f"There is no system &#x27;sap&#x27;. Choose one of: {built}." in response.content.decode()


def test_a_built_system_still_leads_to_its_form(admin_client):
    response = admin_client.get(f"{ADD_URL}?system=bill")
    assert 'name="dev_key"' in response.content.decode()


def test_an_existing_connection_of_an_unbuilt_system_says_so(admin_client, tenant):
    connection = sandbox_connection(tenant, "ifs", "")
    response = admin_client.get(reverse("admin:connectors_connection_change", args=[connection.pk]))
    assert response.status_code == 200
    assert any(m.startswith(f"{IFS_NOT_BUILT}. This connection is kept") for m in shown_messages(response))


def test_checking_an_unbuilt_connection_records_why_in_words(tenant):
    connection = sandbox_connection(tenant, "ifs", "")
    ok, message = check_connection(connection, actor="ops")
    assert not ok
    assert message.startswith(f"{IFS_NOT_BUILT}: ml-connector has no connector for it")
    connection.refresh_from_db()
    assert connection.health == Connection.HEALTH_UNKNOWN
    assert connection.last_error == message and connection.last_checked_at
    assert AuditEntry.objects.get(action="connection.checked").details == {"ok": False, "health": "unknown"}


def test_a_connector_that_cannot_be_loaded_is_recorded_not_raised(tenant, monkeypatch):
    connection = sandbox_connection(tenant, "bill", "https://gateway.stage.bill.com")

    def check(self):
        raise ModuleNotFoundError("No module named 'requests_oauthlib'", name="requests_oauthlib")

    monkeypatch.setattr(BillConnector, "check", check)
    assert check_connection(connection) == (
        False, "The BILL (v3 API) connector could not be loaded (No module named 'requests_oauthlib').")
    connection.refresh_from_db()
    assert connection.health == Connection.HEALTH_UNKNOWN


def test_an_unexpected_failure_is_recorded_without_its_text_and_logged(tenant, monkeypatch, caplog):
    connection = sandbox_connection(tenant, "bill", "https://gateway.stage.bill.com")

    def check(self):
        raise KeyError("password=hunter2-SECRET")

    monkeypatch.setattr(BillConnector, "check", check)
    with caplog.at_level(logging.ERROR, logger="connectors.health"):
        ok, message = check_connection(connection)
    assert not ok
    assert message == "The check failed with an internal error (KeyError); the server log has the details."
    connection.refresh_from_db()
    assert connection.health == Connection.HEALTH_FAILING and connection.last_error == message
    assert "KeyError" in caplog.text, "the traceback is in the log"


@pytest.mark.parametrize("system_id", list(SYSTEMS))
def test_every_connection_action_answers_for_every_system(admin_client, admin_user, tenant, sandbox, system_id):
    connection = sandbox_connection(tenant, system_id, sandbox.url)
    request = RequestFactory().get(CHANGELIST_URL)
    request.user = admin_user
    actions = admin.site._registry[Connection].get_actions(request)
    # The webhooks app adds its action to ConnectionAdmin; it must be among those run here.
    assert {"delete_selected", "test_connection", "subscribe_to_webhooks"} <= set(actions)
    for name in actions:
        response = admin_client.post(CHANGELIST_URL, {"action": name, "_selected_action": [connection.pk]})
        assert response.status_code in (200, 302), f"{name} on {system_id}: {response.status_code}"
        if name == "delete_selected":
            assert "Are you sure you want to delete" in response.content.decode()
            continue
        said = shown_messages(response)
        assert said and all(m.startswith(f"{connection.name}: ") for m in said), f"{name} on {system_id}: {said}"
        if not SYSTEMS[system_id].built and name == "test_connection":
            assert "is not built yet" in said[0]
