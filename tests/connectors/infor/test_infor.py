from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from connectors import tokens
from connectors.errors import DataError
from connectors.models import ConnectionToken
from sandbox.infor import simulator as infor_sandbox
from tests.connectors.infor.conftest import make_infor_connection, seed_suppliers


def test_values_are_trimmed_of_m3_padding(infor_connection, sandbox):
    seed_suppliers(sandbox, 1)
    raw = sandbox.state("infor")
    assert raw["suppliers"][0]["SUNM"] == "Supplier 0"
    supplier = next(infor_connection.connector().suppliers())
    assert supplier.name == "Supplier 0" and supplier.source_id == "S0000"


def test_wrong_company_is_a_clear_data_error(tenant, sandbox):
    connector = make_infor_connection(tenant, sandbox.url, company="999").connector()
    with pytest.raises(DataError) as excinfo:
        connector.check()
    assert "Not authorized for company 999" in str(excinfo.value) and "CONO" in str(excinfo.value)


def test_wrong_client_secret_names_ci_cs(tenant, sandbox):
    connector = make_infor_connection(tenant, sandbox.url, cs="wrong-client-secret").connector()
    with pytest.raises(Exception) as excinfo:
        connector.check()
    assert "client id/secret (ci/cs" in str(excinfo.value)
    assert "wrong-client-secret" not in str(excinfo.value)


def test_token_near_expiry_is_refreshed_with_the_refresh_token(infor_connection, sandbox):
    connector = infor_connection.connector()
    connector.check()
    ConnectionToken.objects.filter(connection=infor_connection).update(expires_at=timezone.now() - timedelta(seconds=1))
    tokens._memory.clear()  # as a process that has not used the token yet sees it
    connector.check()
    state = sandbox.state("infor")
    assert state["logins"] == 1 and state["refreshes"] == 1


def test_changed_credentials_revoke_the_old_token(infor_connection, sandbox):
    connector = infor_connection.connector()
    connector.check()
    connector.forget_token()
    state = sandbox.state("infor")
    assert state["revoked"] == 2  # access and refresh token
    assert ConnectionToken.objects.get(connection=infor_connection).value is None


def test_spike_arrest_429_is_backed_off(infor_connection, sandbox):
    seed_suppliers(sandbox, 30)
    sandbox.control("infor/account", {"spike_limit": 2})
    connector = infor_connection.connector()
    connector.http.sleep = lambda seconds: sandbox.control("clock", {"advance_seconds": 61})
    import connectors.infor.connector as infor_connector

    infor_connector.PAGE_SIZE, original = 5, infor_connector.PAGE_SIZE
    try:
        assert len([s for s in connector.suppliers()]) == 30
    finally:
        infor_connector.PAGE_SIZE = original
    assert connector.http.retries > 0


def test_service_account_logins_are_limited_to_twenty_a_minute(sandbox):
    url = f"{sandbox.url}/infor/{infor_sandbox.TENANT}/as/token.oauth2"
    form = {"grant_type": "password", "username": infor_sandbox.SERVICE_ACCESS_KEY,
            "password": infor_sandbox.SERVICE_SECRET_KEY, "client_id": infor_sandbox.CLIENT_ID,
            "client_secret": infor_sandbox.CLIENT_SECRET}
    codes = [requests.post(url, data=form, timeout=10).status_code for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429
    basic = requests.post(url, data={k: v for k, v in form.items() if not k.startswith("client")},
                          auth=(infor_sandbox.CLIENT_ID, infor_sandbox.CLIENT_SECRET), timeout=10)
    assert basic.status_code == 429, "client authentication by HTTP Basic is accepted too (then rate limited)"
