"""The ops work queue: failures grouped by cause, a group retried at once, records set aside and put back."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEntry, Membership, Tenant
from syncs import reasons, reference, workqueue
from syncs.models import MappingRule, RecordStatus, SyncRecord
from tests.syncs.test_status_pages import invoice, make_integration

UNMAPPED = "GL account 6100 is not mapped to a BILL account."


def failures(integration):
    for n in range(37):
        invoice(integration, n, RecordStatus.FAILED, error_class="mapping", error_detail=UNMAPPED, cause="gl_unmapped",
                subject="6100")
    for n in range(3):
        invoice(integration, 100 + n, RecordStatus.FAILED, error_class="data", cause="lines_do_not_add_up",
                error_detail=f"The lines add up to {10 + n}.00 USD but the invoice total is {20 + n}.50 USD.")
    invoice(integration, 200, RecordStatus.FAILED, error_class="transient", cause="no_answer",
            error_detail="BILL did not answer properly after retries: HTTP 503 for request 00n01ABCDEFGHIJ12345")


def test_failures_group_by_cause_largest_first(integration):
    failures(integration)
    groups, overflow = workqueue.groups()
    assert [(g.reason, g.count) for g in groups] == [
        (UNMAPPED, 37), ("The lines do not add up to the invoice total", 3),
        ("BILL did not answer properly after retries: HTTP 503 for request 00n01ABCDEFGHIJ12345", 1)]
    assert overflow == 0
    assert workqueue.records_of(groups[1]).count() == 3
    assert groups[0].integration_name == f"{integration.tenant.name}: {integration.name}", \
        "a group says which integration it is in"


def test_a_group_link_to_an_integration_that_is_gone_answers_404_not_every_tenant(client, ops, integration):
    failures(integration)
    key = workqueue.groups()[0][0].key
    gone = reverse("admin:syncs_syncrecord_group", args=[key]) + "?integration=999999"
    assert client.get(gone).status_code == 404
    assert client.post(gone, {"retry": "1"}).status_code == 404
    assert not AuditEntry.objects.filter(action="sync.replay").exists()


def test_the_work_queue_page_retries_a_whole_group(client, ops, integration, django_capture_on_commit_callbacks):
    failures(integration)
    html = client.get(reverse("admin:syncs_syncrecord_workqueue")).content.decode()
    assert UNMAPPED in html and "Retry all 37" in html and "missing mapping" in html
    assert "Map the code under Mapping rules" in html, "what ops do, not what finance is told"
    key = workqueue.groups()[0][0].key
    group_page = client.get(reverse("admin:syncs_syncrecord_group", args=[key])).content.decode()
    assert "Retry all 37 in this group" in group_page and "Add the rule for GL account 6100" in group_page
    assert "Ask your operations team" not in group_page
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(reverse("admin:syncs_syncrecord_group", args=[key]), {"retry": "1"}, follow=True)
    assert "Retrying 37 record(s)" in response.content.decode()
    assert len(queued) == 1, "one replay run queued for the integration"
    replay = AuditEntry.objects.get(action="sync.replay")
    assert replay.actor == "olivia" and len(replay.details["records"]) == 37
    each = AuditEntry.objects.filter(action="sync.record.replayed", actor="olivia")
    assert each.count() == 37, "each record's own history says who asked for it again"


def test_a_record_set_aside_keeps_its_reason_is_never_replayed_and_can_be_put_back(client, ops, integration):
    duplicate = invoice(integration, 7, RecordStatus.FAILED, error_class="data", error_detail="Duplicate invoice")
    url = reverse("admin:syncs_syncrecord_changelist")
    form = client.post(url, {"action": "ignore", "_selected_action": [duplicate.pk]})
    assert "Set records aside" in form.content.decode()
    client.post(url, {"action": "ignore", "_selected_action": [duplicate.pk], "apply": "1",
                      "reason": "The supplier sent this invoice twice"})
    duplicate.refresh_from_db()
    assert duplicate.status == RecordStatus.IGNORED and duplicate.note == "The supplier sent this invoice twice"
    entry = AuditEntry.objects.get(action="sync.record.ignored")
    assert entry.actor == "olivia" and entry.object_id == str(duplicate.pk)
    assert "Set aside: The supplier sent this invoice twice" in client.get(url).content.decode()
    assert workqueue.retry(SyncRecord.objects.all(), "olivia") == 0, "set aside: not retried"
    client.post(url, {"action": "unignore", "_selected_action": [duplicate.pk]})
    duplicate.refresh_from_db()
    assert duplicate.status == RecordStatus.FAILED and duplicate.note == ""
    assert AuditEntry.objects.get(action="sync.record.unignored").actor == "olivia"


def test_setting_aside_needs_a_reason(integration):
    invoice(integration, 1, RecordStatus.FAILED)
    with pytest.raises(ValueError, match="Say why"):
        workqueue.ignore(SyncRecord.objects.all(), "  ", "olivia")


def test_a_synced_record_is_not_set_aside(integration):
    sent = invoice(integration, 1)
    assert workqueue.ignore(SyncRecord.objects.all(), "duplicate", "olivia") == 0
    sent.refresh_from_db()
    assert sent.status == RecordStatus.SYNCED


def test_staff_who_may_only_view_get_no_retry_or_ignore(client, integration):
    viewer = get_user_model().objects.create_user("vic", password="pw-0123456789", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_syncrecord"))
    Membership.objects.create(user=viewer, tenant=integration.tenant, role=Membership.OPS)
    client.force_login(viewer)
    failures(integration)
    key = workqueue.groups()[0][0].key
    assert "Retry all" not in client.get(reverse("admin:syncs_syncrecord_workqueue")).content.decode()
    assert client.post(reverse("admin:syncs_syncrecord_group", args=[key]), {"retry": "1"}).status_code == 403


def test_mapping_targets_are_picked_by_number_and_name_once_loaded(client, ops, integration, monkeypatch):
    rule_url = reverse("admin:syncs_mappingrule_add") + f"?integration={integration.pk}"
    assert "to pick from its list instead" in client.get(rule_url).content.decode(), "typed while nothing is loaded"
    known = reference.Reference((reference.Option("gl_account", "0ca01", "6100", "Office supplies"),
                                 reference.Option("department", "0de01", "Sales", "Sales")), timezone.now())
    monkeypatch.setattr(reference, "cached", lambda connection: known)
    html = client.get(rule_url).content.decode()
    assert '<option value="0ca01">6100 · Office supplies</option>' in html
    base = {"integration": integration.pk, "kind": "gl_account", "source_code": "6100", "target_kind": "gl_account",
            "confirmed": "on"}
    wrong = client.post(reverse("admin:syncs_mappingrule_add"), {**base, "target_id": "0de01"})
    assert "Sales is a Department in the AP platform, not a GL account." in wrong.content.decode()
    elsewhere = client.post(reverse("admin:syncs_mappingrule_add"), {**base, "target_id": "0caOTHER"})
    assert "0caOTHER is not in this AP platform&#x27;s list as loaded" in elsewhere.content.decode()
    assert not MappingRule.objects.exists()
    client.post(reverse("admin:syncs_mappingrule_add"), {**base, "target_id": "0ca01"})
    rule = MappingRule.objects.get()
    assert (rule.target_id, rule.target_label) == ("0ca01", "Office supplies")
    listing = client.get(reverse("admin:syncs_mappingrule_changelist")).content.decode()
    assert "GL account 6100" in listing and "Office supplies" in listing


def test_a_dimension_rule_takes_the_kind_of_the_target_picked_as_the_work_queue_link_leaves_it(client, ops,
                                                                                                  integration,
                                                                                                  monkeypatch):
    """The work queue's "Add the rule for subaccount 900-000" fills the ERP kind and code only; the target picked is an
    accounting class, which a subaccount may become. A GL account may become nothing but a GL account."""
    known = reference.Reference((reference.Option("class", "0cl01", "900-000", "Trade show 2026"),
                                 reference.Option("gl_account", "0ca01", "6100", "Office supplies")), timezone.now())
    monkeypatch.setattr(reference, "cached", lambda connection: known)
    add = reverse("admin:syncs_mappingrule_add")
    client.post(add, {"integration": integration.pk, "kind": "subaccount", "source_code": "900-000",
                      "target_id": "0cl01", "confirmed": "on"})
    rule = MappingRule.objects.get()
    assert (rule.kind, rule.target_kind, rule.target_id) == ("subaccount", "class", "0cl01")
    wrong = client.post(add, {"integration": integration.pk, "kind": "gl_account", "source_code": "6999",
                              "target_id": "0cl01", "confirmed": "on"})
    said = "900-000 · Trade show 2026 is an Accounting class in the AP platform, not a GL account."
    assert said in wrong.content.decode()


def test_rules_that_cannot_be_used_are_flagged_and_filtered(client, ops, integration):
    MappingRule.objects.create(integration=integration, kind="gl_account", source_code="6100", target_id="0ca01",
                               target_label="Office supplies")
    MappingRule.objects.create(integration=integration, kind="gl_account", source_code="6200", target_id="0ca09",
                               problem="GL account 6200 is mapped to BILL GL account 0ca09, which does not exist there")
    html = client.get(reverse("admin:syncs_mappingrule_changelist") + "?problem__isempty=0").content.decode()
    assert "which does not exist there" in html and "6100" not in html
    page = client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert "which does not exist there" in page and "Fix them under Mapping rules" in page


def test_the_integration_form_offers_only_the_tenants_connections(client, ops, integration):
    other = make_integration(Tenant.objects.create(name="Other Co", slug="other"), "Theirs")
    Membership.objects.create(user=ops, tenant=other.tenant, role=Membership.OPS)  # operated, yet not offered here
    html = client.get(reverse("admin:syncs_integration_add") + f"?tenant={integration.tenant.pk}").content.decode()
    assert integration.source.name in html and other.source.name not in html and other.target.name not in html
    assert "Which tenant" in client.get(reverse("admin:syncs_integration_add")).content.decode()
    change = client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert other.target.name not in change
    for words in ("What a run does", "Failure streak", "Recent runs", "Sync now", "Backfill"):
        assert words in change


def test_the_sync_records_list_links_to_the_work_queue(admin_client):
    from django.urls import reverse

    html = admin_client.get(reverse("admin:syncs_syncrecord_changelist")).content.decode()
    assert f'href="{reverse("admin:syncs_syncrecord_workqueue")}"' in html


def test_a_bill_in_a_currency_the_account_cannot_pay_is_advised_as_such_not_as_a_source_correction():
    assert reasons.advice("currency_not_payable", "data").action.startswith("Pay it outside the AP platform")
    assert reasons.advice("lines_do_not_add_up", "data").action.startswith("Correct the invoice in the ERP")
    assert reasons.advice("", "data").action.startswith("Correct it in the ERP"), "a row without a cause: its class's"
