import logging
from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from connectors import assumptions
from connectors.capabilities import CAPABILITY_PHRASES
from connectors.forms import SystemChoiceForm, connection_form_for
from connectors.health import check_connection
from connectors.models import Connection
from connectors.registry import SYSTEMS, get_system
from portal import audit, jobs
from portal.admin_utils import AuditedAdminMixin, TenantScopedAdminMixin
from portal.redaction import MASK
from syncs.reasons import readable

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
    readonly_fields = ["system_label", "credentials_preview", "health", "last_checked_at", "last_error",
                       "assumptions_summary"]
    change_form_template = "admin/connectors/connection/change_form.html"
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

    def get_urls(self):
        own = [
            path("<int:pk>/check-assumptions/", self.admin_site.admin_view(self.check_assumptions_view),
                 name="connectors_connection_check_assumptions"),
            path("<int:pk>/assumptions/", self.admin_site.admin_view(self.assumptions_view),
                 name="connectors_connection_assumptions"),
            path("<int:pk>/assumptions/<str:assumption_id>/override/",
                 self.admin_site.admin_view(self.override_view), name="connectors_connection_override"),
        ]
        return own + super().get_urls()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if change and not self.has_change_permission(request, obj):
            # Read only: the fields are shown from the model (get_fieldsets), none is a form field.
            kwargs.update(form=forms.ModelForm, fields=[])
        else:
            kwargs.update(form=connection_form_for(self._system_id(request, obj)), fields=None)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        spec = get_system(self._system_id(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            # What a person who may only look sees: no form field, the credentials as stored (masked).
            return [(None, {"fields": ["system_label", "tenant", "name", "base_url"]}),
                    ("Credentials", {"fields": ["credentials_preview"]}), ("Options", {"fields": ["options"]}),
                    ("Health", {"fields": ["health", "last_checked_at", "last_error"]}),
                    ("Assumptions", {"fields": ["assumptions_summary"]})]
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
            sets.append(("Assumptions", {"fields": ["assumptions_summary"]}))
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

    @admin.display(description="Last assumption check")
    def assumptions_summary(self, obj):
        kept = obj.assumptions_report or {}
        page = reverse("admin:connectors_connection_assumptions", args=[obj.pk])
        if not kept:
            return "Never checked. “Check assumptions” above asks the system, read-only, what we assume of it."
        if kept["state"] == "running":
            return format_html('Running since {} ({} of {} probes done). <a href="{}">Follow it</a>.',
                               when(kept["checked_at"]), kept.get("done", 0), kept.get("total", 0), page)
        if kept["state"] == "failed":
            return format_html('{}, asked by {}: {} <a href="{}">See the report</a>.',
                               when(kept["checked_at"]), kept["checked_by"], readable(kept["error"]), page)
        return format_html('{}, asked by {}: {}. <a href="{}">See the report</a>.', when(kept["checked_at"]),
                           kept["checked_by"], counted(kept["results"]), page)

    # --- the assumption check ---------------------------------------------------------------------------------
    def operated_connection(self, request, pk, change=False):
        """The connection a page of ours shows or acts on: 404 outside the tenants the user operates, 403 without
        the right to see it (or, to act on it, to change it)."""
        connection = get_object_or_404(self.get_queryset(request), pk=pk)
        allowed = (self.has_change_permission(request, connection) if change
                   else self.has_view_or_change_permission(request, connection))
        if not allowed:
            raise PermissionDenied
        return connection

    def check_assumptions_view(self, request, pk):
        """Queued, not run here: the probes read the live system and take a while; the report page follows them."""
        if request.method != "POST":
            raise Http404
        connection = self.operated_connection(request, pk, change=True)
        queued = int(timezone.now().timestamp())
        jobs.enqueue("check_assumptions", connection.pk, audit.actor_name(request.user))
        return redirect(reverse("admin:connectors_connection_assumptions", args=[connection.pk]) + f"?after={queued}")

    def assumptions_view(self, request, pk):
        connection = self.operated_connection(request, pk)
        kept = connection.assumptions_report or {}
        after = queued_after(request.GET)
        waiting = after is not None and (not kept or datetime.fromisoformat(kept["checked_at"]) < after)
        probes = {p.id: p for p in assumptions.probes_for(connection.system)}
        overrides = connection.assumption_overrides or {}
        rows = [{**row, "words": assumptions.STATUS_WORDS.get(row["status"], row["status"]),
                 "stops": assumptions.stop_phrase(getattr(probes.get(row["id"]), "stops", ())),
                 "override": overridden(overrides.get(row["id"])), "advice": assumptions.advice_now(row, overrides)}
                for row in kept.get("results", ())] if not waiting else []
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": connection,
                   "connection": connection, "title": f"Assumptions of {connection}", "report": kept,
                   "waiting": waiting, "waited": int((timezone.now() - after).total_seconds()) if waiting else 0,
                   "running": not waiting and kept.get("state") == "running",
                   "checked_at": when(kept["checked_at"]) if kept else "", "rows": rows,
                   "counts": counted(kept.get("results", ())), "error": readable(kept.get("error", "")),
                   "can_change": self.has_change_permission(request, connection)}
        return TemplateResponse(request, "admin/connectors/connection/assumptions.html", context)

    def override_view(self, request, pk, assumption_id):
        """Ops confirm that the runs may go on although the last check contradicted `assumption_id` (the customer
        agreed), or withdraw that; either is audited with who did it."""
        if request.method != "POST":
            raise Http404
        connection = self.operated_connection(request, pk, change=True)
        page = reverse("admin:connectors_connection_assumptions", args=[connection.pk])
        withdraw = "withdraw" in request.POST
        with transaction.atomic():
            # Two people confirming two assumptions at once must not lose one of the overrides.
            connection = Connection.objects.select_for_update().select_related("tenant").get(pk=connection.pk)
            overrides = dict(connection.assumption_overrides or {})
            if withdraw:
                if overrides.pop(assumption_id, None) is None:
                    self.message_user(request, f"{assumption_id} has no override to withdraw.", messages.WARNING)
                    return redirect(page)
                message = (f"Override of {assumption_id} withdrawn: the steps that need it stop again before writing "
                           "while the last check finds it contradicted.")
                action = "connection.assumption_override_withdrawn"
            else:
                probe = {p.id: p for p in assumptions.probes_for(connection.system)}.get(assumption_id)
                if assumption_id not in assumptions.contradicted_ids(connection) or probe is None or not probe.stops:
                    self.message_user(request, f"{assumption_id} stops nothing on this connection as of its last "
                                               "check, so there is nothing to override.", messages.WARNING)
                    return redirect(page)
                overrides[assumption_id] = {"by": audit.actor_name(request.user), "at": timezone.now().isoformat()}
                message = (f"Override of {assumption_id} confirmed: the steps by which "
                           f"{assumptions.stop_phrase(probe.stops)} go on although the last check found it "
                           "contradicted.")
                action = "connection.assumption_overridden"
            connection.assumption_overrides = overrides
            connection.save(update_fields=["assumption_overrides", "updated_at"])
            audit.record(action, actor=request.user, tenant=connection.tenant, obj=connection, message=message,
                         details={"assumption": assumption_id})
        self.message_user(request, message)
        return redirect(page)


def queued_after(params):
    """The moment the report page's address says a check was queued, or None (absent, or not a moment)."""
    try:
        return datetime.fromtimestamp(int(params.get("after", "")), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def when(moment):
    return f"{datetime.fromisoformat(moment):%Y-%m-%d %H:%M} UTC"


def counted(results):
    counts = {status: sum(r["status"] == status for r in results) for status in assumptions.STATUS_WORDS}
    return "; ".join(f"{n} {assumptions.STATUS_WORDS[s]}" for s, n in counts.items() if n) or "nothing to check"


def overridden(override):
    return f"confirmed by {override['by']} on {when(override['at'])}" if override else ""


def warn_stopped_steps(request, connections):
    """On an integration's page: which contradicted assumption of either connection stops which steps, with the way
    to its report (where ops confirm an override once the customer agrees)."""
    for connection in connections:
        if connection is None:
            continue
        assumptions.probes_for(connection.system)  # stopped_capabilities reads the system's registered probes
        by_id = {}
        for capability, ids in assumptions.stopped_capabilities(connection).items():
            for assumption_id in ids:
                by_id.setdefault(assumption_id, []).append(CAPABILITY_PHRASES.get(capability, capability))
        if not by_id:
            continue
        titles = {r["id"]: r["title"] for r in connection.assumptions_report.get("results", ())}
        stops = "; ".join(f"{i} ({titles.get(i) or 'see the report'}) stops the steps by which {' and '.join(phrases)}"
                          for i, phrases in sorted(by_id.items()))
        messages.warning(request, format_html(
            'The last assumption check of {} found assumptions contradicted, so steps stop before writing. {}. '
            '<a href="{}">See the report</a> to confirm an override once the customer agrees.',
            connection.name, stops, reverse("admin:connectors_connection_assumptions", args=[connection.pk])))
