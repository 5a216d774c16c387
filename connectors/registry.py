"""Every system the portal can connect to. Adding a system: one folder, one line here.

This is the only list of systems: each System names its connector and its simulator, and the connection
admin, the connection form and the sandbox hub all start from SYSTEMS."""

from contextlib import contextmanager

from connectors.acumatica.system import SYSTEM as ACUMATICA
from connectors.avidxchange.system import SYSTEM as AVIDXCHANGE
from connectors.bill.system import SYSTEM as BILL
from connectors.ifs.system import SYSTEM as IFS
from connectors.infor.system import SYSTEM as INFOR
from connectors.syspro.system import SYSTEM as SYSPRO

SYSTEMS = {s.id: s for s in (INFOR, IFS, ACUMATICA, SYSPRO, BILL, AVIDXCHANGE)}


def get_system(system_id):
    try:
        return SYSTEMS[system_id]
    except KeyError:
        raise LookupError(f"Unknown system {system_id!r}; known: {', '.join(SYSTEMS)}") from None


def choices():
    return [(s.id, s.label) for s in SYSTEMS.values()]


@contextmanager
def registered(*systems):
    """These systems in the list while the block runs, then gone: the test suite's in-memory fakes. Production
    never registers a system at run time; the line above is its list."""
    taken = [s.id for s in systems if s.id in SYSTEMS]
    if taken:
        raise ValueError(f"{', '.join(taken)} is already registered.")
    SYSTEMS.update((s.id, s) for s in systems)
    try:
        yield
    finally:
        for system in systems:
            del SYSTEMS[system.id]
