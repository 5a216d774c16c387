"""Mapping rules carry a kind on each side and are checked against that kind of reference data."""

import requests
from django.urls import reverse

from sandbox import demo
from sandbox.bill import simulator as bill_sandbox
from syncs import operations, reference
from syncs.engine import run_integration
from syncs.models import MappingRule, SyncRecord
from tests.syncs.test_infor_to_bill import INVOICES, bill_org, integration  # noqa: F401 (fixture)


def seed_location(sandbox, name="Plant 7"):
    response = requests.post(f"{sandbox.url}/_control/bill/seed", timeout=30,
                             json={"organizationId": bill_sandbox.ORG_ID, "locations": [{"name": name}]})
    response.raise_for_status()
    return response.json()["locations"][0]["id"]


def test_a_department_rule_pointing_at_a_location_is_refused_with_the_reason(
        integration, sandbox, admin_client):  # noqa: F811
    location = seed_location(sandbox)
    MappingRule.objects.filter(integration=integration, kind="department", source_code="200").update(
        target_id=location)
    run_integration(integration.pk)
    rule = MappingRule.objects.get(integration=integration, kind="department", source_code="200")
    assert rule.problem == (f"Department 200 is mapped to BILL id {location}, which is a location there, "
                            "not a department")
    on_200 = {n for n, inv in INVOICES.items() if any(line["AIT2"] == "200" for line in inv["lines"])}
    failed = {r.source_ref.split(" ")[0]: r for r in SyncRecord.objects.filter(
        integration=integration, object_type="bill", status="failed")}
    assert on_200 and on_200 <= set(failed), "no invoice coded to department 200 went to BILL"
    assert all(rule.problem in failed[number].error_detail for number in on_200)
    assert not any("departmentId" in line.get("classifications", {}) and line["classifications"]["departmentId"]
                   == location for bill in bill_org(sandbox)["bills"] for line in bill["billLineItems"])
    page = admin_client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert "which is a location there, not a department" in page


def test_an_erp_department_can_become_a_bill_location(integration, sandbox):  # noqa: F811
    location = seed_location(sandbox)
    MappingRule.objects.filter(integration=integration, kind="department", source_code="100").update(
        target_kind="location", target_id=location)
    run_integration(integration.pk)
    assert MappingRule.objects.get(integration=integration, source_code="100", kind="department").problem == ""
    coded = [line["classifications"] for bill in bill_org(sandbox)["bills"] for line in bill["billLineItems"]]
    assert any(c.get("locationId") == location and "departmentId" not in c for c in coded)


def test_a_rule_whose_target_vanished_is_flagged_and_the_flag_clears_once_fixed(integration, sandbox):  # noqa: F811
    rule = MappingRule.objects.filter(integration=integration, kind="gl_account").first()
    good = rule.target_id
    MappingRule.objects.filter(pk=rule.pk).update(target_id="0caGONE")
    run_integration(integration.pk)
    rule.refresh_from_db()
    assert rule.problem == (f"GL account {rule.source_code} is mapped to BILL GL account {rule.target_label} (id "
                            "0caGONE), which is no longer in BILL's list: pick again under Mapping rules.")
    MappingRule.objects.filter(pk=rule.pk).update(target_id=good)
    run_integration(integration.pk)
    rule.refresh_from_db()
    assert rule.problem == "" and rule.checked_at is not None


def test_proposals_can_be_run_again_and_show_names(integration, sandbox):  # noqa: F811
    MappingRule.objects.filter(integration=integration, kind="gl_account").update(source_label="", target_label="")
    first = operations.load_reference_data(integration, "ops")
    second = operations.load_reference_data(integration, "ops")
    assert first["proposed"] == 1 and second["proposed"] == 0, "the same proposal is not made twice"
    proposal = MappingRule.objects.get(integration=integration, confirmed=False)
    assert proposal.source_label and proposal.target_label
    assert str(proposal) == f"GL account {proposal.source_code} {proposal.source_label} → {proposal.target_label}"
    named = MappingRule.objects.filter(integration=integration, kind="gl_account", confirmed=True)
    assert all(rule.source_label == demo.GL_NAMES[rule.source_code] for rule in named)


def test_a_gl_account_cannot_be_mapped_to_a_dimension(integration, sandbox):  # noqa: F811
    from django.core.exceptions import ValidationError

    rule = MappingRule(integration=integration, kind="gl_account", target_kind="department", source_code="6000",
                       target_id="x")
    try:
        rule.clean()
    except ValidationError as exc:
        assert "cannot become a department" in str(exc)
    else:
        raise AssertionError("a GL account mapped to a department was accepted")
    # Written around the form (an import, a script): the run refuses it with the same reason.
    MappingRule.objects.filter(integration=integration, kind="gl_account", source_code="6000").update(
        target_kind="department")
    run_integration(integration.pk)
    assert "cannot become a department" in MappingRule.objects.get(
        integration=integration, kind="gl_account", source_code="6000").problem


def test_adding_a_rule_starts_from_its_integration_so_the_target_is_picked(integration, admin_client):  # noqa: F811
    chooser = admin_client.get(reverse("admin:syncs_mappingrule_add")).content.decode()
    follow = reverse("admin:syncs_mappingrule_add") + f"?integration={integration.pk}"
    assert "Pick the integration" in chooser and f'href="{follow}"' in chooser
    reference.load(integration.target)
    form = admin_client.get(follow).content.decode()
    assert "<select" in form and "6000 · Raw materials" in form, "the AP platform's accounts by number and name"
