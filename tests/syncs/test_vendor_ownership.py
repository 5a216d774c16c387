"""Two integrations sending to one AP account never merge vendors. A vendor belongs to the integration that created
or first matched it (syncs.models.VendorOwner): another integration's supplier with the same id fails with the reason
and changes nothing remotely, or, with a vendor key prefix of its own, becomes a vendor of its own. Over the
simulators, on BILL and on AvidXchange, both ERPs loaded with the canonical seed (the same supplier ids in each);
IFS's Harbor Paper (V1001) is made another company than Infor's, as in the probe that found the merge."""

import importlib
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.urls import reverse

from connectors import canonical
from connectors.avidxchange.system import MODE_FILES
from connectors.models import Connection
from portal.models import Tenant
from sandbox.avidxchange import simulator as avid_sandbox
from sandbox.bill import simulator as bill_sandbox
from syncs.engine import run_integration
from syncs.models import Integration, MappingRule, RecordStatus, RunStatus, SyncRecord, VendorOwner
from tests.connectors.contracts.base import make_connection

SHARED = "V1001"  # Harbor Paper in both canonical seeds
INFOR_HARBOR = next(s for s in canonical.SUPPLIERS if s.source_id == SHARED)
IFS_HARBOR = {"name": "Harbor Paper GmbH", "tax_id": "DE811234567", "email": "rechnung@harborpaper.example",
              "address": {"line1": "Hafenstrasse 1", "line2": "", "city": "Hamburg", "region": "HH",
                          "postal_code": "20457", "country": "DE"}}
# Suppliers a run sends (the canonical one without a tax id fails for that, the inactive one is set aside).
SENT = {s.source_id for s in canonical.SUPPLIERS} - {canonical.SUPPLIER_WITHOUT_TAX_ID, canonical.INACTIVE_SUPPLIER}
NAMES = {"infor": "Infor", "ifs": "IFS", "bill": "BILL", "avidxchange": "AvidXchange"}
APS = ["bill", "avidxchange"]


@dataclass(frozen=True)
class Vendor:
    id: str
    name: str
    tax_id: str
    email: str
    line1: str


def vendors(sandbox, ap):
    """Every vendor of the AP account as (key it is found by, Vendor)."""
    if ap == "bill":
        listed = sandbox.simulators["bill"].state()["organizations"][bill_sandbox.ORG_ID]["vendors"]
        return [(v["shortName"], Vendor(v["id"], v["name"], (v["additionalInfo"] or {}).get("taxId", ""), v["email"],
                                        v["address"].get("line1", ""))) for v in listed]
    listed = sandbox.simulators["avidxchange"].state()["companies"][avid_sandbox.COMPANY_ID]["payees"]
    return [(p["ExternalId"], Vendor(p["Id"], p["Name"], p["TaxId"], p["Email"], p["Address"]["Line1"]))
            for p in listed]


def vendors_by_key(sandbox, ap):
    listed = vendors(sandbox, ap)
    assert [key for key, n in Counter(key for key, _ in listed).items() if n > 1] == [], "one vendor per key"
    return dict(listed)


def account_in_words(ap, integration):
    if ap == "bill":
        return f"BILL organization {bill_sandbox.ORG_ID}"
    return f"the AvidXchange company of connection '{integration.target.name}'"


def ownership_reason(ap, integration, owner_words):
    return (f"Vendor {SHARED} in {account_in_words(ap, integration)} belongs to {owner_words}; give this integration "
            "a vendor key prefix to keep its suppliers apart.")


def erp_supplier(integration, source_id):
    with integration.source.connector() as erp:
        return next(s for s in erp.suppliers() if s.source_id == source_id)


