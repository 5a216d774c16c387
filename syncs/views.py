"""Finance status pages: a user sees only the tenants they are a member of; anything else answers 404.

Each page costs a fixed number of queries whatever the size of the ledger and the audit trail (see
tests/syncs/test_status_queries.py); the open payables tie-out reads both remote systems, so it runs only when
asked and its answer is kept for a while.
"""

import logging
from dataclasses import asdict, dataclass

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from connectors.errors import ConnectorError
from connectors.values import typed_amount
from portal.fields import CredentialsUnreadable
from portal.tenancy import visible_tenants
from syncs import reasons, status, tieout
from syncs.models import Integration, ObjectType, RecordStatus, SyncRecord
from syncs.plan import describe
from syncs.templatetags.status import day

logger = logging.getLogger("syncs.views")
PAGE_SIZE = 50
TIEOUT_KEPT_SECONDS = 3600


def visible_integrations(user):
    return Integration.objects.filter(tenant__in=visible_tenants(user))


def integration_or_404(user, pk):
    return get_object_or_404(visible_integrations(user).select_related("tenant", "source", "target"), pk=pk)


@login_required
def home(request):
    now = timezone.now()
    integrations = list(status.with_last_completed(visible_integrations(request.user))
                        .select_related("tenant", "source", "target"))
    failed = dict(SyncRecord.objects.filter(integration__in=integrations, status=RecordStatus.FAILED).order_by()
                  .values_list("integration_id").annotate(n=Count("pk")))
    moved = status.moved(integrations, now)
    daily = status.daily(integrations, now)
    cards = [{"integration": i, "stale_since": status.stale_since(i, now), "moved": moved.get(i.pk) or [],
              "failed": failed.get(i.pk, 0),
              "chart": status.chart(daily.get(i.pk) or []), "plan": describe(i)} for i in integrations]
    return render(request, "syncs/home.html", {"cards": cards, "now": now, "today": timezone.localtime(now).date(),
                                               "week_start": status.week_start(now),
                                               "stale_intervals": status.STALE_INTERVALS})


# Each error is shown after its field's label ("Amount: enter …"), so it reads as a sentence about that field.
NOT_A_DATE = "enter a date such as 2026-03-03 or 3 Mar 2026"
NOT_A_CHOICE = {"invalid_choice": "choose one of the listed values"}


def date_field(label):
    return forms.DateField(required=False, label=label, error_messages={"invalid": NOT_A_DATE},
                           widget=forms.DateInput(attrs={"type": "date"}))


class RecordSearch(forms.Form):
    number = forms.CharField(required=False, label="Invoice number")
    supplier = forms.CharField(required=False)
    # Text, not a number input: finance pastes the amount as the pages show it, "6,538.60 USD".
    amount = forms.CharField(required=False, widget=forms.TextInput(attrs={"inputmode": "decimal",
                                                                          "placeholder": "6,538.60"}))
    date_from = date_field("Dated from")
    date_to = date_field("Dated to")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *RecordStatus.choices],
                               error_messages=NOT_A_CHOICE)
    kind = forms.ChoiceField(required=False, label="What", error_messages=NOT_A_CHOICE, choices=[
        ("", "Everything"), (ObjectType.BILL, "Invoices"), (ObjectType.VENDOR, "Suppliers"),
        (ObjectType.PAYMENT, "Payments back")])
    # The dashboard's figures link here: what changed today, or this week.
    changed_from = date_field("Changed since")

    def clean_amount(self):
        """(amount, currency or ""), or None when no amount was asked for."""
        typed = self.cleaned_data["amount"]
        if not typed.strip():
            return None
        read = typed_amount(typed)
        if read is None:
            raise forms.ValidationError("enter an amount as the pages show it, such as 6,538.60 or 6,538.60 USD, "
                                        "with at most two decimals")
        return read

    def clean(self):
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first and last and first > last:
            self.add_error("date_from", f"{day(first)} is after the to-date, {day(last)}; give a from-date on or "
                                        "before it")
        return data

    def filter(self, records):
        data = self.cleaned_data
        if data.get("number"):
            # Any part of the number: "200010" finds INV-200010. On PostgreSQL a trigram index serves it (syncs
            # migration 0008); elsewhere it reads one integration's rows, found by the integration's indexes.
            records = records.filter(number__icontains=data["number"].strip())
        if data.get("supplier"):
            records = records.filter(party__icontains=data["supplier"].strip())
        if data.get("amount") is not None:
            amount, currency = data["amount"]
            records = records.filter(amount=amount, **({"currency": currency} if currency else {}))
        if data.get("date_from"):
            records = records.filter(document_date__gte=data["date_from"])
        if data.get("date_to"):
            records = records.filter(document_date__lte=data["date_to"])
        if data.get("status"):
            records = records.filter(status=data["status"])
        if data.get("kind"):
            records = records.filter(object_type=data["kind"])
        if data.get("changed_from"):
            records = records.filter(updated_at__gte=status.day_start(data["changed_from"]))
        return records


