"""The lists of sync runs and records keep each row short: a run's counters in brief (failures first, then its
largest counts), a record's reason cut to its start; the run's and the record's own pages say all of it."""

import html

from django.urls import reverse

from syncs.admin.records import REASON_IN_LIST
from syncs.admin.runs import COUNTERS_IN_LIST, counters_in_brief
from syncs.models import RecordStatus, RunStatus, SyncRun
from syncs.run import describe_counters
from tests.syncs.test_status_pages import invoice, make_integration

COUNTERS = {"api_calls": 353, "bills_created": 383, "bills_failed": 17, "vendors_created": 299, "vendors_failed": 1,
            "bills_unchanged": 12, "bills_set_aside": 2, "payments_posted": 0}


def test_counters_in_brief_put_failures_first_then_the_largest_counts():
    assert COUNTERS_IN_LIST == 2
    assert counters_in_brief(COUNTERS) == "18 failed, bills created 383, vendors created 299, 2 more"
    assert counters_in_brief({"bills_created": 3}) == "bills created 3"
    assert counters_in_brief({"api_calls": 4}) == counters_in_brief({}) == "nothing"
    # The failures a run every minute meets again are told apart from new ones.
    assert counters_in_brief({"bills_failed": 9, "bills_still_failing": 9, "bills_unchanged": 51}) == \
        "9 still failing, bills unchanged 51"
    assert counters_in_brief({"bills_failed": 11, "bills_still_failing": 9}) == "2 failed, 9 still failing"


def test_the_runs_list_shows_them_in_brief_and_the_run_all_of_them(admin_client, tenant):
    run = SyncRun.objects.create(integration=make_integration(tenant), trigger="schedule",
                                 status=RunStatus.PARTIAL, counters=COUNTERS)
    listed = html.unescape(admin_client.get(reverse("admin:syncs_syncrun_changelist")).content.decode())
    assert "18 failed, bills created 383, vendors created 299, 2 more" in listed
    assert describe_counters(COUNTERS) not in listed
    page = html.unescape(admin_client.get(reverse("admin:syncs_syncrun_change", args=[run.pk])).content.decode())
    assert describe_counters(COUNTERS) in page


def test_the_records_list_shows_the_start_of_a_long_reason(admin_client, tenant):
    reason = "GL account 6999 is not mapped to a BILL account. " + "The supplier wrote a long note. " * 20
    record = invoice(make_integration(tenant), 1, RecordStatus.FAILED, error_class="mapping", error_detail=reason)
    listed = html.unescape(admin_client.get(reverse("admin:syncs_syncrecord_changelist")).content.decode())
    shown = next(line for line in listed.splitlines() if "GL account 6999 is not mapped" in line)
    assert "…" in shown and len(shown.split('field-reason">')[1].split("</td>")[0]) <= REASON_IN_LIST
    page = html.unescape(admin_client.get(reverse("admin:syncs_syncrecord_change", args=[record.pk])).content.decode())
    assert reason.strip() in page
