"""E-mail alerts for ops: an integration that failed three runs in a row, credentials refused, an integration gone
stale, invoices held in the ERP after their bills were sent. One alert per incident, not per run.

An incident is named by what it is about and by the last good moment before it (the newest run that did
complete), so every later check of the same incident finds the same name and sends nothing. The name is the
`target_id` of the "alert.sent" audit entry, which is also the alert's record in the audit trail. Checked by the
periodic operations task (portal.ops.periodic_checks), not inside the engine: an alert is never why a run fails.
The one exception is the held invoices: only the run that reads them sees the change, so it sends that alert itself
(`bills_held_after_sending`), through the same `send`, which never raises for a mail server's refusal.
"""

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from connectors.errors import AuthError
from connectors.models import Connection
from portal import audit
from portal.models import AuditEntry, Membership
from syncs import status
from syncs.models import Integration, RunStatus, SyncRun
from syncs.pair import system_name

logger = logging.getLogger("syncs.alerts")
ACTOR = "system:alerts"
FAILED_RUNS = 3
# Held invoices named in one alert; the rest are counted.
HELD_LISTED = 20
# Runs that say nothing about the integration's health.
NOT_COUNTED = (RunStatus.SKIPPED, RunStatus.RUNNING)
AUTH_HEALTH = (Connection.HEALTH_AUTH_FAILED, Connection.HEALTH_UNREADABLE)


def recipients(tenant):
    """ALERT_EMAILS, and the tenant's ops members who have an e-mail address."""
    people = Membership.objects.filter(tenant=tenant, role=Membership.OPS).exclude(user__email="")
    return sorted({*settings.ALERT_EMAILS, *people.values_list("user__email", flat=True)})


def already_sent(key):
    return AuditEntry.objects.filter(action="alert.sent", target_id=key[:200]).exists()


def send(key, subject, body, tenant, obj=None):
    """Mail one incident once; returns whether it was sent now."""
    if already_sent(key):
        return False
    to = recipients(tenant)
    if to:
        try:
            send_mail(f"[ml-connector] {subject}", body, settings.DEFAULT_FROM_EMAIL, to, fail_silently=False)
        except (OSError, smtplib.SMTPException) as exc:
            # Not recorded as sent: the next check tries again, and one bad mail server never stops the others.
            logger.error("Alert %r could not be mailed (%s); it is tried again at the next check.", subject,
                         type(exc).__name__)
            return False
    else:
        logger.warning("Alert %r has nobody to go to: set ALERT_EMAILS or give the tenant's ops members an e-mail "
                       "address.", subject)
    audit.record("alert.sent", actor=ACTOR, tenant=tenant, obj=obj, target_id=key[:200], message=subject,
                 details={"to": to})
    return True


def admin_link(integration):
    return settings.PUBLIC_URL.rstrip("/") + reverse("admin:syncs_integration_change", args=[integration.pk])


def real_runs(integration):
    return SyncRun.objects.filter(integration=integration, dry_run=False).exclude(status__in=NOT_COUNTED)


def last_completed(integration):
    return real_runs(integration).filter(status__in=status.COMPLETED).order_by("-started_at").first()


def failure_streak(integration, limit=50):
    """(how many of the newest real runs failed in a row, up to `limit`; those runs, newest first)."""
    streak = []
    for run in real_runs(integration).order_by("-started_at")[:limit]:
        if run.status != RunStatus.FAILED:
            break
        streak.append(run)
    return len(streak), streak


def auth_error_names():
    names, todo = set(), [AuthError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return tuple(f"{name}:" for name in names)


def refused_credentials(integration, newest_run):
    """The sentence saying which credentials were refused, or ""."""
    for connection in (integration.source, integration.target):
        if connection.health in AUTH_HEALTH:
            return f"{connection.name}: {connection.get_health_display().lower()}. {connection.last_error}".strip()
    if newest_run is not None and newest_run.status == RunStatus.FAILED and newest_run.error.startswith(
            auth_error_names()):
        return newest_run.error.split(": ", 1)[1]
    return ""


def incident(kind, integration, good):
    return f"{kind}:integration-{integration.pk}:after-run-{good.pk if good else 0}"


def check_integration(integration, now=None):
    """Send what this integration's state calls for; returns the alerts sent now (their subjects)."""
    sent = []
    good = last_completed(integration)
    integration.last_completed_at = good.finished_at if good else None
    name = f"{integration.tenant}: {integration.name}"
    count, streak = failure_streak(integration)
    if count >= FAILED_RUNS:
        subject = f"{name} failed {count} runs in a row"
        body = (f"The last {count} runs of {integration.name} failed. The newest said:\n\n{streak[0].error}\n\n"
                f"Nothing is being sent until this is fixed. The integration: {admin_link(integration)}")
        if send(incident("runs-failed", integration, good), subject, body, integration.tenant, integration):
            sent.append(subject)
    refused = refused_credentials(integration, streak[0] if streak else None)
    if refused:
        subject = f"{name}: credentials refused"
        body = (f"A system refused the credentials {integration.name} uses:\n\n{refused}\n\nEnter the credentials "
                f"again on the connection, then test it. The integration: {admin_link(integration)}")
        if send(incident("credentials", integration, good), subject, body, integration.tenant, integration):
            sent.append(subject)
    since = status.stale_since(integration, now)
    if since is not None:
        newest = real_runs(integration).order_by("-started_at").first()
        subject = f"{name} is not up to date"
        advice = "Check that the task cluster is running and look at the recent runs"
        if newest is not None and newest.status == RunStatus.DEFERRED:
            # The runs do run, and say why they stop: that is the news, not the task cluster.
            subject = f"{subject}: {newest.get_status_display().lower()}"
            advice = (f"The runs are deferred. The newest said:\n\n{newest.error}\n\nEach scheduled run tries again "
                      "and catches up once it gets through; look at the recent runs")
        body = (f"No run of {integration.name} has completed for {status.STALE_INTERVALS} intervals of "
                f"{integration.interval_minutes} minute(s) (stale since {since:%Y-%m-%d %H:%M} UTC). {advice}: "
                f"{admin_link(integration)}")
        if send(incident("stale", integration, good), subject, body, integration.tenant, integration):
            sent.append(subject)
    return sent


def bills_held_after_sending(integration, run, records):
    """One alert for the invoices a run found held, cancelled or voided in the ERP after their bills were sent
    (their ledger rows, each saying so): nothing here stops those bills being paid, and no later run says it again."""
    source, target = system_name(integration.source), system_name(integration.target)
    count = len(records)
    held = f"1 invoice held in {source} after it was sent" if count == 1 else \
        f"{count} invoices held in {source} after they were sent"
    subject = f"{integration.tenant}: {integration.name}: {held}"
    listed = "\n".join(f"- {record.number or record.source_ref} ({record.party or record.data.get('supplier', '')}): "
                        f"{record.error_detail}" for record in records[:HELD_LISTED])
    more = f"\n… and {count - HELD_LISTED} more (Sync records, this run)." if count > HELD_LISTED else ""
    body = (f"{source} now holds these invoices back from payment, and their bills are already in {target}. Nothing "
            f"was changed in {target}: if a bill must not be paid, stop it there.\n\n{listed}{more}\n\n"
            f"The integration: {admin_link(integration)}")
    return send(f"held-after-sending:run-{run.pk}", subject, body, integration.tenant, integration)


def check_all(now=None):
    integrations = Integration.objects.filter(enabled=True).select_related("tenant", "source", "target")
    return [subject for integration in integrations for subject in check_integration(integration, now)]
