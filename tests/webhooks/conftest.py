import io

import pytest
from django.core.management import call_command

from syncs.engine import run_integration
from syncs.models import Integration, RunStatus
from tests.webhooks.helpers import make_subscription
from webhooks.models import WebhookEvent, WebhookSubscription


@pytest.fixture
def local_subscription(tenant):
    return make_subscription(tenant)


@pytest.fixture
def demo(live_server, sandbox, settings, transactional_db):
    settings.PUBLIC_URL = live_server.url
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=io.StringIO())
    integration = Integration.objects.get(name="Infor → BILL")
    run = run_integration(integration.pk)
    assert run.status == RunStatus.PARTIAL, f"the demo's first run ended {run.status}: {run.error} {run.counters}"
    WebhookEvent.objects.all().delete()
    return integration, WebhookSubscription.objects.get()
