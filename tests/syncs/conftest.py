"""Fixtures several of the engine's and the pages' test modules share: an integration at rest, an ops member signed
in, two connections to pair, and the Infor → BILL demo seeded over the simulators for what only they can prove."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from connectors.models import Connection
from portal.models import Membership
from portal.roles import OPS_GROUP
from sandbox import demo
from syncs.models import Integration
from tests.syncs.test_status_pages import make_integration


@pytest.fixture
def integration(tenant):
    """The tenant's Infor → BILL integration at rest: nothing seeded, no system ever called. A module that needs
    another integration says so with its own fixture of this name."""
    return make_integration(tenant)


@pytest.fixture
def ops(client, integration):
    """An ops member of the integration's tenant, signed in."""
    user = get_user_model().objects.create_user("olivia", password="pw-0123456789", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS_GROUP))
    Membership.objects.create(user=user, tenant=integration.tenant, role=Membership.OPS)
    client.force_login(user)
    return user


@pytest.fixture
def connections(tenant):
    """An Infor and a BILL connection of the tenant's, not yet paired."""
    infor = Connection.objects.create(tenant=tenant, system="infor", name="Infor")
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL", base_url="https://x.test/connect")
    return infor, bill


@pytest.fixture
def infor_to_bill(sandbox, db, monkeypatch):
    """The Infor → BILL demo seeded over the simulators, as `make run` seeds it; queued tasks run in this process,
    through a real worker."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=io.StringIO())
    return Integration.objects.get(name="Infor → BILL")


@pytest.fixture
def seeded(sandbox, db):
    """seed(system id): that system's demo loaded as seed_demo loads it; its integration."""
    def seed(system_id):
        call_command("seed_demo", sandbox_url=sandbox.url, only=[system_id], stdout=io.StringIO())
        return Integration.objects.get(name=demo.demo_modules()[system_id].INTEGRATION)

    return seed
