"""The admin of integrations, mapping rules, sync records (with the work queue), runs and cursors, each scoped to
the tenants the user operates (portal.admin_utils.TenantScopedAdminMixin), custom pages included."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from connectors import capabilities as can
from connectors.errors import ConnectorError
from portal import audit
from portal.admin import ObjectTypeFilter, RecentValuesFilter
from portal.admin_utils import AuditedAdminMixin, ByTenantFilter, ReadOnlyAdminMixin, TenantScopedAdminMixin, as_table
from portal.fields import CredentialsUnreadable
from portal.tenancy import operated_tenants
from syncs import alerts, operations, reasons, reference, workqueue
from syncs.backfill import backfill_progress, cut_over, preview_progress, queued_at, run_progress
from syncs.engine import describe_counters, kind_in_words
from syncs.models import OPTIONS, Cursor, Integration, MappingRule, SyncRecord, SyncRun
from syncs.plan import system_name
from syncs.tasks import enqueue_dry_run, enqueue_run
from syncs.templatetags.status import moment, money

RECENT_RUNS = 10
# The lists of records and runs keep each row to a line or two: a reason's first characters, a run's largest counts,
# times as "10:42 today".
REASON_IN_LIST = 160
COUNTERS_IN_LIST = 2
# Each archived bill is a call to the AP platform, made inside the admin's request.
ARCHIVE_AT_ONCE = 20
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
        error_messages = {"interval_minutes": {"min_value": Integration.INTERVAL_RULE}}
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


def rule_form_for(integration):
    """A mapping-rule form whose target is picked from the AP platform's accounts and dimensions, by number and
    name, when they have been loaded (syncs.reference); typed as an id otherwise."""
    known = reference.cached(integration.target) if integration is not None else None

    class RuleForm(forms.ModelForm):
        class Meta:
            model = MappingRule
            fields = ["integration", "kind", "source_code", "source_label", "target_kind", "target_id",
                      "target_label", "confirmed"]

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if "target_id" not in self.fields:
                return
            field = self.fields["target_id"]
            if known is None:
                field.help_text = ("The id in the AP platform. Use “Load reference data” on the integration to pick "
                                   "from its list instead.")
                return
            choices = [("", "— choose —"), *known.choices()]
            current = self.instance.target_id if self.instance.pk else ""
            if current and current not in known.by_id():
                choices.append(("No longer in the AP platform", [(current, f"{current} (not found there)")]))
            field.widget = forms.Select(choices=choices)
            field.help_text = f"From the AP platform's list as loaded {known.loaded_at:%Y-%m-%d %H:%M} UTC."
            if "target_label" in self.fields:
                self.fields["target_label"].help_text = "Filled from the AP platform's list when left blank."

        def clean(self):
            cleaned = super().clean()
            if known is None or not cleaned.get("target_id"):
                return cleaned
            option = known.by_id().get(cleaned["target_id"])
            if option is None:
                if not (self.instance.pk and cleaned["target_id"] == self.instance.target_id):
                    # Picked for another integration's platform (its integration changed on the form), or typed.
                    self.add_error("target_id", f"{cleaned['target_id']} is not in this AP platform's list as "
                                                "loaded; use \"Load reference data\" if it was added since.")
                return cleaned
            wanted = cleaned.get("target_kind") or cleaned.get("kind")
            if wanted and wanted != option.kind:
                kinds = dict(MappingRule.KINDS)
                self.add_error("target_id", f"{option.label} is a {kinds.get(option.kind, option.kind)} in the AP "
                                            f"platform, not a {kinds.get(wanted, wanted)}.")
            if not cleaned.get("target_label"):
                cleaned["target_label"] = option.name
                self.instance.target_label = option.name
            return cleaned

    return RuleForm


class MappingRuleInline(admin.TabularInline):
    model = MappingRule
    extra = 0
    fields = ["kind", "source_code", "source_label", "target_kind", "target_id", "target_label", "confirmed",
              "problem"]
    readonly_fields = ["problem"]

    def get_formset(self, request, obj=None, **kwargs):
        kwargs["form"] = rule_form_for(obj)
        return super().get_formset(request, obj, **kwargs)


def operated_integrations(model_admin, request):
    """The integrations the user may act on, as the integration admin scopes them."""
    return model_admin.admin_site.get_model_admin(Integration).get_queryset(request)


@admin.register(Integration)
class IntegrationAdmin(TenantScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    form = IntegrationForm
    change_form_template = "admin/syncs/integration/change_form.html"
    list_display = ["name", "tenant", "source", "target", "enabled", "paused", "interval_minutes", "last_run_at",
                    "next_run_at"]
    status_fields = ["run_plan", "schedule", "connection_health", "failure_streak", "recent_runs",
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
        return obj.plan if obj and obj.source_id and obj.target_id else "Chosen from the two connections, once saved."

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
                 r.trigger.replace("_", " "), r.get_status_display(), describe_counters(r.counters or {}),
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
                audit.record("sync.backfill", actor=request.user, tenant=integration.tenant, obj=integration,
                             message=f"Backfill from {since:%Y-%m-%d} queued")
                enqueue_run(integration, "backfill", since)
                self.message_user(request, f"Backfill from {since:%Y-%m-%d} queued. Records already in the ledger "
                                           "are recognised and not sent again.")
                return redirect(page + "?" + urlencode({"since": f"{since:%Y-%m-%d}", "after": queued,
                                                        "expected": request.POST.get("expected", "")}))
            enqueue_dry_run(integration, "preview", request.user.username, since)
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
                   "progress": run_progress(integration, "dry_run", after) if after else None}
        return TemplateResponse(request, "admin/syncs/integration/dry_run.html", context)

    # --- actions --------------------------------------------------------------------------------------------
    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset):
        for integration in queryset:
            audit.record("sync.queued", actor=request.user, tenant=integration.tenant, obj=integration,
                         message="Run queued from the admin (Sync now)")
            enqueue_run(integration, "manual")
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
            enqueue_dry_run(integration, "dry_run", request.user.username)
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


@admin.register(MappingRule)
class MappingRuleAdmin(TenantScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    tenant_path = "integration__tenant"
    list_display = ["erp_code", "ap_target", "integration", "confirmed", "problem_in_list"]
    list_filter = [("problem", admin.EmptyFieldListFilter), "confirmed", "kind", "target_kind",
                   ("integration", ByTenantFilter)]
    search_fields = ["source_code", "source_label", "target_id", "target_label"]
    readonly_fields = ["problem", "checked_at"]
    list_select_related = ["integration__tenant"]
    actions = ["confirm"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        integration = obj.integration if obj else None
        chosen = request.POST.get("integration") or request.GET.get("integration")
        if integration is None and chosen and chosen.isdigit():
            integration = operated_integrations(self, request).select_related("target").filter(pk=chosen).first()
        kwargs["form"] = rule_form_for(integration)
        return super().get_form(request, obj, change, **kwargs)

    def add_view(self, request, form_url="", extra_context=None):
        """A rule's target is picked from its integration's AP platform: the integration comes first, so the form
        can offer that platform's accounts and dimensions instead of a box for a raw id."""
        chosen = request.POST.get("integration") or request.GET.get("integration") or ""
        if chosen.isdigit() and not operated_integrations(self, request).filter(pk=chosen).exists():
            raise Http404("No such integration among the tenants you operate.")
        if request.method == "GET" and not chosen.isdigit():
            if not self.has_add_permission(request):
                raise PermissionDenied
            context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                       "title": "Add mapping rule: which integration?",
                       "integrations": operated_integrations(self, request).select_related("tenant", "source", "target")
                       .order_by("tenant__name", "name")}
            return TemplateResponse(request, "admin/syncs/mappingrule/choose_integration.html", context)
        return super().add_view(request, form_url, extra_context)

    @admin.display(description="In the ERP", ordering="source_code")
    def erp_code(self, rule):
        return f"{rule.get_kind_display()} {rule.source_code}" + (f" · {rule.source_label}" if rule.source_label
                                                                    else "")

    @admin.display(description="In the AP platform", ordering="target_label")
    def ap_target(self, rule):
        kind = rule.get_target_kind_display() if rule.target_kind else rule.get_kind_display()
        if rule.target_label:
            return format_html("{} {} <span style='color:var(--body-quiet-color)'>({})</span>", kind,
                               rule.target_label, rule.target_id)
        return f"{kind} {rule.target_id}"

    @admin.display(description="Problem", ordering="problem")
    def problem_in_list(self, rule):
        if not rule.problem:
            return "Not checked yet" if rule.checked_at is None else "Usable"
        return format_html('<strong style="color:var(--error-fg)">{}</strong>', rule.problem)

    @admin.action(description="Confirm selected mapping rules", permissions=["change"])
    def confirm(self, request, queryset):
        for rule in queryset.filter(confirmed=False):
            rule.confirmed = True
            rule.save(update_fields=["confirmed", "updated_at"])
            audit.record("config.changed", actor=request.user, tenant=rule.integration.tenant, obj=rule,
                         message="Confirmed", details={"changed_fields": {"confirmed": "True"}})
        self.message_user(request, "Confirmed.")

    def audit_tenant(self, obj):
        return obj.integration.tenant


