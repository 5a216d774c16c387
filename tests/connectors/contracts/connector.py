"""The transport contract. Each system's tests subclass ConnectorContract and supply the few hooks
below; every connector then proves the same things over real HTTP against its simulator: auth, wrong
credentials, token reuse and expiry, re-auth, paging, 429 backoff, 5xx, timeouts and malformed
payloads."""

import pytest

from connectors.errors import AuthError, TransientError
from tests.connectors.contracts.base import control, make_connection


class ConnectorContract:
    system = ""
    # The message fragment that tells a person which credential is wrong.
    wrong_credentials_message = ""
    # Seconds after which the simulator no longer accepts a token or session.
    token_lifetime_seconds = 3600
    # What the client says of an answer it cannot parse, in the system's wire format's words.
    malformed_message = "not JSON"

    # --- hooks ------------------------------------------------------------------------------------------
    def make_connection(self, tenant, sandbox, **overrides):
        return make_connection(self.system, tenant, sandbox, **overrides)

    def wrong_credentials(self):
        """Credential overrides that the simulator refuses."""
        raise NotImplementedError

    def seed_many(self, sandbox, count):
        """Create `count` objects of a paged collection in the simulator."""
        raise NotImplementedError

    def read_many(self, connector):
        """Read that collection through the connector in pages of 10; return the objects' ids."""
        raise NotImplementedError

    def logins(self, sandbox):
        return sandbox.simulators[self.system].state()["logins"]

    # --- helpers ----------------------------------------------------------------------------------------
    control = staticmethod(control)

    def faults(self, sandbox, **faults):
        return self.control(sandbox, "faults", {"system": self.system, "seed": 7, **faults})

    # --- the contract -----------------------------------------------------------------------------------
    def test_check_makes_an_authenticated_call(self, tenant, sandbox):
        connector = self.make_connection(tenant, sandbox).connector()
        assert connector.check()
        assert self.logins(sandbox) == 1

    def test_wrong_credentials_say_what_is_wrong(self, tenant, sandbox):
        connector = self.make_connection(tenant, sandbox, **self.wrong_credentials()).connector()
        with pytest.raises(AuthError) as excinfo:
            connector.check()
        assert self.wrong_credentials_message in str(excinfo.value)
        for value in self.wrong_credentials().values():
            if len(str(value)) >= 6:
                assert str(value) not in str(excinfo.value), "a credential leaked into the error"

    def test_token_is_cached_and_shared_by_connectors(self, tenant, sandbox):
        connection = self.make_connection(tenant, sandbox)
        connection.connector().check()
        connection.connector().check()
        assert self.logins(sandbox) == 1

    def test_expired_token_is_renewed_without_failing(self, tenant, sandbox):
        connector = self.make_connection(tenant, sandbox).connector()
        connector.check()
        self.control(sandbox, "clock", {"advance_seconds": self.token_lifetime_seconds + 60})
        assert connector.check()
        assert self.logins(sandbox) == 2

    def test_session_lost_mid_run_is_reauthenticated(self, tenant, sandbox):
        self.seed_many(sandbox, 45)
        connector = self.make_connection(tenant, sandbox).connector()
        self.faults(sandbox, session_expiry_rate=0.5)
        assert len(set(self.read_many(connector))) == 45
        assert self.logins(sandbox) > 1

    def test_paging_returns_every_record_once(self, tenant, sandbox):
        self.seed_many(sandbox, 45)
        ids = self.read_many(self.make_connection(tenant, sandbox).connector())
        assert len(ids) == 45 and len(set(ids)) == 45

    def test_rate_limits_are_backed_off_and_retried(self, tenant, sandbox):
        self.seed_many(sandbox, 45)
        connector = self.make_connection(tenant, sandbox).connector()
        self.faults(sandbox, rate_limit_rate=0.3)
        assert len(set(self.read_many(connector))) == 45
        assert connector.http.retries > 0

    def test_server_errors_are_retried(self, tenant, sandbox):
        self.seed_many(sandbox, 45)
        connector = self.make_connection(tenant, sandbox).connector()
        self.faults(sandbox, error_rate=0.3)
        assert len(set(self.read_many(connector))) == 45
        assert connector.http.retries > 0

    def test_timeouts_are_retried(self, tenant, sandbox):
        self.seed_many(sandbox, 45)
        connector = self.make_connection(tenant, sandbox).connector()
        connector.http.timeout = (2.0, 0.2)
        self.faults(sandbox, timeout_rate=0.2, timeout_seconds=0.4)
        assert len(set(self.read_many(connector))) == 45
        assert connector.http.retries > 0

    def test_persistent_server_errors_give_up_with_a_clear_error(self, tenant, sandbox):
        connector = self.make_connection(tenant, sandbox).connector()
        connector.check()
        self.faults(sandbox, error_rate=1)
        with pytest.raises(TransientError) as excinfo:
            self.read_many(connector)
        assert "500" in str(excinfo.value)

    def test_malformed_payload_is_a_clear_error(self, tenant, sandbox):
        connector = self.make_connection(tenant, sandbox).connector()
        connector.check()
        self.faults(sandbox, malformed_rate=1)
        with pytest.raises(TransientError) as excinfo:
            self.read_many(connector)
        assert self.malformed_message in str(excinfo.value)
