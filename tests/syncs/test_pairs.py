"""The pair contract: one ERP and one AP platform as a whole integration, over real HTTP against both
simulators loaded with the canonical seed (connectors/canonical.py), generated for every ERP × AP pair in the
registry (connectors.registry.SYSTEMS) from the two systems' contracts (tests/connectors/<id>/contract.py).

What is one pair's own stays in tests/syncs/test_pair_<erp>_<ap>.py, on the same fixtures (`Pair`). A test that
needs what one of the two systems does not declare skips, saying so."""

from collections import Counter
from dataclasses import replace

import pytest
from django_q.conf import Conf

from connectors import canonical
from connectors.registry import SYSTEMS, get_system
from connectors.values import money
from syncs import operations
from syncs.engine import run_integration
from syncs.ledger import RETRY_CLASSES
from syncs.models import Cursor, Integration, MappingRule, RecordStatus, RunStatus, SyncRecord, SyncRun
from syncs.pair import writes_payments_back
from syncs.plan import plan_for
from syncs.steps import CodeLists, Payments
from tests.connectors.contracts.base import contract_for, make_connection

INVOICES = {i.number: i for i in canonical.INVOICES}
GOOD = {i.number for i in canonical.GOOD_INVOICES}
NEW_TAX_ID = "58-2468135"


def invoice_number(record):
    """The invoice number of a bill's ledger row, whose source_ref reads "<number> (<supplier>)"."""
    return record.source_ref.split(" ")[0]


def canonical_rules(integration, erp, ap_ids, *, every_account=False):
    """Every GL account mapped but the one the seed leaves unmapped (that one too with `every_account`); every
    dimension mapped, from the ERP's kind of it (its contract's `dimension_kinds`) to the AP platform's."""
    kinds = contract_for(erp).dimension_kinds
    rules = [MappingRule(integration=integration, kind=MappingRule.GL_ACCOUNT, source_code=code, target_id=target)
             for code, target in ap_ids["gl_accounts"].items() if every_account or code != canonical.UNMAPPED_ACCOUNT]
    rules += [MappingRule(integration=integration, kind=kinds.get(kind, kind),
                          target_kind=kind if kinds.get(kind, kind) != kind else "", source_code=code, target_id=target)
              for kind, by_code in ap_ids["dimensions"].items() for code, target in by_code.items()]
    return rules


def pair_integration(tenant, sandbox, erp, ap, ap_ids, *, name="", source=None, every_account=False):
    """An integration of `erp` to `ap` through new connections to their simulators (`source` instead of the ERP's,
    if given), its codes mapped by canonical_rules from `ap_ids`, the AP platform's ids of the canonical codes."""
    integration = Integration.objects.create(
        tenant=tenant, name=name or f"{get_system(erp).label} → {get_system(ap).label}",
        source=source or make_connection(erp, tenant, sandbox), target=make_connection(ap, tenant, sandbox))
    MappingRule.objects.bulk_create(canonical_rules(integration, erp, ap_ids, every_account=every_account))
    return integration


def seeded_pair(tenant, sandbox, erp, ap, **options):
    """pair_integration (and its `options`) with both simulators loaded with the canonical seed first."""
    contract_for(erp).seed_canonical(sandbox)
    return pair_integration(tenant, sandbox, erp, ap, contract_for(ap).seed_canonical(sandbox), **options)


def infor_to_avidxchange(tenant, sandbox, *, source=None, every_account=False):
    """Infor → AvidXchange, named as its demo is, on the canonical seed: the integration of the Infor → AvidXchange
    modules outside the pair suite."""
    return seeded_pair(tenant, sandbox, "infor", "avidxchange", name="Infor → AvidXchange", source=source,
                       every_account=every_account)


