"""Suppliers → vendors: each supplier read from the ERP made, matched or updated as a vendor of the AP platform,
unless it is blocked, incomplete, or its vendor belongs to another integration sending to the same account."""

from dataclasses import asdict

from connectors import capabilities as can
from connectors.records import CONTACT_FIELDS, Address, Supplier
from syncs.ledger import Pending, fingerprint, plain
from syncs.models import RecordStatus, VendorOwner, owned_elsewhere
from syncs.steps.base import Problem, target_lock
from syncs.steps.stream import StreamStep, settled


def contact_fields(record):
    """The contact fields of a Supplier or VendorEdit, in the form the ledger keeps them."""
    return {name: asdict(value) if isinstance(value, Address) else value
            for name, value in ((f, getattr(record, f)) for f in CONTACT_FIELDS)}


class Suppliers(StreamStep):
    erp_requires = {can.READS_SUPPLIERS: ("suppliers",)}
    ap_requires = {can.CREATES_VENDORS: ("vendor_payload", "find_vendors", "create_vendors", "update_vendor")}
    in_dry_run = True
    uses_mapping_rules = False
    stream, object_type = "suppliers", "vendor"
    writes = ("ap:vendors",)
    source_reads = "erp:suppliers"

    @classmethod
    def phrase(cls, source, target, integration):
        return "suppliers → vendors"

    @classmethod
    def source(cls, sync):
        """The ERP's suppliers since the cursor (those it holds as done and unchanged left out: read())."""
        return cls.read(sync, sync.erp.suppliers, sync.ledger.since(cls.stream, cls.object_type))

    def run(self, sync):
        self.sync = sync
        self.owners = {}  # vendor key -> VendorOwner, for the suppliers of the batch at hand
        with target_lock(sync, "vendors"):
            if sync.ledger.since(self.stream, self.object_type) is None and hasattr(sync.ap, "begin_vendor_lookup"):
                # A first read makes a vendor of nearly every supplier: what the look-up before creating needs is
                # read meanwhile. Not on later reads, which may make none and would pay for a list never used.
                sync.ap.begin_vendor_lookup()
            read = sync.records(self)
            self.read_at = read.read_at
            self.sync_stream(read)

    def describe(self, supplier):
        return supplier.name

    def search_fields(self, item):
        if isinstance(item, Supplier):
            return {"number": item.source_id[:100], "party": f"{item.source_id} {item.name}"[:200]}
        return {}

    def prefetch(self, suppliers):
        """Who owns the vendors a batch of suppliers would become, in one query. Read under the account's lock, so
        no other integration claims one of them before this batch is written."""
        keys = {self.sync.ap.vendor_key(supplier.source_id) for supplier in suppliers}
        self.owners = {owner.vendor_key: owner for owner in VendorOwner.objects.filter(
            account=self.sync.account, vendor_key__in=keys).select_related("integration")}

    def owned_by_another(self, supplier):
        """Why the supplier's vendor is not this integration's to create, match or update, in words; None when it is
        this integration's or nobody's yet."""
        key = self.sync.ap.vendor_key(supplier.source_id)
        owner = self.owners.get(key)
        integration = self.sync.integration
        if owner is None or owner.integration_id == integration.pk:
            return None
        return owned_elsewhere(key, self.sync.ap.account_label, owner.integration.name,
                               owner.integration.tenant_id == integration.tenant_id)

    def supplier_problem(self, supplier):
        """The Problem of a supplier that cannot be sent as it is, or None."""
        sync = self.sync
        if sync.integration.options.get("require_tax_id", True) and not supplier.tax_id:
            return Problem(cause="supplier_tax_id_missing", subject=supplier.source_id,
                           words=f"Supplier {supplier.source_id} ({supplier.name}) has no tax ID; {sync.target_name} "
                                 f"needs it for 1099 reporting. Add it in {sync.source_name}, then replay.")
        if not supplier.name:
            return Problem(cause="supplier_name_missing", subject=supplier.source_id,
                           words=f"Supplier {supplier.source_id} has no name.")
        return None

    def prepare(self, supplier, record):
        sync, ledger = self.sync, self.sync.ledger
        said = plain(supplier)
        source_hash = fingerprint(supplier, said)
        if record.source_hash == source_hash and record.status in (RecordStatus.SYNCED, RecordStatus.SKIPPED):
            self.note_read(record, supplier)
        if record.status == RecordStatus.SYNCED and record.source_hash == source_hash:
            return ledger.unchanged(record)
        # "sent": the contact fields as the AP platform got them, the baseline its vendor edits are read against.
        data = {**self.read_data(supplier), "sent": contact_fields(supplier)}
        if not supplier.active and not record.target_id:
            return ledger.set_aside(record, source_hash, data, f"Supplier {supplier.source_id} is blocked or on hold "
                                    f"in {sync.source_name}; no vendor is made for it while it is.",
                                    cause="supplier_on_hold", subject=supplier.source_id)
        if not supplier.active:
            return self.hold_vendor(record, source_hash, supplier)
        self.release_vendor(record, supplier)
        problem = self.supplier_problem(supplier)
        if problem:
            return ledger.fail(record, "data", problem.words, data, cause=problem.cause, subject=problem.subject)
        problem = self.owned_by_another(supplier)
        if problem:
            # Nothing is sent: the other integration's vendor keeps what its own ERP said.
            return ledger.fail(record, "configuration", problem, data, cause="vendor_owned_elsewhere",
                               subject=supplier.source_id)
        payload = sync.ap.vendor_payload(supplier)
        if sync.dry_run:
            sync.planned_vendors[supplier.source_id] = record.target_id or f"(new vendor for {supplier.source_id})"
            sync.counters["vendors_" + ("would_update" if record.target_id else "would_create")] += 1
            sync.plan.append({"action": "update vendor" if record.target_id else "create vendor",
                              "source": f"{supplier.source_id} {supplier.name}", "payload": payload})
            return None
        return Pending(record, supplier, source_hash, data, {"input": said, "output": payload})

    def hold_vendor(self, record, source_hash, supplier):
        """A supplier blocked or put on hold after its vendor was made: nothing is sent for it while it is, its
        vendor stays as it is, and its new invoices wait with the reason (Invoices.prepare) until it is released and
        they are replayed, as those of a supplier held before it had a vendor do. Audited once."""
        sync = self.sync
        why = (f"Supplier {supplier.source_id} is blocked or on hold in {sync.source_name}; its invoices are not sent "
               f"to {sync.target_name} while it is.")
        if sync.dry_run or (record.data.get("on_hold") == why and record.source_hash == source_hash):
            sync.counters["vendors_set_aside"] += 1
            return None
        first = record.data.get("on_hold") != why
        record.source_hash = source_hash
        record.data = {**record.data, **self.read_data(supplier), "on_hold": why}
        if record.status == RecordStatus.SYNCED:
            # A failed record keeps its own reason.
            record.error_detail, record.cause, record.subject = why, "supplier_on_hold", supplier.source_id
        sync.ledger.stage(record, ("source_hash", "data", "error_detail", "cause", "subject", "updated_at"))
        sync.counters["vendors_on_hold" if first else "vendors_set_aside"] += 1
        if first:
            sync.ledger.log("sync.vendor.on_hold", record, why)
        else:
            sync.ledger.settle()
        return None

    def release_vendor(self, record, supplier):
        """A supplier held after its vendor was made, active again: the hold is dropped from its record, written with
        the outcome of this read (succeed or fail)."""
        sync = self.sync
        if sync.dry_run or not record.data.get("on_hold"):
            return
        record.data = {key: value for key, value in record.data.items() if key != "on_hold"}
        sync.counters["vendors_released"] += 1
        sync.ledger.log("sync.vendor.released", record,
                        f"Supplier {supplier.source_id} is no longer blocked or on hold in {sync.source_name}; its "
                        f"invoices that waited go to {sync.target_name} when they are replayed.")

    def send(self, batch):
        ledger, ap = self.sync.ledger, self.sync.ap
        # A vendor once made keeps its id, even when its last update failed: update it, never look again.
        for pending in batch:
            if pending.record.target_id:
                ledger.guarded(pending.record, lambda p=pending: self.update_vendor(p, p.record.target_id, "updated"),
                               pending.data)
        new = [p for p in batch if not p.record.target_id]
        if not new:
            return
        found = ledger.guarded_batch(new, lambda: ap.find_vendors([p.item for p in new]))
        if found is None:
            return
        for pending in new:
            if pending.item.source_id in found:
                vendor_id = found[pending.item.source_id]
                ledger.guarded(pending.record, lambda p=pending, v=vendor_id: self.update_vendor(p, v, "matched"),
                               pending.data)
        missing = [p for p in new if p.item.source_id not in found]
        if missing:
            created = ledger.guarded_batch(missing, lambda: ap.create_vendors([p.item for p in missing]))
            if created is not None:
                ledger.record_results(missing, settled(
                    missing, created, lambda items: ap.find_vendors([p.item for p in items]),
                    lambda items: ap.create_vendors([p.item for p in items])))

    def update_vendor(self, pending, vendor_id, action):
        self.sync.ap.update_vendor(vendor_id, pending.item)
        self.sync.ledger.succeed(pending.record, action, vendor_id, pending.source_hash, pending.data,
                                 pending.transformation)
