"""Ops in a real browser, against the Infor and BILL simulators: a group of failed invoices in the work queue,
the mapping fixed by picking BILL's account by number and name, the group retried, the invoice synced."""


import pytest

from sandbox.infor import demo
from syncs.models import MappingRule, RecordStatus, SyncRecord
from tests.browser.conftest import log_in, seeded_infor_demo

pytestmark = pytest.mark.django_db(transaction=True)
UNMAPPED = f"GL account {demo.UNMAPPED_ACCOUNT} is not mapped to a BILL account"


@pytest.fixture
def integration(sandbox, live_server, settings, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # the queued replay runs inside the request that queues it
    settings.PUBLIC_URL = live_server.url
    return seeded_infor_demo(sandbox.url)


def bill_numbers(sandbox):
    state = sandbox.state("bill")
    return [b["invoice"]["invoiceNumber"] for org in state["organizations"].values() for b in org.get("bills", [])]


def test_ops_fix_a_mapping_and_retry_its_group(page, integration, sandbox):
    unmapped = SyncRecord.objects.get(integration=integration, object_type="bill", number=demo.UNMAPPED_INVOICE)
    assert unmapped.status == RecordStatus.FAILED
    log_in(page, "olivia", admin=True)

    page.goto("/admin/syncs/syncrecord/work-queue/")
    group = page.locator("#work-queue tr.group", has_text=UNMAPPED)
    assert group.count() == 1 and "missing mapping" in group.inner_text()

    page.goto(f"/admin/syncs/integration/{integration.pk}/change/")
    page.get_by_role("button", name="Load reference data and propose rules").click()
    assert "1 GL mapping(s) proposed" in page.locator(".messagelist").inner_text()

    page.goto(f"/admin/syncs/mappingrule/?integration__id__exact={integration.pk}&confirmed__exact=0")
    page.get_by_role("link", name=f"GL account {demo.UNMAPPED_ACCOUNT}", exact=False).first.click()
    page.select_option("select[name=target_id]", label=f"{demo.UNMAPPED_ACCOUNT} · {demo.GL_NAMES['6999']}")
    page.check("input[name=confirmed]")
    page.get_by_role("button", name="Save", exact=True).click()
    assert MappingRule.objects.get(integration=integration, source_code=demo.UNMAPPED_ACCOUNT).confirmed

    page.goto("/admin/syncs/syncrecord/work-queue/")
    page.locator("#work-queue tr.group", has_text=UNMAPPED).get_by_role("button", name="Retry all 1").click()
    assert "Retrying 1 record(s)" in page.locator(".messagelist").inner_text()
    assert page.locator("#work-queue tr.group", has_text=UNMAPPED).count() == 0, "the group is gone"

    unmapped.refresh_from_db()
    assert unmapped.status == RecordStatus.SYNCED and unmapped.target_id
    assert bill_numbers(sandbox).count(demo.UNMAPPED_INVOICE) == 1
