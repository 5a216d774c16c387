"""Checking what the connectors assume about a customer's live system, read-only, before the first write.

docs/ASSUMPTIONS.md is the catalogue: each assumption has an id (I5, F1, B10…), a section per system and the
question to ask under **Confirm**. An assumption that can be checked without writing anything has a probe, declared
with `@probe` beside the code that relies on it (where its UNCONFIRMED mark is). `check(connection)` runs the
probes of the connection's system and reports every assumption of that system as one of the following, leaving out
those about our simulator and those with neither a probe nor a question:

- held: the live system behaves as assumed (what was seen says how we know);
- contradicted: it does not. The probe says what changes: a safe alternative the connector then takes by itself
  (`fallback`), or the capabilities whose steps stop before their first write (`stops`) until ops confirm an
  override on the connection;
- could not be checked: the probe could not tell (no data to look at, a refusal), with the question to ask;
- ask the customer: no read-only probe exists; the question from the catalogue.

The last report is kept on the connection (Connection.assumptions_report): the connectors and the engine read their
switches from it, so a contradiction found on Monday changes Monday's runs.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from connectors.capabilities import CAPABILITY_PHRASES
from connectors.errors import AuthError, ConnectorError, TransientError

logger = logging.getLogger("connectors.assumptions")

HELD = "held"
CONTRADICTED = "contradicted"
UNCHECKED = "could_not_check"
ASK = "ask_customer"
STATUS_WORDS = {HELD: "held", CONTRADICTED: "contradicted", UNCHECKED: "could not be checked",
                ASK: "ask the customer"}

CATALOGUE = Path(settings.BASE_DIR) / "docs" / "ASSUMPTIONS.md"
# The catalogue's system sections by their heading's first word; the cross-cutting section is about our own code
# (overlaps, the benches), which no customer system can confirm.
SECTIONS = {"BILL": "bill", "Infor": "infor", "IFS": "ifs", "Acumatica": "acumatica", "SYSPRO": "syspro",
            "AvidXchange": "avidxchange"}


@dataclass(frozen=True)
class Finding:
    """What a probe saw: its status (HELD, CONTRADICTED or UNCHECKED) and, in words, what it was."""

    status: str
    seen: str


def held(seen):
    return Finding(HELD, seen)


def contradicted(seen):
    return Finding(CONTRADICTED, seen)


def unchecked(why):
    return Finding(UNCHECKED, why)


@dataclass(frozen=True)
class Probe:
    id: str
    system: str
    check: object  # check(connector) -> Finding; reads only
    # What the connector does by itself once the assumption is contradicted, in words; blank when it cannot.
    fallback: str = ""
    # The capabilities (connectors.capabilities) whose steps stop before their first write while the assumption
    # stands contradicted and no override is confirmed; for an assumption without a safe alternative.
    stops: tuple = field(default=())

    def __post_init__(self):
        if bool(self.fallback) == bool(self.stops):
            raise ValueError(f"Probe {self.id}: say either what the connector does instead (fallback) or which "
                             "capabilities stop (stops), not both nor neither.")

    @property
    def consequence(self):
        if self.fallback:
            return f"Changed behaviour: {self.fallback}."
        return (f"Stopped before writing, until ops confirm an override on the connection: the steps by which "
                f"{stop_phrase(self.stops)}.")


PROBES = {}


def stop_phrase(capabilities):
    """"payments are written back and suppliers are read": what a stop holds back, in words."""
    return " and ".join(CAPABILITY_PHRASES.get(c, c) for c in capabilities)


def probe(assumption_id, system, *, fallback="", stops=()):
    """Declare `check(connector) -> Finding` as the read-only probe of the catalogue's assumption `assumption_id`."""

    def register(check):
        if assumption_id in PROBES and PROBES[assumption_id].check.__qualname__ != check.__qualname__:
            raise ValueError(f"Assumption {assumption_id} has a probe already: {PROBES[assumption_id].check}")
        PROBES[assumption_id] = Probe(assumption_id, system, check, fallback, tuple(stops))
        return check

    return register


def probes_for(system_id):
    """The probes of one system: its connector and webhook modules (and what they import, where the probes are)
    loaded first."""
    from connectors.registry import get_system

    spec = get_system(system_id)
    if spec.built:
        spec.connector_class()
        spec.webhook_receiver()
    return [p for p in PROBES.values() if p.system == system_id]