@pytest.fixture
def seeded(sandbox, monkeypatch):
    """Infor and IFS loaded with the canonical seed, IFS's V1001 another company; the AP platform's code ids."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    sandbox.control("infor/seed-canonical")
    sandbox.control("ifs/seed-canonical")
    sandbox.control("ifs/canonical-supplier", {"source_id": SHARED, **IFS_HARBOR})
    return {ap: sandbox.control(f"{ap}/seed-canonical") for ap in APS}


def make_integration(tenant, sandbox, codes, erp, ap, *, name=None, source=None, prefix="", target=None):
    """An integration with every canonical code mapped, through connections of its own: what two integrations share is
    the AP account (the simulator's one BILL organization or AvidXchange company), not a connection."""
    name = name or f"{NAMES[erp]} → {NAMES[ap]}"
    source = source or make_connection(erp, tenant, sandbox, name=f"{NAMES[erp]} for {name}")
    target = target or make_connection(ap, tenant, sandbox, name=f"{NAMES[ap]} for {name}")
    integration = Integration.objects.create(tenant=tenant, name=name, source=source, target=target,
                                             vendor_key_prefix=prefix)
    MappingRule.objects.bulk_create(
        [MappingRule(integration=integration, kind=MappingRule.GL_ACCOUNT, source_code=code, target_id=target_id)
         for code, target_id in codes[ap]["gl_accounts"].items()]
        + [MappingRule(integration=integration, kind=kind, source_code=code, target_id=target_id)
           for kind, by_code in codes[ap]["dimensions"].items() for code, target_id in by_code.items()])
    return integration


def vendor_row(integration, source_id=SHARED):
    return SyncRecord.objects.get(integration=integration, object_type="vendor", source_id=source_id)


def assert_infor_harbor(vendor):
    assert (vendor.name, vendor.tax_id, vendor.email, vendor.line1) == (
        INFOR_HARBOR.name, INFOR_HARBOR.tax_id, INFOR_HARBOR.email, INFOR_HARBOR.address.line1)


# --- (a) two ERPs, one AP account, no prefix -----------------------------------------------------------------------
@pytest.mark.parametrize("ap", APS)
def test_a_second_erp_without_a_prefix_fails_its_supplier_in_words_and_changes_nothing(tenant, sandbox, seeded, ap):
    infor = make_integration(tenant, sandbox, seeded, "infor", ap)
    assert run_integration(infor.pk).status == RunStatus.PARTIAL
    before, state = vendors_by_key(sandbox, ap), sandbox.control(f"{ap}/canonical-state")

    ifs = make_integration(tenant, sandbox, seeded, "ifs", ap)
    run = run_integration(ifs.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    record = vendor_row(ifs)
    assert (record.status, record.error_class, record.target_id) == (RecordStatus.FAILED, "configuration", "")
    assert record.error_detail == ownership_reason(ap, ifs, f"integration '{infor.name}'")
    assert not run.counters.get("vendors_created") and not run.counters.get("vendors_matched")
    assert not run.counters.get("vendors_updated") and not run.counters.get("bills_created")
    assert vendors_by_key(sandbox, ap) == before, "no vendor made, matched or changed"
    assert sandbox.control(f"{ap}/canonical-state") == state, "no bill sent"
    assert_infor_harbor(before[SHARED])
    # Its invoices wait for the supplier, with the same reason and remedy.
    invoice = SyncRecord.objects.get(integration=ifs, object_type="bill", number="INV-1001")
    assert (invoice.status, invoice.error_class) == (RecordStatus.FAILED, "configuration")
    assert invoice.error_detail == f"Supplier {SHARED} is not in {NAMES[ap]} yet: {record.error_detail}"
    assert set(VendorOwner.objects.values_list("integration_id", flat=True)) == {infor.pk}


def test_no_vendor_edit_of_another_integrations_vendor_reaches_the_second_erp(tenant, sandbox, seeded):
    """The probe's sequence: the vendor changes in BILL (Infor's own update, a person's edit), and the IFS integration
    reads vendor edits. IFS's supplier keeps its own e-mail and address."""
    infor = make_integration(tenant, sandbox, seeded, "infor", "bill")
    ifs = make_integration(tenant, sandbox, seeded, "ifs", "bill")
    run_integration(infor.pk)
    run_integration(ifs.pk)
    sandbox.control("infor/canonical-supplier", {"source_id": SHARED, "phone": "+1 512 555 0199"})
    assert run_integration(infor.pk).counters["vendors_updated"] == 1
    sandbox.control("bill/edit-vendor", {"shortName": SHARED, "changes": {"email": "payables@harborpaper.test"}})

    run = run_integration(ifs.pk)
    supplier = erp_supplier(ifs, SHARED)
    assert (supplier.name, supplier.email, supplier.address.line1, supplier.address.city) == (
        IFS_HARBOR["name"], IFS_HARBOR["email"], IFS_HARBOR["address"]["line1"], IFS_HARBOR["address"]["city"])
    assert not run.counters.get("supplier_updates_written_back") and not run.counters.get("supplier_update_conflicts")
    assert run.counters["vendor_edits_not_ours"] >= 1, run.counters


# --- (b) two ERPs, one AP account, a prefix on the second ----------------------------------------------------------
@pytest.mark.parametrize("ap", APS)
def test_with_a_prefix_the_same_supplier_id_becomes_two_vendors(tenant, sandbox, seeded, ap):
    infor = make_integration(tenant, sandbox, seeded, "infor", ap)
    run_integration(infor.pk)
    ifs = make_integration(tenant, sandbox, seeded, "ifs", ap, prefix="IFS-")
    run = run_integration(ifs.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    assert run.counters["vendors_created"] == len(SENT) and not run.counters.get("vendors_matched")

    listed = vendors_by_key(sandbox, ap)
    assert set(listed) == SENT | {f"IFS-{source_id}" for source_id in SENT}
    assert_infor_harbor(listed[SHARED])
    theirs = listed[f"IFS-{SHARED}"]
    assert (theirs.name, theirs.tax_id, theirs.email, theirs.line1) == (
        IFS_HARBOR["name"], IFS_HARBOR["tax_id"], IFS_HARBOR["email"], IFS_HARBOR["address"]["line1"])
    assert (vendor_row(infor).target_id, vendor_row(ifs).target_id) == (listed[SHARED].id, theirs.id)
    # Each ERP's invoice went to its own vendor.
    bills = [b for b in sandbox.control(f"{ap}/canonical-state")["bills"] if b["invoice_number"] == "INV-1001"]
    assert sorted(b["vendor_id"] for b in bills) == sorted([listed[SHARED].id, theirs.id])
    owner = VendorOwner.objects.get(vendor_key=f"IFS-{SHARED}")
    assert (owner.integration, owner.vendor_id) == (ifs, theirs.id)


def test_in_file_mode_the_folder_is_the_account_and_the_prefix_goes_before_the_vendor_id(tenant, sandbox, seeded,
                                                                                          tmp_path):
    folder = tmp_path / "avidxchange"
    folder.mkdir()
    sandbox.control("avidxchange/files", {"folder": str(folder)})

    def through_files(erp, name, prefix=""):
        target = make_connection("avidxchange", tenant, sandbox, name=f"Files for {name}", mode=MODE_FILES,
                                 folder=folder)
        # No rules given: the run publishes the ERP's codes as the lists and maps each to itself.
        return make_integration(tenant, sandbox, {"avidxchange": {"gl_accounts": {}, "dimensions": {}}}, erp,
                                "avidxchange", name=name, prefix=prefix, target=target)

    infor = through_files("infor", "Infor → AvidXchange files")
    run_integration(infor.pk)
    ifs = through_files("ifs", "IFS → AvidXchange files")
    run_integration(ifs.pk)
    assert vendor_row(ifs).error_detail == (
        f"Vendor {SHARED} in the AvidXchange exchange folder {folder} belongs to integration '{infor.name}'; give this "
        "integration a vendor key prefix to keep its suppliers apart.")
    prefixed = through_files("ifs", "IFS → AvidXchange files (kept apart)", prefix="I-")
    assert run_integration(prefixed.pk).counters["vendors_created"] == len(SENT)
    sandbox.control("avidxchange/canonical-state")  # AvidXchange imports what the folder holds
    listed = vendors_by_key(sandbox, "avidxchange")
    assert set(listed) == SENT | {f"I-{source_id}" for source_id in SENT}
    assert_infor_harbor(listed[SHARED])
    assert listed[f"I-{SHARED}"].name == IFS_HARBOR["name"]


# --- (c) two integrations of one ERP, one AP account ---------------------------------------------------------------
@pytest.mark.parametrize("ap", APS)
def test_two_integrations_of_one_erp_connection_do_not_share_vendors_either(tenant, sandbox, seeded, ap):
    source = make_connection("infor", tenant, sandbox, name="Infor")
    first = make_integration(tenant, sandbox, seeded, "infor", ap, source=source)
    run_integration(first.pk)
    before, state = vendors_by_key(sandbox, ap), sandbox.control(f"{ap}/canonical-state")

    second = make_integration(tenant, sandbox, seeded, "infor", ap, name=f"Infor → {NAMES[ap]} (second)",
                              source=source)
    run = run_integration(second.pk)
    assert run.status == RunStatus.PARTIAL, run.error
    failed = SyncRecord.objects.filter(integration=second, object_type="vendor", status=RecordStatus.FAILED)
    assert {r.source_id for r in failed if r.error_class == "configuration"} == SENT
    assert vendor_row(second).error_detail == ownership_reason(ap, second, f"integration '{first.name}'")
    assert vendors_by_key(sandbox, ap) == before
    assert sandbox.control(f"{ap}/canonical-state") == state

    # With a prefix of its own, its vendors and bills are its own.
    third = make_integration(tenant, sandbox, seeded, "infor", ap, name=f"Infor → {NAMES[ap]} (third)",
                             source=source, prefix="C-")
    assert run_integration(third.pk).counters["vendors_created"] == len(SENT)
    listed = vendors_by_key(sandbox, ap)
    assert set(listed) == SENT | {f"C-{source_id}" for source_id in SENT}
    ours = set(SyncRecord.objects.filter(integration=third, object_type="bill", status=RecordStatus.SYNCED)
               .values_list("target_id", flat=True))
    firsts = set(SyncRecord.objects.filter(integration=first, object_type="bill", status=RecordStatus.SYNCED)
                 .values_list("target_id", flat=True))
    assert ours and not ours & firsts, "no bill of the first integration taken for the third's"
    assert {b["vendor_id"] for b in sandbox.control(f"{ap}/canonical-state")["bills"] if b["id"] in ours} <= {
        listed[f"C-{source_id}"].id for source_id in SENT}


def test_an_avidxchange_invoice_of_another_payee_is_never_taken_for_ours(tenant, sandbox, seeded):
    """Invoice ExternalIds are unique in the company, like payees': one found under another payee is another
    integration's (another ERP numbering its invoices alike), so it is not matched, whatever its ExternalId."""
    infor = make_integration(tenant, sandbox, seeded, "infor", "avidxchange")
    run_integration(infor.pk)
    bill = SyncRecord.objects.get(integration=infor, object_type="bill", number="INV-1001")
    invoice = SimpleNamespace(source_id=bill.source_id)
    with infor.target.connector() as avid:
        assert avid.find_bills([(vendor_row(infor).target_id, invoice)]) == {bill.source_id: bill.target_id}
        assert avid.find_bills([(vendor_row(infor, "V1002").target_id, invoice)]) == {}


def test_another_tenants_integration_is_not_named(tenant, sandbox, seeded):
    infor = make_integration(tenant, sandbox, seeded, "infor", "bill")
    run_integration(infor.pk)
    other = Tenant.objects.create(name="Other Co", slug="other")
    theirs = make_integration(other, sandbox, seeded, "ifs", "bill")
    run_integration(theirs.pk)
    detail = vendor_row(theirs).error_detail
    assert detail == ownership_reason("bill", theirs, "an integration of another tenant")
    assert infor.name not in detail


# --- the migration -------------------------------------------------------------------------------------------------
def test_the_migration_records_todays_owners_from_the_ledger(tenant, sandbox, seeded):
    """A ledger written before owners were kept: Infor's vendors, and an IFS row the old engine had matched to
    Infor's vendor (with what IFS sent as its baseline). Infor keeps its vendors and goes on as before; the IFS row
    fails with the reason, and nothing of Infor's vendor is written back to IFS."""
    infor = make_integration(tenant, sandbox, seeded, "infor", "bill")
    ifs = make_integration(tenant, sandbox, seeded, "ifs", "bill")
    run_integration(infor.pk)
    VendorOwner.objects.all().delete()
    harbor = vendor_row(infor)
    taken = SyncRecord.objects.create(
        integration=ifs, object_type="vendor", source_id=SHARED, source_ref=IFS_HARBOR["name"],
        status=RecordStatus.SYNCED, target_id=harbor.target_id,
        data={"sent": {"email": IFS_HARBOR["email"], "phone": "", "address": IFS_HARBOR["address"]}})

    importlib.import_module("syncs.migrations.0007_vendor_owners").record_owners(apps, None)

    made = dict(SyncRecord.objects.filter(integration=infor, object_type="vendor").exclude(target_id="")
                .values_list("source_id", "target_id"))
    assert set(made) == SENT
    assert {(o.account, o.vendor_key, o.vendor_id, o.integration_id) for o in VendorOwner.objects.all()} == {
        (f"bill:{bill_sandbox.ORG_ID}", source_id, vendor_id, infor.pk) for source_id, vendor_id in made.items()}
    taken.refresh_from_db()
    assert (taken.status, taken.error_class) == (RecordStatus.FAILED, "configuration")
    assert taken.error_detail == ownership_reason("bill", ifs, f"integration '{infor.name}'")

    sandbox.control("infor/canonical-supplier", {"source_id": SHARED, "phone": "+1 512 555 0199"})
    again = run_integration(infor.pk)
    assert again.counters["vendors_updated"] == 1, again.counters
    assert not SyncRecord.objects.filter(integration=infor, error_class="configuration").exists()
    sandbox.control("bill/edit-vendor", {"shortName": SHARED, "changes": {"email": "payables@harborpaper.test"}})
    run = run_integration(ifs.pk)
    assert not run.counters.get("supplier_updates_written_back"), run.counters
    supplier = erp_supplier(ifs, SHARED)
    assert (supplier.email, supplier.address.line1) == (IFS_HARBOR["email"], IFS_HARBOR["address"]["line1"])
    assert not SyncRecord.objects.filter(integration=ifs, object_type="bill", status=RecordStatus.SYNCED).exists(), \
        "no IFS invoice went to Infor's vendor"


# --- the prefix on the integration page ----------------------------------------------------------------------------
@pytest.fixture
def connections(tenant):
    infor = Connection.objects.create(tenant=tenant, system="infor", name="Infor")
    bill = Connection.objects.create(tenant=tenant, system="bill", name="BILL", base_url="https://x.test/connect")
    files = Connection.objects.create(tenant=tenant, system="avidxchange", name="AvidXchange files",
                                      options={"mode": MODE_FILES})
    return infor, bill, files


def save_prefix(client, integration, prefix, target=None):
    target = target or integration.target
    return client.post(reverse("admin:syncs_integration_change", args=[integration.pk]), {
        "name": integration.name, "source": integration.source_id, "target": target.pk, "enabled": "on",
        "interval_minutes": 15, "options": "{}", "vendor_key_prefix": prefix, "mapping_rules-TOTAL_FORMS": 0,
        "mapping_rules-INITIAL_FORMS": 0})


def test_the_prefix_is_on_the_integration_page_and_checked_in_words(admin_client, tenant, connections):
    infor, bill, files = connections
    integration = Integration.objects.create(tenant=tenant, name="IFS → BILL", source=infor, target=bill)
    page = admin_client.get(reverse("admin:syncs_integration_change", args=[integration.pk])).content.decode()
    assert 'name="vendor_key_prefix"' in page and "Vendor key prefix" in page

    refused = save_prefix(admin_client, integration, "IFS S").content.decode()
    assert "A vendor key prefix holds letters, digits, hyphens, underscores and dots" in refused

    SyncRecord.objects.create(integration=integration, object_type="vendor", source_id="S10001",
                              status=RecordStatus.FAILED)  # read, never sent: its id is known, no vendor made
    refused = save_prefix(admin_client, integration, "LONGER-", target=files).content.decode()
    assert ("AvidXchange keeps a supplier&#x27;s key in the VendorID of the exchange files, 10 characters at most: "
            "with this prefix, supplier S10001 would need 13. Choose a shorter prefix.") in refused
    SyncRecord.objects.all().delete()
    refused = save_prefix(admin_client, integration, "ABCDEFGHIJ", target=files).content.decode()
    assert "10 characters at most: this prefix leaves no room for the supplier id" in refused
    integration.refresh_from_db()
    assert integration.vendor_key_prefix == "" and integration.target == bill

    assert save_prefix(admin_client, integration, "IFS-").status_code == 302
    integration.refresh_from_db()
    assert integration.vendor_key_prefix == "IFS-"


def test_the_prefix_of_an_integration_with_vendors_cannot_change(admin_client, tenant, connections):
    infor, bill, _ = connections
    integration = Integration.objects.create(tenant=tenant, name="IFS → BILL", source=infor, target=bill,
                                             vendor_key_prefix="IFS-")
    SyncRecord.objects.create(integration=integration, object_type="vendor", source_id="S10001", target_id="0090001",
                              status=RecordStatus.SYNCED)
    refused = save_prefix(admin_client, integration, "IFS2-").content.decode()
    assert ("This integration already has 1 vendor(s), made with the prefix &#x27;IFS-&#x27;; changing it would "
            "orphan them") in refused
    integration.refresh_from_db()
    assert integration.vendor_key_prefix == "IFS-"
    assert save_prefix(admin_client, integration, "IFS-").status_code == 302, "kept as it is, the page saves"
