"""Failure causes as codes (connectors.causes): every cause has its advice and every code the code base files a failure
under is registered; the work queue groups by integration and code (and subject, where a fix mends one: each unmapped
code with its own rule to add) and reads the values its records share, "(varies)" for the others; a cause a retry cannot
fix offers what can be done instead; a reason names the ERP's supplier before the AP platform's id, in one sentence;
a group's page shows whole reasons; migration 0009 files the rows written before causes were stored."""

import importlib
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils.html import escape

from connectors.causes import CAUSES, OFFERS
from connectors.errors import DataError, NotFound, TransientError
from connectors.models import Connection
from connectors.records import Invoice, InvoiceLine
from portal.models import AuditEntry, Membership, Tenant
from syncs import reasons, workqueue
from syncs.engine import run_integration
from syncs.models import MappingRule, RecordStatus, SyncRecord
from tests.syncs.test_status_pages import invoice, make_integration, make_user

ROOT = Path(__file__).resolve().parents[2]
MIGRATION = importlib.import_module("syncs.migrations.0009_record_cause_codes")
# A cause code named in the code base: `cause="x"`, and the class defaults `cause = "x"` (REFUSED_CAUSE = "x" too).
NAMED_CAUSE = re.compile(r"cause\w*\s*=\s*[\"'](\w+)[\"']", re.IGNORECASE)


def test_every_cause_in_the_registry_has_its_advice():
    for code, cause in CAUSES.items():
        assert cause.code == code
        for name in ("title", "headline", "action", "ops"):
            assert getattr(cause, name).strip(), f"cause {code!r} has no {name}"
        assert cause.offer in ("", *OFFERS), f"cause {code!r} offers {cause.offer!r}, unknown to the work queue"
        assert "(varies)" not in cause.title.format(subject="6999", erp="Infor", ap="BILL"), \
            f"cause {code!r}'s title names a value a group does not fill in"


def test_every_cause_the_code_base_names_is_in_the_registry():
    named = {}
    for folder in ("connectors", "syncs", "webhooks", "portal"):
        for path in (ROOT / folder).rglob("*.py"):
            for code in NAMED_CAUSE.findall(path.read_text()):
                named.setdefault(code, path.relative_to(ROOT))
    named.update({code: "syncs/reasons.py BY_CLASS" for code in reasons.BY_CLASS.values()})
    named.update({code: "migration 0009" for _, code, _ in MIGRATION.RULES})
    named.update({code: "migration 0009 BY_CLASS" for code in MIGRATION.BY_CLASS.values()})
    assert {"gl_unmapped", "currency_not_payable", "payee_inactive", "vendor_owned_elsewhere", "refused",
            "lines_do_not_add_up", "held_after_sending"} <= set(named), "the search finds the codes in use"
    unknown = {code: where for code, where in named.items() if code not in CAUSES}
    assert not unknown, f"causes used without an entry in connectors.causes.CAUSES: {unknown}"


def test_an_error_is_made_only_with_a_registered_cause():
    assert (DataError("x").cause, NotFound("x").cause, TransientError("x").cause) == ("refused", "not_found",
                                                                                       "no_answer")
    assert DataError("x", cause="payee_inactive", subject="S20004").subject == "S20004"
    with pytest.raises(ValueError, match="connectors.causes.CAUSES"):
        DataError("x", cause="not_a_cause")


def unmapped(integration, n, code, words=None):
    return invoice(integration, n, RecordStatus.FAILED, error_class="mapping", cause="gl_unmapped", subject=code,
                   error_detail=words or f"GL account {code} is not mapped to a BILL account.")


