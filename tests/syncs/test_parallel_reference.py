"""The run's first round trips made at once: the AP platform's accounts and dimensions read while the ERP signs in,
so that the ERP's first step does not wait for a sign-in. (In the test suite's in-memory database the
reads run one after another: fan_out's rule; what is asserted here is what is read and signed, not the timing.)"""

from types import SimpleNamespace

from syncs import engine
from syncs.engine import run_integration
from syncs.models import RunStatus
from syncs.plan import plan_for


class Session:
    def __init__(self):
        self.signed = 0

    def headers(self):
        self.signed += 1
        return {"Authorization": "Bearer t"}, "t"


def test_the_erp_is_signed_in_ahead_when_its_one_client_signs_in_by_a_token_session():
    session = Session()
    engine.sign_in(SimpleNamespace(http_clients=lambda: [SimpleNamespace(auth=session)]))
    assert session.signed == 1
    engine.sign_in(SimpleNamespace(http_clients=lambda: [SimpleNamespace(auth=None)]))  # nothing to sign in


def test_an_erp_of_several_clients_signs_in_only_when_it_first_calls_the_one_that_needs_it():
    """One client for reads by basic authentication, another with a session for writes: a run that writes nothing
    must open no session (each holds a licence seat)."""
    session = Session()
    engine.sign_in(SimpleNamespace(http_clients=lambda: [SimpleNamespace(auth=None), SimpleNamespace(auth=session)]))
    assert session.signed == 0


def test_reference_data_is_read_with_the_erp_signed_in_before_the_first_step(monkeypatch):
    said = []

    class Ap:
        def gl_accounts(self):
            said.append("accounts")
            return iter(())

        def dimensions(self):
            said.append("dimensions")
            return iter(())

    monkeypatch.setattr(engine, "sign_in", lambda connector: said.append(("signed in", connector)))
    monkeypatch.setattr(engine.reference, "cached", lambda connection: None)
    monkeypatch.setattr(engine.MappingRule.objects, "filter", lambda **kwargs: [])
    sync = SimpleNamespace(ap=Ap(), erp="the ERP", integration=SimpleNamespace(source=None, target=None),
                           dry_run=True, counters={})
    sync.read_reference = lambda: engine.Sync.read_reference(sync)
    engine.Sync.load_reference_data(sync)
    assert sorted(map(str, said)) == sorted(map(str, ["accounts", "dimensions", ("signed in", "the ERP")]))
    assert sync.rules == {} and sync.counters["mapping_rules_invalid"] == 0


def test_the_rules_are_checked_after_the_steps_that_need_none_and_before_the_first_that_does(fake_demo, monkeypatch):
    """The steps before the first that codes by the rules (vendor edits, suppliers) run while the reference data is
    read; the rules are in hand, checked, before the invoices step starts."""
    order = []
    load = engine.Sync.load_reference_data

    def load_saying(self, reading=None):
        order.append("rules")
        return load(self, reading)

    monkeypatch.setattr(engine.Sync, "load_reference_data", load_saying)
    steps = {step.__name__: step for step in plan_for(fake_demo)}

    def said(name, run):
        def run_saying(self, sync):
            order.append(name)
            return run(self, sync)
        return run_saying

    for name, step in steps.items():
        monkeypatch.setattr(step, "run", said(name, step.run))
    assert run_integration(fake_demo.pk).status == RunStatus.PARTIAL
    at = order.index("rules")
    assert order.count("rules") == 1 and steps[order[at + 1]].uses_mapping_rules
    assert order[:at] and not any(steps[name].uses_mapping_rules for name in order[:at]), order
