"""Both sides' GL accounts and dimensions as last loaded: the AP platform's for the mapping-rule picker, the ERP's
to check the codes rules are written for; and the words for a rule these lists do not bear out.

Read from the systems only when someone asks (the "Load reference data" action, or `seed_demo` for the
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
    # What earlier loads listed and this one no longer does, each as last loaded: what a rule pointing at it meant.
    former: tuple = ()

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
    """Read the connection's GL accounts and dimensions now and keep them. Raises ConnectorError."""
    with connection.connector() as system:
        accounts, dimensions = system.gl_accounts(), system.dimensions()
    options = [Option(MappingRule.GL_ACCOUNT, a.id or a.code, a.code, a.name, a.active) for a in accounts]
    options += [Option(d.kind, d.id or d.code, d.code, d.name, d.active) for d in dimensions]
    listed = {o.id for o in options}
    previous = cached(connection)
    former = {o.id: o for o in (*previous.former, *previous.options)} if previous else {}
    reference = Reference(tuple(options), timezone.now(), tuple(o for o in former.values() if o.id not in listed))
    cache.set(cache_key(connection), reference, REFERENCE_TTL.total_seconds())
    return reference


def load_both(integration):
    """Both sides' lists: the AP platform's, returned, to pick targets from; the ERP's to check rules' codes."""
    known = load(integration.target)
    load(integration.source)
    return known


def unlisted_source(rule, known, erp_name):
    """Why the ERP code a rule is written for is not one the ERP has, in words, or None: checked against `known`,
    the ERP's list as last loaded, and only for a kind of code that list holds (an ERP may not list every kind it
    codes by)."""
    if known is None:
        return None
    codes = {o.code for o in known.options if o.kind == rule.kind}
    if not codes or rule.source_code in codes:
        return None
    return (f"{rule.get_kind_display()} {rule.source_code} is not in {erp_name}'s list as loaded "
            f"{known.loaded_at:%Y-%m-%d %H:%M} UTC; correct the code, or use \"Load reference data\" if it was added "
            "since.")


def gone_target(rule, known, ap_name, label):
    """The words for a rule whose target the AP platform no longer has: the target by number and name as last
    loaded (`known`, the AP platform's list), or as the rule names it; and what to do."""
    option = None
    if known is not None:
        option = known.by_id().get(rule.target_id) or {o.id: o for o in known.former}.get(rule.target_id)
    if option is not None:
        shown = f"{option.label.removesuffix(' (archived)')} (id {rule.target_id}, as last loaded)"
    elif rule.target_label:
        shown = f"{rule.target_label} (id {rule.target_id})"
    else:
        shown = rule.target_id
    return (f"{rule.get_kind_display()} {rule.source_code} is mapped to {ap_name} {label} {shown}, which is no "
            f"longer in {ap_name}'s list: pick again under Mapping rules.")
