"""What the contract suites share: the hooks a system's tests give them, where those hooks are found, and the
suite base that reaches them.

A system's tests folder declares its hooks in a `contract.py` whose `CONTRACTS` lists one `Contract` subclass
per way of connecting, the main one first: tests/connectors/<id>/contract.py, or, for a system registered only
in the tests, the contract.py of the package its connector is in. The suites call the hooks; no system
overrides a contract test, and what a system cannot run is in its contract's `skips`, with the reason."""

import importlib

import pytest

from connectors.cursors import TIMESTAMP
from connectors.registry import get_system

CONNECTOR = "connector"
ERP = "erp"
AP = "ap"


class Contract:
    """One way of connecting to one system, with what the suites need of it. The defaults reach the system's
    simulator through the controls every simulator answers (`<id>/seed-canonical`, `<id>/canonical-state`…)."""

    system = ""
    # Another way of connecting to the same system, in a few words; blank for the system's main contract.
    variant = ""
    # The suites this contract runs; None: the transport suite and the suite of the system's kind.
    suites = None
    # {test name or suite name: why this system cannot run it, in words}.
    skips = {}

    # --- the connection ---------------------------------------------------------------------------------
    def make_connection(self, tenant, sandbox, **overrides):
        """A saved connection to the system's simulator, `overrides` replacing credentials (the test
        connection factory: every registered system has one)."""
        raise NotImplementedError

    # --- the transport suite (ConnectorContract) -----------------------------------------------------------
    # The message fragment that tells a person which credential is wrong.
    wrong_credentials_message = ""
    # Seconds after which the simulator no longer accepts a token or session.
    token_lifetime_seconds = 3600
    # What the client says of an answer it cannot parse, in the system's wire format's words.
    malformed_message = "not JSON"

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
        """How many times the connector has obtained a token or session: signed in, or refreshed one (after a
        refusal a token's refresh token is used where it has one: sign-ins are what the systems limit)."""
        state = sandbox.simulators[self.system].state()
        return state["logins"] + state.get("refreshes", 0)

    # --- the canonical seed (ErpContract, ApContract, the pairs) -------------------------------------------
    # The canonical dimension kinds under the ERP's own names ({"department": "subaccount"}).
    dimension_kinds = {}

    def seed_canonical(self, sandbox, **options):
        """Load the canonical seed; an AP platform answers its ids for the canonical codes."""
        return sandbox.control(f"{self.system}/seed-canonical", options)

    def canonical_ids(self, sandbox, connection):
        """The AP platform's ids for the canonical GL accounts and dimensions, as mapping rules hold them."""
        return self.seed_canonical(sandbox)

    def canonical_state(self, sandbox):
        """What the system holds, in the canonical-state shape (vendors, bills, payments)."""
        return sandbox.control(f"{self.system}/canonical-state")

    def change_supplier(self, sandbox, source_id, **changes):
        sandbox.control(f"{self.system}/canonical-supplier", {"source_id": source_id, **changes})

    def pay(self, sandbox, bill_id, amount=None):
        """Pay a bill in the AP platform, in full or `amount`; return the payment's id."""
        return sandbox.control(f"{self.system}/canonical-pay",
                               {"bill_id": bill_id, **({"amount": amount} if amount else {})})["payment_id"]

    # --- what the matrix reads --------------------------------------------------------------------------
    @property
    def spec(self):
        return get_system(self.system)

    def suite_names(self):
        return self.suites if self.suites is not None else (CONNECTOR, self.spec.kind)

    @classmethod
    def has_connection_factory(cls):
        return cls.make_connection is not Contract.make_connection


def contract_modules(system):
    """Where a system's tests declare its contracts: its folder under tests/connectors/, or, for a system
    registered only in the tests, the package its connector is in."""
    names = [f"tests.connectors.{system}.contract"]
    path = get_system(system).connector_class_path
    if path.startswith("tests."):
        module = path.rpartition(".")[0]
        names.append(f"{module.rpartition('.')[0]}.contract")
    return names


def contracts_of(system):
    """Every Contract the system's tests declare, main one first; [] when they declare none."""
    for name in contract_modules(system):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Only the module's own absence means "not declared here"; a broken import inside it is an error.
            if name == exc.name or name.startswith(f"{exc.name}."):
                continue
            raise
        found = [each() for each in getattr(module, "CONTRACTS", ()) if each.system == system]
        if found:
            return found
    return []


def contract_for(system):
    """The system's main contract; LookupError, in words, when its tests declare none."""
    found = contracts_of(system)
    if not found:
        raise LookupError(f"{get_system(system).label} has no test connection factory: declare a Contract for "
                          f"{system!r} in one of {', '.join(contract_modules(system))}.")
    return found[0]


def make_connection(system, tenant, sandbox, **overrides):
    """A saved connection to `system`'s simulator, made by its main contract's factory."""
    return contract_for(system).make_connection(tenant, sandbox, **overrides)


class SystemContract:
    """The base of every suite: the contract under test (set by the matrix) and what each suite needs of it."""

    contract = Contract()
    suite = ""

    @property
    def system(self):
        return self.contract.system

    @pytest.fixture(autouse=True)
    def listed_skips(self, request):
        reason = self.contract.skips.get(self.suite) or self.contract.skips.get(request.node.originalname)
        if reason:
            pytest.skip(reason)

    @pytest.fixture
    def connection(self, tenant, sandbox):
        return self.contract.make_connection(tenant, sandbox)

    def cursor_type(self, connector, stream):
        return connector.cursor_types.get(stream, TIMESTAMP)

    def require(self, capability):
        spec = self.contract.spec
        if capability not in spec.capabilities:
            pytest.skip(f"{spec.label} does not declare {capability} (its System in the registry)")