class ErrorClassFilter(RecentValuesFilter):
    title = "failure class"
    parameter_name = field = "error_class"


class IgnoreForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=1000,
                             help_text="Kept with each record and in the audit trail, e.g. “duplicate: the supplier "
                                       "sent this invoice twice”.")


@admin.register(SyncRecord)
class SyncRecordAdmin(TenantScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    tenant_path = "integration__tenant"
    list_display = ["shown_as", "integration", "status", "party", "amount_shown", "reason", "updated"]
    list_filter = ["status", ObjectTypeFilter, ErrorClassFilter, ("updated_at", admin.DateFieldListFilter),
                   ("integration", ByTenantFilter)]
    search_fields = ["number", "party", "source_id", "source_ref", "target_id"]
    search_help_text = "An invoice or supplier number, a bill or payment id (exact), or part of a supplier's name."
    list_per_page = 50
    list_select_related = ["integration"]
    # Newest first by id: the primary key's index serves a table of millions (filters by status use their own).
    ordering = ["-pk"]
    actions = ["replay", "ignore", "unignore", "archive_bill"]
    # Actions that change records are for staff who may change integrations (the ops group).
    changing_actions = ("replay", "ignore", "unignore", "archive_bill")

    readonly_fields = ["data_shown"]

    def get_fields(self, request, obj=None):
        return [*(f.name for f in SyncRecord._meta.fields if f.name not in ("id", "data")), "data_shown"]

    @admin.display(description="Data")
    def data_shown(self, record):
        return as_table(record.data)

    def has_change_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        # Exact matches use the indexes; only the supplier's name is matched by part.
        term = search_term.strip()
        if not term:
            return queryset, False
        exact = Q(number=term) | Q(source_id=term) | Q(source_ref=term) | Q(target_id=term)
        return queryset.filter(exact | Q(party__icontains=term)), False

    def may_change(self, request):
        return request.user.has_perm("syncs.change_integration")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.may_change(request):
            for name in self.changing_actions:
                actions.pop(name, None)
        return actions

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("work-queue/", view(self.workqueue_view), name="syncs_syncrecord_workqueue"),
                path("work-queue/<str:key>/", view(self.group_view), name="syncs_syncrecord_group"),
                *super().get_urls()]

    @admin.display(description="Record", ordering="number")
    def shown_as(self, record):
        # Most records are bills; the others say what they are, as on the finance pages (a column of "bill" would
        # take the room a reason needs).
        shown = record.number or record.source_ref or record.source_id
        return shown if record.object_type == "bill" else f"{shown} ({record.object_type})"

    @admin.display(description="Amount", ordering="amount")
    def amount_shown(self, record):
        return money(record.amount, record.currency)

    @admin.display(description="Updated (UTC)", ordering="updated_at")
    def updated(self, record):
        return moment(record.updated_at)

    @admin.display(description="Why")
    def reason(self, record):
        # A reason can run to paragraphs; the list shows its start, the record's page all of it.
        if record.status == SyncRecord.IGNORED:
            said = f"Set aside: {record.note}"
        elif record.status == SyncRecord.FAILED:
            said = f"{reasons.class_in_words(record.error_class).capitalize()}: {reasons.readable(record.error_detail)}"
        else:
            said = reasons.readable(record.error_detail) if record.error_detail else ""
        return Truncator(said).chars(REASON_IN_LIST)

    @admin.action(description="Replay selected failed records")
    def replay(self, request, queryset):
        count = workqueue.retry(queryset, request.user.username)
        self.message_user(request, f"Replaying {count} failed record(s).")

    @admin.action(description="Set aside (ignore) with a reason…")
    def ignore(self, request, queryset):
        form = IgnoreForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            count = workqueue.ignore(queryset, form.cleaned_data["reason"], request.user.username)
            self.message_user(request, f"Set aside {count} record(s); they are not sent or retried until put back.")
            return None
        context = {**self.admin_site.each_context(request), "title": "Set records aside", "form": form,
                   "records": queryset[:200], "count": queryset.count(), "opts": self.model._meta,
                   "action_checkbox_name": ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/syncs/syncrecord/ignore.html", context)

    @admin.action(description="Put set-aside records back")
    def unignore(self, request, queryset):
        count = workqueue.unignore(queryset, request.user.username)
        self.message_user(request, f"Put back {count} record(s).")

    @admin.action(description="Archive the bill in BILL (an invoice held in the ERP after its bill was sent)")
    def archive_bill(self, request, queryset):
        """Ops' decision, never a run's: a run leaves the bill of an invoice held after sending as it was sent. Archived
        in the AP platform, it cannot be paid there; the record and the audit trail say who did it."""
        held = (queryset.filter(object_type="bill", status=SyncRecord.SYNCED, cause="held_after_sending")
                .exclude(target_id="").select_related("integration__tenant", "integration__source",
                                                      "integration__target"))
        held = [record for record in held[:ARCHIVE_AT_ONCE] if record.data.get("held")]
        others = queryset.exclude(pk__in=[record.pk for record in held])
        if others.exists():
            names = sorted(self.shown_as(record) for record in others[:5])
            more = f" and {others.count() - len(names)} more" if others.count() > len(names) else ""
            self.message_user(request, f"Not archived: {', '.join(names)}{more}. Only the bill of an invoice held in "
                                       f"the ERP after it was sent is archived from here, at most {ARCHIVE_AT_ONCE} at "
                                       "once.", messages.ERROR)
        for record in held:
            self.archive_one(request, record)

    def archive_one(self, request, record):
        shown = self.shown_as(record)
        source, target = system_name(record.integration.source), system_name(record.integration.target)
        if record.data.get("archived_at"):
            self.message_user(request, f"{shown}: its bill was archived in {target} already, by "
                                       f"{record.data.get('archived_by')} on {record.data['archived_at'][:10]}.",
                              messages.WARNING)
            return
        if can.ARCHIVES_BILLS not in record.integration.target.spec.capabilities:
            self.message_user(request, f"{shown}: ml-connector cannot archive {target} bills; stop bill "
                                       f"{record.target_id} in {target} itself.", messages.ERROR)
            return
        try:
            with record.integration.target.connector() as ap:
                said = ap.archive_bill(record.target_id)
        except (ConnectorError, CredentialsUnreadable) as exc:
            audit.record("sync.bill.archive_refused", actor=request.user, tenant=record.integration.tenant, obj=record,
                         source_ref=record.source_ref, target_id=record.target_id,
                         message=f"Archiving bill {record.target_id} in {target} failed: {exc}")
            self.message_user(request, f"{shown}: {target} did not archive bill {record.target_id}: {exc}",
                              messages.ERROR)
            return
        now = timezone.now()
        record.data = {**record.data, "archived_at": now.isoformat(), "archived_by": request.user.get_username()}
        record.error_detail = (f"Held in {source} after it was sent; its bill was archived in {target} by "
                               f"{request.user.get_username()} on {now:%Y-%m-%d} and cannot be paid there.")
        record.save(update_fields=["data", "error_detail", "updated_at"])
        audit.record("sync.bill.archived", actor=request.user, tenant=record.integration.tenant, obj=record,
                     source_ref=record.source_ref, target_id=record.target_id, message=said)
        self.message_user(request, f"{shown}: {said}")

    # --- the work queue -------------------------------------------------------------------------------------
    def scoped(self, request):
        """The records the work queue looks at: those of every tenant the user operates, or one integration's
        (?integration=)."""
        records = self.get_queryset(request)
        chosen = request.GET.get("integration", "")
        if not chosen:
            return records, None
        # A link to an integration since deleted (or another tenant's) must not widen a group's "retry all" to
        # every integration.
        integration = operated_integrations(self, request).filter(pk=chosen).first() if chosen.isdigit() else None
        if integration is None:
            raise Http404("No such integration.")
        return records.filter(integration=integration), integration

    def workqueue_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        records, integration = self.scoped(request)
        groups, overflow = workqueue.groups(records)
        follow_ups, follow_up_overflow = workqueue.follow_up_groups(records)
        query = f"?integration={integration.pk}" if integration else ""
        for group in groups:
            group.offers = self.offers(request, group, query)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Work queue",
                   "groups": groups, "overflow": overflow + follow_up_overflow, "follow_ups": follow_ups,
                   "integration": integration,
                   "integrations": operated_integrations(self, request).select_related("tenant"),
                   "may_change": self.may_change(request),
                   "query": f"?integration={integration.pk}" if integration else ""}
        return TemplateResponse(request, "admin/syncs/syncrecord/workqueue.html", context)

    def offers(self, request, group, query):
        """What a group's cause offers to do besides retrying (connectors.causes.OFFERS), as (words, link) pairs."""
        # A group is one integration's (workqueue.Group), among the records of the tenants the user operates.
        integration = operated_integrations(self, request).filter(pk=group.integration_id).first()
        offer, rule = group.advice.offer, workqueue.rule_wanted(group)
        if rule and integration:
            kind, code = rule
            return [(f"Add the rule for {kind_in_words(kind)} {code}", reverse("admin:syncs_mappingrule_add") + "?"
                     + urlencode({"integration": integration.pk, "kind": kind, "source_code": code}))]
        if offer in ("add_rule", "mapping_rules"):
            return [("Open the mapping rules", reverse("admin:syncs_mappingrule_changelist"))]
        if offer in ("vendor_key_prefix", "integration") and integration:
            words = "Edit the vendor key prefix of" if offer == "vendor_key_prefix" else "Open"
            anchor = "#id_vendor_key_prefix" if offer == "vendor_key_prefix" else ""
            return [(f"{words} {integration.name}", reverse("admin:syncs_integration_change", args=[integration.pk])
                     + anchor)]
        if offer == "connection":
            return [("Check the connections", reverse("admin:connectors_connection_changelist"))]
        if offer == "set_aside":
            return [("Set aside with a reason", reverse("admin:syncs_syncrecord_group", args=[group.key]) + query
                     + "#set-aside")]
        return []

    def group_view(self, request, key):
        if not self.has_view_permission(request) or (request.method == "POST" and not self.may_change(request)):
            raise PermissionDenied
        scope, integration = self.scoped(request)
        group = workqueue.find_group(key, scope)
        back = reverse("admin:syncs_syncrecord_workqueue") + (f"?integration={integration.pk}" if integration else "")
        if group is None:
            self.message_user(request, "That group has no records left to act on.")
            return redirect(back)
        records = workqueue.records_of(group, scope)
        form = IgnoreForm(request.POST if "ignore" in request.POST else None)
        if request.method == "POST":
            if "retry" in request.POST and group.step:
                count = workqueue.retry_follow_ups(group, records, request.user.username)
                self.message_user(request, f"Trying again for {count} bill(s) in the next run: {group.reason}")
                return redirect(back)
            if "retry" in request.POST and not group.retry:
                self.message_user(request, f"A retry cannot fix these: {group.advice.ops}", messages.WARNING)
                return redirect(request.get_full_path())
            if "retry" in request.POST:
                count = workqueue.retry(records, request.user.username)
                self.message_user(request, f"Retrying {count} record(s): {group.reason}")
                return redirect(back)
            if "ignore" in request.POST and not group.step and form.is_valid():
                count = workqueue.ignore(records, form.cleaned_data["reason"], request.user.username)
                self.message_user(request, f"Set aside {count} record(s).")
                return redirect(back)
        group.offers = [] if group.step else self.offers(request, group, f"?integration={integration.pk}"
                                                         if integration else "")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": group.reason,
                   "group": group, "records": records.select_related("integration")[:100], "form": form,
                   "back": back, "may_change": self.may_change(request)}
        return TemplateResponse(request, "admin/syncs/syncrecord/group.html", context)


