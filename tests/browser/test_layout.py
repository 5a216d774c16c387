"""Layout in a real browser at a common laptop width (1,280 px): the ops and finance pages fit the window, with no
horizontal scroll, on the data of a seeded and run demo (long supplier names, failure reasons, counters)."""

import uuid

import pytest
from django.urls import reverse

from sandbox.infor import demo
from syncs.models import SyncRecord
from tests.browser.conftest import log_in, seeded_infor_demo
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def integration(sandbox, live_server, settings):
    settings.PUBLIC_URL = live_server.url
    integration = seeded_infor_demo(sandbox.url)
    # Webhook events as BILL's come: a UUID for an id; and a refused one, with its reason.
    WebhookEvent.objects.create(connection=integration.target, event_id=str(uuid.uuid4()),
                                event_type="payment.updated", raw_body="{}", signature_ok=True,
                                status=WebhookEvent.PROCESSED, attempts=1)
    WebhookEvent.objects.create(connection=integration.target, status=WebhookEvent.REJECTED,
                                rejection=WebhookEvent.BAD_SIGNATURE, reason="The signature does not match the body.")
    return integration


def pages(integration):
    failed = SyncRecord.objects.filter(integration=integration, number=demo.UNMAPPED_INVOICE).first()
    assert failed is not None, "the seeded run left its unmapped invoice failed"
    return {
        "admin index": reverse("admin:index"),
        "integration list": reverse("admin:syncs_integration_changelist"),
        "integration page": reverse("admin:syncs_integration_change", args=[integration.pk]),
        "sync records": reverse("admin:syncs_syncrecord_changelist"),
        "sync runs": reverse("admin:syncs_syncrun_changelist"),
        "connections": reverse("admin:connectors_connection_changelist"),
        "webhook events": reverse("admin:webhooks_webhookevent_changelist"),
        "audit entries": reverse("admin:portal_auditentry_changelist"),
        "work queue": reverse("admin:syncs_syncrecord_workqueue"),
        "dashboard": reverse("status:home"),
        "records": reverse("status:records", args=[integration.pk]),
        "record": reverse("status:record", args=[failed.pk]),
        "tie-out": reverse("status:tieout", args=[integration.pk]),
    }


# What scrolls sideways: the document itself, and any box of it that scrolls on its own (Django puts a list in one,
# so a list too wide for it is cut off at the window's edge while the page itself fits).
SIDEWAYS = """() => {
  const root = document.documentElement;
  const found = root.scrollWidth > root.clientWidth ? [`the page, by ${root.scrollWidth - root.clientWidth} px`] : [];
  for (const box of document.querySelectorAll("body *")) {
    const overflow = getComputedStyle(box).overflowX;
    if ((overflow === "auto" || overflow === "scroll") && box.scrollWidth > box.clientWidth)
      found.push(`${box.tagName.toLowerCase()}.${box.className} by ${box.scrollWidth - box.clientWidth} px`);
  }
  return found;
}"""

OVERLAPS = """([first, second]) => {
  const a = document.querySelector(first).getBoundingClientRect();
  const b = document.querySelector(second).getBoundingClientRect();
  return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}"""


def test_main_pages_fit_a_1280px_window(page, integration):
    assert page.viewport_size["width"] == 1280
    log_in(page, "olivia", admin=True)
    too_wide = {}
    for name, url in pages(integration).items():
        assert page.goto(url).status == 200, name
        if name == "tie-out":
            page.get_by_role("button", name="Run the tie-out").click()
            page.wait_for_load_state()
            assert "Open items" in page.content(), "the tie-out ran"
        if scrolled := page.evaluate(SIDEWAYS):
            too_wide[name] = scrolled
    assert not too_wide, f"pages that scroll sideways at 1,280 px: {too_wide}"


def test_the_integration_pages_buttons_leave_its_title_clear(page, integration):
    log_in(page, "olivia", admin=True)
    page.goto(reverse("admin:syncs_integration_change", args=[integration.pk]))
    assert page.locator("#content .object-tools li").count() >= 9, "every button is there"
    for title in ("#content h1", "#content h2"):
        assert not page.evaluate(OVERLAPS, [title, "#content .object-tools"]), f"the buttons cover {title}"
