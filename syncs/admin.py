from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from connectors.errors import ConnectorError
from portal import audit
from portal.admin_utils import AuditedAdminMixin, ReadOnlyAdminMixin
from portal.fields import CredentialsUnreadable
from syncs import engine, operations
from syncs.engine import describe_counters
from syncs.models import Cursor, Integration, MappingRule, SyncRecord, SyncRun
from syncs.tasks import enqueue_run


class IntegrationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = ["tenant", "name", "source", "target", "enabled", "paused", "interval_minutes", "options"]


class MappingRuleInline(admin.TabularInline):
    model = MappingRule
    extra = 0
    fields = ["kind", "source_code", "source_label", "target_kind", "target_id", "target_label", "confirmed",
              "problem"]
    readonly_fields = ["problem"]


@admin.register(Integration)
class IntegrationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["name", "tenant", "source", "target", "enabled", "paused", "interval_minutes", "last_run_at",
                    "next_run_at"]
    readonly_fields = ["run_plan", "rules_that_cannot_be_used"]
    list_filter = ["enabled", "paused", "tenant"]
    search_fields = ["name", "tenant__name"]
    list_select_related = ["tenant", "source", "target"]
    autocomplete_fields = ["tenant"]
    inlines = [MappingRuleInline]
    actions = ["sync_now", "dry_run", "pause", "resume", "replay_failed", "resync_from_date", "load_reference_data"]

    @admin.display(description="Mapping rules that cannot be used")
    def rules_that_cannot_be_used(self, obj):
        broken = list(obj.mapping_rules.exclude(problem="")) if obj and obj.pk else []
        if not broken:
            return "None, as of the last run."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((rule.problem,) for rule in broken)))

    @admin.display(description="What a run does")
    def run_plan(self, obj):
        return obj.plan if obj and obj.source_id and obj.target_id else "Chosen from the two connections, once saved."

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
        for integration in queryset:
            run = engine.run_integration(integration.pk, trigger="dry_run", dry_run=True, actor=request.user.username)
            link = reverse("admin:syncs_syncrun_change", args=[run.pk])
            level = messages.ERROR if run.status == run.FAILED else messages.INFO
            self.message_user(request, format_html('{}: dry run {}: {}. <a href="{}">See the plan</a>.', integration,
                                                   run.get_status_display().lower(), describe_counters(run.counters),
                                                   link), level)

    @admin.action(description="Replay failed records", permissions=["change"])
    def replay_failed(self, request, queryset):
        for integration in queryset:
            count = operations.replay_failed(integration, request.user.username)
            self.message_user(request, f"{integration}: replaying {count} failed record(s).")

    @admin.action(description="Resync from date…", permissions=["change"])
    def resync_from_date(self, request, queryset):
        form = ResyncForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            moment = datetime.combine(form.cleaned_data["since"], datetime.min.time(), tzinfo=UTC)
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
            except (ConnectorError, CredentialsUnreadable) as exc:
                self.message_user(request, f"{integration}: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{integration}: {result['proposed']} GL mapping(s) proposed from "
                                       f"{result['source_accounts']} ERP and {result['target_accounts']} AP accounts; "
                                       f"confirm them under Mapping rules. Unmatched: "
                                       f"{', '.join(result['unmatched'][:20]) or 'none'}.")


class ResyncForm(forms.Form):
    since = forms.DateField(help_text="Re-read everything changed since this date (UTC). Nothing is duplicated.")

    def clean_since(self):
        since = self.cleaned_data["since"]
        # A date ahead would move the cursors past changes not read yet, and they would never be read.
        if since > timezone.now().date():
            raise forms.ValidationError("Choose today or a date before it: a later date would skip changes.")
        return since


@admin.register(MappingRule)
class MappingRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["integration", "kind", "source_code", "source_label", "target_kind", "target_id", "target_label",
                    "confirmed", "problem"]
    list_filter = ["kind", "target_kind", "confirmed", ("problem", admin.EmptyFieldListFilter), "integration"]
    search_fields = ["source_code", "source_label", "target_id", "target_label"]
    readonly_fields = ["problem", "checked_at"]
    list_select_related = ["integration__tenant"]
    actions = ["confirm"]

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


@admin.register(SyncRecord)
class SyncRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["source_ref", "object_type", "integration", "status", "target_id", "attempts", "error_class",
                    "updated_at"]
    list_filter = ["status", "object_type", "error_class", ("updated_at", admin.DateFieldListFilter),
                   "integration"]
    search_fields = ["=source_id", "=source_ref", "=target_id"]
    list_select_related = ["integration"]
    actions = ["replay"]

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        # Read-only rows still offer the replay action to staff who may change integrations.
        actions = super().get_actions(request)
        if not request.user.has_perm("syncs.change_integration"):
            actions.pop("replay", None)
        return actions

    @admin.action(description="Replay selected failed records")
    def replay(self, request, queryset):
        failed = queryset.filter(status=SyncRecord.FAILED).select_related("integration__tenant")
        by_integration = {}
        for record in failed:
            by_integration.setdefault(record.integration, []).append(record)
        for integration, records in by_integration.items():
            operations.replay_failed(integration, request.user.username, records)
        self.message_user(request, f"Replaying {failed.count()} failed record(s).")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "integration", "trigger", "dry_run", "status", "started_at", "finished_at", "what_moved"]
    fields = ["integration", "trigger", "dry_run", "status", "started_at", "heartbeat_at", "finished_at",
              "what_moved", "error", "plan_in_words"]
    readonly_fields = fields
    list_filter = ["status", "trigger", "dry_run", ("started_at", admin.DateFieldListFilter), "integration"]
    search_fields = ["=id"]
    list_select_related = ["integration"]

    @admin.display(description="What moved")
    def what_moved(self, run):
        return describe_counters(run.counters or {})

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
class CursorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Cursors move with the runs; a person moves them back with "Resync from date…", which is audited."""

    list_display = ["integration", "stream", "value", "updated_at"]
    list_filter = ["integration"]
