"""The admin of tenants, memberships, users and groups, django_q's pages (superusers only) and the audit trail.

Tenants, memberships and audit entries are scoped to the tenants the user operates (TenantScopedAdminMixin). Who
manages users and groups cannot hand out more than they hold: no superusers, no permissions or groups beyond
their own, and no changes to an account that holds more than they do.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db.models import Q, Subquery
from django_q.models import Schedule

from portal import audit, jobs
from portal.admin_utils import AuditedAdminMixin, LargeTablePaginator, TenantScopedAdminMixin, as_table
from portal.models import AuditEntry, Membership, Tenant
from portal.tenancy import assignable_users, operated_tenants


class MembershipUserChoices:
    """A membership's user is one of the users the operator may give a membership (portal.tenancy)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = assignable_users(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(MembershipUserChoices, admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    tenant_path = "pk"
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change and not request.user.is_superuser:
            self.make_operator(request, form.instance)

    def make_operator(self, request, tenant):
        """Who adds a tenant operates it: without an ops membership they could not even see what they made."""
        own = Membership.objects.filter(user=request.user, tenant=tenant).first() or Membership(
            user=request.user, tenant=tenant)
        if own.role == Membership.OPS:
            return
        created, own.role = own.pk is None, Membership.OPS
        own.save()
        audit.record("config.created" if created else "config.changed", actor=request.user, tenant=tenant, obj=own,
                     message=f"Ops membership of {request.user.get_username()}, who added the tenant",
                     details={"changed_fields": {"role": Membership.OPS}})


@admin.register(Membership)
class MembershipAdmin(MembershipUserChoices, TenantScopedAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "tenant", "role"]
    list_filter = ["role", "tenant"]
    search_fields = ["user__username", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]


# --- users and groups: who may do what is itself audited ------------------------------------------------
User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


def permission_names(permissions):
    return {f"{app}.{codename}" for app, codename in permissions.values_list("content_type__app_label", "codename")}


def granted_to(user):
    """Every permission a user holds, by user and by group, whether or not the account is active."""
    return permission_names(Permission.objects.filter(Q(user=user) | Q(group__user=user)))


def listed(names, most=8):
    names = sorted(names)
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def with_grants_checked(form_class, actor):
    """`form_class` refusing, in words, permissions and groups the actor does not hold themselves. Only what the
    form adds is checked, so a group that already carries more can still be renamed or trimmed."""

    class GrantsChecked(form_class):
        def clean(self):
            cleaned = super().clean()
            held = actor.get_all_permissions()
            for name in ("user_permissions", "permissions"):
                if cleaned.get(name) is not None:
                    missing = permission_names(self.added(name, cleaned[name])) - held
                    if missing:
                        self.add_error(name, f"You cannot grant permissions you do not hold yourself: "
                                             f"{listed(missing)}.")
            if cleaned.get("groups") is not None:
                for group in self.added("groups", cleaned["groups"]):
                    missing = permission_names(group.permissions.all()) - held
                    if missing:
                        self.add_error("groups", f"You cannot give the group “{group}”: it carries permissions you "
                                                 f"do not hold yourself ({listed(missing)}).")
            return cleaned

        def added(self, name, chosen):
            before = list(getattr(self.instance, name).values_list("pk", flat=True)) if self.instance.pk else []
            return chosen.exclude(pk__in=before)

    return GrantsChecked


def membership_user_lookup(request):
    """Is this the autocomplete of a membership's user, the one list of users an operator may search?"""
    match = request.resolver_match
    return (match is not None and match.url_name == "autocomplete" and request.GET.get("app_label") == "portal"
            and request.GET.get("model_name") == "membership" and request.GET.get("field_name") == "user")


@admin.register(User)
class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    audit_secret_fields = ("password", "password1", "password2", "usable_password")

    def has_view_permission(self, request, obj=None):
        # Ops staff hold no permission on users, yet adding a membership means finding its user.
        if obj is None and membership_user_lookup(request) and (
                request.user.has_perm("portal.add_membership") or request.user.has_perm("portal.change_membership")):
            return True
        return super().has_view_permission(request, obj)

    def get_queryset(self, request):
        users = super().get_queryset(request)
        if membership_user_lookup(request) and not request.user.is_superuser:
            return users.filter(pk__in=assignable_users(request.user).values("pk")).exclude(is_superuser=True)
        return users

    def may_manage(self, request, obj):
        """Only a superuser changes a superuser, or an account holding permissions the changer lacks: setting its
        password would hand those over."""
        return request.user.is_superuser or obj is None or (
            not obj.is_superuser and granted_to(obj) <= request.user.get_all_permissions())

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.may_manage(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.may_manage(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if request.user.is_superuser else [*fields, "is_superuser"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return form if request.user.is_superuser else with_grants_checked(form, request.user)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, id)
            audit.record("auth.password_changed", actor=request.user, obj=user,
                         message=f"Password of {user.get_username()} set by {request.user.get_username()}")
        return response


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return form if request.user.is_superuser else with_grants_checked(form, request.user)


# --- django_q: superusers only ---------------------------------------------------------------------------
class ScheduleForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        # self.instance takes the cleaned values only after clean(); check what would be saved.
        checked = Schedule(**{name: cleaned.get(name, getattr(self.instance, name))
                              for name in ("func", "hook", "args", "kwargs", "intended_date_kwarg")})
        for field, problem in jobs.schedule_problems(checked).items():
            self.add_error(field if field in self.fields else None, problem)
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
        users = User.objects.all()
        if not request.user.is_superuser:
            # The people of the tenants the user operates, not everyone's names.
            users = users.filter(pk__in=Membership.objects.filter(tenant__in=operated_tenants(request.user))
                                 .values("user"))
        people = [(u, u) for u in users.order_by("username").values_list("username", flat=True)[:200]]
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
class AuditEntryAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Staff other than superusers see the entries of the tenants they operate; an entry of no tenant (users,
    groups, the task cluster) is not theirs."""

    list_display = ["created_at", "tenant", "actor", "action", "object_type", "object_repr", "source_ref",
                    "target_id"]
    list_filter = [ActionFilter, ActorFilter, ("created_at", admin.DateFieldListFilter), "tenant", ObjectTypeFilter]
    # Invoice numbers sit inside source_ref ("Infor bill INV-1 (S1)"), so that one matches by part.
    search_fields = ["source_ref", "=target_id", "=object_id", "=actor"]
    list_select_related = ["tenant"]
    paginator = LargeTablePaginator
    show_full_result_count = False
    fields = [*(f.name for f in AuditEntry._meta.fields if f.name not in ("id", "details")), "details_shown"]
    readonly_fields = fields

    @admin.display(description="Details")
    def details_shown(self, entry):
        return as_table(entry.details)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
