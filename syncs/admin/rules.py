"""The admin of mapping rules, on their own and inline on an integration's page: a rule's target is picked from
the AP platform's accounts and dimensions once they are loaded (syncs.reference)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.utils.html import format_html

from portal import audit
from portal.admin_utils import AuditedAdminMixin, ByTenantFilter, TenantScopedAdminMixin
from syncs import reference
from syncs.admin.scope import operated_integrations
from syncs.models import MappingRule


def kind_with_article(kind):
    """"a GL account", "an Accounting class"."""
    words = dict(MappingRule.KINDS).get(kind, kind)
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


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
            dimensions = MappingRule.DIMENSIONS
            if not cleaned.get("target_kind") and cleaned.get("kind") in dimensions and option.kind in dimensions:
                # A dimension may become another (a subaccount an accounting class): the AP kind is the one picked.
                cleaned["target_kind"] = self.instance.target_kind = wanted = option.kind
            if wanted and wanted != option.kind:
                self.add_error("target_id", f"{option.label} is {kind_with_article(option.kind)} in the AP platform, "
                                            f"not {kind_with_article(wanted)}.")
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