def test_a_group_reads_the_value_its_records_share_and_varies_where_they_do_not(client, ops, integration):
    unmapped(integration, 1, "6999")
    unmapped(integration, 2, "6999", "GL account 6999 is not mapped to a BILL account; GL account 7000 is not mapped "
                                     "to a BILL account.")
    [group], _ = workqueue.groups()
    assert group.reason == "GL account 6999 is not mapped to a BILL account", "one GL account: it is named"

    for n, currency in enumerate(("EUR", "GBP", "GBP")):
        invoice(integration, 10 + n, RecordStatus.FAILED, error_class="data", cause="currency_not_payable",
                subject=currency, currency=currency, error_detail=f"BILL pays USD only, not {currency} ({n}).")
    for n in range(2):
        invoice(integration, 20 + n, RecordStatus.FAILED, error_class="data", cause="lines_do_not_add_up",
                error_detail=f"The lines add up to {10 + n}.00 USD but the invoice total is {20 + n}.50 USD.")
    groups, _ = workqueue.groups()
    assert [(g.reason, g.count) for g in groups] == [
        ("Invoices in (varies), a currency the BILL account does not pay", 3),
        ("GL account 6999 is not mapped to a BILL account", 2),
        ("The lines do not add up to the invoice total", 2)], "a cause grouped without its subject: (varies)"
    assert workqueue.records_of(groups[0]).count() == 3
    html = client.get(reverse("admin:syncs_syncrecord_workqueue")).content.decode()
    start = html.index('<table id="work-queue"')
    table = html[start:html.index("</table>", start)]
    assert "Invoices in (varies), a currency the BILL account does not pay" in table and "…" not in table


def test_a_group_is_one_integration_and_one_code_with_its_own_rule_to_add(client, ops, integration,
                                                                          django_capture_on_commit_callbacks):
    """As the demos showed it: three tenants' unmapped GL accounts were one group "GL account (varies) …" whose
    "Retry all 3" retried three tenants at once, offering only the list of rules."""
    unmapped(integration, 1, "6999")
    unmapped(integration, 2, "6999")
    unmapped(integration, 3, "7999")
    beta = make_integration(Tenant.objects.create(name="Beta Co", slug="beta"), "IFS → BILL")
    Membership.objects.create(user=ops, tenant=beta.tenant, role=Membership.OPS)
    unmapped(beta, 4, "6999")
    for n in range(2):
        invoice(beta, 10 + n, RecordStatus.FAILED, error_class="data", cause="lines_do_not_add_up",
                error_detail=f"The lines add up to {n}.00 USD but the invoice total is 9.00 USD.")
        invoice(integration, 20 + n, RecordStatus.FAILED, error_class="data", cause="lines_do_not_add_up",
                error_detail=f"The lines add up to {n}.00 USD but the invoice total is 9.00 USD.")

    groups, _ = workqueue.groups()
    assert sorted((g.reason, g.integration_name, g.count) for g in groups) == [
        ("GL account 6999 is not mapped to a BILL account.", "Acme Corp: ERP → AP", 2),
        ("GL account 6999 is not mapped to a BILL account.", "Beta Co: IFS → BILL", 1),
        ("GL account 7999 is not mapped to a BILL account.", "Acme Corp: ERP → AP", 1),
        ("The lines do not add up to the invoice total", "Acme Corp: ERP → AP", 2),
        ("The lines do not add up to the invoice total", "Beta Co: IFS → BILL", 2)]
    assert len({g.key for g in groups}) == 5
    for group in groups:
        assert set(workqueue.records_of(group).values_list("integration", flat=True)) == {group.integration_id}
        assert workqueue.records_of(group).count() == group.count

    rows = client.get(reverse("admin:syncs_syncrecord_workqueue")).content.decode().split('<tr class="group">')[1:]
    for code, integration_shown, target, count in (("6999", "Acme Corp: ERP → AP", integration, 2),
                                                   ("6999", "Beta Co: IFS → BILL", beta, 1),
                                                   ("7999", "Acme Corp: ERP → AP", integration, 1)):
        [row] = [r for r in rows if f"GL account {code} is not mapped" in r and integration_shown in r]
        add = reverse("admin:syncs_mappingrule_add") + "?" + urlencode(
            {"integration": target.pk, "kind": "gl_account", "source_code": code})
        assert f'value="Retry all {count}"' in row
        assert f'href="{escape(add)}">Add the rule for GL account {code}</a>' in row
        assert "Open the mapping rules" not in row

    seven = next(g for g in groups if g.subject == "7999")
    with django_capture_on_commit_callbacks() as queued:
        client.post(reverse("admin:syncs_syncrecord_group", args=[seven.key]), {"retry": "1"})
    assert len(queued) == 1, "one integration's run, not every tenant's"
    replayed = AuditEntry.objects.get(action="sync.replay")
    assert replayed.tenant == integration.tenant and len(replayed.details["records"]) == 1


