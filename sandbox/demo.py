"""What every demo shares: finding the demo modules, and the BILL organization a demo shown with BILL gets.

A system has a demo tenant when its folder has a `demo` module (`sandbox/<system id>/demo.py`, the system being
in the registry); `seed_demo` finds every one by that name and sets each up the same way, and
`seed_demo --only <system id>` picks one. The Infor → BILL demo of the README is `sandbox/infor/demo.py`.

A demo module gives:
- TENANT: (slug, name) of its demo tenant. The ops user `demo-ops` is a member of every demo tenant.
- INTEGRATION: the name of its integration, which runs every minute; unique among the demos.
- seed(sandbox_url): loads the demo data, with its problems, into the simulators served at `sandbox_url`.
  Called only when the data is not there yet (after a restart the simulators are empty); the integration's
  ledger (records and cursors) is then emptied, since it describes objects that no longer exist.
- connection(sandbox_url): this system's connection, {"base_url", "credentials", "options"}, and "name" if it
  is not the system's label without its parenthesis and " (sandbox)", e.g. "BILL (sandbox)".
- PARTNER: the system at the other end, "bill" unless given.
  With BILL the module's system is the source (an ERP), and the demo gets a BILL organization of its own,
  loaded from:
  - GL_ACCOUNTS: [(code, name)], the chart of accounts, the same in both systems;
  - DIMENSIONS: [(kind, code, name)], kind one of BILL_DIMENSIONS' keys, each a BILL department, location or
    accounting class named "<code> <name>" (BILL has no subaccounts or projects: they become classes);
  - UNMAPPED: {(kind, code)}, the codes left without a mapping rule, the demo's unmapped-code problem; a
    proposed rule for one, not confirmed, is removed on every seed, so the problem shows again;
  - BILL_ORGANIZATION, optional: the BILL simulator organization to use instead of one of its own
    (bill_organization() of TENANT's slug). Whether that organization has a chart of accounts says whether
    the demo is loaded already.
  With another partner the module's system is the target (an AP platform) and the partner the source; it gives
  partner_connection(sandbox_url), the partner's connection in the same shape, and seeded(sandbox_url),
  whether seed() has loaded the data already.
- INTEGRATION_OPTIONS, optional: the options the integration is created with ({} unless given).
- FINANCE_USER, optional: the username of a finance user of its tenant (the status page only).
- pay(sandbox_url), optional: for a story that needs payments. When seed() has just loaded the data, the
  integration runs once and pay() then has the AP platform pay some of the bills it made; the scheduled runs
  bring the payments back.
- WALKTHROUGH, optional: what to try, in words, for people; seed_demo does not read it.

Nothing in a demo module says how payments come back: a target whose system declares payments by webhook
(capabilities.PAYMENTS_BY_WEBHOOK) gets a webhook subscription on every seed, and polling stays the fallback.
"""

import importlib

import requests

from connectors.registry import SYSTEMS
from sandbox.bill import simulator as bill_sandbox

# BILL has no subaccounts or projects: those dimensions are carried as accounting classes.
BILL_DIMENSIONS = {"department": "departments", "location": "locations", "class": "accounting_classes",
                   "subaccount": "accounting_classes", "project": "accounting_classes"}
BILL_KINDS = {"departments": "department", "locations": "location", "accounting-classes": "class"}


def demo_modules():
    """{system id: its demo module} for every system in the registry that has one, in the registry's order."""
    found = {}
    for system_id in SYSTEMS:
        try:
            found[system_id] = importlib.import_module(f"sandbox.{system_id}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"sandbox.{system_id}.demo":
                raise
    return found


def bill_organization(slug):
    """The BILL simulator organization of a demo tenant: an id in BILL's shape (008 + 14 characters)."""
    return ("008" + "".join(c for c in slug.upper() if c.isalnum()) + "0" * 14)[:17]


def bill_organization_seeded(sandbox_url, org_id):
    state = requests.get(f"{sandbox_url}/_control/state", params={"system": "bill"}, timeout=30).json()
    return bool(state["organizations"].get(org_id, {}).get("chart-of-accounts"))


def seed_bill_organization(sandbox_url, org_id, module):
    """A BILL organization with the demo ERP's accounts and dimensions, and a user to sign in with. Returns
    {(kind, code): (BILL kind, BILL id)}."""
    if org_id != bill_sandbox.ORG_ID:  # the simulator's own organization has that user from the start
        requests.post(f"{sandbox_url}/_control/bill/account", timeout=30, json={
            "organizationId": org_id, "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD}
        ).raise_for_status()
    payload = {"organizationId": org_id,
               "chart_of_accounts": [{"name": name, "account": {"type": "EXPENSE", "number": code}}
                                     for code, name in module.GL_ACCOUNTS]}
    for kind, code, name in module.DIMENSIONS:
        payload.setdefault(BILL_DIMENSIONS[kind], []).append({"name": f"{code} {name}"})
    response = requests.post(f"{sandbox_url}/_control/bill/seed", json=payload, timeout=60)
    response.raise_for_status()
    return bill_targets(response.json(), module)


def bill_targets(created, module):
    targets = {("gl_account", a["account"]["number"]): ("gl_account", a["id"])
               for a in created.get("chart-of-accounts", [])}
    by_name = {(BILL_KINDS[kind], d["name"]): d["id"] for kind in BILL_KINDS for d in created.get(kind, [])}
    for kind, code, name in module.DIMENSIONS:
        bill_kind = BILL_KINDS[BILL_DIMENSIONS[kind].replace("_", "-")]
        if (bill_kind, f"{code} {name}") in by_name:
            targets[(kind, code)] = (bill_kind, by_name[(bill_kind, f"{code} {name}")])
    return targets


def bill_targets_from_state(sandbox_url, org_id, module):
    org = requests.get(f"{sandbox_url}/_control/state", params={"system": "bill"}, timeout=30).json()[
        "organizations"].get(org_id)
    return bill_targets(org or {}, module)
