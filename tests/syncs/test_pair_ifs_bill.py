"""IFS Cloud → BILL as a whole integration: what this pair adds to the pair contract (test_pairs.py), invoices
marked as transferred in IFS, and contact edits made in BILL written back to IFS."""

from portal.models import AuditEntry
from sandbox.ifs import simulator as ifs_sandbox
from syncs.engine import run_integration
from syncs.models import RecordStatus, SyncRecord
from tests.syncs.test_pairs import Pair


def ifs_state(sandbox):
    return sandbox.simulators["ifs"].state()


class TestIfsToBill(Pair):
    erp, ap = "ifs", "bill"

    def test_bills_made_are_marked_transferred_in_ifs_and_a_locked_row_waits(self, integration, sandbox):
        locked = {"Company": ifs_sandbox.COMPANY, "InvoiceId": next(
            i["InvoiceId"] for i in ifs_state(sandbox)["invoices"] if i["InvoiceNo"] == "INV-1002")}
        sandbox.control("ifs/lock", {"set": "invoices", "key": locked})
        first = run_integration(integration.pk)
        sent = {b["invoice_number"] for b in sandbox.control("bill/canonical-state")["bills"]}
        assert "INV-1002" in sent
        assert (first.counters["acknowledgements_done"], first.counters["acknowledgements_waiting"]) == \
            (len(sent) - 1, 1)
        status = {i["InvoiceNo"]: i["TransferStatus"] for i in ifs_state(sandbox)["invoices"]}
        assert {number for number, s in status.items() if s == "Transferred"} == sent - {"INV-1002"}
        sandbox.control("ifs/lock", {"set": "invoices", "key": locked, "locked": False})
        second = run_integration(integration.pk)
        assert second.counters["acknowledgements_done"] == 1
        assert {i["InvoiceNo"] for i in ifs_state(sandbox)["invoices"] if i["TransferStatus"] == "Transferred"} == sent

    def test_a_contact_edit_in_bill_reaches_ifs_unless_ifs_changed_it_at_the_same_time(self, integration, sandbox):
        run_integration(integration.pk)
        vendors = dict(SyncRecord.objects.filter(integration=integration, object_type="vendor",
                                                 status=RecordStatus.SYNCED).values_list("source_id", "target_id"))
        with integration.target.connector() as bill:  # a person editing two vendors in BILL
            bill.client.update_vendor(vendors["V1001"], {"email": "payables@harborpaper.test"})
            bill.client.update_vendor(vendors["V1002"], {"email": "ar@summitfreight.test"})
        sandbox.control("ifs/edit-on-next-write", {"source_id": "V1002", "email": "billing-desk@summitfreight.test"})
        run = run_integration(integration.pk)
        assert run.counters["supplier_update_conflicts"] == 1, run.counters
        emails = {m["SupplierId"]: m["Value"] for m in ifs_state(sandbox)["supplier_comm_methods"]
                  if m["MethodId"] == "EMail"}
        assert emails["V1001"] == "payables@harborpaper.test", "written back"
        assert emails["V1002"] == "billing-desk@summitfreight.test", "changed in IFS meanwhile: IFS keeps its value"
        conflict = AuditEntry.objects.get(action="sync.supplier.conflict")
        assert "'billing-desk@summitfreight.test'" in conflict.message and "'ar@summitfreight.test'" in conflict.message
        with integration.target.connector() as bill:
            assert bill.client.get_vendor(vendors["V1002"])["email"] == "billing-desk@summitfreight.test", \
                "the supplier sync of the same run gave BILL the value IFS kept"
        settled = run_integration(integration.pk)
        assert not settled.counters.get("supplier_update_conflicts") and not settled.counters.get(
            "supplier_updates_written_back"), settled.counters