# "- **Confirm:**", "- **Confirm (customer / IFS):**": the question to ask. Not "- **Confirmed by:**" nor
# "- **Confirmed (M3H5):**", which say what a source already settled.
CONFIRM_LINE = re.compile(r"- \*\*Confirm(?: \([^)]*\))?:\*\*")
# An entry about our simulator, which no customer system can confirm: its heading's status says "(simulator only)",
# or its "We assume" line does.
SIMULATOR_ONLY = "simulator only"


@dataclass(frozen=True)
class Entry:
    id: str
    system: str
    title: str
    confirm: str  # the catalogue's question(s), in one line

    @property
    def asks(self):
        """Whether the entry has a question: "Confirm: nothing beyond B5." and "nothing to ask." have none."""
        question = re.sub(r"^Confirm(?: \([^)]*\))?:", "", self.confirm).strip()
        return bool(question) and not question.lower().startswith("nothing")


@cache
def catalogue():
    """{id: Entry} of every assumption about a customer's system in docs/ASSUMPTIONS.md (those about our simulator
    are left out)."""
    entries, system, current, confirm, simulated = {}, None, None, [], False

    def close():
        if current is not None and not simulated:
            entries[current.id] = Entry(current.id, current.system, current.title, " ".join(confirm))

    for line in CATALOGUE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            close()
            current, confirm = None, []
            system = SECTIONS.get(line[3:].split()[0])
        elif line.startswith("### ") and system:
            close()
            m = re.match(r"### (\w+)\. (.*?)(?: — (.*))?$", line)
            current, confirm, simulated = Entry(m[1], system, m[2].strip(), ""), [], SIMULATOR_ONLY in (m[3] or "")
        elif current is not None and line.startswith(f"- **We assume ({SIMULATOR_ONLY}):**"):
            simulated = True
        elif current is not None and CONFIRM_LINE.match(line):
            confirm.append(re.sub(r"\*\*|`", "", line[2:]).strip())
    close()
    return entries


def entries_for(system_id):
    return [e for e in catalogue().values() if e.system == system_id]


def check(connection, progress=None):
    """Run every probe of the connection's system against it (reads only) and return the report's results: one
    {"id", "title", "status", "seen", "advice"} per assumption of the system probed or with a question to ask, in
    catalogue order.
    `progress(done, total)` is told after each probe. Raises ConnectorError when the system cannot be reached or
    refuses the credentials: then nothing could be checked."""
    probes = {p.id: p for p in probes_for(connection.system)}
    entries = entries_for(connection.system)
    results, done = [], 0
    with connection.connector() as connector:
        try:
            connector.check()
        except (AuthError, TransientError):
            raise  # nothing can be read: the check cannot run
        except ConnectorError as exc:
            # The system answered but refused the connection's own check (an endpoint version it does not serve):
            # the probes say which assumption that contradicts.
            logger.info("connection %s: check refused (%s); probing all the same", connection.pk, exc)
        for entry in entries:
            found = probes.get(entry.id)
            if found is None:
                # Without a probe and with nothing to ask (settled by the vendor's documentation, or showing only
                # on a write), a row would tell ops nothing.
                if entry.asks:
                    results.append(result(entry, ASK, "", entry.confirm))
                continue
            finding = run_probe(found, connector)
            advice = {HELD: "", CONTRADICTED: found.consequence,
                      UNCHECKED: entry.confirm or "Check again later."}[finding.status]
            results.append(result(entry, finding.status, finding.seen, advice))
            done += 1
            if progress is not None:
                progress(done, len(probes))
    return results


def result(entry, status, seen, advice):
    return {"id": entry.id, "title": entry.title, "status": status, "seen": seen, "advice": advice}


def run_probe(found, connector):
    try:
        finding = found.check(connector)
    except ConnectorError as exc:
        return unchecked(f"The system refused or failed the probe's read: {exc}")
    except Exception as exc:  # a probe's own bug must not cost the other probes
        logger.exception("probe %s failed", found.id)
        return unchecked(f"The probe failed ({type(exc).__name__}); see the worker log.")
    if not isinstance(finding, Finding):
        raise TypeError(f"Probe {found.id} answered {finding!r}, not a Finding.")
    return finding


