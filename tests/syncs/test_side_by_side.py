"""Reads and writes that depend on nothing but what came before them go side by side within the systems' limits, on
Infor → AvidXchange's first run over the simulators: the ERP's two code lists, AvidXchange's code lists, and M3's
supplier e-mail list beside the change markers' lists. Each pair meets at a barrier, which one after another would
break. Threads have database connections of their own: PostgreSQL only (the suite's SQLite is in memory, where they
go one after another)."""

import threading

import pytest

from connectors.avidxchange.client import AvidClient
from connectors.infor.connector import ChangeFloors, InforConnector
from syncs.engine import run_integration
from tests.syncs.test_pairs import infor_to_avidxchange


def meeting(barrier, method):
    """`method`, whose first call waits at `barrier` for its partner's."""
    first = []

    def meet(*args, **kwargs):
        if not first:
            first.append(True)
            barrier.wait()
        return method(*args, **kwargs)
    return meet


def pair_meeting(monkeypatch, first, second):
    """(class, method name) twice: their first calls must be under way at once."""
    barrier = threading.Barrier(2, timeout=10)
    for owner, name in (first, second):
        monkeypatch.setattr(owner, name, meeting(barrier, getattr(owner, name)))
    return barrier


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_code_lists_read_and_published_at_once(tenant, sandbox, monkeypatch):
    integration = infor_to_avidxchange(tenant, sandbox, every_account=True)
    reads = pair_meeting(monkeypatch, (InforConnector, "gl_accounts"), (InforConnector, "dimensions"))
    lists = threading.Barrier(2, timeout=10)
    upsert = AvidClient.upsert_codes
    met = []

    def upsert_meeting(self, list_type, bodies):
        if list_type not in met:
            met.append(list_type)
            lists.wait()
        return upsert(self, list_type, bodies)

    monkeypatch.setattr(AvidClient, "upsert_codes", upsert_meeting)
    run = run_integration(integration.pk)
    assert not reads.broken, "the GL accounts and the dimensions were read one after the other"
    assert not lists.broken and len(met) == 2, "the code lists were published one after the other"
    assert run.counters.get("codes_published", 0) > 0 and run.counters.get("bills_created", 0) > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first, second, waited", [
    ((InforConnector, "supplier_emails"), (ChangeFloors, "after"), "the e-mail list waited for the markers"),
    ((InforConnector, "listed_statuses"), (InforConnector, "supplier_details"),
     "the addresses waited for the statuses"),
], ids=["e-mails beside the markers", "addresses beside the statuses"])
def test_a_supplier_read_that_depends_on_nothing_but_the_list_goes_beside_another(tenant, sandbox, monkeypatch, first,
                                                                                  second, waited):
    integration = infor_to_avidxchange(tenant, sandbox, every_account=True)
    beside = pair_meeting(monkeypatch, first, second)
    run = run_integration(integration.pk)
    assert not beside.broken, waited
    assert run.counters.get("vendors_created", 0) > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_filter_check_and_the_search_s_first_point_are_asked_at_once(tenant, sandbox, monkeypatch):
    integration = infor_to_avidxchange(tenant, sandbox, every_account=True)
    asked, barrier = [], threading.Barrier(2, timeout=10)
    after = ChangeFloors.after

    def after_meeting(self, index):
        asked.append(index)
        if len(asked) <= 2 and index not in self.changed:
            barrier.wait()
        return after(self, index)

    monkeypatch.setattr(ChangeFloors, "after", after_meeting)
    run_integration(integration.pk)
    assert not barrier.broken, "the search's first list waited for the filter's check"
    assert len(set(asked[:2])) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_suppliers_are_read_while_the_code_lists_are_published(tenant, sandbox, monkeypatch):
    """Infor → AvidXchange: no step before the suppliers' writes to them, so they are read ahead, while the code lists
    go out."""
    integration = infor_to_avidxchange(tenant, sandbox, every_account=True)
    barrier = threading.Barrier(2, timeout=10)
    suppliers = InforConnector.suppliers

    def suppliers_meeting(self, *args, **kwargs):
        barrier.wait()
        yield from suppliers(self, *args, **kwargs)

    monkeypatch.setattr(InforConnector, "suppliers", suppliers_meeting)
    monkeypatch.setattr(AvidClient, "upsert_codes", meeting(barrier, AvidClient.upsert_codes))
    run = run_integration(integration.pk)
    assert not barrier.broken, "the suppliers waited for the code lists"
    assert run.counters.get("vendors_created", 0) > 0 and run.counters.get("codes_published", 0) > 0
