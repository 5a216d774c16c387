"""The admin of sync runs and cursors, read-only: runs write both (a person moves cursors back only by the
integration action "Resync from date…", which is audited)."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from portal.admin_utils import ByTenantFilter, ReadOnlyAdminMixin, TenantScopedAdminMixin
from syncs import reasons
from syncs.models import Cursor, SyncRun
from syncs.run import describe_counters
from syncs.templatetags.status import moment

# The list keeps each row to a line or two: a run's largest counts, times as "10:42 today".
COUNTERS_IN_LIST = 2


def counters_in_brief(counters):
    """A run's counters in one short line for the list of runs: how many records failed anew, how many failed again
    as before (a run every minute must not read as nine new failures each time), then its largest other counts; the
    run's page lists every counter (describe_counters)."""
    failed = sum(value for key, value in counters.items() if key.endswith("_failed"))
    again = min(sum(value for key, value in counters.items() if key.endswith("_still_failing")), failed)
    others = sorted(((value, key) for key, value in counters.items()
                     if value and key != "api_calls" and not key.endswith(("_failed", "_still_failing"))),
                    key=lambda c: (-c[0], c[1]))
    said = ([f"{failed - again} failed"] if failed > again else []) + (
        [f"{again} still failing"] if again else []) + [f"{key.replace('_', ' ')} {value}"
                                                         for value, key in others[:COUNTERS_IN_LIST]]
    if len(others) > COUNTERS_IN_LIST:
        said.append(f"{len(others) - COUNTERS_IN_LIST} more")
    return ", ".join(said) or "nothing"


@admin.register(SyncRun)
class SyncRunAdmin(TenantScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    tenant_path = "integration__tenant"
    list_display = ["id", "integration", "trigger", "dry_run", "status_in_words", "started", "finished", "in_brief"]
    fields = ["integration", "trigger", "dry_run", "status_in_words", "started_at", "heartbeat_at", "finished_at",
              "what_moved", "refused_in_words", "error_in_words", "plan_in_words"]
    readonly_fields = fields
    list_filter = ["status", "deferral", "trigger", "dry_run", ("started_at", admin.DateFieldListFilter),
                   ("integration", ByTenantFilter)]
    search_fields = ["=id"]
    list_select_related = ["integration"]

    @admin.display(description="Status", ordering="status")
    def status_in_words(self, run):
        """A deferral says its kind: "Deferred (a remote system is down)"."""
        return run.get_status_display()

    @admin.display(description="Attempts refused while it ran")
    def refused_in_words(self, run):
        if not run.refused_starts:
            return "—"
        return (f"{run.refused_starts} attempt{'s' if run.refused_starts > 1 else ''} to start this integration, "
                "each counted here and not run: this run held it.")

    @admin.display(description="What moved")
    def what_moved(self, run):
        return describe_counters(run.counters or {})

    @admin.display(description="Started (UTC)", ordering="started_at")
    def started(self, run):
        return moment(run.started_at)

    @admin.display(description="Finished (UTC)", ordering="finished_at")
    def finished(self, run):
        return moment(run.finished_at) or "—"

    @admin.display(description="What moved")
    def in_brief(self, run):
        said = counters_in_brief(run.counters or {})
        return f"{said}; {run.refused_starts} refused while it ran" if run.refused_starts else said

    @admin.display(description="Error")
    def error_in_words(self, run):
        return reasons.readable(run.error) if run.error else "—"

    @admin.display(description="Plan (dry run)")
    def plan_in_words(self, run):
        if not run.plan:
            return "—"
        rows = []
        for step in run.plan:
            reason = f": {step['reason']}" if step.get("reason") else ""
            rows.append((f"{step.get('action', '')} — {step.get('source', '')}{reason}",))
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", rows))


@admin.register(Cursor)
class CursorAdmin(TenantScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Cursors move with the runs; a person moves them back with "Resync from date…", which is audited."""

    tenant_path = "integration__tenant"
    list_display = ["integration", "stream", "value", "updated_at"]
    list_filter = [("integration", ByTenantFilter)]
