import json

from django.core.exceptions import ValidationError
from django.db import models

from connectors.registry import choices, get_system
from portal.fields import CredentialsUnreadable, GuardedEncryptedTextField, Undecryptable
from portal.models import Tenant


class Connection(models.Model):
    """One set of credentials for one external system, for one tenant."""

    HEALTH_UNKNOWN = "unknown"
    HEALTH_OK = "ok"
    HEALTH_FAILING = "failing"
    HEALTH_AUTH_FAILED = "auth_failed"
    HEALTH_UNREADABLE = "unreadable"
    HEALTH = [
        (HEALTH_UNKNOWN, "Not checked"),
        (HEALTH_OK, "OK"),
        (HEALTH_FAILING, "Failing"),
        (HEALTH_AUTH_FAILED, "Credentials rejected"),
        (HEALTH_UNREADABLE, "Credentials cannot be decrypted"),
    ]

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="connections")
    # A callable, so a new system in the registry needs no migration.
    system = models.CharField(max_length=20, choices=choices)
    name = models.CharField(max_length=100)
    base_url = models.URLField(blank=True, max_length=300)
    # One encrypted JSON document: leaf-by-leaf encryption would leave key names readable and
    # turn numbers into strings, and a wrong key would hand back ciphertext as if it were a value.
    credentials_blob = GuardedEncryptedTextField(null=True, blank=True, editable=False)
    options = models.JSONField(default=dict, blank=True)
    health = models.CharField(max_length=20, choices=HEALTH, default=HEALTH_UNKNOWN)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The last "Check assumptions" (connectors.assumptions.run_check): its progress while it runs, then when, who
    # and each assumption's status. The connectors' fallbacks and the engine's stops read it.
    assumptions_report = models.JSONField(default=dict, blank=True, editable=False)
    # {assumption id: {"by", "at"}}: contradicted assumptions ops confirmed the runs may go on with.
    assumption_overrides = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__name", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="connection_name_per_tenant")]

    def __str__(self):
        return f"{self.name} ({self.get_system_display()})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        if getattr(self, "_credentials_changed", False):
            # A session or token obtained with the old credentials must not outlive them.
            ConnectionToken.objects.filter(connection=self).update(value=None, expires_at=None)
            self._credentials_changed = False

    def clean(self):
        problem = self.tenant_move_problem()
        if problem:
            raise ValidationError({"tenant": problem})

    def tenant_move_problem(self):
        """Why this connection may not move to the tenant it now names, in words, or None. What uses it belongs to
        its tenant: moved, the other tenant's operators would see its webhook subscriptions and events, and the
        integrations would run on another tenant's connection."""
        stored = (Connection.objects.filter(pk=self.pk).select_related("tenant").first()
                  if self.pk and self.tenant_id else None)
        if stored is None or stored.tenant_id == self.tenant_id:
            return None
        integrations = sorted({*stored.integrations_as_source.values_list("name", flat=True),
                               *stored.integrations_as_target.values_list("name", flat=True)})
        named = ", ".join(f"'{name}'" for name in integrations)
        uses = [f"integration {named} uses it" if len(integrations) == 1 else f"integrations {named} use it"
                ] if integrations else []
        for what, count in (("webhook subscription", stored.webhook_subscriptions.count()),
                            ("webhook event", stored.webhook_events.count())):
            if count:
                uses.append(f"it has {count} {what}{'s' if count > 1 else ''}")
        if not uses:
            return None
        return (f"This connection belongs to {stored.tenant.name} and cannot move to another tenant: "
                f"{' and '.join(uses)}. Add a new connection in the other tenant instead.")

    @property
    def spec(self):
        return get_system(self.system)

    @property
    def credentials_readable(self):
        return not isinstance(self.credentials_blob, Undecryptable)

    @property
    def credentials(self):
        """The decrypted credentials. Raises CredentialsUnreadable rather than return ciphertext."""
        blob = self.credentials_blob
        if isinstance(blob, Undecryptable):
            raise CredentialsUnreadable(
                f"The stored credentials of connection '{self.name}' cannot be decrypted with the configured "
                "keys (SECRET_KEY / SALT_KEY changed or rotated without re-encryption). Restore the old key "
                "as a fallback, or enter the credentials again."
            )
        return json.loads(blob) if blob else {}

    def set_credentials(self, values):
        if self.pk and self.credentials_readable and self.credentials_blob and self.credentials != values:
            self._credentials_changed = True
        self.credentials_blob = json.dumps(values, sort_keys=True)

    def assumption_contradicted(self, assumption_id):
        """Whether the last assumption check found `assumption_id` contradicted on this system: a connector with a
        safe alternative takes it then."""
        from connectors.assumptions import contradicted_ids

        return assumption_id in contradicted_ids(self)

    def connector(self):
        """The connector for this connection, built from the registry."""
        return self.spec.connector_class()(self)


class ConnectionToken(models.Model):
    """The cached session or bearer token of a connection, shared by every worker process."""

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, primary_key=True,
                                      related_name="token")
    value = GuardedEncryptedTextField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    generation = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"token of {self.connection_id}"


class RateWindow(models.Model):
    """Calls made in one fixed window for one rate-limit key, shared by every worker process."""

    key = models.CharField(max_length=100)
    window_start = models.BigIntegerField(help_text="Unix seconds at which the window opened.")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="one_rate_window")]

    def __str__(self):
        return f"{self.key}@{self.window_start}: {self.count}"
