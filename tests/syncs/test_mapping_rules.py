"""Mapping rules carry a kind on each side and are checked against that kind of reference data (the engine's
checks: on the fake pair, whose AP platform keeps its own chart and dimensions as BILL does)."""

from django.urls import reverse

from connectors.records import Dimension
from syncs import operations, reference
from syncs.engine import run_integration
from syncs.models import MappingRule, SyncRecord
from tests.connectors.bill.conftest import make_bill_connection
from tests.fakes import demo


def add_location(fakes, name="Plant 7"):
    location = Dimension(kind="location", code=name, name=name, id=f"loc-{name}")
    fakes.ap().dimensions.append(location)
    return location.id


def test_a_department_rule_pointing_at_a_location_is_refused_with_the_reason(fake_demo, fakes, admin_client):
    location = add_location(fakes)
    MappingRule.objects.filter(integration=fake_demo, kind="department", source_code="200").update(target_id=location)
    run_integration(fake_demo.pk)
    rule = MappingRule.objects.get(integration=fake_demo, kind="department", source_code="200")
    assert rule.problem == (f"Department 200 is mapped to Fake AP id {location}, which is a location there, "
                            "not a department")
    on_200 = {i.invoice_number for i in demo.invoices()
              if any(line.dimensions["department"] == "200" for line in i.lines)}
    failed = {r.source_ref.split(" ")[0]: r for r in SyncRecord.objects.filter(
        integration=fake_demo, object_type="bill", status="failed")}
    assert on_200 and on_200 <= set(failed), "no invoice coded to department 200 went to the AP platform"
    assert all(rule.problem in failed[number].error_detail for number in on_200)
    assert not any(line.get("department") == location for bill in fakes.ap().bills.values() for line in bill["lines"])
    page = admin_client.get(reverse("admin:syncs_integration_change", args=[fake_demo.pk])).content.decode()
    assert "which is a location there, not a department" in page


def test_an_erp_department_can_become_an_ap_location(fake_demo, fakes):
    location = add_location(fakes)
    MappingRule.objects.filter(integration=fake_demo, kind="department", source_code="100").update(
        target_kind="location", target_id=location)
    run_integration(fake_demo.pk)
    assert MappingRule.objects.get(integration=fake_demo, source_code="100", kind="department").problem == ""
    coded = [line for bill in fakes.ap().bills.values() for line in bill["lines"]]
    assert any(line.get("location") == location and "department" not in line for line in coded)


def test_bills_half_a_location_target_is_sent_as_the_lines_location(tenant):
    """What BILL is sent for a line the rules code to a location: its locationId, and no departmentId."""
    invoice = demo.invoices()[1]
    with make_bill_connection(tenant, "https://127.0.0.1:9").connector() as bill:
        payload = bill.bill_payload("009VENDOR", invoice, {0: {"gl_account": "0caGL", "location": "loc7"}})
    assert payload["billLineItems"][0]["classifications"] == {"chartOfAccountId": "0caGL", "locationId": "loc7"}


def test_a_rule_whose_target_vanished_is_flagged_and_the_flag_clears_once_fixed(fake_demo):
    rule = MappingRule.objects.filter(integration=fake_demo, kind="gl_account").first()
    good = rule.target_id
    MappingRule.objects.filter(pk=rule.pk).update(target_id="0caGONE")
    run_integration(fake_demo.pk)
    rule.refresh_from_db()
    assert rule.problem == (f"GL account {rule.source_code} is mapped to Fake AP GL account {rule.target_label} (id "
                            "0caGONE), which is no longer in Fake AP's list: pick again under Mapping rules.")
    MappingRule.objects.filter(pk=rule.pk).update(target_id=good)
    run_integration(fake_demo.pk)
    rule.refresh_from_db()
    assert rule.problem == "" and rule.checked_at is not None


def test_proposals_can_be_run_again_and_show_names(fake_demo):
    MappingRule.objects.filter(integration=fake_demo, kind="gl_account").update(source_label="", target_label="")
    first = operations.load_reference_data(fake_demo, "ops")
    second = operations.load_reference_data(fake_demo, "ops")
    assert first["proposed"] == 1 and second["proposed"] == 0, "the same proposal is not made twice"
    proposal = MappingRule.objects.get(integration=fake_demo, confirmed=False)
    assert proposal.source_label and proposal.target_label
    assert str(proposal) == f"GL account {proposal.source_code} {proposal.source_label} → {proposal.target_label}"
    named = MappingRule.objects.filter(integration=fake_demo, kind="gl_account", confirmed=True)
    assert all(rule.source_label == demo.GL_NAMES[rule.source_code] for rule in named)


def test_a_gl_account_cannot_be_mapped_to_a_dimension(fake_demo):
    from django.core.exceptions import ValidationError

    rule = MappingRule(integration=fake_demo, kind="gl_account", target_kind="department", source_code="6000",
                       target_id="x")
    try:
        rule.clean()
    except ValidationError as exc:
        assert "cannot become a department" in str(exc)
    else:
        raise AssertionError("a GL account mapped to a department was accepted")
    # Written around the form (an import, a script): the run refuses it with the same reason.
    MappingRule.objects.filter(integration=fake_demo, kind="gl_account", source_code="6000").update(
        target_kind="department")
    run_integration(fake_demo.pk)
    assert "cannot become a department" in MappingRule.objects.get(
        integration=fake_demo, kind="gl_account", source_code="6000").problem


def test_adding_a_rule_starts_from_its_integration_so_the_target_is_picked(fake_demo, admin_client):
    chooser = admin_client.get(reverse("admin:syncs_mappingrule_add")).content.decode()
    follow = reverse("admin:syncs_mappingrule_add") + f"?integration={fake_demo.pk}"
    assert "Pick the integration" in chooser and f'href="{follow}"' in chooser
    reference.load(fake_demo.target)
    form = admin_client.get(follow).content.decode()
    assert "<select" in form and "6000 · Raw materials" in form, "the AP platform's accounts by number and name"
