"""The AP platform's GL accounts and dimensions, kept for the mapping-rule picker.

Read from the platform only when someone asks (the "Load reference data" action, or `seed_demo` for the
demo), then kept in the shared cache for REFERENCE_TTL, so opening a form never waits on a remote system.
A form without a list falls back to typing the id.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from syncs.models import MappingRule

REFERENCE_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class Option:
    kind: str  # a MappingRule kind
    id: str  # what a rule's target_id holds
    code: str
    name: str
    active: bool = True

    @property
    def label(self):
        number = f"{self.code} · " if self.code and self.code != self.name else ""
        return f"{number}{self.name or self.id}" + ("" if self.active else " (archived)")


@dataclass(frozen=True)
class Reference:
    options: tuple
    loaded_at: object

    def by_id(self):
        return {o.id: o for o in self.options}

    def choices(self):
        """Grouped by kind, for a select: [(kind label, [(id, label)])]."""
        kinds = dict(MappingRule.KINDS)
        grouped = {}
        for option in sorted(self.options, key=lambda o: (o.kind, not o.active, o.code, o.name)):
            grouped.setdefault(kinds.get(option.kind, option.kind), []).append((option.id, option.label))
        return list(grouped.items())


def cache_key(connection):
    return f"reference-data:{connection.pk}"


def cached(connection):
    """The AP connection's reference data as last loaded, or None."""
    return cache.get(cache_key(connection))


def load(connection):
    """Read the AP connection's GL accounts and dimensions now and keep them. Raises ConnectorError."""
    with connection.connector() as ap:
        accounts, dimensions = ap.gl_accounts(), ap.dimensions()
    options = [Option(MappingRule.GL_ACCOUNT, a.id or a.code, a.code, a.name, a.active) for a in accounts]
    options += [Option(d.kind, d.id or d.code, d.code, d.name, d.active) for d in dimensions]
    reference = Reference(tuple(options), timezone.now())
    cache.set(cache_key(connection), reference, REFERENCE_TTL.total_seconds())
    return reference
