from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db.models import Subquery

from portal import audit, jobs
from portal.admin_utils import AuditedAdminMixin, LargeTablePaginator
from portal.models import AuditEntry, Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "tenant", "role"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]


# --- users and groups: who may do what is itself audited ------------------------------------------------
User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    audit_secret_fields = ("password", "password1", "password2", "usable_password")

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            audit.record("auth.password_changed", actor=request.user, obj=user,
                         message=f"Password of {user.get_username()} set by {request.user.get_username()}")
        return response


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    pass


# --- django_q: superusers only ---------------------------------------------------------------------------
class ScheduleForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        try:
            jobs.check_function(cleaned.get("func") or "")
        except jobs.TaskNotAllowed as exc:
            self.add_error("func", exc)
        if cleaned.get("hook"):
            self.add_error("hook", "Schedules run without hooks.")
        return cleaned


class SuperuserOnlyMixin:
    """django_q's pages name functions to run: no permission a staff user holds opens them."""

    def _superuser(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return self._superuser(request)

    def has_view_permission(self, request, obj=None):
        return self._superuser(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return self._superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return self._superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._superuser(request) and super().has_delete_permission(request, obj)


# django_q registers its admins before ours (INSTALLED_APPS order); wrap each one in place.
for model, model_admin in list(admin.site._registry.items()):
    if model._meta.app_label == "django_q":
        attrs = {"form": ScheduleForm} if model._meta.model_name == "schedule" else {}
        locked = type(f"SuperuserOnly{type(model_admin).__name__}",
                      (SuperuserOnlyMixin, AuditedAdminMixin, type(model_admin)), attrs)
        admin.site.unregister(model)
        admin.site.register(model, locked)


# --- the audit trail ----------------------------------------------------------------------------------
class ActorFilter(admin.SimpleListFilter):
    """People by name, and automation as one group per task, without scanning the whole table."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        people = [(u, u) for u in User.objects.order_by("username").values_list("username", flat=True)[:200]]
        return [("system:", "Automation (all)"), *people]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == "system:":
            return queryset.filter(actor__startswith="system:")
        return queryset.filter(actor=value)


class RecentValuesFilter(admin.SimpleListFilter):
    """The values of one column seen among the newest RECENT rows of the admin's model: a plain list filter asks
    the database for the DISTINCT values of a million rows on every page view. A value chosen by hand
    (?action=…) still filters the whole table."""

    RECENT = 20_000
    field = ""

    def lookups(self, request, model_admin):
        model = model_admin.model
        key = f"recent-filter-values:{model._meta.label}:{self.field}"
        values = cache.get(key)
        if values is None:
            newest = model.objects.order_by("-pk").values("pk")[:self.RECENT]
            values = sorted(model.objects.filter(pk__in=Subquery(newest)).order_by()
                            .values_list(self.field, flat=True).distinct())
            cache.set(key, values, 300)
        chosen = self.value()
        return [(v, v) for v in sorted({*values, *([chosen] if chosen else [])}) if v]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class ActionFilter(RecentValuesFilter):
    title = "action"
    parameter_name = field = "action"


class ObjectTypeFilter(RecentValuesFilter):
    title = "object type"
    parameter_name = field = "object_type"


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "tenant", "actor", "action", "object_type", "object_repr", "source_ref",
                    "target_id"]
    list_filter = [ActionFilter, ActorFilter, ("created_at", admin.DateFieldListFilter), "tenant", ObjectTypeFilter]
    # Invoice numbers sit inside source_ref ("Infor bill INV-1 (S1)"), so that one matches by part.
    search_fields = ["source_ref", "=target_id", "=object_id", "=actor"]
    list_select_related = ["tenant"]
    paginator = LargeTablePaginator
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
