"""The integrations, their mapping rules, the idempotency ledger (SyncRecord), the vendors' owners, the runs and the
cursors; and the words for a record's status and type and a run's status and trigger."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Length

from connectors.errors import DeferralKind
from connectors.models import Connection
from portal.models import Tenant
from syncs.pair import system_name

# What a vendor key prefix may hold: it becomes part of an id in the AP platform.
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def ap_account(connection, connector):
    """The remote account an AP connection's objects live in, as the vendors' owners and the "look up, then create"
    lock know it: the connector's lock_scope (a BILL organization, whichever connection reaches it), or the
    connection itself when the connector names none."""
    return f"{connection.system}:{getattr(connector, 'lock_scope', None) or f'connection-{connection.pk}'}"


def owned_elsewhere(vendor_key, account_label, owner_name, same_tenant):
    """Why an integration may not send a supplier whose vendor another integration owns, in words. Another tenant's
    integration is not named to this one."""
    whose = f"integration '{owner_name}'" if same_tenant else "an integration of another tenant"
    return (f"Vendor {vendor_key} in {account_label} belongs to {whose}; give this integration a vendor key prefix to "
            "keep its suppliers apart.")


# The options a run reads from an integration (syncs/steps/, `wanted`), each true or false, with what it does.
# Any other key is refused when the integration is saved: a misspelt one would be ignored without a word.
OPTIONS = {
    "require_tax_id": "true by default: a supplier without a tax id fails and is not sent",
    "acknowledge_invoices": "true by default: each invoice sent is marked as transferred, in an ERP that has the mark",
}


def options_problem(options):
    """Why an integration's options cannot be used, in words naming the known ones, or None."""
    known = "; ".join(f"{name} ({said})" for name, said in OPTIONS.items())
    if not isinstance(options, dict):
        return ('Options are a JSON object of names, each true or false, such as {"require_tax_id": false}. The known '
                f"options: {known}.")
    unknown = sorted(name for name in options if name not in OPTIONS)
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        return f"Unknown option{'s' if len(unknown) > 1 else ''} {names}. The known options: {known}."
    not_flags = sorted(name for name, value in options.items() if not isinstance(value, bool))
    if not_flags:
        return f"{', '.join(not_flags)}: true or false, without quotes."
    return None


