"""A run's plan: the steps an integration takes, built from what its two systems declare they can do.

The plan is the ordered list of steps (syncs.steps.STEPS) less those the pair cannot take part in: a step is in it
when the ERP and the AP platform each declare every capability the step requires of it, the integration's options
keep it, and the step it works with (only_with) is in it too. The engine runs exactly these steps, in this order;
the admin and the dry run show them in words. Nothing here names a system.
"""

from syncs.pair import system_name
from syncs.steps import STEPS


def takes_part(step, integration):
    erp, ap = integration.source.spec.capabilities, integration.target.spec.capabilities
    return (set(step.erp_requires) <= erp and set(step.ap_requires) <= ap and step.wanted(integration)
            and (step.only_with is None or takes_part(step.only_with, integration)))


def plan_for(integration):
    return [step for step in STEPS if takes_part(step, integration)]


def describe(integration):
    source, target = system_name(integration.source), system_name(integration.target)
    steps = plan_for(integration)
    return ("; ".join(step.phrase(source, target, integration) for step in steps) if steps
            else "nothing: these two systems share no step")
