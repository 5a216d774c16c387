"""Admin helpers shared by every app: big-table paging and configuration auditing."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from portal import audit

# Counting past this many rows is not worth a full scan of a table of millions.
COUNT_CAP = 10_000


class LargeTablePaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows, so changelists of huge tables never do a full COUNT(*)."""

    @cached_property
    def count(self):
        return self.object_list.values("pk")[: COUNT_CAP + 1].count()


def audit_value(value):
    """A form value as the audit trail shows it: names for related rows, not reprs."""
    if value is None:
        return None
    if isinstance(value, QuerySet | list | tuple | set):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


def changed_fields(form, secret_names=()):
    """{field: new value} of what the form changed; secrets only say that they changed."""
    secret = set(secret_names) | set(getattr(form, "secret_field_names", ()))
    return {name: "(changed, redacted)" if name in secret else audit_value(form.cleaned_data.get(name))
            for name in form.changed_data}


def tenant_of(obj):
    tenant = getattr(obj, "tenant", None)
    if tenant is None and obj._meta.label == "portal.Tenant":
        return obj
    return tenant


class AuditedAdminMixin:
    """Writes an AuditEntry, with the actor and changed fields, for every admin create/change/delete,
    inline rows included.

    `audit_secret_fields` names form fields whose values are never written, only the fact they changed.
    """

    audit_secret_fields = ()

    def audit_tenant(self, obj):
        return tenant_of(obj)

    def audit_change(self, request, obj, changed, created):
        audit.record(
            "config.created" if created else "config.changed",
            actor=request.user,
            tenant=self.audit_tenant(obj),
            obj=obj,
            message=("Created " if created else "Changed ") + ", ".join(sorted(changed)) if changed else "",
            details={"changed_fields": changed},
            secret_fields=self.audit_secret_fields,
        )

    def audit_deletion(self, request, label, pk, text, tenant):
        audit.record("config.deleted", actor=request.user, tenant=tenant, object_type=label, object_id=pk,
                     message=f"Deleted {text}")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self.audit_change(request, obj, changed_fields(form, self.audit_secret_fields), created=not change)

    def save_formset(self, request, form, formset, change):
        # Inline rows (memberships of a tenant, mapping rules of an integration) are changes too.
        doomed = [(f.instance._meta.label, f.instance.pk, str(f.instance)) for f in formset.deleted_forms
                  if f.instance.pk is not None]
        super().save_formset(request, form, formset, change)
        by_instance = {id(f.instance): f for f in formset.forms}
        for row in formset.new_objects:
            self.audit_change(request, row, changed_fields(by_instance[id(row)]), created=True)
        for row, _names in formset.changed_objects:
            self.audit_change(request, row, changed_fields(by_instance[id(row)]), created=False)
        for label, pk, text in doomed:
            self.audit_deletion(request, label, pk, text, self.audit_tenant(form.instance))

    def delete_model(self, request, obj):
        details = (obj._meta.label, obj.pk, str(obj), self.audit_tenant(obj))
        super().delete_model(request, obj)
        self.audit_deletion(request, *details)

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


class ByTenantFilter(admin.RelatedFieldListFilter):
    """A filter on a connection or an integration whose choices name their tenant: every demo tenant has a
    "BILL (sandbox)", and customers name theirs alike."""

    def field_choices(self, field, request, model_admin):
        model = field.remote_field.model
        return [(obj.pk, f"{obj.tenant}: {obj}")
                for obj in model.objects.select_related("tenant").order_by("tenant__name", "name")]