def test_each_unmapped_code_offers_its_rule_with_kind_and_code_filled_in(client, ops, integration):
    invoice(integration, 1, RecordStatus.FAILED, error_class="mapping", cause="code_unmapped",
            subject="Subaccount 900-000", error_detail="Subaccount 900-000 is not mapped to a BILL subaccount.")
    invoice(integration, 2, RecordStatus.FAILED, error_class="mapping", cause="code_unmapped",
            subject="Class SVC", error_detail="Class SVC is not mapped to a BILL class.")
    rows = rows_of(client.get(reverse("admin:syncs_syncrecord_workqueue")).content.decode())
    for heading, words, kind, code in (
            ("Subaccount 900-000 is not mapped to a BILL subaccount.", "subaccount", "subaccount", "900-000"),
            ("Class SVC is not mapped to a BILL class.", "accounting class", "class", "SVC")):
        add = reverse("admin:syncs_mappingrule_add") + "?" + urlencode(
            {"integration": integration.pk, "kind": kind, "source_code": code})
        assert f'href="{escape(add)}">Add the rule for {words} {code}</a>' in rows[heading]
        form = client.get(add).context["adminform"].form
        assert (form.initial["kind"], form.initial["source_code"]) == (kind, code), "the rule's form is filled in"
    for code, cause in CAUSES.items():
        if cause.offer == "add_rule":
            assert cause.by_subject, f"{code}: a rule is added for one code, so its group is one code's"
        assert cause.rule_kind in ("", *dict(MappingRule.KINDS)), f"{code}: its rule's kind is a MappingRule kind"


def rows_of(html):
    """The work queue's group rows, by the cause each one heads."""
    return {re.search(r">([^<]+)</a></td>", row).group(1): row for row in html.split('<tr class="group">')[1:]}


def test_a_group_a_retry_cannot_fix_offers_what_can_be_done_instead(client, ops, integration):
    for n in range(2):
        invoice(integration, n, RecordStatus.FAILED, error_class="data", cause="currency_not_payable", subject="EUR",
                currency="EUR", error_detail=f"The invoice is in EUR, and the BILL account pays bills in USD only; "
                                             f"nothing is converted (invoice {n}).")
    SyncRecord.objects.create(integration=integration, object_type="vendor", source_id="S10001", source_ref="S10001",
                              status=RecordStatus.FAILED, error_class="configuration", cause="vendor_owned_elsewhere",
                              subject="S10001", error_detail="Vendor S10001 in BILL organization 0080 belongs to "
                                                             "integration 'Other'; give this integration a prefix.")
    unmapped(integration, 9, "6999")
    rows = rows_of(client.get(reverse("admin:syncs_syncrecord_workqueue")).content.decode())
    currency = rows["Invoices in EUR, a currency the BILL account does not pay"]
    assert "Retry all" not in currency and "Set aside with a reason" in currency
    owned = rows["Vendor S10001 in BILL organization 0080 belongs to integration &#x27;Other&#x27;; give this "
                 "integration a prefix."]
    prefix = reverse("admin:syncs_integration_change", args=[integration.pk]) + "#id_vendor_key_prefix"
    assert "Retry all" not in owned and f'href="{prefix}"' in owned
    assert "Edit the vendor key prefix of ERP → AP" in owned
    mapped = rows["GL account 6999 is not mapped to a BILL account."]
    assert "Retry all 1" in mapped and "Add the rule for GL account 6999" in mapped, "a retry fixes it once mapped"

    group = next(g for g in workqueue.groups()[0] if g.cause == "currency_not_payable")
    url = reverse("admin:syncs_syncrecord_group", args=[group.key])
    page = client.get(url).content.decode()
    assert "Retry all" not in page and "Set the whole group aside" in page and "a retry cannot send it" in page
    answer = client.post(url, {"retry": "1"}, follow=True).content.decode()
    assert "A retry cannot fix these" in answer
    assert not AuditEntry.objects.filter(action__in=["sync.replay", "sync.record.replayed"]).exists()
    client.post(url, {"ignore": "1", "reason": "Paid by wire outside BILL"})
    assert SyncRecord.objects.filter(cause="currency_not_payable", status=RecordStatus.IGNORED).count() == 2


