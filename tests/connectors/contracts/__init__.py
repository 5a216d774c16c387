"""The contract suites every system and pair is held to, generated from the registry.

- ConnectorContract (connector.py): the transport — auth, token reuse, paging, 429, 5xx, timeouts,
  malformed bodies.
- ErpContract (erp.py) and ApContract (ap.py): what the engine relies on from each kind of system,
  checked against the canonical seed (connectors/canonical.py) that every simulator loads.
- PairContract (tests/syncs/test_pairs.py): a whole integration of one ERP and one AP platform.

A system gives the suites what they need through the hooks of its Contract (base.py), declared in its own
tests folder; tests/connectors/test_contract_matrix.py runs every registered system through its suites.
"""

from tests.connectors.contracts.ap import ApContract
from tests.connectors.contracts.base import AP, CONNECTOR, ERP, Contract, contracts_of
from tests.connectors.contracts.connector import ConnectorContract
from tests.connectors.contracts.erp import ErpContract

SUITES = {CONNECTOR: ConnectorContract, ERP: ErpContract, AP: ApContract}

__all__ = ["AP", "CONNECTOR", "ERP", "SUITES", "ApContract", "ConnectorContract", "Contract", "ErpContract",
           "contracts_of"]
