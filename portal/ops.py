"""Operations endpoints and the periodic operations task. Like urls.py, this module sits on top of every floor.

- `/healthz`: is the database answering, is a task cluster alive, and when did a task last succeed. 200 when
  the database and a cluster answer, 503 otherwise; plain text, for a load balancer or a person.
- `/metrics`: Prometheus text. Staff users, or a scraper sending `Authorization: Bearer <METRICS_TOKEN>`.
  Every figure is an aggregate query on an indexed column, so a scrape costs the same however big the tables.
- `periodic_checks()`: the task on the allow-list as "operations_check", every 5 minutes: queues again the runs
  people asked for that no worker started (syncs.requests: the broker lost them), checks the connections that are
  due (connectors.health), then sends the alerts the integrations' and the webhook subscriptions' state calls for
  (syncs.alerts), one per incident.
"""

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection as db
from django.db.models import Count, IntegerField, Max, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django_q.brokers import get_broker
from django_q.models import Success
from django_q.status import Stat

from connectors import health
from portal.models import AuditEntry
from portal.tenancy import operated_tenants
from syncs import alerts, requests, status
from syncs.models import Integration, RunStatus, SyncRecord, SyncRun
from webhooks.models import WebhookEvent, WebhookSubscription

logger = logging.getLogger("portal.ops")
# A cluster reports itself to the cache every few seconds; a report older than this is a cluster that stopped.
CLUSTER_SILENT_AFTER = timedelta(minutes=2)


# --- /healthz -------------------------------------------------------------------------------------------------
def clusters():
    """The task clusters that reported recently."""
    now = timezone.now()
    try:
        stats = Stat.get_all()
    except Exception as exc:  # the cache or broker itself is down: that is what this page must say, not crash
        logger.warning("Reading the task cluster status failed: %s", type(exc).__name__)
        return None
    return [s for s in stats if now - s.timestamp < CLUSTER_SILENT_AFTER]


@never_cache
def healthz(request):
    lines, ok = [], True
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT 1")
        lines.append("database: ok")
    except Exception as exc:
        ok = False
        lines.append(f"database: not answering ({type(exc).__name__})")
    alive = clusters()
    if alive is None:
        ok = False
        lines.append("task cluster: its status cannot be read")
    elif alive:
        lines.append(f"task cluster: ok ({len(alive)} running, {sum(len(s.workers) for s in alive)} workers)")
    else:
        ok = False
        lines.append("task cluster: none running (start it with `manage.py qcluster`, or `manage.py serve`)")
    if lines[0] == "database: ok":
        last = Success.objects.aggregate(at=Max("stopped"))["at"]
        lines.append(f"last task succeeded: {last:%Y-%m-%d %H:%M:%S} UTC" if last else "last task succeeded: never")
    return HttpResponse("\n".join(lines) + "\n", status=200 if ok else 503, content_type="text/plain; charset=utf-8")


# --- /metrics -------------------------------------------------------------------------------------------------
def allowed(request):
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Exposition:
    def __init__(self):
        self.lines = []

    def metric(self, name, kind, help_text, samples):
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            said = ",".join(f'{key}="{escape(v)}"' for key, v in labels.items())
            self.lines.append(f"{name}{{{said}}} {value}" if said else f"{name} {value}")

    def text(self):
        return "\n".join(self.lines) + "\n"


def counter_sum(key):
    return Sum(Cast(KeyTextTransform(key, "counters"), IntegerField()))


