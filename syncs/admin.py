from django import forms
from django.contrib import admin

from portal.admin_utils import AuditedAdminMixin, ReadOnlyAdminMixin
from syncs.models import Cursor, Integration, MappingRule, SyncRecord, SyncRun


class IntegrationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = ["tenant", "name", "source", "target", "enabled", "paused", "interval_minutes", "options"]


class MappingRuleInline(admin.TabularInline):
    model = MappingRule
    extra = 0
    fields = ["kind", "source_code", "target_id", "target_label", "confirmed"]


@admin.register(Integration)
class IntegrationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["name", "tenant", "source", "target", "enabled", "paused", "interval_minutes", "last_run_at",
                    "next_run_at"]
    list_filter = ["enabled", "paused", "tenant"]
    search_fields = ["name", "tenant__name"]
    list_select_related = ["tenant", "source", "target"]
    autocomplete_fields = ["tenant"]


@admin.register(MappingRule)
class MappingRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["integration", "kind", "source_code", "target_id", "target_label", "confirmed"]
    list_filter = ["kind", "confirmed", "integration"]
    search_fields = ["source_code", "target_id", "target_label"]
    list_select_related = ["integration__tenant"]

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


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "integration", "trigger", "dry_run", "status", "started_at", "finished_at", "counters"]
    list_filter = ["status", "trigger", "dry_run", ("started_at", admin.DateFieldListFilter), "integration"]
    search_fields = ["=id"]
    list_select_related = ["integration"]


@admin.register(Cursor)
class CursorAdmin(admin.ModelAdmin):
    list_display = ["integration", "stream", "value", "updated_at"]
    list_filter = ["integration"]
    readonly_fields = ["integration", "stream", "updated_at"]

    def has_add_permission(self, request):
        return False