class Pair:
    """One ERP and one AP platform on the canonical seed, and what a pair's tests read of them."""

    erp = ""
    ap = ""

    @pytest.fixture
    def ap_ids(self, sandbox):
        """Both simulators loaded with the canonical seed; the AP platform's ids for its codes."""
        contract_for(self.erp).seed_canonical(sandbox)
        return contract_for(self.ap).seed_canonical(sandbox)

    @pytest.fixture
    def integration(self, tenant, sandbox, ap_ids, monkeypatch):
        """Every GL account mapped but the one the seed leaves unmapped; every dimension mapped."""
        monkeypatch.setattr(Conf, "SYNC", True)  # a replay's queued run happens in this process
        return pair_integration(tenant, sandbox, self.erp, self.ap, ap_ids)

    # --- reading both sides ---------------------------------------------------------------------------
    def ap_state(self, sandbox):
        return contract_for(self.ap).canonical_state(sandbox)

    def erp_payments(self, sandbox):
        return contract_for(self.erp).canonical_state(sandbox)["payments"]

    def ledger(self, integration, object_type, status=RecordStatus.SYNCED):
        return SyncRecord.objects.filter(integration=integration, object_type=object_type, status=status)

    def publishes(self, integration):
        return CodeLists in plan_for(integration)

    def problems(self, integration):
        """The canonical problem invoices this pair fails. Where the plan publishes the ERP's codes to the AP
        platform, every GL account is published and mapped, so the unmapped one is no problem there."""
        return canonical.PROBLEM_INVOICES - ({canonical.UNMAPPED_INVOICE} if self.publishes(integration) else set())

    def good(self, integration):
        return GOOD | (canonical.PROBLEM_INVOICES - self.problems(integration))

    def failed_bills(self, integration):
        return {invoice_number(r): r for r in self.ledger(integration, "bill", RecordStatus.FAILED)}

    def assert_bills_exactly_once(self, integration, sandbox, numbers):
        """The platform holds one bill per invoice in `numbers` and nothing else, each for its supplier's
        vendor, with the invoice's dates, amount, and lines coded to its GL accounts and departments."""
        bills = self.ap_state(sandbox)["bills"]
        assert Counter(b["invoice_number"] for b in bills) == Counter(numbers)
        vendors = dict(self.ledger(integration, "vendor").values_list("source_id", "target_id"))
        for bill in bills:
            seed = INVOICES[bill["invoice_number"]]
            assert bill["vendor_id"] == vendors[seed.supplier_id], seed.number
            assert (bill["invoice_date"], bill["due_date"], bill["amount"]) == \
                (seed.invoice_date.isoformat(), seed.due_date.isoformat(), canonical.amount_text(seed.total))
            assert bill["lines"] == [{"amount": canonical.amount_text(line.amount), "gl_account": line.gl_account,
                                      "department": line.dimensions["department"]} for line in seed.lines], seed.number
        assert set(self.ledger(integration, "bill").values_list("target_id", flat=True)) == {b["id"] for b in bills}

    def assert_vendors(self, integration, sandbox, suppliers):
        """One vendor per supplier in `suppliers`, named and taxed as in the ERP, and no other."""
        vendors = {v["id"]: (v["name"], v["tax_id"]) for v in self.ap_state(sandbox)["vendors"]}
        ledger = dict(self.ledger(integration, "vendor").values_list("source_id", "target_id"))
        assert set(ledger) == {s.source_id for s in suppliers}
        assert vendors == {ledger[s.source_id]: (s.name, s.tax_id) for s in suppliers}



