"""Each vendor in an AP account belongs to one integration, and an integration may put a prefix before its vendor keys.

- `Integration.vendor_key_prefix` (blank for every existing integration: their keys stay as they are).
- `VendorOwner`: which integration owns a vendor, by AP account and vendor key. Today's owners are recorded from the
  ledger: each vendor belongs to the integration whose supplier row recorded it first, so a single integration per
  account goes on exactly as before. Account and key are computed by the target connection's connector, as a run
  computes them; a connection whose connector cannot be built here (credentials unreadable with these keys, say)
  has its vendors recorded under the connection itself.
- Where two integrations had taken one vendor (the same supplier id from two ERPs), the later one's supplier row
  fails with the reason, as a run would fail it now: its invoices stop going to the other's vendor, and its vendor
  edits are no longer written back to its ERP.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

# The connection's columns the connector is built from.
CONNECTION_FIELDS = ("id", "tenant_id", "system", "name", "base_url", "options", "credentials_blob")


def account_and_key(connection):
    """(account, vendor key function, the account in words) of a target connection, as the engine finds them
    (syncs.models.ap_account, the connector's vendor_key with no prefix, and its account_label)."""
    from connectors.errors import ConfigurationError
    from connectors.models import Connection
    from portal.fields import CredentialsUnreadable
    from syncs.models import ap_account

    # The connector is the registry's, built from today's code on an unsaved copy of the row, as a run builds it.
    live = Connection(**{name: getattr(connection, name) for name in CONNECTION_FIELDS})
    try:
        with live.connector() as connector:
            return ap_account(live, connector), connector.vendor_key, connector.account_label
    except (CredentialsUnreadable, ConfigurationError):
        return ap_account(live, None), str, f"the account of connection '{live.name}'"


def record_owners(apps, schema_editor):
    from syncs.models import owned_elsewhere

    SyncRecord = apps.get_model("syncs", "SyncRecord")
    VendorOwner = apps.get_model("syncs", "VendorOwner")
    Integration = apps.get_model("syncs", "Integration")
    Connection = apps.get_model("connectors", "Connection")
    rows = (SyncRecord.objects.filter(object_type="vendor").exclude(target_id="").order_by("created_at", "pk")
            .values_list("pk", "integration_id", "integration__target_id", "source_id", "target_id"))
    targets = Connection.objects.filter(pk__in=rows.values("integration__target_id"))
    accounts = {connection.pk: account_and_key(connection) for connection in targets}
    owners, taken = {}, []
    for pk, integration_id, target_id, source_id, vendor_id in rows.iterator():
        account, key, label = accounts[target_id]
        owner, _ = owners.setdefault((account, key(source_id)), (integration_id, vendor_id))
        if owner != integration_id:
            taken.append((pk, key(source_id), label, owner, integration_id))
    VendorOwner.objects.bulk_create([VendorOwner(account=account, vendor_key=key, integration_id=integration_id,
                                                 vendor_id=vendor_id)
                                     for (account, key), (integration_id, vendor_id) in owners.items()],
                                    batch_size=1000, ignore_conflicts=True)
    integrations = {i.pk: i for i in Integration.objects.filter(pk__in={i for t in taken for i in t[3:]})}
    for pk, vendor_key, label, owner_id, integration_id in taken:
        owner, integration = integrations[owner_id], integrations[integration_id]
        SyncRecord.objects.filter(pk=pk).update(
            status="failed", error_class="configuration", updated_at=timezone.now(),
            error_detail=owned_elsewhere(vendor_key, label, owner.name, owner.tenant_id == integration.tenant_id))


class Migration(migrations.Migration):

    dependencies = [
        ("connectors", "0003_system_choices_from_registry"),
        ("syncs", "0006_follow_up_refusal_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="integration",
            name="vendor_key_prefix",
            field=models.CharField(
                blank=True, max_length=20,
                help_text="Put before each supplier id in the key the AP platform finds its vendor by (IFS- makes "
                          "supplier S10001 the vendor IFS-S10001), and before each invoice id where the platform keys "
                          "invoices by ours. Needed when another integration sends suppliers with the same ids to the "
                          "same AP account: each vendor belongs to the integration that made it. Set it before the "
                          "first run; it cannot change once the integration has vendors."),
        ),
        migrations.CreateModel(
            name="VendorOwner",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("account", models.CharField(help_text="The AP account the vendor lives in (syncs.models.ap_account).",
                                             max_length=200)),
                ("vendor_key", models.CharField(help_text="What the AP platform finds the vendor by: the supplier id "
                                                          "after the integration's vendor key prefix.",
                                                max_length=200)),
                ("vendor_id", models.CharField(help_text="The vendor's id in the AP platform.", max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("integration", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                  related_name="owned_vendors", to="syncs.integration")),
            ],
            options={
                "indexes": [models.Index(fields=["account", "vendor_id"], name="owner_by_vendor_id")],
                "constraints": [models.UniqueConstraint(fields=("account", "vendor_key"), name="one_owner_per_vendor")],
            },
        ),
        migrations.RunPython(record_owners, migrations.RunPython.noop),
    ]
