"""The transport contract: every connector proves the same things over real HTTP against its simulator — auth,
wrong credentials, token reuse and expiry, re-auth, paging, 429 backoff, 5xx, timeouts and malformed payloads —
through the hooks of its Contract (tests/connectors/contracts/base.py)."""

import pytest

from connectors.errors import AuthError, TransientError
from tests.connectors.contracts.base import CONNECTOR, SystemContract


class ConnectorContract(SystemContract):
    suite = CONNECTOR

    def faults(self, sandbox, **faults):
        return sandbox.control("faults", {"system": self.system, "seed": 7, **faults})

    # --- the contract -----------------------------------------------------------------------------------
    def test_check_makes_an_authenticated_call(self, tenant, sandbox):
        connector = self.contract.make_connection(tenant, sandbox).connector()
        assert connector.check()
        assert self.contract.logins(sandbox) == 1

    def test_wrong_credentials_say_what_is_wrong(self, tenant, sandbox):
        connector = self.contract.make_connection(tenant, sandbox, **self.contract.wrong_credentials()).connector()
        with pytest.raises(AuthError) as excinfo:
            connector.check()
        assert self.contract.wrong_credentials_message in str(excinfo.value)
        for value in self.contract.wrong_credentials().values():
            if len(str(value)) >= 6:
                assert str(value) not in str(excinfo.value), "a credential leaked into the error"

    def test_token_is_cached_and_shared_by_connectors(self, tenant, sandbox):
        connection = self.contract.make_connection(tenant, sandbox)
        connection.connector().check()
        connection.connector().check()
        assert self.contract.logins(sandbox) == 1

    def test_expired_token_is_renewed_without_failing(self, tenant, sandbox):
        connector = self.contract.make_connection(tenant, sandbox).connector()
        connector.check()
        sandbox.control("clock", {"advance_seconds": self.contract.token_lifetime_seconds + 60})
        assert connector.check()
        assert self.contract.logins(sandbox) == 2

    def test_session_lost_mid_run_is_reauthenticated(self, tenant, sandbox):
        self.contract.seed_many(sandbox, 45)
        connector = self.contract.make_connection(tenant, sandbox).connector()
        self.faults(sandbox, session_expiry_rate=0.5)
        assert len(set(self.contract.read_many(connector))) == 45
        assert self.contract.logins(sandbox) > 1

    def test_paging_returns_every_record_once(self, tenant, sandbox):
        self.contract.seed_many(sandbox, 45)
        ids = self.contract.read_many(self.contract.make_connection(tenant, sandbox).connector())
        assert len(ids) == 45 and len(set(ids)) == 45

    def test_rate_limits_are_backed_off_and_retried(self, tenant, sandbox):
        self.contract.seed_many(sandbox, 45)
        connector = self.contract.make_connection(tenant, sandbox).connector()
        self.faults(sandbox, rate_limit_rate=0.3)
        assert len(set(self.contract.read_many(connector))) == 45
        assert connector.http.retries > 0

    def test_server_errors_are_retried(self, tenant, sandbox):
        self.contract.seed_many(sandbox, 45)
        connector = self.contract.make_connection(tenant, sandbox).connector()
        self.faults(sandbox, error_rate=0.3)
        assert len(set(self.contract.read_many(connector))) == 45
        assert connector.http.retries > 0

    def test_timeouts_are_retried(self, tenant, sandbox):
        self.contract.seed_many(sandbox, 45)
        connector = self.contract.make_connection(tenant, sandbox).connector()
        connector.http.timeout = (2.0, 0.2)
        self.faults(sandbox, timeout_rate=0.2, timeout_seconds=0.4)
        assert len(set(self.contract.read_many(connector))) == 45
        assert connector.http.retries > 0

    def test_persistent_server_errors_give_up_with_a_clear_error(self, tenant, sandbox):
        connector = self.contract.make_connection(tenant, sandbox).connector()
        connector.check()
        self.faults(sandbox, error_rate=1)
        with pytest.raises(TransientError) as excinfo:
            self.contract.read_many(connector)
        assert "500" in str(excinfo.value)

    def test_malformed_payload_is_a_clear_error(self, tenant, sandbox):
        connector = self.contract.make_connection(tenant, sandbox).connector()
        connector.check()
        self.faults(sandbox, malformed_rate=1)
        with pytest.raises(TransientError) as excinfo:
            self.contract.read_many(connector)
        assert self.contract.malformed_message in str(excinfo.value)
