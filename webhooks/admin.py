from django.contrib import admin

from portal.admin_utils import ReadOnlyAdminMixin
from webhooks.models import WebhookEvent, WebhookSubscription


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "connection", "remote_id", "enabled", "notification_url", "last_checked_at"]
    list_filter = ["enabled", "connection"]
    search_fields = ["name", "remote_id", "=id"]
    fields = ["id", "connection", "name", "remote_id", "events", "notification_url", "enabled", "key_state",
              "created_at", "last_checked_at", "disabled_since"]
    readonly_fields = ["id", "connection", "remote_id", "events", "notification_url", "key_state", "created_at",
                       "last_checked_at", "disabled_since"]

    def has_add_permission(self, request):
        # Subscriptions are created on BILL by the connection's "Subscribe to webhooks" action.
        return False

    @admin.display(description="Security key")
    def key_state(self, obj):
        from portal.fields import Undecryptable

        if not obj.security_key:
            return "not set"
        if isinstance(obj.security_key, Undecryptable):
            return "stored, but cannot be decrypted with the configured keys"
        return "stored (encrypted)"


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["received_at", "connection", "event_type", "event_id", "status", "signature_ok", "attempts"]
    list_filter = ["status", "event_type", "signature_ok", ("received_at", admin.DateFieldListFilter),
                   "connection"]
    search_fields = ["=event_id"]
    list_select_related = ["connection"]