def test_the_group_page_shows_each_record_s_whole_reason(client, ops, integration):
    long = ("Supplier S20004's payee is inactive in AvidXchange (payee PY92936400, Liberty Freight 4): activate it "
            "there, then retry. " * 3).strip()
    assert 240 < len(long) < reasons.MAX_REASON, "longer than the page once cut reasons at"
    for n in range(2):
        invoice(integration, n, RecordStatus.FAILED, error_class="data", cause="payee_inactive", subject="S20004",
                error_detail=long)
    [group], _ = workqueue.groups()
    page = client.get(reverse("admin:syncs_syncrecord_group", args=[group.key])).content.decode()
    start = page.index('<table id="group-records"')
    table = page[start:page.index("</table>", start)]
    assert table.count(escape(long)) == 2 and "…" not in table


def test_finance_reads_the_advice_of_the_cause_not_of_the_words(client, integration):
    invoice(integration, 1, RecordStatus.FAILED, error_class="data", cause="currency_not_payable", subject="EUR",
            error_detail="BILL takes no EUR here.")
    client.force_login(make_user(integration.tenant, "fin"))
    html = client.get(reverse("status:records", args=[integration.pk]), {"status": "failed"}).content.decode()
    assert "It is in a currency the AP platform&#x27;s account cannot pay." in html
    assert "What to do: Pay it outside the AP platform" in html


def test_an_inactive_payee_is_named_by_the_erp_supplier_first():
    from connectors.avidxchange.client import item_result
    from connectors.avidxchange.connector import supplier_first

    said = item_result({"Success": False, "Errors": [{"Code": "PayeeInactive", "Field": "PayeeId", "Message":
                        "Payee 00p7PAYEE (Summit Freight LLC) is inactive in AvidXchange."}]}, "invoice")
    assert said.cause == "payee_inactive"
    line = InvoiceLine(amount=Decimal("10.00"), gl_account="6100")
    invoice_of_s20004 = Invoice(source_id="I1", supplier_id="S20004", invoice_number="INV-1002", invoice_date=None,
                                due_date=None, total=Decimal("10.00"), currency="USD", lines=(line,))
    refusal = supplier_first(said, invoice_of_s20004, "00p7PAYEE")
    assert str(refusal) == ("Supplier S20004's payee is inactive in AvidXchange (payee 00p7PAYEE, Summit Freight "
                            "LLC): activate it there, then retry."), "one sentence: the ERP's supplier, then the payee"
    assert (refusal.cause, refusal.subject) == ("payee_inactive", "S20004")
    assert refusal.in_full, "the engine keeps it as it is, not after \"AvidXchange refused it: \""
    unnamed = DataError("Payee inactive.", cause="payee_inactive")
    assert str(supplier_first(unnamed, invoice_of_s20004, "00p7PAYEE")).startswith(
        "Supplier S20004's payee is inactive in AvidXchange (payee 00p7PAYEE): ")
    other = DataError("AvidXchange refused it: the amount is wrong.")
    assert supplier_first(other, None, "00p7PAYEE") is other