@dataclass
class Row:
    record: SyncRecord
    reason: str = ""
    advice: reasons.Cause | None = None
    dated: object = None  # a date, or the ISO text a payment row keeps


def rows_for(records):
    rows = []
    for record in records:
        row = Row(record, dated=record.document_date)
        if record.object_type == ObjectType.PAYMENT:
            # A payment back has no document date: it is dated by its process date, kept with what was written to
            # the ERP (and kept when the payment is undone).
            row.dated = record.data.get("date") or None
        if record.status == RecordStatus.FAILED:
            row.reason = reasons.readable(record.error_detail)
            row.advice = reasons.advice(record.cause, record.error_class)
        elif record.status in (RecordStatus.SKIPPED, RecordStatus.IGNORED):
            row.reason = record.note or reasons.readable(record.error_detail)
        elif record.error_detail:  # a sent bill the ERP held afterwards, a vendor on hold: what finance must know
            row.reason = reasons.readable(record.error_detail)
        rows.append(row)
    return rows


# Beyond this a page number is no page anyone reached by "Older →"; it is kept from the database's integers.
MAX_PAGE = 100_000


@login_required
def records(request, pk):
    integration = integration_or_404(request.user, pk)
    form = RecordSearch(request.GET or None)
    found = SyncRecord.objects.filter(integration=integration)
    if form.is_bound:
        # A search that does not read is answered with its error and no rows, not with every record.
        found = form.filter(found) if form.is_valid() else found.none()
    try:
        page = min(max(1, int(request.GET.get("page", "1"))), MAX_PAGE)
    except ValueError:
        page = 1
    # One row more than shown says whether there is a next page, without counting every match.
    shown = list(found.order_by("-updated_at", "-pk")[(page - 1) * PAGE_SIZE: page * PAGE_SIZE + 1])
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "syncs/records.html", {
        "integration": integration, "form": form, "rows": rows_for(shown[:PAGE_SIZE]), "page": page,
        "has_next": len(shown) > PAGE_SIZE, "query": query.urlencode()})


@login_required
def record(request, pk):
    found = get_object_or_404(SyncRecord.objects.select_related("integration__tenant", "integration__source",
                                                                "integration__target"),
                              pk=pk, integration__tenant__in=visible_tenants(request.user))
    lineage = status.lineage(found)
    steps = []
    if lineage.vendor is not None:
        steps.append({"title": "Supplier", "record": lineage.vendor, "what": "vendor",
                      "entries": lineage.entries.get(lineage.vendor.pk, []), "row": rows_for([lineage.vendor])[0]})
    if lineage.bill is not None:
        steps.append({"title": f"Invoice in {found.integration.source.spec.label}", "record": lineage.bill,
                      "what": "invoice", "entries": lineage.entries.get(lineage.bill.pk, []),
                      "row": rows_for([lineage.bill])[0]})
        for payment in lineage.payments:
            steps.append({"title": f"Payment in {found.integration.target.spec.label}", "record": payment,
                          "what": "payment", "entries": lineage.entries.get(payment.pk, []),
                          "row": rows_for([payment])[0]})
    else:
        steps.append({"title": found.object_type.capitalize(), "record": found, "what": found.object_type,
                      "entries": lineage.entries.get(found.pk, []), "row": rows_for([found])[0]})
    return render(request, "syncs/record.html", {"record": found, "integration": found.integration,
                                                 "lineage": lineage, "steps": steps})


def tieout_key(integration):
    return f"tieout:{integration.pk}"


def run_tieout(integration):
    """The report as plain data, kept in the cache: it reads both remote systems."""
    try:
        report = tieout.report(integration)
    except (ConnectorError, CredentialsUnreadable) as exc:
        return {"error": str(exc), "rows": [], "at": timezone.now()}
    rows = []
    for row in report.rows:
        rows.append({"kind": row.kind, "number": row.number, "supplier": row.supplier, "erp_amount": row.erp_amount,
                     "ap_amount": row.ap_amount, "currency": row.currency, "record_id": row.record_id})
    return {"rows": rows, "erp_count": report.erp_count, "erp_totals": report.erp_totals, "ap_count": report.ap_count,
            "ap_totals": report.ap_totals, "matched": report.matched, "error": report.error, "at": timezone.now(),
            "payments": {state: asdict(figure) for state, figure in report.payments.items()}}


@login_required
@require_http_methods(["GET", "POST"])
def tieout_page(request, pk):
    integration = integration_or_404(request.user, pk)
    if request.method == "POST":
        cache.set(tieout_key(integration), run_tieout(integration), TIEOUT_KEPT_SECONDS)
        return redirect("status:tieout", pk=integration.pk)
    report = cache.get(tieout_key(integration))
    kinds = {}
    for row in (report or {}).get("rows", []):
        kinds.setdefault(row["kind"], []).append(row)
    return render(request, "syncs/tieout.html", {"integration": integration, "report": report,
                                                 "kinds": list(kinds.items())})