def report(results, actor, error=""):
    """The report kept on the connection."""
    return {"checked_at": timezone.now().isoformat(), "checked_by": actor, "state": "failed" if error else "done",
            "error": error, "results": results}


def contradicted_ids(connection):
    """The ids the last completed check found contradicted: a check running, or one that could not run, keeps the
    results before it (run_check), so a failed re-check lifts no stop."""
    return {r["id"] for r in (connection.assumptions_report or {}).get("results", ()) if r["status"] == CONTRADICTED}


def advice_now(row, overrides):
    """A reported row's advice as it stands: the kept advice of a contradiction that stops steps says they stop until
    ops confirm an override; once `overrides` (Connection.assumption_overrides) holds one, they run under it."""
    override = overrides.get(row["id"]) if row["status"] == CONTRADICTED else None
    found = PROBES.get(row["id"])
    if not override or found is None or not found.stops:
        return row["advice"]
    return (f"The steps by which {stop_phrase(found.stops)} run under the override confirmed by {override['by']} on "
            f"{datetime.fromisoformat(override['at']):%Y-%m-%d %H:%M} UTC, although the check finds the assumption "
            "contradicted.")


def stopped_capabilities(connection):
    """{capability: [assumption ids]} this connection's last report stops, less the overrides ops confirmed."""
    stopped = {}
    overridden = set(connection.assumption_overrides or {})
    for assumption_id in sorted(contradicted_ids(connection) - overridden):
        found = PROBES.get(assumption_id)
        for capability in (found.stops if found else ()):
            stopped.setdefault(capability, []).append(assumption_id)
    return stopped


def run_check(connection, actor):
    """Check the connection's assumptions, keeping the progress and then the report on it, audited with `actor`.
    Returns the report; its state is "failed", with the reason in words, when the system could not be asked."""
    from portal import audit
    from portal.redaction import redact

    def keep(**state):
        type(connection).objects.filter(pk=connection.pk).update(assumptions_report=state)
        connection.assumptions_report = state

    from connectors.health import EXPECTED, in_words

    started = timezone.now().isoformat()
    previous = (connection.assumptions_report or {}).get("results", [])
    keep(state="running", checked_at=started, checked_by=audit.actor_name(actor), done=0,
         total=len(probes_for(connection.system)), results=previous)
    try:
        results = check(connection, progress=lambda done, total: keep(
            state="running", checked_at=started, checked_by=audit.actor_name(actor), done=done, total=total,
            results=previous))
        error = ""
    except Exception as exc:  # unreachable, credentials refused or unreadable, a connector that cannot load
        if not isinstance(exc, EXPECTED):
            logger.exception("assumption check of connection %s failed", connection.pk)
        results, error = previous, f"The check could not run: {in_words(connection, exc)}"
    kept = report(results, audit.actor_name(actor), redact(error))
    keep(**kept)
    lapsed = [] if error else lapse_overrides(connection)
    counts = {status: sum(r["status"] == status for r in results) for status in STATUS_WORDS} if not error else {}
    message = error or "; ".join(f"{n} {STATUS_WORDS[s]}" for s, n in counts.items() if n)
    if lapsed:
        message += f"; overrides no longer needed, withdrawn: {', '.join(lapsed)}"
    audit.record("connection.assumptions_checked", actor=actor, tenant=connection.tenant, obj=connection,
                 message=message, details={"contradicted": sorted(contradicted_ids(connection)),
                                           "overrides_withdrawn": lapsed})
    return kept


def lapse_overrides(connection):
    """Withdraw the overrides of assumptions the check just completed no longer finds contradicted: an override
    answers one contradiction, so the same assumption found contradicted again later stops its steps again until
    ops look at it afresh. Returns the ids withdrawn."""
    overrides = dict(connection.assumption_overrides or {})
    lapsed = sorted(set(overrides) - contradicted_ids(connection))
    if lapsed:
        for assumption_id in lapsed:
            del overrides[assumption_id]
        type(connection).objects.filter(pk=connection.pk).update(assumption_overrides=overrides)
        connection.assumption_overrides = overrides
    return lapsed