class Integration(models.Model):
    """One flow from an ERP connection to an AP connection. Owns its schedule."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="integrations")
    name = models.CharField(max_length=100)
    source = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="integrations_as_source",
                               help_text="The ERP the invoices come from.")
    target = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="integrations_as_target",
                               help_text="The AP platform the bills go to.")
    enabled = models.BooleanField(default=True)
    paused = models.BooleanField(default=False, help_text="Paused integrations keep their schedule but skip runs.")
    # Said alike whichever check catches it. The task cluster keeps a schedule's minutes in a small integer, and one
    # it cannot turn into a time stops every schedule's pass: a week is the longest an integration waits.
    MAX_INTERVAL = 7 * 24 * 60
    INTERVAL_RULE = f"The interval is in minutes, from 1 to {MAX_INTERVAL:,} (a week)."
    interval_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1, INTERVAL_RULE), MaxValueValidator(MAX_INTERVAL, INTERVAL_RULE)])
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    options = models.JSONField(default=dict, blank=True)
    vendor_key_prefix = models.CharField(
        max_length=20, blank=True,
        help_text="Put before each supplier id in the key the AP platform finds its vendor by (IFS- makes supplier "
                  "S10001 the vendor IFS-S10001), and before each invoice id where the platform keys invoices by ours. "
                  "Needed when another integration sends suppliers with the same ids to the same AP account: each "
                  "vendor belongs to the integration that made it. Set it before the first run; it cannot change "
                  "once the integration has vendors.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__name", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="integration_name_per_tenant")]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        source = self.source if self.source_id else None
        target = self.target if self.target_id else None
        if source is not None:
            if not source.spec.is_erp:
                errors["source"] = (f"'{source.name}' is a {source.spec.label} connection; the source of an "
                                    "integration must be an ERP.")
            elif self.tenant_id and source.tenant_id != self.tenant_id:
                errors["source"] = f"'{source.name}' belongs to another tenant."
        if target is not None:
            if not target.spec.is_ap:
                errors["target"] = (f"'{target.name}' is a {target.spec.label} connection; the target of an "
                                    "integration must be an AP platform.")
            elif self.tenant_id and target.tenant_id != self.tenant_id:
                errors["target"] = f"'{target.name}' belongs to another tenant."
        for name, connection in (("source", source), ("target", target)):
            if connection is not None and name not in errors and not connection.spec.built:
                errors[name] = (f"'{connection.name}' is a {connection.spec.label} connection, and ml-connector "
                                "cannot connect to that system yet.")
        problem = self.prefix_problem(source, target if "target" not in errors else None)
        if problem:
            errors["vendor_key_prefix"] = problem
        problem = options_problem(self.options)
        if problem:
            errors["options"] = problem
        if errors:
            raise ValidationError(errors)

    def prefix_problem(self, source, target):
        """Why the vendor key prefix cannot be used, in words, or None."""
        prefix = self.vendor_key_prefix or ""
        if prefix and not PREFIX_PATTERN.fullmatch(prefix):
            return ("A vendor key prefix holds letters, digits, hyphens, underscores and dots, starting with a letter "
                    "or digit, without spaces (IFS- for example).")
        stored = (Integration.objects.filter(pk=self.pk).values_list("vendor_key_prefix", flat=True).first()
                  if self.pk else None)
        if stored is not None and stored != prefix:
            # Its vendors were made, and are found again after a crash, under the keys of the old prefix.
            vendors = self.records.filter(object_type=ObjectType.VENDOR).exclude(target_id="").count()
            if vendors:
                was = f"the prefix '{stored}'" if stored else "no prefix"
                return (f"This integration already has {vendors} vendor(s), made with {was}; changing it would orphan "
                        "them (their suppliers would be looked for under new keys and made again). Keep it, or set "
                        "the prefix on a new integration.")
        if not prefix or target is None or not target.spec.is_ap or not target.spec.built:
            return None
        length, where = target.spec.connector_class().vendor_key_limit(target)
        platform = system_name(target)
        longest = (SyncRecord.objects.filter(integration__source=source, object_type=ObjectType.VENDOR)
                   .order_by(Length("source_id").desc()).values_list("source_id", flat=True).first()
                   if source is not None else None) or ""
        if len(prefix) + len(longest) > length:
            return (f"{platform} keeps a supplier's key in {where}, {length} characters at most: with this "
                    f"prefix, supplier {longest} would need {len(prefix) + len(longest)}. Choose a shorter prefix.")
        if len(prefix) >= length:
            return (f"{platform} keeps a supplier's key in {where}, {length} characters at most: this "
                    "prefix leaves no room for the supplier id. Choose a shorter prefix.")
        return None


class MappingRule(models.Model):
    """One code in the ERP (of a kind: GL account, department…) → one object in the AP platform (of a kind,
    not always the same one: a department in the ERP may be a location in BILL)."""

    GL_ACCOUNT = "gl_account"
    DEPARTMENT = "department"
    LOCATION = "location"
    ACCOUNTING_CLASS = "class"
    PROJECT = "project"
    SUBACCOUNT = "subaccount"
    VENDOR = "vendor"
    KINDS = [(GL_ACCOUNT, "GL account"), (DEPARTMENT, "Department"), (LOCATION, "Location"),
             (ACCOUNTING_CLASS, "Accounting class"), (PROJECT, "Project"), (SUBACCOUNT, "Subaccount"),
             (VENDOR, "Vendor")]
    # A GL account stays a GL account and a vendor a vendor; a dimension may become another dimension.
    DIMENSIONS = (DEPARTMENT, LOCATION, ACCOUNTING_CLASS, PROJECT, SUBACCOUNT)

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="mapping_rules")
    kind = models.CharField("ERP kind", max_length=20, choices=KINDS,
                            help_text="What the code is in the ERP, e.g. a GL account or a department.")
    source_code = models.CharField(max_length=100, help_text="The code in the ERP, e.g. GL account 6100.")
    source_label = models.CharField(max_length=200, blank=True, help_text="Its name in the ERP.")
    target_kind = models.CharField("AP kind", max_length=20, choices=KINDS, blank=True,
                                   help_text="What it becomes in the AP platform; the same kind when left blank.")
    target_id = models.CharField(max_length=100, help_text="The id in the AP platform, e.g. 0ca… in BILL.")
    target_label = models.CharField(max_length=200, blank=True, help_text="Its name in the AP platform.")
    confirmed = models.BooleanField(default=True, help_text="Proposed rules take effect once ops confirm them.")
    problem = models.TextField(blank=True, help_text="Why the last run could not use this rule; empty when it could.")
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["integration", "kind", "source_code"]
        constraints = [models.UniqueConstraint(fields=["integration", "kind", "source_code"],
                                               name="one_rule_per_source_code")]

    def __str__(self):
        source = f"{self.get_kind_display()} {self.source_code}"
        source += f" {self.source_label}" if self.source_label else ""
        target = self.target_label or self.target_id
        kind = "" if self.target_kind == self.kind else f"{self.get_target_kind_display().lower()} "
        return f"{source} → {kind}{target}"

    def save(self, *args, **kwargs):
        self.target_kind = self.target_kind or self.kind
        super().save(*args, **kwargs)

    def kinds_problem(self):
        """Why this pair of kinds cannot be mapped, in words, or None."""
        target = self.target_kind or self.kind
        family = self.DIMENSIONS if self.kind in self.DIMENSIONS else (self.kind,)
        if target in family:
            return None
        return (f"A {self.get_kind_display().lower() if self.kind != self.GL_ACCOUNT else 'GL account'} in the ERP "
                f"cannot become a {dict(self.KINDS)[target].lower() if target != self.GL_ACCOUNT else 'GL account'} "
                "in the AP platform.")

    def clean(self):
        problem = self.kinds_problem()
        if problem:
            raise ValidationError({"target_kind": problem})

    @property
    def tenant(self):
        return self.integration.tenant


class RecordStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SYNCED = "synced", "Synced"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # Set aside by a person with a reason (a duplicate the supplier sent twice): never sent, never retried,
    # until someone undoes it.
    IGNORED = "ignored", "Ignored"
    # A payment share written back as paid, then voided, returned, escheated or reversed in the AP platform, and
    # that reversal written back too: no longer paid. A status of its own (not a flag in `data`) so that what was
    # paid and what was undone are counted on the status indexes.
    UNDONE = "undone", "Undone"


class ObjectType(models.TextChoices):
    """What a ledger row stands for, named as the AP platform holds it."""

    VENDOR = "vendor", "Vendor"
    BILL = "bill", "Bill"
    # A payment share: one payment's part in one bill, written back to the ERP.
    PAYMENT = "payment", "Payment"
    # A GL account or dimension published to the AP platform's code lists.
    CODE = "code", "Code"
    # A vendor edited in the AP platform, its change written back to the ERP's supplier.
    SUPPLIER_UPDATE = "supplier_update", "Supplier update"


class SyncRecord(models.Model):
    """The idempotency ledger: one row per synced object."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="records")
    object_type = models.CharField(max_length=30, choices=ObjectType)
    source_id = models.CharField(max_length=200)
    source_ref = models.CharField(max_length=200, blank=True,
                                  help_text="What a person calls it, e.g. the invoice number.")
    target_id = models.CharField(max_length=200, blank=True)
    # What finance searches by, as fields of their own (filled from the source record on every read).
    number = models.CharField(max_length=100, blank=True, help_text="The invoice or supplier number.")
    party = models.CharField(max_length=200, blank=True, help_text="The supplier, by number and name.")
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    document_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=RecordStatus, default=RecordStatus.PENDING)
    note = models.TextField(blank=True, help_text="Why a person set this record aside.")
    source_hash = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error_class = models.CharField(max_length=20, blank=True)
    # Why it failed (or waits), as a code of connectors.causes: the work queue groups and advises by it.
    cause = models.CharField(max_length=40, blank=True)
    # What a fix is made on, where the cause has one: the ERP's supplier id, a GL account, a currency.
    subject = models.CharField(max_length=200, blank=True)
    error_detail = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="What the record carries for write-back and replay.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["integration", "object_type", "source_id"],
                                               name="one_record_per_source_object")]
        indexes = [
            models.Index(fields=["integration", "status", "-updated_at"], name="record_status_time"),
            models.Index(fields=["status", "-updated_at"], name="record_global_status_time"),
            models.Index(fields=["integration", "object_type", "target_id"], name="record_target"),
            models.Index(fields=["integration", "number"], name="record_number"),
            models.Index(fields=["integration", "status", "cause"], name="record_status_cause"),
        ]

    def __str__(self):
        return f"{self.object_type} {self.source_ref or self.source_id}"


