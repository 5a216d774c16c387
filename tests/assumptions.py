"""What the assumption tests share: a connection's last report saying assumptions are contradicted, and a simulator
switched to behave the other way on one (POST /_control/variant)."""

from connectors.assumptions import CONTRADICTED


def contradict(connection, *ids):
    """Keep on the connection a report finding `ids` contradicted, as a check would."""
    connection.assumptions_report = {"state": "done", "results": [
        {"id": i, "title": "", "status": CONTRADICTED, "seen": "", "advice": ""} for i in ids]}
    connection.save()


def set_variant(sandbox, assumption_id, value, *, system):
    sandbox.control("variant", {"system": system, "assumption": assumption_id, "value": value})
