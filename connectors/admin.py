import logging

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from connectors.forms import SystemChoiceForm, connection_form_for
from connectors.health import check_connection
from connectors.models import Connection
from connectors.registry import SYSTEMS, get_system
from portal.admin_utils import AuditedAdminMixin, TenantScopedAdminMixin
from portal.redaction import MASK

logger = logging.getLogger("connectors.admin")


def revoke_old_token(connection_id):
    """Revoke the token issued to the old credentials, while they are still stored (best effort)."""
    try:
        with Connection.objects.get(pk=connection_id).connector() as connector:
            connector.forget_token()
    except Exception as exc:  # never block saving new credentials on the old system's answer
        logger.warning("Could not revoke the old token of connection %s: %s", connection_id, type(exc).__name__)


@admin.register(Connection)
class ConnectionAdmin(TenantScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "tenant", "system", "health_shown", "last_checked_at"]
    list_filter = ["system", "health", "tenant"]
    search_fields = ["name", "tenant__name"]
    list_select_related = ["tenant"]
    readonly_fields = ["system_label", "credentials_preview", "health", "last_checked_at", "last_error"]
    actions = ["test_connection"]

    @admin.display(description="Health", ordering="health")
    def health_shown(self, obj):
        colour = {Connection.HEALTH_OK: "var(--message-success-bg)", Connection.HEALTH_UNKNOWN: "transparent"}.get(
            obj.health, "var(--message-error-bg)")
        since = f" ({timesince(obj.last_checked_at)} ago)" if obj.last_checked_at else ""
        title = obj.last_error or ""
        return format_html('<span style="background:{};padding:0 .4em;border-radius:4px" title="{}">{}</span>{}',
                           colour, title, obj.get_health_display(), since)

    @admin.action(description="Test connection", permissions=["change"])
    def test_connection(self, request, queryset):
        for connection in queryset:
            ok, message = check_connection(connection, actor=request.user)
            self.message_user(request, f"{connection.name}: {message}", messages.SUCCESS if ok else messages.ERROR)

    def _system_id(self, request, obj):
        if obj is not None:
            return obj.system
        return request.POST.get("system") or request.GET.get("system")

    def add_view(self, request, form_url="", extra_context=None):
        system_id = self._system_id(request, None)
        chooser = SystemChoiceForm({"system": system_id} if system_id else None)
        if not chooser.is_valid():
            context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": chooser,
                       "systems": SYSTEMS.values(), "title": "Choose the system to connect"}
            return TemplateResponse(request, "admin/connectors/connection/choose_system.html", context)
        return super().add_view(request, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = connection_form_for(self._system_id(request, obj))
        kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        spec = get_system(self._system_id(request, obj))
        credential_names = []
        for f in spec.credential_fields:
            credential_names += [f"{f.name}_file", f"{f.name}_text"] if f.kind == "document" else [f.name]
        sets = [
            (None, {"fields": ["system_label", "tenant", "name", "base_url"]}),
            ("Credentials", {"fields": credential_names + (["credentials_preview"] if obj else []),
                             "description": "Secrets are stored encrypted and never shown again."}),
        ]
        if spec.option_fields:
            sets.append(("Options", {"fields": [f.name for f in spec.option_fields]}))
        if obj:
            sets.append(("Health", {"fields": ["health", "last_checked_at", "last_error"]}))
        return sets

    def get_changeform_initial_data(self, request):
        return {k: v for k, v in super().get_changeform_initial_data(request).items() if k != "system"}

    @admin.display(description="System")
    def system_label(self, obj):
        return get_system(obj.system).label if obj and obj.system else ""

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not obj.spec.built:
            messages.warning(request, f"{obj.spec.label} is not built yet. This connection is kept and can be "
                                      "edited, but it cannot be tested or used by an integration until ml-connector "
                                      "has a connector for it.")
        if obj is not None and not obj.credentials_readable:
            messages.error(request, "The stored credentials of this connection cannot be decrypted with the "
                                    "configured keys. Enter them again, or restore the previous key.")
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="Stored credentials")
    def credentials_preview(self, obj):
        if obj is None or obj.pk is None:
            return ""
        if not obj.credentials_readable:
            return format_html('<strong style="color:#ba2121">{}</strong>',
                               "Cannot be decrypted with the configured keys.")
        secret = obj.spec.secret_keys()
        rows = [(key, f"{MASK} (set)" if key in secret and value else (value or "—"))
                for key, value in sorted(obj.credentials.items())]
        return format_html("<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    def save_model(self, request, obj, form, change):
        obj.system = form.system_spec.id
        identity_changed = set(form.changed_data) & (form.secret_field_names | {"username", "organization_id"})
        # The old session is ended where it was opened, before the connection points elsewhere.
        if change and (identity_changed or form.address_changes):
            revoke_old_token(obj.pk)
        super().save_model(request, obj, form, change)
        form.audit_address_changes(request.user)
