"""The admin of sync records: the list (one line or two a row), setting aside and putting back, replaying, archiving
the bill of an invoice held after it was sent, and the work queue's pages (syncs.workqueue)."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import Truncator

from connectors import capabilities as can
from connectors.errors import ConnectorError
from portal import audit
from portal.admin import ObjectTypeFilter, RecentValuesFilter
from portal.admin_utils import ByTenantFilter, ReadOnlyAdminMixin, TenantScopedAdminMixin, as_table
from portal.fields import CredentialsUnreadable
from syncs import reasons, workqueue
from syncs.admin.scope import operated_integrations
from syncs.engine import kind_in_words
from syncs.models import ObjectType, RecordStatus, SyncRecord
from syncs.pair import system_name
from syncs.templatetags.status import moment, money

# The list keeps each row to a line or two: a reason's first characters, times as "10:42 today".
REASON_IN_LIST = 160
# Each archived bill is a call to the AP platform, made inside the admin's request.
ARCHIVE_AT_ONCE = 20


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

    readonly_fields = ["data_shown", "follow_ups_shown"]

    def get_fields(self, request, obj=None):
        return [*(f.name for f in SyncRecord._meta.fields if f.name not in ("id", "data")), "data_shown",
                "follow_ups_shown"]

    @admin.display(description="Data")
    def data_shown(self, record):
        return as_table(record.data)

    @admin.display(description="Follow-ups")
    def follow_ups_shown(self, record):
        """Each follow-up a run has tried on the bill: how it stands, and what it attached or why it did not."""
        shown = {}
        for row in record.follow_ups.order_by("kind"):
            said = {"state": row.get_state_display(), "done at": moment(row.done_at), "attached": row.detail,
                    "why": reasons.readable(row.error) if row.error else "", "cause": row.cause}
            shown[row.get_kind_display()] = {name: value for name, value in said.items() if value}
        return as_table(shown)

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
        return shown if record.object_type == ObjectType.BILL else f"{shown} ({record.object_type})"

    @admin.display(description="Amount", ordering="amount")
    def amount_shown(self, record):
        return money(record.amount, record.currency)

    @admin.display(description="Updated (UTC)", ordering="updated_at")
    def updated(self, record):
        return moment(record.updated_at)

    @admin.display(description="Why")
    def reason(self, record):
        # A reason can run to paragraphs; the list shows its start, the record's page all of it.
        if record.status == RecordStatus.IGNORED:
            said = f"Set aside: {record.note}"
        elif record.status == RecordStatus.FAILED:
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

    @admin.action(description="Archive the bill in the AP platform (its invoice was held in the ERP after sending)")
    def archive_bill(self, request, queryset):
        """Ops' decision, never a run's: a run leaves the bill of an invoice held after sending as it was sent. Archived
        in the AP platform, it cannot be paid there; the record and the audit trail say who did it."""
        held = (queryset.filter(object_type=ObjectType.BILL, status=RecordStatus.SYNCED, cause="held_after_sending")
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
