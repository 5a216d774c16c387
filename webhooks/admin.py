"""The admin of webhook subscriptions and events, scoped to the tenants the user operates through their
connection, and the webhook actions this floor adds to the connection admin."""

from django.contrib import admin, messages
from django.utils.html import format_html

from connectors.admin import ConnectionAdmin
from connectors.errors import ConnectorError
from portal import audit
from portal.admin_utils import AuditedAdminMixin, ByTenantFilter, ReadOnlyAdminMixin, TenantScopedAdminMixin
from portal.fields import CredentialsUnreadable, Undecryptable
from syncs.templatetags.status import moment
from webhooks import subscriptions, tasks
from webhooks.models import WebhookEvent, WebhookSubscription

EVENT_ID_IN_LIST = 8


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(TenantScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    tenant_path = "connection__tenant"
    list_display = ["name", "connection", "remote_id", "enabled", "notification_url", "last_checked_at",
                    "rejected_count", "last_rejected_at"]
    list_filter = ["enabled", ("connection", ByTenantFilter)]
    search_fields = ["name", "remote_id", "=id"]
    fields = ["id", "connection", "name", "remote_id", "events", "notification_url", "enabled", "key_state",
              "created_at", "last_checked_at", "disabled_since", "rejected_count", "last_rejected_at", "caught_up_at",
              "caught_up_events"]
    readonly_fields = ["id", "connection", "remote_id", "events", "notification_url", "key_state", "created_at",
                       "last_checked_at", "disabled_since", "rejected_count", "last_rejected_at", "caught_up_at",
                       "caught_up_events"]

    def has_add_permission(self, request):
        # Subscriptions are made on the system's side by the connection's "Subscribe to webhooks" action.
        return False

    @admin.display(description="Security key")
    def key_state(self, obj):
        if not obj.security_key:
            return "not set"
        if isinstance(obj.security_key, Undecryptable):
            return "stored, but cannot be decrypted with the configured keys"
        return "stored (encrypted)"


@admin.register(WebhookEvent)
class WebhookEventAdmin(TenantScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    tenant_path = "connection__tenant"
    list_display = ["received", "tenant", "connection", "event_type", "event", "outcome", "attempts"]
    # Every demo tenant's connection to a system has the same name: the tenant tells their events apart.
    list_filter = ["status", "rejection", "event_type", "signature_ok", ("received_at", admin.DateFieldListFilter),
                   "connection__tenant", ("connection", ByTenantFilter)]
    search_fields = ["=event_id"]
    list_select_related = ["connection__tenant"]

    @admin.display(description="Received (UTC)", ordering="received_at")
    def received(self, event):
        return moment(event.received_at)

    @admin.display(description="Tenant", ordering="connection__tenant__name")
    def tenant(self, event):
        return event.connection.tenant

    @admin.display(description="Event id", ordering="event_id")
    def event(self, event):
        # Event ids are long (UUIDs, say): their start tells rows apart in the list; the event's page and search
        # take it whole.
        if len(event.event_id) <= EVENT_ID_IN_LIST:
            return event.event_id or "—"
        return format_html('<span title="{}">{}…</span>', event.event_id, event.event_id[:EVENT_ID_IN_LIST])

    @admin.display(description="Status", ordering="status")
    def outcome(self, event):
        # A refused request's reason is its status in words; a signed one's signature is not worth a column.
        said = event.get_status_display()
        return f"{said}: {event.get_rejection_display().lower()}" if event.rejection else said


# --- actions on other apps' admins ----------------------------------------------------------------------
# The webhooks floor adds its actions to the connection admin: connectors must not import webhooks.


@admin.action(description="Subscribe to webhooks (payments)")
def subscribe_to_webhooks(modeladmin, request, queryset):
    for connection in queryset:
        if not connection.spec.webhook_receiver_class_path:
            modeladmin.message_user(request, f"{connection.name}: {connection.spec.label} sends no webhooks.",
                                    messages.WARNING)
            continue
        try:
            sub = subscriptions.subscribe(connection, request.user.username)
        except (ConnectorError, CredentialsUnreadable) as exc:
            modeladmin.message_user(request, f"{connection.name}: {exc}", messages.ERROR)
            continue
        modeladmin.message_user(request, f"{connection.name}: subscribed ({sub.remote_id}); {connection.spec.label} "
                                         f"posts to {sub.notification_url}")


ConnectionAdmin.actions = [*ConnectionAdmin.actions, subscribe_to_webhooks]


@admin.action(description="Rotate the security key")
def rotate_security_key(modeladmin, request, queryset):
    for sub in queryset:
        try:
            subscriptions.rotate_key(sub, request.user.username)
            modeladmin.message_user(request, f"{sub}: new security key stored.")
        except (ConnectorError, CredentialsUnreadable) as exc:
            modeladmin.message_user(request, f"{sub}: {exc}", messages.ERROR)


@admin.action(description="Check now (re-enable if its system disabled it, and fetch missed events)")
def check_now(modeladmin, request, queryset):
    outcomes = {"enabled": "enabled on {}'s side; its event history read for anything missed",
                "reenabled": "{} had disabled it; re-enabled, missed events fetched and payments polled",
                "missing": "{} no longer has it; subscribe again"}
    for sub in queryset:
        try:
            outcome = outcomes.get(subscriptions.check(sub, catch_up=True), "checked").format(
                sub.connection.spec.label)
        except (ConnectorError, CredentialsUnreadable) as exc:
            outcome = f"could not be checked: {exc}"
        audit.record("webhook.checked", actor=request.user, tenant=sub.connection.tenant, obj=sub,
                     target_id=sub.remote_id, message=f"Checked from the admin: {outcome}")
        modeladmin.message_user(request, f"{sub}: {outcome}.",
                                messages.ERROR if outcome.startswith("could not") else messages.INFO)


@admin.action(description="Process failed events again")
def replay_events(modeladmin, request, queryset):
    for event in queryset.filter(status=WebhookEvent.FAILED):
        modeladmin.message_user(request, f"{event}: {tasks.replay_event(event, request.user.username)}")


WebhookSubscriptionAdmin.actions = [rotate_security_key, check_now]
WebhookEventAdmin.actions = [replay_events]
