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
from sandbox.infor import simulator as infor_sandbox
from syncs import reference
from syncs.engine import run_integration
from syncs.models import Cursor, Integration, MappingRule, SyncRecord
from webhooks.subscriptions import subscribe


# The demo command stands on top, like urls and settings: it sets up every floor.
class Command(BaseCommand):
    help = ("Create the demo tenants (Infor → BILL, and one for each other system with a demo, against the "
            "simulators; an ops and a finance user) and load the simulators with demo data. Safe to run again: it "
            "only fills in what is missing.")

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
        others = demo.demo_modules()
        if only == []:
            raise CommandError(f"--only needs at least one demo: infor, {', '.join(others)}.")
        unknown = sorted(set(only or ()) - {"infor", *others})
        if unknown:
            raise CommandError(f"No demo for {', '.join(unknown)}; demos: infor, {', '.join(others)}.")
        if only is None or "infor" in only:
            self.load_reference(self.main_demo(sandbox_url))
        for system_id, module in others.items():
            if only is None or system_id in only:
                integration = self.pair_demo(sandbox_url, module)
                self.load_reference(integration)
                self.stdout.write(f"Demo ready: integration '{integration.name}' (id {integration.pk}) of tenant "
                                  f"'{integration.tenant.name}'.")

    def main_demo(self, sandbox_url):
        fresh = not demo.sandbox_seeded(sandbox_url, bill_sandbox.ORG_ID)
        ids = demo.seed_sandboxes(sandbox_url) if fresh else demo.bill_ids_from_state(sandbox_url, bill_sandbox.ORG_ID)
        with transaction.atomic():
            integration = self.ensure_database(sandbox_url, ids, fresh)
        # The demo's payments arrive by webhook (polling stays as the fallback).
        subscription = subscribe(integration.target, "system:seed_demo")
        self.stdout.write(f"BILL webhooks: subscription {subscription.remote_id} posts to "
                          f"{subscription.notification_url}")
        self.stdout.write(f"Demo ready: integration '{integration.name}' (id {integration.pk}) runs every "
                          f"{integration.interval_minutes} minute(s)"
                          + (" — simulators loaded with fresh demo data." if fresh else "."))
        return integration

    def load_reference(self, integration):
        """Both sides' accounts and dimensions, kept as "Load reference data" keeps them, so the demo's mapping
        rules are picked from a list, and checked against the ERP's, from the start."""
        try:
            reference.load_both(integration)
        except (ConnectorError, NotImplementedError) as exc:
            self.stdout.write(self.style.WARNING(f"{integration.name}: the accounts and dimensions were not loaded "
                                                 f"for the mapping rules ({exc}); \"Load reference data\" on the "
                                                 "integration tries again."))

    def ensure_database(self, sandbox_url, ids, fresh):
        tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo Manufacturing"})
        self.ensure_user("demo-ops", tenant, Membership.OPS, staff=True)
        self.ensure_user("demo-finance", tenant, Membership.FINANCE, staff=False)
        infor, _ = Connection.objects.get_or_create(tenant=tenant, name="Infor M3 (sandbox)",
                                                    defaults={"system": "infor"})
        infor.set_credentials(infor_sandbox.ionapi_for(sandbox_url))
        infor.options = {"company": infor_sandbox.COMPANY, "division": "AAA"}
        infor.save()
        bill, _ = Connection.objects.get_or_create(tenant=tenant, name="BILL (sandbox)", defaults={"system": "bill"})
        bill.base_url = f"{sandbox_url}/bill/connect"
        bill.set_credentials({"sign_in": "user", "username": bill_sandbox.USERNAME, "password": bill_sandbox.PASSWORD,
                              "organization_id": bill_sandbox.ORG_ID, "dev_key": bill_sandbox.DEV_KEY})
        bill.save()
        integration, created = Integration.objects.get_or_create(
            tenant=tenant, name="Infor → BILL", defaults={"source": infor, "target": bill, "interval_minutes": 1})
        if fresh and not created:
            # The simulators keep their data in memory: a restart empties them, so the ledger of the demo
            # integration describes objects that no longer exist. Start it again from scratch.
            SyncRecord.objects.filter(integration=integration).delete()
            Cursor.objects.filter(integration=integration).delete()
        for code, target in ids["gl"].items():
            if code == demo.UNMAPPED_ACCOUNT:
                continue
            MappingRule.objects.update_or_create(integration=integration, kind=MappingRule.GL_ACCOUNT, source_code=code,
                                                 defaults={"target_kind": MappingRule.GL_ACCOUNT, "target_id": target,
                                                           "source_label": demo.GL_NAMES.get(code, ""),
                                                           "target_label": demo.GL_NAMES.get(code, ""),
                                                           "confirmed": True})
        for code, target in ids["departments"].items():
            MappingRule.objects.update_or_create(integration=integration, kind=MappingRule.DEPARTMENT, source_code=code,
                                                 defaults={"target_kind": MappingRule.DEPARTMENT, "target_id": target,
                                                           "source_label": demo.DEPARTMENT_NAMES.get(code, ""),
                                                           "target_label": demo.DEPARTMENT_NAMES.get(code, ""),
                                                           "confirmed": True})
        MappingRule.objects.filter(integration=integration, kind=MappingRule.GL_ACCOUNT,
                                   source_code=demo.UNMAPPED_ACCOUNT, confirmed=False).delete()
        if created:
            audit.record("config.created", actor="system:seed_demo", tenant=tenant, obj=integration,
                         message="Demo integration created")
        return integration

    def ensure_user(self, username, tenant, role, staff):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            chosen = environ.Env().str("DEMO_PASSWORD", default="")
            password = chosen or secrets.token_urlsafe(9)
            user = User.objects.create_user(username=username, password=password, is_staff=staff)
            shown = "from DEMO_PASSWORD" if chosen else password
            self.stdout.write(self.style.WARNING(f"Created {role} user '{username}', password: {shown}"))
            self.passwords.append((username, role, shown))
            if staff:
                user.groups.add(Group.objects.get(name=OPS_GROUP))
        # The demo's story needs these roles (demo-ops operates every demo tenant in the admin), whatever was
        # changed by hand since the last seed.
        Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
        return user

    def pair_demo(self, sandbox_url, module):
        """One system's demo tenant: its simulator loaded by its demo module, a BILL organization of its own
        (or its partner ERP), the integration and its mapping rules."""
        slug, name = module.TENANT
        partner = getattr(module, "PARTNER", "bill")
        if partner == "bill":
            org_id = demo.bill_organization(slug)
            fresh = not demo.sandbox_seeded(sandbox_url, org_id)
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
            tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name})
            self.ensure_user("demo-ops", tenant, Membership.OPS, staff=True)
            own = self.ensure_connection(tenant, module.connection(sandbox_url), module.__name__.split(".")[1])
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
                SyncRecord.objects.filter(integration=integration).delete()
                Cursor.objects.filter(integration=integration).delete()
            if partner == "bill":
                self.ensure_rules(integration, module, targets)
            if created:
                audit.record("config.created", actor="system:seed_demo", tenant=tenant, obj=integration,
                             message="Demo integration created")
        if can.PAYMENTS_BY_WEBHOOK in integration.target.spec.capabilities:
            subscribe(integration.target, "system:seed_demo")
        if fresh and hasattr(module, "pay"):
            # A demo whose story needs payments (settled, then one returned) has its bills made now, so the
            # platform has something to pay; the scheduled runs then bring the payments back.
            run_integration(integration.pk, trigger="manual", actor="system:seed_demo")
            module.pay(sandbox_url)
        return integration

    def ensure_connection(self, tenant, spec, system_id):
        label = get_system(system_id).label.split(" (")[0]
        connection, _ = Connection.objects.get_or_create(tenant=tenant, name=f"{label} (sandbox)",
                                                         defaults={"system": system_id})
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
                continue
            MappingRule.objects.update_or_create(
                integration=integration, kind=kind, source_code=code,
                defaults={"target_kind": target_kind, "target_id": target_id,
                          "source_label": names.get((kind, code), ""), "target_label": names.get((kind, code), ""),
                          "confirmed": True})
