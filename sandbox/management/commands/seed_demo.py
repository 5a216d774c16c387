"""`manage.py seed_demo`: every demo tenant set up against the simulators the same way, from its system's demo
module (`sandbox/demo.py` says what one gives), and loaded into the simulators unless they hold its data."""

import secrets

import environ
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connectors import capabilities as can
from connectors.errors import ConnectorError
from connectors.models import Connection
from connectors.registry import get_system
from portal import audit
from portal.management.commands.bootstrap_ops_user import password_box
from portal.models import Membership, Tenant
from portal.roles import OPS_GROUP
from sandbox import demo
from sandbox.bill import simulator as bill_sandbox
from syncs import reference
from syncs.engine import run_integration
from syncs.models import Cursor, Integration, MappingRule, SyncRecord
from webhooks.subscriptions import subscribe

ACTOR = "system:seed_demo"


# The demo command stands on top, like urls and settings: it sets up every floor.
class Command(BaseCommand):
    help = ("Create the demo tenants against the simulators (the main one Infor → BILL, and one for each other "
            "system with a demo), with their users (demo-ops in every one, demo-finance in the main one), and load "
            "the simulators with demo data. Safe to run again: it only fills in what is missing.")

    def add_arguments(self, parser):
        parser.add_argument("--sandbox-url", default="",
                            help="Where the simulators are served, e.g. http://127.0.0.1:8100 "
                                 "(manage.py sandbox). Default: this portal's /sandbox/ mount.")
        parser.add_argument("--only", nargs="*", metavar="SYSTEM",
                            help="Seed only these demos, by system id (infor is the main Infor → BILL demo). "
                                 "Default: every demo.")

    # `serve` passes a list to collect the passwords made here into, and shows them with its own, last.
    stealth_options = ("passwords",)

    def handle(self, *args, sandbox_url, only=None, passwords=None, **options):
        self.passwords = [] if passwords is None else passwords
        self.seed(sandbox_url, only)
        if passwords is None and self.passwords:
            self.stdout.write(self.style.WARNING(password_box(self.passwords)))

    def seed(self, sandbox_url, only):
        sandbox_url = (sandbox_url or f"{settings.PUBLIC_URL}/sandbox").rstrip("/")
        try:
            requests.get(f"{sandbox_url}/_control/state", params={"system": "bill"}, timeout=10).raise_for_status()
        except requests.RequestException as exc:
            raise CommandError(f"The simulators do not answer at {sandbox_url} ({type(exc).__name__}). Start the "
                               "portal with SANDBOX_ENABLED=1, or `manage.py sandbox --port 8100` and pass "
                               "--sandbox-url http://127.0.0.1:8100.") from None
        modules = demo.demo_modules()
        if only == []:
            raise CommandError(f"--only needs at least one demo: {', '.join(modules)}.")
        unknown = sorted(set(only or ()) - set(modules))
        if unknown:
            raise CommandError(f"No demo for {', '.join(unknown)}; demos: {', '.join(modules)}.")
        for system_id, module in modules.items():
            if only is None or system_id in only:
                self.seed_demo(sandbox_url, system_id, module)

    def seed_demo(self, sandbox_url, system_id, module):
        """One demo tenant: its simulators loaded by its demo module unless they hold its data already, its users,
        connections, integration and mapping rules, and a webhook subscription where payments come that way."""
        partner = getattr(module, "PARTNER", "bill")
        if partner == "bill":
            org_id = getattr(module, "BILL_ORGANIZATION", None) or demo.bill_organization(module.TENANT[0])
            fresh = not demo.bill_organization_seeded(sandbox_url, org_id)
            if fresh:
                module.seed(sandbox_url)
                targets = demo.seed_bill_organization(sandbox_url, org_id, module)
            else:
                targets = demo.bill_targets_from_state(sandbox_url, org_id, module)
        else:
            fresh = not module.seeded(sandbox_url)
            if fresh:
                module.seed(sandbox_url)
        with transaction.atomic():
            tenant, _ = Tenant.objects.get_or_create(slug=module.TENANT[0], defaults={"name": module.TENANT[1]})
            self.ensure_user("demo-ops", tenant, Membership.OPS, staff=True)
            if hasattr(module, "FINANCE_USER"):
                self.ensure_user(module.FINANCE_USER, tenant, Membership.FINANCE, staff=False)
            own = self.ensure_connection(tenant, module.connection(sandbox_url), system_id)
            if partner == "bill":
                other = self.ensure_connection(tenant, {
                    "base_url": f"{sandbox_url}/bill/connect", "options": {},
                    "credentials": {"sign_in": "user", "username": bill_sandbox.USERNAME,
                                    "password": bill_sandbox.PASSWORD, "organization_id": org_id,
                                    "dev_key": bill_sandbox.DEV_KEY}}, "bill")
                source, target = own, other
            else:
                other = self.ensure_connection(tenant, module.partner_connection(sandbox_url), partner)
                source, target = other, own
            integration, created = Integration.objects.get_or_create(
                tenant=tenant, name=module.INTEGRATION,
                defaults={"source": source, "target": target, "interval_minutes": 1,
                          "options": getattr(module, "INTEGRATION_OPTIONS", {})})
            if fresh and not created:
                # The simulators keep their data in memory: a restart empties them, so the ledger of the demo
                # integration describes objects that no longer exist. Start it again from scratch.
                SyncRecord.objects.filter(integration=integration).delete()
                Cursor.objects.filter(integration=integration).delete()
            if partner == "bill":
                self.ensure_rules(integration, module, targets)
            if created:
                audit.record("config.created", actor=ACTOR, tenant=tenant, obj=integration,
                             message="Demo integration created")
        if can.PAYMENTS_BY_WEBHOOK in integration.target.spec.capabilities:
            # The demo's payments arrive by webhook (polling stays as the fallback).
            subscription = subscribe(integration.target, ACTOR)
            self.stdout.write(f"{integration.target.spec.label.split(' (')[0]} webhooks for "
                              f"'{integration.name}': subscription {subscription.remote_id} posts to "
                              f"{subscription.notification_url}")
        if fresh and hasattr(module, "pay"):
            # A demo whose story needs payments (settled, then one returned) has its bills made now, so the
            # platform has something to pay; the scheduled runs then bring the payments back.
            run_integration(integration.pk, trigger="manual", actor=ACTOR)
            module.pay(sandbox_url)
        self.load_reference(integration)
        self.stdout.write(f"Demo ready: integration '{integration.name}' (id {integration.pk}) of tenant "
                          f"'{tenant.name}' runs every {integration.interval_minutes} minute(s)"
                          + (" — simulators loaded with fresh demo data." if fresh else "."))

    def load_reference(self, integration):
        """Both sides' accounts and dimensions, kept as "Load reference data" keeps them, so the demo's mapping
        rules are picked from a list, and checked against the ERP's, from the start."""
        try:
            reference.load_both(integration)
        except (ConnectorError, NotImplementedError) as exc:
            self.stdout.write(self.style.WARNING(f"{integration.name}: the accounts and dimensions were not loaded "
                                                 f"for the mapping rules ({exc}); \"Load reference data\" on the "
                                                 "integration tries again."))

    def ensure_user(self, username, tenant, role, staff):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            chosen = environ.Env().str("DEMO_PASSWORD", default="")
            password = chosen or secrets.token_urlsafe(9)
            user = User.objects.create_user(username=username, password=password, is_staff=staff)
            shown = "from DEMO_PASSWORD" if chosen else password
            # The password itself is shown once, in the box at the end, where nothing scrolls it away.
            self.stdout.write(f"Created {role} user '{username}'; its password is in the box at the end.")
            self.passwords.append((username, role, shown))
            if staff:
                user.groups.add(Group.objects.get(name=OPS_GROUP))
        # The demo's story needs these roles (demo-ops operates every demo tenant in the admin), whatever was
        # changed by hand since the last seed.
        Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
        return user

    def ensure_connection(self, tenant, spec, system_id):
        name = spec.get("name") or f"{get_system(system_id).label.split(' (')[0]} (sandbox)"
        connection, _ = Connection.objects.get_or_create(tenant=tenant, name=name, defaults={"system": system_id})
        connection.base_url = spec.get("base_url", "")
        connection.options = spec.get("options", {})
        connection.set_credentials(spec["credentials"])
        connection.save()
        return connection

    def ensure_rules(self, integration, module, targets):
        names = {("gl_account", code): name for code, name in module.GL_ACCOUNTS}
        names.update({(kind, code): name for kind, code, name in module.DIMENSIONS})
        for (kind, code), (target_kind, target_id) in targets.items():
            if (kind, code) in module.UNMAPPED:
                # A rule proposed by "Load reference data" and not confirmed goes, so the problem shows again.
                MappingRule.objects.filter(integration=integration, kind=kind, source_code=code,
                                           confirmed=False).delete()
                continue
            MappingRule.objects.update_or_create(
                integration=integration, kind=kind, source_code=code,
                defaults={"target_kind": target_kind, "target_id": target_id,
                          "source_label": names.get((kind, code), ""), "target_label": names.get((kind, code), ""),
                          "confirmed": True})