@never_cache
def metrics(request):
    if not allowed(request):
        return HttpResponse("Staff only, or send Authorization: Bearer <METRICS_TOKEN>.\n", status=403,
                            content_type="text/plain; charset=utf-8")
    out = Exposition()
    # A staff user reads the figures of the tenants they operate, as everywhere else; a superuser, or the token (a
    # monitoring system's), every tenant's.
    user = request.user
    tenants = operated_tenants(user) if user.is_authenticated and user.is_staff and not user.is_superuser else None
    runs_of, records_of, events_of = SyncRun.objects.all(), SyncRecord.objects.all(), WebhookEvent.objects.all()
    integrations = None
    if tenants is not None:
        runs_of = runs_of.filter(integration__tenant__in=tenants)
        records_of = records_of.filter(integration__tenant__in=tenants)
        events_of = events_of.filter(connection__tenant__in=tenants)
        integrations = Integration.objects.filter(tenant__in=tenants)
    runs = runs_of.order_by().values("status").annotate(n=Count("pk"))
    out.metric("mlc_sync_runs_total", "counter", "Sync runs by outcome.",
               [({"status": r["status"]}, r["n"]) for r in runs])
    records = records_of.order_by().values("object_type", "status").annotate(n=Count("pk"))
    out.metric("mlc_sync_records", "gauge", "Ledger rows by object type and outcome (an undone payment is "
               "status=\"undone\", never \"synced\").",
               [({"object_type": r["object_type"], "status": r["status"]}, r["n"]) for r in records])
    payments = status.payment_totals(integrations)
    out.metric("mlc_payments_back", "gauge", "Payment shares recorded, by state: paid (stands) or undone (voided, "
               "returned, escheated or reversed), as the finance dashboard and the tie-out count them.",
               [({"state": state}, figure.count) for state, figure in payments.items()])
    out.metric("mlc_payments_back_amount", "gauge", "The amount of those payment shares, by state and currency.",
               [({"state": state, "currency": currency}, f"{amount:.2f}")
                for state, figure in payments.items() for currency, amount in sorted(figure.amounts.items())])
    by_pair = (runs_of.filter(dry_run=False).order_by()
               .values("integration__source__system", "integration__target__system")
               .annotate(calls=counter_sum("api_calls")))
    pairs = list(by_pair)
    failed = {(r["integration__source__system"], r["integration__target__system"]): r["n"] for r in
              runs_of.filter(dry_run=False, status__in=[RunStatus.FAILED, RunStatus.DEFERRED]).order_by()
              .values("integration__source__system", "integration__target__system").annotate(n=Count("pk"))}
    calls = {}
    for row in pairs:
        for system in (row["integration__source__system"], row["integration__target__system"]):
            calls[system] = calls.get(system, 0) + (row["calls"] or 0)
    out.metric("mlc_remote_calls_total", "counter",
               "HTTP calls made by sync runs, from the runs' api_calls counters, by system (a run's calls count for "
               "both of its systems).", [({"system": s}, n) for s, n in sorted(calls.items())])
    errors = {}
    for (source, target), n in failed.items():
        for system in (source, target):
            errors[system] = errors.get(system, 0) + n
    out.metric("mlc_remote_errors_total", "counter",
               "Sync runs that failed or were deferred, by system (counted for both of a run's systems).",
               [({"system": s}, n) for s, n in sorted(errors.items())])
    events = events_of.order_by().values("status").annotate(n=Count("pk"))
    out.metric("mlc_webhook_events_total", "counter", "Webhook events received, by outcome.",
               [({"status": e["status"]}, e["n"]) for e in events])
    try:
        depth = get_broker().queue_size()
    except Exception as exc:
        logger.warning("Reading the task queue size failed: %s", type(exc).__name__)
        depth = None
    if depth is not None:
        out.metric("mlc_task_queue_depth", "gauge", "Tasks waiting for a worker.", [({}, depth)])
    alive = clusters()
    out.metric("mlc_task_clusters_up", "gauge", "Task clusters that reported in the last two minutes.",
               [({}, len(alive or []))])
    return HttpResponse(out.text(), content_type="text/plain; version=0.0.4; charset=utf-8")


# --- the periodic task ------------------------------------------------------------------------------------------
def webhook_alerts():
    """A subscription the AP platform no longer has (we could not re-enable it), and each one it had disabled
    (which the subscription check re-enabled: payments may have arrived late)."""
    sent = []
    for sub in WebhookSubscription.objects.filter(enabled=False).exclude(remote_id="").select_related(
            "connection__tenant"):
        fixed = (AuditEntry.objects.filter(action__in=["webhook.subscribed", "webhook.reenabled"],
                                           object_type=WebhookSubscription._meta.label, object_id=str(sub.pk))
                 .order_by("-created_at").values_list("pk", flat=True).first())
        subject = f"{sub.connection.tenant}: the webhook subscription of {sub.connection.name} is gone"
        page = reverse("admin:connectors_connection_change", args=[sub.connection_id])
        body = (f"{sub.connection.name} no longer has the webhook subscription {sub.remote_id}, so payments arrive "
                "only by polling. Subscribe again from the connection's page (action “Subscribe to webhooks”): "
                f"{settings.PUBLIC_URL.rstrip('/')}{page}")
        if alerts.send(f"webhook-gone:{sub.pk}:after-{fixed or 0}", subject, body, sub.connection.tenant, sub):
            sent.append(subject)
    since = timezone.now() - timedelta(days=1)
    for entry in AuditEntry.objects.filter(action="webhook.reenabled", created_at__gte=since).select_related("tenant"):
        subject = f"{entry.tenant}: a webhook subscription had been disabled"
        body = (f"{entry.message}\n\nNothing needs doing now; if it happens again, check that the portal's webhook "
                "address answers quickly.")
        if alerts.send(f"webhook-disabled:entry-{entry.pk}", subject, body, entry.tenant):
            sent.append(subject)
    return sent


def periodic_checks():
    """The scheduled operations task (portal.jobs "operations_check")."""
    # First: the connection checks wait on remote systems, and a lost request should not wait on them.
    requeued, given_up = requests.requeue_lost()
    checked = health.check_due()
    sent = alerts.check_all() + webhook_alerts()
    return {"requests_queued_again": requeued, "requests_given_up": given_up, "connections_checked": len(checked),
            "alerts_sent": len(sent)}

