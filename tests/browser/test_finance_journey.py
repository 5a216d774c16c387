"""A finance user's day in a real browser: log in, the dashboard and its chart, an invoice found by its number,
its lineage; and another tenant's pages answering 404."""

import pytest
from django.urls import reverse

from tests.browser.conftest import PASSWORD, log_in
from tests.syncs.test_status_pages import world

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def w():
    w = world(records=12)
    for user in (w.finance, w.outsider):
        user.set_password(PASSWORD)
        user.save()
    return w


def test_finance_finds_an_invoice_and_follows_it_to_its_payment(page, w):
    log_in(page, "fiona")
    assert page.url.endswith(reverse("status:home"))
    card = page.locator(f"#integration-{w.mine.pk}")
    assert "Up to date as of" in card.inner_text()
    assert card.locator("svg.chart rect.synced").count() >= 1, "the 30-day chart is drawn"
    assert "Their flow" not in page.content()

    card.get_by_role("link", name="Find an invoice").click()
    page.fill("input[name=number]", "INV-1")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="INV-1", exact=True).click()

    assert page.locator("h1").inner_text() == "Invoice INV-1"
    steps = page.locator("ol.lineage").inner_text()
    assert steps.index("Invoice in") < steps.index("Bill in") < steps.index("Payment PAY-1") < steps.index(
        "Written back")
    assert "Payment recorded on invoice INV-1" in steps and "Created BILL bill" in steps


def test_failed_invoice_says_why_in_words(page, w):
    log_in(page, "fiona")
    page.get_by_role("link", name="1 record could not be sent").click()
    row = page.locator("table.records tbody tr")
    assert row.count() == 1
    text = row.inner_text()
    assert "GL account 6999 is not mapped" in text and "What to do: Ask your operations team to map the code" in text


def test_another_tenants_pages_answer_404(page, w):
    log_in(page, "otto")
    for url in (reverse("status:records", args=[w.mine.pk]), reverse("status:record", args=[w.bills[0].pk]),
                reverse("status:tieout", args=[w.mine.pk])):
        assert page.goto(url).status == 404, url
    assert page.goto(reverse("status:records", args=[w.theirs.pk])).status == 200
