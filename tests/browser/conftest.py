"""Browser tests: Playwright drives Debian's Chromium against the live portal (pytest-django's live_server).

They run with the rest of the suite. A machine without Chromium or without the playwright package fails
them with the way to install it: a journey that silently skipped would pass CI having tested nothing.
"""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
INSTALL = ("To install what they need: `apt-get install -y chromium` (Debian's browser; Playwright's own browser "
           "download is not used) and `.venv/bin/pip install -e '.[dev]'` (the playwright package). Set "
           "CHROMIUM_PATH if Chromium is elsewhere.")
PASSWORD = "pw-browser-0123456789"


@pytest.fixture
def browser(monkeypatch):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"The browser tests need the playwright package. {INSTALL}", pytrace=False)
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"The browser tests need Chromium at {CHROMIUM}. {INSTALL}", pytrace=False)
    # Playwright's synchronous API keeps an event loop in this thread while it is open, and Django refuses ORM
    # calls from a thread with a running loop. The tests' ORM calls are synchronous and run between Playwright's
    # calls, so the refusal is lifted for these tests only, and Playwright is closed after each one.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def log_in(page, username, password=PASSWORD, admin=False):
    page.goto("/admin/login/" if admin else "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("[type=submit]")
    page.wait_for_load_state()


def seeded_infor_demo(sandbox_url):
    """The Infor → BILL demo seeded and run once, with an ops user, olivia, who operates its tenant."""
    import io

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from portal.models import Membership
    from portal.roles import OPS_GROUP
    from syncs.engine import run_integration
    from syncs.models import Integration

    call_command("seed_demo", sandbox_url=sandbox_url, only=["infor"], stdout=io.StringIO())
    integration = Integration.objects.get(name="Infor → BILL")
    run_integration(integration.pk)
    ops = get_user_model().objects.create_user("olivia", password=PASSWORD, is_staff=True)
    ops.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=ops, tenant=integration.tenant, role=Membership.OPS)
    return integration