class FollowUpKind(models.TextChoices):
    """What a synced bill may need after it was made, each by a step of its own (syncs.steps.follow_ups)."""

    ACKNOWLEDGEMENT = "acknowledgement", "Invoice marked as transferred"
    DOCUMENTS = "documents", "Invoice images attached"


class FollowUpState(models.TextChoices):
    DONE = "done", "Done"
    # Refused for a passing reason (a locked row): the next run tries again.
    WAITING = "waiting", "Waiting"
    # Refused for good: never tried again until a person asks, from the work queue.
    REFUSED = "refused", "Refused"


class FollowUp(models.Model):
    """One follow-up of one synced bill, once a run has tried it: done, waiting or refused. A bill without a row of
    a kind has not been tried for it; a waiting one is tried again by the next run, as if it had none."""

    # The unique (record, kind) index leads with the record: it serves the foreign key as well.
    record = models.ForeignKey(SyncRecord, on_delete=models.CASCADE, related_name="follow_ups", db_index=False)
    kind = models.CharField(max_length=20, choices=FollowUpKind)
    state = models.CharField(max_length=10, choices=FollowUpState)
    # Null on a row moved from before done follow-ups kept their time (invoice images).
    done_at = models.DateTimeField(null=True, blank=True)
    detail = models.JSONField(default=list, blank=True,
                              help_text="What was attached: each invoice image's name and its id in the AP platform.")
    error = models.TextField(blank=True, help_text="Why it waits or was refused, as the system said it.")
    # A refusal's cause, as a code of connectors.causes: the work queue groups the refusals by it.
    cause = models.CharField(max_length=40, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["record", "kind"], name="one_follow_up_per_bill_and_kind")]
        indexes = [
            # The work queue's follow-up groups: the few refusals, without reading every bill.
            models.Index(fields=["kind", "cause"], condition=models.Q(state=FollowUpState.REFUSED),
                         name="follow_up_refused"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.get_state_display().lower()}"


class VendorOwner(models.Model):
    """Which integration a vendor in an AP account belongs to: the one that created or first matched it. Another
    integration sending to the same account never updates or matches it and never writes its edits back to its
    own ERP. Written in the same transaction as the ledger row that records the vendor."""

    account = models.CharField(max_length=200,
                               help_text="The AP account the vendor lives in (syncs.models.ap_account).")
    vendor_key = models.CharField(max_length=200, help_text="What the AP platform finds the vendor by: the supplier id "
                                                            "after the integration's vendor key prefix.")
    vendor_id = models.CharField(max_length=200, help_text="The vendor's id in the AP platform.")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="owned_vendors")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "vendor_key"], name="one_owner_per_vendor")]
        indexes = [models.Index(fields=["account", "vendor_id"], name="owner_by_vendor_id")]

    def __str__(self):
        return f"{self.vendor_key} in {self.account}: {self.integration}"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Completed with failed records"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # Which kind of deferral is the run's `deferral`; get_status_display() says it after this.
    DEFERRED = "deferred", "Deferred"


