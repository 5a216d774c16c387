"""A mapping rule the systems' lists, as last loaded, do not bear out is flagged in words: a target the AP platform
no longer has (by number and name, to pick again), an ERP code the ERP does not have. The engine's checks run on the
fake pair; a rule surviving the demo's restart runs on the simulators."""

import io

from django.core.management import call_command

from sandbox.infor import demo
from syncs import reference
from syncs.engine import run_integration
from syncs.models import MappingRule, RecordStatus, SyncRecord
from tests.fakes import demo as fake_demo_data


def test_a_rule_whose_target_is_gone_names_it_as_last_loaded_and_says_pick_again(fake_demo, fakes):
    rule = MappingRule.objects.get(integration=fake_demo, kind="gl_account", source_code="6000")
    gone = rule.target_id
    MappingRule.objects.filter(pk=rule.pk).update(target_label="")  # the list, not the rule, knows its name
    # Gone from the AP platform's chart, as when the account was built again without it.
    fakes.ap().gl_accounts = [a for a in fakes.ap().gl_accounts if a.id != gone]
    reference.load_both(fake_demo)  # loaded again since, without it: it is known as it was last loaded
    run_integration(fake_demo.pk)
    rule.refresh_from_db()
    assert rule.problem == (f"GL account 6000 is mapped to Fake AP GL account 6000 · Raw materials (id {gone}, as "
                            "last loaded), which is no longer in Fake AP's list: pick again under Mapping rules.")
    failed = SyncRecord.objects.filter(integration=fake_demo, object_type="bill", status=RecordStatus.FAILED)
    assert any(rule.problem in record.error_detail for record in failed), "its invoices say the same"


def test_a_target_never_listed_is_named_as_the_rule_names_it(fake_demo):
    rule = MappingRule.objects.get(integration=fake_demo, kind="gl_account", source_code="6010")
    MappingRule.objects.filter(pk=rule.pk).update(target_id="0caTYPEDBYHAND1")
    run_integration(fake_demo.pk)
    rule.refresh_from_db()
    assert rule.problem == ("GL account 6010 is mapped to Fake AP GL account Packaging (id 0caTYPEDBYHAND1), which is "
                            "no longer in Fake AP's list: pick again under Mapping rules.")


def test_a_rule_for_a_code_the_erp_does_not_have_is_flagged_and_still_applies(fake_demo):
    listed = MappingRule.objects.get(integration=fake_demo, kind="gl_account", source_code="6000")
    typo = MappingRule.objects.create(integration=fake_demo, kind="gl_account", source_code="6O00",
                                      target_id=listed.target_id, target_label="Raw materials")
    loaded = reference.cached(fake_demo.source).loaded_at
    run = run_integration(fake_demo.pk)
    typo.refresh_from_db()
    assert typo.problem == (f"GL account 6O00 is not in Fake ERP's list as loaded {loaded:%Y-%m-%d %H:%M} "
                            "UTC; correct the code, or use \"Load reference data\" if it was added since.")
    assert run.counters["mapping_rules_invalid"] == 0, "a list older than the code does not stop the rule"
    others = MappingRule.objects.filter(integration=fake_demo, confirmed=True).exclude(pk=typo.pk)
    assert not [rule.problem for rule in others if rule.problem], "every code the ERP has passes"
    assert fake_demo_data.UNMAPPED_ACCOUNT not in set(others.values_list("source_code", flat=True))


def test_without_the_erp_list_nothing_is_said_about_its_codes(fake_demo):
    from django.core.cache import cache

    cache.delete(reference.cache_key(fake_demo.source))
    listed = MappingRule.objects.get(integration=fake_demo, kind="gl_account", source_code="6000")
    typo = MappingRule.objects.create(integration=fake_demo, kind="gl_account", source_code="6O00",
                                      target_id=listed.target_id)
    run_integration(fake_demo.pk)
    typo.refresh_from_db()
    assert typo.problem == ""


def test_a_rule_people_added_still_holds_after_a_restart(infor_to_bill, sandbox):
    """The README's fix, then `make run` again: the simulators start empty and are loaded again."""
    misc = next(o for o in reference.cached(infor_to_bill.target).options if o.code == demo.UNMAPPED_ACCOUNT)
    rule = MappingRule.objects.create(integration=infor_to_bill, kind="gl_account", source_code=demo.UNMAPPED_ACCOUNT,
                                      target_id=misc.id, target_label=misc.name)
    sandbox.reset()
    call_command("seed_demo", sandbox_url=sandbox.url, only=["infor"], stdout=io.StringIO())
    run_integration(infor_to_bill.pk)
    rule.refresh_from_db()
    assert rule.problem == ""
    record = SyncRecord.objects.get(integration=infor_to_bill, object_type="bill", number=demo.UNMAPPED_INVOICE)
    assert record.status == RecordStatus.SYNCED, record.error_detail
