"""Admin helpers shared by every app: big-table paging and configuration auditing."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from portal import audit

# Counting past this many rows is not worth a full scan of a table of millions.
COUNT_CAP = 10_000


class LargeTablePaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows, so changelists of huge tables never do a full COUNT(*)."""

    @cached_property
    def count(self):
        return self.object_list.values("pk")[: COUNT_CAP + 1].count()


class AuditedAdminMixin:
    """Writes an AuditEntry, with the actor and changed fields, for every admin create/change/delete.

    `audit_secret_fields` names form fields whose values are never written, only the fact they changed.
    """

    audit_secret_fields = ()

    def audit_tenant(self, obj):
        return getattr(obj, "tenant", None)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changed = {}
        for name in form.changed_data:
            if name in self.audit_secret_fields or name in getattr(form, "secret_field_names", ()):
                changed[name] = "(changed, redacted)"
            else:
                value = form.cleaned_data.get(name)
                changed[name] = str(value) if value is not None else None
        audit.record(
            "config.changed" if change else "config.created",
            actor=request.user,
            tenant=self.audit_tenant(obj),
            obj=obj,
            message=("Changed " if change else "Created ") + ", ".join(sorted(changed)) if changed else "",
            details={"changed_fields": changed},
            secret_fields=self.audit_secret_fields,
        )

    def delete_model(self, request, obj):
        tenant, label, pk, text = self.audit_tenant(obj), obj._meta.label, obj.pk, str(obj)
        super().delete_model(request, obj)
        audit.record("config.deleted", actor=request.user, tenant=tenant, object_type=label, object_id=pk,
                     message=f"Deleted {text}")

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdminMixin:
    """Rows written only by the engine: visible, filterable, never edited by hand."""

    paginator = LargeTablePaginator
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
