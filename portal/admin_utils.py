"""Admin helpers shared by every app: big-table paging, configuration auditing and tenant scoping."""

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from portal import audit
from portal.tenancy import operated_tenants

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
    """{field: new value} of what the form changed; secrets and a connection's other credentials only say that they
    changed."""
    secret = set(secret_names) | set(getattr(form, "secret_field_names", ())) | set(
        getattr(form, "credential_field_names", ()))
    return {name: "(changed, redacted)" if name in secret else audit_value(form.cleaned_data.get(name))
            for name in form.changed_data}


def as_table(data):
    """A stored JSON value (an audit entry's details, a record's data) as a person reads it: a table of its keys,
    nested values as tables of their own, lists one item a line; never the raw JSON."""
    if isinstance(data, dict):
        if not data:
            return "—"
        return format_html('<table class="as-table">{}</table>', format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", ((str(key).replace("_", " "), as_table(value))
                                                    for key, value in data.items())))
    if isinstance(data, list | tuple):
        return format_html_join(mark_safe("<br>"), "{}", ((as_table(item),) for item in data)) if data else "—"
    if data is None or data == "":
        return "—"
    return str(data)


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


class TenantScopedAdminMixin:
    """Staff see, change and act on only the rows of the tenants they operate (portal.tenancy.operated_tenants);
    superusers on every row. `tenant_path` is the lookup from a row to its tenant ("pk" on Tenant itself).

    Everything the admin does starts from get_queryset, so the changelist, its search, its actions (ids of
    another tenant's rows select nothing) and the autocompletes that list this model follow. Opening another
    tenant's row answers 404, as does a row that does not exist: the two are not told apart. Foreign-key
    choices and list filters on a scoped model offer only that model's rows of the user's tenants.
    """

    tenant_path = "tenant"

    def scope(self, request, queryset):
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.tenant_path}__in": operated_tenants(request.user)})

    def get_queryset(self, request):
        return self.scope(request, super().get_queryset(request))

    def get_object(self, request, object_id, from_field=None):
        # The admin's own answer to a row it cannot find is a redirect with "perhaps it was deleted".
        found = super().get_object(request, object_id, from_field)
        if found is None:
            raise Http404(f"No {self.opts.verbose_name} with that id among the tenants you operate.")
        return found

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        related = scoped_admin_of(self.admin_site, db_field.remote_field.model)
        if field is not None and related is not None:
            field.queryset = related.scope(request, field.queryset)
        return field

    def get_list_filter(self, request):
        # A plain filter on a relation lists every row of the related table; scoped, it lists the user's.
        chosen = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str):
                field = get_fields_from_path(self.model, entry)[-1]
                if field.is_relation and scoped_admin_of(self.admin_site, field.related_model) is not None:
                    entry = (entry, ScopedRelatedFilter)
            chosen.append(entry)
        return chosen


def scoped_admin_of(site, model):
    """The tenant-scoped admin registered for `model`, or None if it has none (or one not scoped)."""
    model_admin = site.get_model_admin(model) if site.is_registered(model) else None
    return model_admin if isinstance(model_admin, TenantScopedAdminMixin) else None


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A filter on a relation whose choices are the related rows of the tenants the user operates."""

    def choice_rows(self, field, request, model_admin):
        model = field.remote_field.model
        rows = model._default_manager.complex_filter(field.get_limit_choices_to())
        related = scoped_admin_of(model_admin.admin_site, model)
        return related.scope(request, rows) if related is not None else rows

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        rows = self.choice_rows(field, request, model_admin)
        return [(obj.pk, str(obj)) for obj in (rows.order_by(*ordering) if ordering else rows)]


class ByTenantFilter(ScopedRelatedFilter):
    """A filter on a connection or an integration whose choices name their tenant: every demo tenant has a
    "BILL (sandbox)", and customers name theirs alike."""

    def field_choices(self, field, request, model_admin):
        rows = self.choice_rows(field, request, model_admin)
        return [(obj.pk, f"{obj.tenant}: {obj}")
                for obj in rows.select_related("tenant").order_by("tenant__name", "name")]
