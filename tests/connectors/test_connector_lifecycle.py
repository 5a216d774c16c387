"""A connector is opened and closed around its work, and counts the calls of every client it uses."""

import logging
from types import SimpleNamespace

import pytest

from connectors.base import Connector
from connectors.bill.connector import BillConnector
from connectors.health import check_connection
from connectors.http import HttpClient
from connectors.registry import SYSTEMS
from tests.connectors.bill.conftest import make_bill_connection

SECRET = "operator-password-SECRET-314"


class SessionConnector(Connector):
    """A connector for a system with a session to log out of."""

    def __init__(self, connection, fail_close=False):
        super().__init__(connection)
        self.fail_close = fail_close
        self.closed = 0

    def close(self):
        self.closed += 1
        if self.fail_close:
            raise RuntimeError(f"logoff refused for password={SECRET}")


def a_connection():
    # What a Connector reads when it is built: its system checks where the credentials would go.
    return SimpleNamespace(pk=7, system="syspro", spec=SYSTEMS["syspro"], base_url="", options={})


def test_with_returns_the_connector_and_closes_it_at_the_end():
    connector = SessionConnector(a_connection())
    with connector as entered:
        assert entered is connector
        assert connector.closed == 0
    assert connector.closed == 1


def test_the_work_s_own_error_propagates_and_the_session_is_still_closed():
    connector = SessionConnector(a_connection())
    with pytest.raises(KeyError), connector:
        raise KeyError("work failed")
    assert connector.closed == 1


def test_a_failed_logout_is_logged_without_its_text_and_never_raised(caplog):
    connector = SessionConnector(a_connection(), fail_close=True)
    with caplog.at_level(logging.WARNING, logger="connectors"), connector:
        pass
    assert connector.closed == 1
    [record] = [r for r in caplog.records if r.name == "connectors"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "Closing the syspro connector of connection 7 failed (RuntimeError)."
    assert SECRET not in caplog.text


def test_a_failed_logout_does_not_replace_the_work_s_own_error():
    with pytest.raises(KeyError), SessionConnector(a_connection(), fail_close=True):
        raise KeyError("work failed")


def test_calls_add_up_over_every_client_and_count_a_shared_client_once():
    connector = Connector(a_connection())
    connector.rest, connector.login = HttpClient("rest"), HttpClient("login")
    connector.http = connector.rest  # the same client under two names
    connector.rest.calls, connector.login.calls = 5, 2
    assert connector.calls == 7
    assert Connector(a_connection()).calls == 0


def test_a_connector_holding_its_client_deeper_lists_it_itself():
    class Nested(Connector):
        def __init__(self, connection):
            super().__init__(connection)
            self.client = SimpleNamespace(http=HttpClient("nested"))

        def http_clients(self):
            return [self.client.http]

    connector = Nested(a_connection())
    connector.client.http.calls = 3
    assert connector.calls == 3


def test_checking_a_connection_closes_its_connector(tenant, sandbox, monkeypatch):
    closed = []
    monkeypatch.setattr(BillConnector, "close", lambda self: closed.append(self.calls))
    ok, _ = check_connection(make_bill_connection(tenant, sandbox.url))
    assert ok
    assert len(closed) == 1 and closed[0] >= 1, "closed once, after the check's calls"
