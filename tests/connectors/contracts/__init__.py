"""The contract suites every system and pair is held to, each run by one subclass line.

- ConnectorContract (connector.py): the transport — auth, token reuse, paging, 429, 5xx, timeouts,
  malformed bodies. Its subclass supplies a few hooks.
- ErpContract (erp.py) and ApContract (ap.py): what the engine relies on from each kind of system,
  checked against the canonical seed (connectors/canonical.py) that every simulator loads. The
  subclass sets `system`.
- PairContract (tests/syncs/test_pairs.py): a whole integration of one ERP and one AP platform.
"""

from tests.connectors.contracts.ap import ApContract
from tests.connectors.contracts.connector import ConnectorContract
from tests.connectors.contracts.erp import ErpContract

__all__ = ["ApContract", "ConnectorContract", "ErpContract"]
