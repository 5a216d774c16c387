"""The admin of integrations: the form that offers one tenant's connections, the page's status (plan, schedule,
connections, failure streak, recent runs, rules in trouble), its buttons and actions, and the backfill and dry run
pages that follow a queued run."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from connectors.errors import ConnectorError
from portal import audit
from portal.admin_utils import AuditedAdminMixin, TenantScopedAdminMixin
from portal.fields import CredentialsUnreadable
from portal.tenancy import operated_tenants
from syncs import alerts, operations, reasons, reference, requests
from syncs.admin.rules import MappingRuleInline
from syncs.backfill import backfill_progress, cut_over, preview_progress, queued_at, run_progress
from syncs.models import OPTIONS, Integration, Trigger
from syncs.plan import describe
from syncs.run import describe_counters
from syncs.tasks import enqueue_dry_run, enqueue_run

RECENT_RUNS = 10
# An integration page lists every mapping rule for editing up to this many; beyond it (a page of a hundred rule
# forms takes a second to draw), only the rules needing attention, and all of them under Mapping rules.
INLINE_RULES = 30


class IntegrationForm(forms.ModelForm):
    """Offers only the chosen tenant's connections; the tenant comes from the form, the page address (?tenant=)
    or the integration itself."""

    class Meta:
        model = Integration
        fields = ["tenant", "name", "source", "target", "enabled", "paused", "interval_minutes", "options",
                  "vendor_key_prefix"]
        error_messages = {"interval_minutes": {"min_value": Integration.INTERVAL_RULE,
                                               "max_value": Integration.INTERVAL_RULE}}
        # Integration.clean() refuses any other key (syncs.models.options_problem).
        help_texts = {"options": "A JSON object; the known options, each true or false: " + "; ".join(
            f"{name} ({said})" for name, said in OPTIONS.items()) + "."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        tenant = self.data.get("tenant") or self.initial.get("tenant") or self.instance.tenant_id
        tenant = getattr(tenant, "pk", tenant)
        for name in ("source", "target"):
            if name not in self.fields:
                continue
            field = self.fields[name]
            field.queryset = (field.queryset.filter(tenant_id=tenant) if str(tenant or "").isdigit()
                              else field.queryset.none())
            field.error_messages["invalid_choice"] = ("That connection belongs to another tenant (or no longer "
                                                      "exists); choose one of this tenant's connections.")


@admin.register(Integration)
class IntegrationAdmin(TenantScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    form = IntegrationForm
    change_form_template = "admin/syncs/integration/change_form.html"
    list_display = ["name", "tenant", "source", "target", "enabled", "paused", "interval_minutes", "last_run_at",
                    "next_run_at"]
    status_fields = ["run_plan", "schedule", "runs_asked_for", "connection_health", "failure_streak", "recent_runs",
                     "rules_that_cannot_be_used", "rules_listed"]
    list_filter = ["enabled", "paused", "tenant"]
    search_fields = ["name", "tenant__name"]
    list_select_related = ["tenant", "source", "target"]
    autocomplete_fields = ["tenant"]
    inlines = [MappingRuleInline]
    actions = ["sync_now", "dry_run", "pause", "resume", "replay_failed", "resync_from_date", "load_reference_data"]
    # What the buttons on an integration's page may run (each is one of the actions above).
    buttons = ["sync_now", "dry_run", "replay_failed", "load_reference_data", "pause", "resume"]

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, MappingRuleInline) and obj is not None and obj.pk and self.rules_folded(obj):
            kwargs["queryset"] = inline.get_queryset(request).filter(Q(confirmed=False) | ~Q(problem=""))
        return kwargs

    def rules_folded(self, obj):
        if not hasattr(obj, "_rule_count"):
            obj._rule_count = obj.mapping_rules.count()
        return obj._rule_count > INLINE_RULES

    def get_readonly_fields(self, request, obj=None):
        # The tenant is fixed once chosen: its connections are what the form offers.
        return ["tenant", *self.status_fields] if obj else []

    def get_fieldsets(self, request, obj=None):
        main = (None, {"fields": ["tenant", "name", "source", "target", "enabled", "paused", "interval_minutes",
                                  "options", "vendor_key_prefix"]})
        return [main, ("Status", {"fields": self.status_fields})] if obj else [main]

    def add_view(self, request, form_url="", extra_context=None):
        chosen = request.GET.get("tenant") or request.POST.get("tenant")
        if chosen and not (chosen.isdigit() and operated_tenants(request.user).filter(pk=chosen).exists()):
            raise Http404("No such tenant among the tenants you operate.")
        if not chosen:
            tenants = list(operated_tenants(request.user).order_by("name")[:500])
            if len(tenants) != 1:
                context = {**self.admin_site.each_context(request), "opts": self.model._meta, "tenants": tenants,
                           "title": "Which tenant is this integration for?"}
                return TemplateResponse(request, "admin/syncs/integration/choose_tenant.html", context)
            request.GET = request.GET.copy()
            request.GET["tenant"] = str(tenants[0].pk)
        return super().add_view(request, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        from connectors.admin import warn_stopped_steps

        if obj is not None:
            warn_stopped_steps(request, (obj.source, obj.target))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        own = [
            path("<int:pk>/do/<str:name>/", self.admin_site.admin_view(self.button_view), name="syncs_integration_do"),
            path("<int:pk>/backfill/", self.admin_site.admin_view(self.backfill_view),
                 name="syncs_integration_backfill"),
            path("<int:pk>/dry-run/", self.admin_site.admin_view(self.dry_run_view), name="syncs_integration_dry_run"),
        ]
        return own + super().get_urls()

    # --- the page's status ------------------------------------------------------------------------------
    @admin.display(description="What a run does")
    def run_plan(self, obj):
        if obj and obj.source_id and obj.target_id:
            return describe(obj)
        return "Chosen from the two connections, once saved."

    @admin.display(description="Schedule")
    def schedule(self, obj):
        if not obj.enabled:
            return "Switched off: no scheduled runs."
        said = f"Every {obj.interval_minutes} minute(s)"
        if obj.paused:
            said += "; paused, so scheduled runs are skipped"
        if obj.last_run_at:
            said += f"; last run started {obj.last_run_at:%Y-%m-%d %H:%M} UTC"
        if obj.next_run_at and not obj.paused:
            said += f"; next run {obj.next_run_at:%Y-%m-%d %H:%M} UTC"
        return said + "."

    @admin.display(description="Runs asked for")
    def runs_asked_for(self, obj):
        waiting = requests.shown(obj)
        if not waiting:
            return "None waiting: every run asked for has started."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((said,) for said in waiting)))

    @admin.display(description="Connections")
    def connection_health(self, obj):
        rows = []
        for connection in (obj.source, obj.target):
            checked = (f"checked {connection.last_checked_at:%Y-%m-%d %H:%M} UTC" if connection.last_checked_at
                       else "never checked")
            rows.append((reverse("admin:connectors_connection_change", args=[connection.pk]), connection.name,
                         connection.get_health_display(), checked, connection.last_error))
        return format_html("<ul>{}</ul>", format_html_join(
            "", '<li><a href="{}">{}</a>: <strong>{}</strong> ({}) {}</li>', rows))

    @admin.display(description="Failure streak")
    def failure_streak(self, obj):
        count, streak = alerts.failure_streak(obj)
        if not count:
            return "None: the last run did not fail."
        return f"The last {count} run(s) failed. The newest said: {reasons.readable(streak[0].error)}"

    @admin.display(description="Recent runs")
    def recent_runs(self, obj):
        runs = list(obj.runs.order_by("-started_at")[:RECENT_RUNS])
        if not runs:
            return "No runs yet."
        rows = [(reverse("admin:syncs_syncrun_change", args=[r.pk]), f"{r.started_at:%Y-%m-%d %H:%M}",
                 r.get_trigger_display(), r.get_status_display(), describe_counters(r.counters or {}),
                 reasons.readable(r.error) if r.error else "") for r in runs]
        return format_html(
            "<table><thead><tr><th>Started (UTC)</th><th>How</th><th>Outcome</th><th>What moved</th><th></th>"
            "</tr></thead><tbody>{}</tbody></table>",
            format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
                             rows))

    @admin.display(description="Mapping rules that cannot be used")
    def rules_that_cannot_be_used(self, obj):
        broken = list(obj.mapping_rules.exclude(problem="")[:50]) if obj and obj.pk else []
        if not broken:
            return "None, as of the last run."
        link = reverse("admin:syncs_mappingrule_changelist") + f"?integration__id__exact={obj.pk}&problem__isempty=0"
        return format_html('<ul>{}</ul><a href="{}">Fix them under Mapping rules</a>',
                           format_html_join("", "<li>{}</li>", ((rule.problem,) for rule in broken)), link)

    @admin.display(description="Mapping rules listed below")
    def rules_listed(self, obj):
        link = reverse("admin:syncs_mappingrule_changelist") + f"?integration__id__exact={obj.pk}"
        if not self.rules_folded(obj):
            return format_html('All of them. <a href="{}">Search and filter them under Mapping rules</a>.', link)
        return format_html('Of {} rules, only those waiting for confirmation or with a problem. <a href="{}">All of '
                           'them under Mapping rules</a>.', obj._rule_count, link)

    # --- buttons --------------------------------------------------------------------------------------------
    def button_view(self, request, pk, name):
        if request.method != "POST":
            raise Http404
        integration = get_object_or_404(self.get_queryset(request), pk=pk)
        if name not in self.buttons or not self.has_change_permission(request, integration):
            raise PermissionDenied
        # An action that has a page of its own to show (a dry run's progress) answers with it.
        answer = getattr(self, name)(request, self.get_queryset(request).filter(pk=pk))
        return answer or redirect("admin:syncs_integration_change", pk)

    def operated_integration(self, request, pk):
        """The integration a page of ours acts on: 404 outside the tenants the user operates, 403 without the right
        to change it."""
        integration = get_object_or_404(self.get_queryset(request).select_related("tenant", "source", "target"),
                                        pk=pk)
        if not self.has_change_permission(request, integration):
            raise PermissionDenied
        return integration

    def backfill_view(self, request, pk):
        """The form, then the preview and the backfill, each queued as a task and followed by this page's address
        (syncs.backfill): a request never waits for either."""
        integration = self.operated_integration(request, pk)
        form = BackfillForm(request.POST or request.GET or None)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": integration,
                   "integration": integration, "form": form, "title": f"Backfill {integration}"}
        if request.method == "POST" and form.is_valid():
            since = form.cleaned_data["since"]
            # Whole seconds, floored: the run the task starts is the first one at or after this moment.
            queued = int(timezone.now().timestamp())
            page = reverse("admin:syncs_integration_backfill", args=[pk])
            if "run" in request.POST:
                with transaction.atomic():  # the audit entry and the run request (syncs.requests) together
                    audit.record("sync.backfill", actor=request.user, tenant=integration.tenant, obj=integration,
                                 message=f"Backfill from {since:%Y-%m-%d} queued")
                    enqueue_run(integration, Trigger.BACKFILL, since, request.user)
                self.message_user(request, f"Backfill from {since:%Y-%m-%d} queued. Records already in the ledger "
                                           "are recognised and not sent again.")
                return redirect(page + "?" + urlencode({"since": f"{since:%Y-%m-%d}", "after": queued,
                                                        "expected": request.POST.get("expected", "")}))
            enqueue_dry_run(integration, Trigger.PREVIEW, request.user.username, since)
            return redirect(page + "?" + urlencode({"since": f"{since:%Y-%m-%d}", "previewed": queued}))
        if request.GET.get("after"):
            context["progress"] = backfill_progress(integration, request.GET)
        elif request.GET.get("previewed"):
            context["preview"] = preview_progress(integration, request.GET)
        return TemplateResponse(request, "admin/syncs/integration/backfill.html", context)

    def dry_run_view(self, request, pk):
        """A queued dry run's progress, then what it found (the page the "Dry run" button leads to)."""
        integration = self.operated_integration(request, pk)
        after = queued_at(request.GET)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": integration,
                   "integration": integration, "title": f"Dry run of {integration}",
                   "progress": run_progress(integration, Trigger.DRY_RUN, after) if after else None}
        return TemplateResponse(request, "admin/syncs/integration/dry_run.html", context)

    # --- actions --------------------------------------------------------------------------------------------
    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset):
        for integration in queryset:
            with transaction.atomic():  # the audit entry and the run request (syncs.requests) together
                audit.record("sync.queued", actor=request.user, tenant=integration.tenant, obj=integration,
                             message="Run queued from the admin (Sync now)")
                enqueue_run(integration, Trigger.MANUAL, None, request.user)
        self.message_user(request, f"Queued {queryset.count()} run(s). Follow them under Sync runs.")

    @admin.action(description="Pause (the schedule stays; runs are skipped)", permissions=["change"])
    def pause(self, request, queryset):
        self.set_paused(request, queryset, True)

    @admin.action(description="Resume", permissions=["change"])
    def resume(self, request, queryset):
        self.set_paused(request, queryset, False)

    def set_paused(self, request, queryset, paused):
        changed = [i for i in queryset if i.paused != paused]
        for integration in changed:
            integration.paused = paused
            integration.save(update_fields=["paused", "updated_at"])
            audit.record("config.changed", actor=request.user, tenant=integration.tenant, obj=integration,
                         message="Paused" if paused else "Resumed",
                         details={"changed_fields": {"paused": str(paused)}})
        verb = "Paused" if paused else "Resumed"
        self.message_user(request, f"{verb} {len(changed)} integration(s)" + (
            f"; {queryset.count() - len(changed)} already were." if len(changed) < queryset.count() else "."))

    @admin.action(description="Dry run (shows what would be sent; writes nothing remote)", permissions=["change"])
    def dry_run(self, request, queryset):
        """Queued, not run here: a dry run reads every changed record and can take minutes. One integration's goes
        to the page that follows it; several are each linked from a message."""
        queued = int(timezone.now().timestamp())
        pages = []
        for integration in queryset:
            enqueue_dry_run(integration, Trigger.DRY_RUN, request.user.username)
            pages.append((reverse("admin:syncs_integration_dry_run", args=[integration.pk]) + f"?after={queued}",
                          str(integration)))
        if len(pages) == 1:
            return redirect(pages[0][0])
        self.message_user(request, format_html("Dry runs queued; follow each one: {}.", format_html_join(
            ", ", '<a href="{}">{}</a>', pages)))
        return None

    @admin.action(description="Replay failed records", permissions=["change"])
    def replay_failed(self, request, queryset):
        for integration in queryset:
            count = operations.replay_failed(integration, request.user.username)
            self.message_user(request, f"{integration}: replaying {count} failed record(s).")

    @admin.action(description="Resync from date…", permissions=["change"])
    def resync_from_date(self, request, queryset):
        form = ResyncForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            moment = form.cleaned_data["since"]
            for integration in queryset:
                operations.resync_from(integration, moment, request.user.username)
            self.message_user(request, f"Cursors moved back to {moment:%Y-%m-%d}; runs queued.")
            return None
        context = {**self.admin_site.each_context(request), "title": "Resync from date", "form": form,
                   "integrations": queryset, "opts": self.model._meta, "action_checkbox_name": ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/syncs/integration/resync.html", context)

    @admin.action(description="Load reference data and propose GL mappings", permissions=["change"])
    def load_reference_data(self, request, queryset):
        for integration in queryset:
            try:
                result = operations.load_reference_data(integration, request.user.username)
                known = reference.load_both(integration)
            except (ConnectorError, CredentialsUnreadable) as exc:
                self.message_user(request, f"{integration}: {exc}", messages.ERROR)
                continue
            unmatched = result["unmatched"]
            more = f" and {len(unmatched) - 20} more" if len(unmatched) > 20 else ""
            self.message_user(request, f"{integration}: {result['proposed']} GL mapping(s) proposed from "
                                       f"{result['source_accounts']} ERP and {result['target_accounts']} AP accounts; "
                                       f"confirm them under Mapping rules. Unmatched: "
                                       f"{', '.join(unmatched[:20]) or 'none'}{more}. {len(known.options)} accounts "
                                       "and dimensions can now be picked by name in the mapping rules.")


def checked_cut_over(day):
    """A form's cut-over date as the moment it means (backfill.cut_over), or the form's error in words."""
    try:
        return cut_over(day)
    except ValueError as exc:
        raise forms.ValidationError(str(exc)) from None


def cut_over_field(help_text):
    """The date a backfill or a resync re-reads from: a date picker, and one message per mistake, the same on both."""
    return forms.DateField(label="Cut-over date", widget=forms.DateInput(attrs={"type": "date"}), help_text=help_text,
                           error_messages={"required": "Choose the date to re-read from.",
                                           "invalid": "Enter the date as YYYY-MM-DD, e.g. 2026-01-31."})


class BackfillForm(forms.Form):
    since = cut_over_field("Everything changed in the ERP since this date (UTC) is read again. Records already sent "
                           "are recognised in the ledger and are not sent twice.")

    def clean_since(self):
        return checked_cut_over(self.cleaned_data["since"])


class ResyncForm(BackfillForm):
    since = cut_over_field("The cursors move back to this date (UTC) and everything changed since is read again. "
                           "Records already sent are recognised in the ledger and are not sent twice.")