class Trigger(models.TextChoices):
    """What started a run."""

    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Sync now"
    COMMAND = "command", "manage.py sync"
    DRY_RUN = "dry_run", "Dry run"
    PREVIEW = "preview", "Backfill preview"
    BACKFILL = "backfill", "Backfill"
    REPLAY = "replay", "Replay of failed records"
    RESYNC = "resync", "Resync from a date"


class SyncRun(models.Model):
    """One run of an integration: its trigger, outcome and counters."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=20, choices=Trigger)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=RunStatus, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counters = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # Why a deferred run stopped to resume later; empty for any other outcome (and for runs from before it was kept).
    deferral = models.CharField(max_length=20, choices=DeferralKind, blank=True)
    # Attempts to start the integration while this run held it, counted here instead of a skipped run each.
    refused_starts = models.PositiveIntegerField(
        default=0, help_text="Attempts to start this integration refused while this run was in progress.")
    plan = models.JSONField(default=list, blank=True, help_text="For a dry run: what would be created and updated.")

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # The per-integration lock: a second run is skipped, never overlapped.
            models.UniqueConstraint(fields=["integration"], condition=models.Q(status=RunStatus.RUNNING),
                                    name="one_running_run_per_integration"),
        ]
        indexes = [
            models.Index(fields=["integration", "-started_at"], name="run_integration_time"),
            models.Index(fields=["status", "-started_at"], name="run_status_time"),
        ]

    def __str__(self):
        return f"run {self.pk} of {self.integration} ({self.get_status_display().lower()})"

    def get_status_display(self):
        """The status in words, a deferral with its kind: "Deferred (a remote system is down)"."""
        said = RunStatus(self.status).label if self.status in RunStatus.values else self.status
        if self.status == RunStatus.DEFERRED and self.deferral in DeferralKind.values:
            said = f"{said} ({DeferralKind(self.deferral).label})"
        return said


class RunLease(models.Model):
    """Which run holds an integration, until when: the run of record. The run renews it with its heartbeat and checks
    it before each write step, stopping at once when another run took it over; a run is reaped only once its lease
    has lapsed. Every change is a compare-and-set on this row (UPDATE … WHERE holder = the run), so it holds across
    processes on SQLite and PostgreSQL alike. A row of its own, so saving the integration never writes over it."""

    integration = models.OneToOneField(Integration, on_delete=models.CASCADE, primary_key=True, related_name="lease")
    holder = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    expires_at = models.DateTimeField()

    def __str__(self):
        return f"{self.integration}: run {self.holder_id or '—'} until {self.expires_at:%H:%M:%S}"


class Cursor(models.Model):
    """How far one stream of an integration has been read. `value` is the text of a typed value
    (connectors.cursors): kept whole, and parsed by `kind` before it is compared."""

    KINDS = [("timestamp", "Timestamp with zone"), ("rowversion", "Row version"), ("token", "Continuation token")]

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="cursors")
    stream = models.CharField(max_length=40)
    kind = models.CharField(max_length=12, choices=KINDS, default="timestamp")
    value = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "stream"], name="one_cursor_per_stream")]

    def __str__(self):
        return f"{self.integration} {self.stream} @ {self.value}"


class RequestState(models.TextChoices):
    REQUESTED = "requested", "Waiting for a worker"
    STARTED = "started", "Started"
    DONE = "done", "Done"
    FAILED = "failed", "Never started"


class RunRequest(models.Model):
    """A run a person asked for (Sync now, a dry run, a backfill, a replay…), kept in the database because the
    broker may lose the task that carries it (a Redis restart, a node gone before a worker took it). The task claims
    it before running (requested → started, a compare-and-set), so it runs once however many times it was queued;
    the operations task queues again the ones no worker started (syncs.requests)."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="run_requests")
    trigger = models.CharField(max_length=20, choices=Trigger)
    dry_run = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True)
    asked_by = models.CharField(max_length=150)
    asked_at = models.DateTimeField(auto_now_add=True)
    # When it was last handed to the broker, and how many times.
    queued_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(max_length=10, choices=RequestState, default=RequestState.REQUESTED)
    started_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    problem = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "queued_at"], name="request_state_queued"),
                   models.Index(fields=["integration", "-asked_at"], name="request_integration_time")]

    def __str__(self):
        return f"{self.get_trigger_display()} of {self.integration} asked by {self.asked_by} ({self.state})"
