"""What every step of a run is: what it requires of each of the two systems, its phrase for the plan in words,
whether a dry run takes it, and `run(sync)`. Also what several steps share: why a record cannot be sent (Problem),
and the lock on the AP account a step sends to.

A step requires capabilities (connectors.capabilities), each with the connector methods it calls for it: the
capability test (tests/connectors/test_capabilities.py) holds every built system to declaring exactly what those
methods back. A requirement that is not a capability of that kind fails when the step is defined.
"""

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from connectors.capabilities import AP_CAPABILITIES, ERP_CAPABILITIES
from connectors.errors import Deferred, TransientError
from connectors.limits import exclusive

# How long a run waits for another run sending to the same AP account before it defers.
TARGET_LOCK_WAIT = timedelta(minutes=5)


class Step:
    """One step of a run. The engine makes one per run (`Step()`) and calls `run(sync)`; what a step keeps between
    its records (the batch's vendor owners, the invoices noticed held) lives on it for that run only."""

    # {capability: the names of the connector methods the step calls for it}, of the ERP and of the AP platform.
    # The step is in the plan only when each system declares every capability required of it.
    erp_requires = {}
    ap_requires = {}
    # Capabilities of the ERP the step uses where the ERP has them, without needing them to be in the plan: a stop on
    # one (connectors.assumptions) stops the step as one on a required capability does.
    erp_uses = ()
    # The step whose records this one works on: in the plan only together with it, wherever it runs.
    only_with = None
    # A dry run shows what would be sent; a step that changes something in one of the systems is left out.
    in_dry_run = False
    # The AP account's lock (target_lock) the engine holds around the whole step, for a step that does not take its
    # own: the follow-ups on bills take the lock the bills are sent under.
    lock = None
    # Whether the step needs the mapping rules checked against the AP platform's reference data (engine.Sync.rules)
    # before it starts. Those are read while the steps before the first that needs them run; a step that never
    # reads them (nor changes them) says False, and runs meanwhile.
    uses_mapping_rules = True
    # What the step writes to either system ("erp:suppliers", "ap:bills"), and what its source reads (`source`): a
    # step's source is read ahead of the steps before it only where none of them writes what it reads.
    writes = ()
    source_reads = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for side, required, vocabulary in (("ERP", cls.erp_requires, ERP_CAPABILITIES),
                                           ("AP platform", cls.ap_requires, AP_CAPABILITIES)):
            wrong = set(required) - vocabulary
            if wrong:
                raise TypeError(f"Step {cls.__name__} requires {', '.join(sorted(wrong))} of the {side}, which is not "
                                "a capability of one (see connectors/capabilities.py).")

    @classmethod
    def wanted(cls, integration):
        """Whether the integration's options keep the step; one a system's capabilities allow is taken unless an
        option turns it off."""
        return True

    @classmethod
    def phrase(cls, source, target, integration):
        """The step in the plan's words; `source` and `target` are the two systems' names."""
        raise NotImplementedError

    @classmethod
    def source(cls, sync):
        """What the step reads from a remote system (`source_reads`), as an iterable that reads as it is taken (its
        arguments, a cursor, taken from the database now), or None. A step that gives one has its first records read
        ahead while the steps before it run (engine.Sync.read_ahead), unless one of those writes what it reads
        (`writes`), and takes them with sync.records(self)."""
        return None

    @classmethod
    def ahead_of_bills(cls, sync, invoices):
        """Work the step can begin on these invoices while their bills are being made (sync.begin), for its own turn
        to take: none unless it says."""

    @classmethod
    def done_with_erp(cls, sync):
        """Whether the step, at its turn, will make no call to the ERP: a run whose steps still to come all say so signs
        out of the ERP meanwhile (engine.Sync.sign_out_early). A step that needs nothing of the ERP says so; one that
        does only where it knows at this moment (its reads already made ahead)."""
        return not (cls.erp_requires or cls.erp_uses)

    def run(self, sync):
        """Take the step in the run whose context (engine.Sync) is `sync`: its connectors, ledger and counters."""
        raise NotImplementedError


class Read:
    """A source's records as they are read, and when the read began where that is kept on its rows (StreamStep)."""

    def __init__(self, records, read_at=None):
        self.records, self.read_at = records, read_at

    def __iter__(self):
        return iter(self.records)


@dataclass(frozen=True)
class Problem:
    """Why a record cannot be sent: its cause (connectors.causes), what a fix is made on, and the words for a person."""

    cause: str
    subject: str
    words: str


@contextmanager
def target_lock(sync, what):
    """Serialises "look up, then create" per AP account and kind of object across every integration
    and process, so two integrations sending to one BILL organization never create the same vendor.
    Held for a whole stream: a connector may then trust what it listed earlier in the stream. A run
    that cannot get it in time is deferred, not failed: the other integration is simply busy."""
    stack = ExitStack()
    try:
        stack.enter_context(exclusive(f"{sync.account}:{what}", wait_seconds=TARGET_LOCK_WAIT.total_seconds()))
    except TransientError:
        raise Deferred(f"Another run is sending {what} to the same {sync.target_name} account; this one resumes "
                       "at its next turn.", until=timezone.now() + TARGET_LOCK_WAIT, kind="lock_wait") from None
    with stack:
        yield