def test_a_run_files_each_failure_under_its_cause_and_subject(fake_demo):
    run_integration(fake_demo.pk)
    failed = SyncRecord.objects.filter(integration=fake_demo, status=RecordStatus.FAILED)
    assert set(failed.filter(object_type="vendor").values_list("cause", "subject")) == {
        ("supplier_tax_id_missing", "S10007")}
    bills = failed.filter(object_type="bill")
    assert set(bills.filter(number="INV-200017").values_list("cause", flat=True)) == {"lines_do_not_add_up"}
    assert bills.filter(cause="gl_unmapped", subject="6999").exists()
    assert set(bills.filter(party__startswith="S10007").values_list("cause", "subject")) == {
        ("supplier_tax_id_missing", "S10007")}, "an invoice waiting on its supplier is filed under the supplier's cause"
    assert not failed.filter(cause="").exists()
    titles = {g.cause: g.reason for g in workqueue.groups()[0]}
    assert titles["gl_unmapped"].startswith("GL account 6999 is not mapped to a Fake AP account")


def test_the_migration_files_old_rows_under_their_causes(transactional_db):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    before = [("syncs", "0008_undone_payments_and_number_search")]
    after = [("syncs", "0009_record_cause_codes")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    tenant = Tenant.objects.create(name="Old Co", slug="old")  # only syncs went back: the others are as they are
    erp = Connection.objects.create(tenant=tenant, system="infor", name="ERP")
    ap = Connection.objects.create(tenant=tenant, system="avidxchange", name="AP")
    integration = apps.get_model("syncs", "Integration").objects.create(
        tenant_id=tenant.pk, name="old", source_id=erp.pk, target_id=ap.pk)
    Record = apps.get_model("syncs", "SyncRecord")
    old = {
        "b1": ("failed", "mapping", "GL account 6999 is not mapped to a BILL account.", {}),
        "b2": ("failed", "data", "The lines add up to 10.00 USD but the invoice total is 12.50 USD.", {}),
        "b3": ("failed", "data", "The invoice is in EUR, and the BILL account pays bills in USD only; nothing is "
                                 "converted. Pay it outside BILL, or ignore this record.", {}),
        "b4": ("failed", "data", "AvidXchange refused it: Payee 00p7 (Summit) is inactive in AvidXchange. Activate the "
                                 "payee in the AP platform, then retry.", {"supplier": "S20004"}),
        "b5": ("failed", "data", "Supplier S10007 is not in BILL yet: it has no tax ID; BILL needs it for 1099 "
                                 "reporting; GL account 6999 is not mapped to a BILL account.", {}),
        "b6": ("failed", "transient", "BILL did not answer properly after retries: HTTP 503", {}),
        "b7": ("synced", "", "Held in Infor after it was sent — stop it in BILL if it must not be paid (Infor: 1).",
               {}),
        "b8": ("ignored", "data", "Kaput: something nobody wrote a rule for.", {}),
        "v1": ("failed", "configuration", "Vendor S10001 in BILL organization 0080 belongs to integration 'Infor → "
                                          "BILL'; give this integration a vendor key prefix to keep its suppliers "
                                          "apart.", {}),
        "b9": ("synced", "", "", {}),
    }
    for source_id, (status, error_class, detail, data) in old.items():
        Record.objects.create(integration=integration, object_type="bill", source_id=source_id, status=status,
                              error_class=error_class, error_detail=detail, data=data)
    executor.loader.build_graph()
    executor.migrate(after)
    assert {r.source_id: (r.cause, r.subject) for r in SyncRecord.objects.all()} == {
        "b1": ("gl_unmapped", "6999"), "b2": ("lines_do_not_add_up", ""), "b3": ("currency_not_payable", "EUR"),
        "b4": ("payee_inactive", "S20004"), "b5": ("supplier_tax_id_missing", "S10007"), "b6": ("no_answer", ""),
        "b7": ("held_after_sending", ""), "b8": ("refused", ""), "v1": ("vendor_owned_elsewhere", "S10001"),
        "b9": ("", "")}
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("syncs"))
