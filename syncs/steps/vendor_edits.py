"""Vendor contact edits → ERP suppliers: contact fields changed in the AP platform on vendors this integration made,
written back to their suppliers, the ERP deciding who wins when both changed a field.

It comes before the suppliers step: otherwise a supplier changed in the ERP would overwrite, in the AP platform, an
edit that had not been written back yet."""

from dataclasses import asdict

from connectors import capabilities as can
from connectors.cursors import earlier, newer
from connectors.records import CONTACT_FIELDS, Address, Unreadable
from syncs.ledger import RETRY_CLASSES, fingerprint
from syncs.models import RecordStatus, SyncRecord, VendorOwner
from syncs.steps.base import Step
from syncs.steps.suppliers import Suppliers, contact_fields

# Edits taken from the AP platform's stream at a time.
CHUNK = 100


def contact_value(name, stored):
    return Address(**stored) if name == "address" and isinstance(stored, dict) else stored


def said(name, value):
    """A contact field's value as a sentence quotes it."""
    if isinstance(value, dict):
        value = ", ".join(part for part in value.values() if part)
    return f"{name} {value!r}" if value else f"{name} empty"


class VendorEdits(Step):
    erp_requires = {can.ACCEPTS_SUPPLIER_UPDATES: ("update_supplier",)}
    ap_requires = {can.REPORTS_VENDOR_EDITS: ("vendor_edits",)}
    only_with = Suppliers  # the vendors it reads edits of are those the suppliers step made
    uses_mapping_rules = False
    writes = ("erp:suppliers",)

    @classmethod
    def phrase(cls, source, target, integration):
        return f"vendor contact edits made in {target} → {source} suppliers"

    def run(self, sync):
        """Contact edits made in the AP platform to vendors we made, written back to their suppliers. What
        we sent last (the vendor row's "sent") is the baseline: a vendor that still says it changed nothing,
        which is also how our own updates come back. The ERP applies the rule of who wins (update_supplier);
        each conflict is audited with both values."""
        self.sync = sync
        kind = sync.ledger.cursor_type("vendor_edits")
        newest = held_at = None
        chunk = []
        for edit in sync.ap.vendor_edits(sync.ledger.since("vendor_edits", "supplier_update")):
            chunk.append(edit)
            if len(chunk) >= CHUNK:
                newest, held_at = self.edit_chunk(chunk, kind, newest, held_at)
                chunk = []
        if chunk:
            newest, held_at = self.edit_chunk(chunk, kind, newest, held_at)
        if held_at is not None and newest is not None:
            newest = earlier(kind, newest, kind.just_before(held_at))
        sync.ledger.advance_cursor("vendor_edits", newest)

    def edit_chunk(self, edits, kind, newest, held_at):
        sync, ledger = self.sync, self.sync.ledger
        vendors = {r.target_id: r for r in SyncRecord.objects.filter(
            integration=sync.integration, object_type="vendor", status=RecordStatus.SYNCED,
            target_id__in=[e.source_id if isinstance(e, Unreadable) else e.vendor_id for e in edits])}
        # Only the vendors this integration owns: another integration's vendor (the same supplier id from another
        # ERP) holds that ERP's values, never to be written into this one.
        owned = set(VendorOwner.objects.filter(account=sync.account, integration=sync.integration,
                                               vendor_id__in=list(vendors)).values_list("vendor_id", flat=True))
        vendors = {vendor_id: row for vendor_id, row in vendors.items() if vendor_id in owned}
        for edit in edits:
            if isinstance(edit, Unreadable):
                ledger.fail(ledger.row("supplier_update", edit.source_id, edit.source_ref), "data", edit.reason,
                            {"marker": edit.updated_marker}, cause="unreadable_record")
                newest = newer(kind, newest, ledger.marker(kind, edit.updated_marker))
                continue
            marker = ledger.marker(kind, edit.updated_at)
            newest = newer(kind, newest, marker)
            vendor = vendors.get(edit.vendor_id)
            if vendor is None:
                sync.counters["vendor_edits_not_ours"] += 1
                continue
            sent = vendor.data.get("sent")
            if sent is None:
                sync.counters["vendor_edits_without_baseline"] += 1  # synced before baselines were kept
                continue
            now = contact_fields(edit)
            changes = {name: (sent.get(name), now[name]) for name in CONTACT_FIELDS if now[name] != sent.get(name)}
            if not changes:
                sync.counters["vendor_edits_unchanged"] += 1
                continue
            record = ledger.row("supplier_update", vendor.source_id, vendor.source_ref)
            if ledger.set_aside_by_a_person(record):
                continue
            failures = sync.failures
            ledger.guarded(record, lambda r=record, v=vendor, c=changes, e=edit: self.write_back(r, v, c, e),
                           {"marker": edit.updated_at}, system=sync.source_name)
            if sync.failures > failures and record.error_class in RETRY_CLASSES and marker is not None:
                held_at = earlier(kind, held_at, marker)
        return newest, held_at

    def write_back(self, record, vendor, changes, edit):
        sync = self.sync
        source, target = sync.source_name, sync.target_name
        pairs = {name: (contact_value(name, before), contact_value(name, after))
                 for name, (before, after) in changes.items()}
        result = sync.erp.update_supplier(vendor.source_id, pairs)
        applied = {name: changes[name][1] for name in result.applied if name in changes}
        vendor.data = {**vendor.data, "sent": {**vendor.data["sent"], **applied}}
        vendor.save(update_fields=["data", "updated_at"])
        # Settled either way (written, or kept by the ERP as the conflict rule says); what happened is audited
        # below in words, field by field, rather than as a generic "synced" entry.
        record.status, record.target_id, record.source_hash = RecordStatus.SYNCED, vendor.source_id, fingerprint(edit)
        record.attempts += 1
        record.error_class = record.cause = record.subject = record.error_detail = ""
        record.data = {**record.data, "marker": edit.updated_at, "applied": applied,
                       "conflicts": {name: list(pair) for name, pair in result.conflicts.items()}}
        record.save()
        if applied:
            sync.counters["supplier_updates_written_back"] += 1
        for name, (erp_value, ap_value) in result.conflicts.items():
            erp_value = asdict(erp_value) if isinstance(erp_value, Address) else erp_value
            ap_value = asdict(ap_value) if isinstance(ap_value, Address) else ap_value
            sync.counters["supplier_update_conflicts"] += 1
            sync.ledger.log("sync.supplier.conflict", record,
                            f"Supplier {vendor.source_id} {name} was changed in both systems: {source} keeps "
                            f"{said(name, erp_value)}; {target}'s {said(name, ap_value)} is not written back "
                            f"(when both change a contact field, {source} wins) and is replaced at the next "
                            "supplier sync.")
        if applied:
            written = "; ".join(said(name, value) for name, value in applied.items())
            sync.ledger.log("sync.supplier.updated", record,
                            f"Supplier {vendor.source_id} updated in {source} from {target}: {written}.",
                            {"input": {"vendor": edit.vendor_id, "changes": {n: c[1] for n, c in changes.items()}},
                             "output": {"supplier": vendor.source_id, "written": applied}})