class PairContract(Pair):
    """The tests every pair runs."""

    def test_end_to_end(self, integration, sandbox):
        run = run_integration(integration.pk)
        assert run.status == RunStatus.PARTIAL, run.error
        assert run.counters["bills_created"] == len(self.good(integration))
        self.assert_bills_exactly_once(integration, sandbox, self.good(integration))
        self.assert_vendors(integration, sandbox, [s for s in canonical.SUPPLIERS if s.source_id not in
                                                   (canonical.SUPPLIER_WITHOUT_TAX_ID, canonical.INACTIVE_SUPPLIER)])
        blocked = SyncRecord.objects.get(integration=integration, object_type="vendor",
                                         source_id=canonical.INACTIVE_SUPPLIER)
        assert blocked.status == RecordStatus.SKIPPED and "is blocked or on hold in" in blocked.error_detail

        vendor = SyncRecord.objects.get(integration=integration, object_type="vendor",
                                        source_id=canonical.SUPPLIER_WITHOUT_TAX_ID)
        assert vendor.status == RecordStatus.FAILED and vendor.error_class == "data"
        assert "has no tax ID" in vendor.error_detail
        failed = self.failed_bills(integration)
        assert set(failed) == self.problems(integration)
        if canonical.UNMAPPED_INVOICE in failed:
            unmapped = failed[canonical.UNMAPPED_INVOICE]
            assert unmapped.error_class == "mapping"
            assert f"GL account {canonical.UNMAPPED_ACCOUNT} is not mapped" in unmapped.error_detail
        unbalanced, seed = failed[canonical.UNBALANCED_INVOICE], INVOICES[canonical.UNBALANCED_INVOICE]
        assert unbalanced.error_class == "data"
        assert f"The lines add up to {money(sum(line.amount for line in seed.lines), seed.currency)} but the invoice " \
               f"total is {money(seed.total, seed.currency)}" in unbalanced.error_detail
        for number in canonical.NO_TAX_ID_INVOICES:
            assert failed[number].error_class == "data"
            assert f"Supplier {canonical.SUPPLIER_WITHOUT_TAX_ID} is not in" in failed[number].error_detail
            assert "has no tax ID" in failed[number].error_detail
            assert failed[number].error_detail.count(canonical.SUPPLIER_WITHOUT_TAX_ID) == 1, "named once"
        assert not SyncRecord.objects.filter(source_ref__startswith=canonical.UNAPPROVED_INVOICE).exists()
        # Each bill names its supplier, so an invoice's lineage starts at the supplier's vendor.
        suppliers = {i.number: i.supplier_id for i in canonical.INVOICES}
        bills = SyncRecord.objects.filter(integration=integration, object_type="bill", status=RecordStatus.SYNCED)
        assert bills and all(bill.data["supplier"] == suppliers[bill.number] for bill in bills)

    def test_exactly_once(self, integration, sandbox):
        run_integration(integration.pk)
        before = self.ap_state(sandbox)
        again = run_integration(integration.pk)
        assert again.counters.get("bills_created", 0) == again.counters.get("vendors_created", 0) == 0
        assert self.ap_state(sandbox) == before

        # A crash between the remote create and the ledger write: the ledger rows never made it, and the
        # cursors stayed where they were before that run.
        lost_bills = list(self.ledger(integration, "bill").order_by("source_ref")[:2])
        lost_vendor = self.ledger(integration, "vendor").order_by("source_id").last()
        lost = {(r.object_type, r.source_id): r.target_id for r in [*lost_bills, lost_vendor]}
        SyncRecord.objects.filter(pk__in=[r.pk for r in [*lost_bills, lost_vendor]]).delete()
        Cursor.objects.filter(integration=integration).delete()
        after_crash = run_integration(integration.pk)
        assert after_crash.status == RunStatus.PARTIAL, after_crash.error
        assert after_crash.counters.get("bills_created", 0) == after_crash.counters.get("vendors_created", 0) == 0
        assert (after_crash.counters["bills_matched"], after_crash.counters["vendors_matched"]) == (2, 1)
        assert {key: SyncRecord.objects.get(integration=integration, object_type=key[0], source_id=key[1]).target_id
                for key in lost} == lost
        assert self.ap_state(sandbox) == before

    # Dice that, with Infor → BILL's calls when they were chosen, fail a whole vendor batch (2) and a whole
    # bill batch (11) in the first run; the assertions hold whatever the dice do.
    @pytest.mark.parametrize("seed", [2, 11])
    def test_faults_on_both_sides(self, integration, sandbox, seed):
        for system in (self.erp, self.ap):
            sandbox.control("faults", {"system": system, "seed": seed, "latency_ms": 2, "error_rate": 0.2,
                                       "rate_limit_rate": 0.1, "session_expiry_rate": 0.05, "timeout_rate": 0.05,
                                       "timeout_seconds": 0.2})
        first = run_integration(integration.pk)
        assert first.status in (RunStatus.PARTIAL, RunStatus.DEFERRED), first.error
        for system in (self.erp, self.ap):
            sandbox.control("faults", {"system": system})
        second = run_integration(integration.pk)
        assert second.status == RunStatus.PARTIAL, second.error
        assert not SyncRecord.objects.filter(integration=integration, status=RecordStatus.FAILED,
                                             error_class__in=RETRY_CLASSES).exists()
        self.assert_bills_exactly_once(integration, sandbox, self.good(integration))
        assert set(self.failed_bills(integration)) == self.problems(integration)

    def test_replay_after_the_causes_are_fixed(self, integration, sandbox, ap_ids,
                                               django_capture_on_commit_callbacks):
        run_integration(integration.pk)
        if not self.publishes(integration):
            MappingRule.objects.create(integration=integration, kind=MappingRule.GL_ACCOUNT,
                                       source_code=canonical.UNMAPPED_ACCOUNT,
                                       target_id=ap_ids["gl_accounts"][canonical.UNMAPPED_ACCOUNT])
        contract_for(self.erp).change_supplier(sandbox, canonical.SUPPLIER_WITHOUT_TAX_ID, tax_id=NEW_TAX_ID)
        with django_capture_on_commit_callbacks(execute=True):
            assert operations.replay_failed(integration, "ops") == len(self.problems(integration)) + 1
        replay = SyncRun.objects.get(integration=integration, trigger="replay")
        assert replay.status == RunStatus.PARTIAL, replay.error
        fixed = self.problems(integration) - {canonical.UNBALANCED_INVOICE}
        assert (replay.counters["bills_created"], replay.counters["vendors_created"]) == (len(fixed), 1)
        self.assert_bills_exactly_once(integration, sandbox, self.good(integration) | fixed)
        self.assert_vendors(integration, sandbox, [
            replace(s, tax_id=NEW_TAX_ID) if s.source_id == canonical.SUPPLIER_WITHOUT_TAX_ID else s
            for s in canonical.SUPPLIERS if s.source_id != canonical.INACTIVE_SUPPLIER])
        assert set(self.failed_bills(integration)) == {canonical.UNBALANCED_INVOICE}

        with django_capture_on_commit_callbacks(execute=True):
            assert operations.replay_failed(integration, "ops") == 1
        again = SyncRun.objects.filter(integration=integration, trigger="replay").first()
        assert again.pk != replay.pk and again.counters.get("bills_created", 0) == 0
        self.assert_bills_exactly_once(integration, sandbox, self.good(integration) | fixed)

    def test_payments_back(self, integration, sandbox):
        if Payments not in plan_for(integration) or not writes_payments_back(integration):
            pytest.skip(f"The plan of {integration.name} writes no payments back to the ERP")
        run_integration(integration.pk)
        bills = sorted(self.ap_state(sandbox)["bills"], key=lambda b: b["invoice_number"])[:3]
        amounts = {bills[0]["id"]: None, bills[1]["id"]: None, bills[2]["id"]: "100.00"}  # the last one in part
        for bill_id, amount in amounts.items():
            contract_for(self.ap).pay(sandbox, bill_id, amount)
        run = run_integration(integration.pk)
        assert run.counters.get("payments_written_back") == len(bills), run.counters
        expected = sorted((b["invoice_number"], amounts[b["id"]] or b["amount"], "PAID") for b in bills)
        posted = self.erp_payments(sandbox)
        assert sorted((p["invoice_number"], p["amount"], p["status"]) for p in posted) == expected
        assert len({p["payment_id"] for p in posted}) == len(bills)

        again = run_integration(integration.pk)
        assert again.counters.get("payments_written_back", 0) == 0
        assert self.erp_payments(sandbox) == posted


def generated():
    erps = [s.id for s in SYSTEMS.values() if s.is_erp]
    aps = [s.id for s in SYSTEMS.values() if s.is_ap]
    for erp in erps:
        for ap in aps:
            name = f"Test{erp.capitalize()}To{ap.capitalize()}"
            yield type(name, (PairContract,), {"erp": erp, "ap": ap, "__module__": __name__,
                                                "__doc__": f"{get_system(erp).label} → {get_system(ap).label}."})


globals().update({cls.__name__: cls for cls in generated()})