def counters_in_brief(counters):
    """A run's counters in one short line for the list of runs: how many records failed, then its largest other
    counts; the run's page lists every counter (describe_counters)."""
    failed = sum(value for key, value in counters.items() if key.endswith("_failed"))
    others = sorted(((value, key) for key, value in counters.items()
                     if value and key != "api_calls" and not key.endswith("_failed")), key=lambda c: (-c[0], c[1]))
    said = ([f"{failed} failed"] if failed else []) + [f"{key.replace('_', ' ')} {value}"
                                                       for value, key in others[:COUNTERS_IN_LIST]]
    if len(others) > COUNTERS_IN_LIST:
        said.append(f"{len(others) - COUNTERS_IN_LIST} more")
    return ", ".join(said) or "nothing"


@admin.register(SyncRun)
class SyncRunAdmin(TenantScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    tenant_path = "integration__tenant"
    list_display = ["id", "integration", "trigger", "dry_run", "status", "started", "finished", "in_brief"]
    fields = ["integration", "trigger", "dry_run", "status", "started_at", "heartbeat_at", "finished_at",
              "what_moved", "error_in_words", "plan_in_words"]
    readonly_fields = fields
    list_filter = ["status", "trigger", "dry_run", ("started_at", admin.DateFieldListFilter),
                   ("integration", ByTenantFilter)]
    search_fields = ["=id"]
    list_select_related = ["integration"]

    @admin.display(description="What moved")
    def what_moved(self, run):
        return describe_counters(run.counters or {})

    @admin.display(description="Started (UTC)", ordering="started_at")
    def started(self, run):
        return moment(run.started_at)

    @admin.display(description="Finished (UTC)", ordering="finished_at")
    def finished(self, run):
        return moment(run.finished_at) or "—"

    @admin.display(description="What moved")
    def in_brief(self, run):
        return counters_in_brief(run.counters or {})

    @admin.display(description="Error")
    def error_in_words(self, run):
        return reasons.readable(run.error) if run.error else "—"

    @admin.display(description="Plan (dry run)")
    def plan_in_words(self, run):
        if not run.plan:
            return "—"
        rows = []
        for step in run.plan:
            reason = f": {step['reason']}" if step.get("reason") else ""
            rows.append((f"{step.get('action', '')} — {step.get('source', '')}{reason}",))
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", rows))


@admin.register(Cursor)
class CursorAdmin(TenantScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Cursors move with the runs; a person moves them back with "Resync from date…", which is audited."""

    tenant_path = "integration__tenant"
    list_display = ["integration", "stream", "value", "updated_at"]
    list_filter = [("integration", ByTenantFilter)]

