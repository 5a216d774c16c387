"""GL accounts and dimensions → the AP platform's code lists, for an AP platform that takes the ERP's codes instead
of keeping a chart of its own. Each published code gets its mapping rule, so invoice lines are coded by the ERP's
own codes."""

from connectors import capabilities as can
from connectors.http import fan_out
from connectors.records import Dimension, GlAccount, code_key
from syncs.ledger import Pending, fingerprint
from syncs.models import MappingRule, RecordStatus, SyncRecord
from syncs.steps.base import Step


class CodeLists(Step):
    erp_requires = {can.READS_REFERENCE_DATA: ("gl_accounts", "dimensions")}
    ap_requires = {can.ACCEPTS_REFERENCE_DATA: ("publish_codes",)}
    writes = ("ap:codes",)

    @classmethod
    def phrase(cls, source, target, integration):
        return f"GL accounts and dimensions → {target} code lists"

    def run(self, sync):
        """The ERP's GL accounts and dimensions published as the AP platform's code lists: new and changed
        codes sent, codes gone from the ERP deactivated (never deleted, old bills still point at them)."""
        ledger = sync.ledger
        accounts, dimensions = fan_out(lambda read: list(read()), (sync.erp.gl_accounts, sync.erp.dimensions), 2)
        codes = {code_key(code): code for code in [*accounts, *dimensions]}
        gone = (SyncRecord.objects.filter(integration=sync.integration, object_type="code", status=RecordStatus.SYNCED)
                .exclude(source_id__in=list(codes)).exclude(data__active=False))
        for record in gone:
            stored = record.data
            codes[record.source_id] = (GlAccount(code=stored["code"], name=stored.get("name", ""), active=False)
                                       if stored.get("kind") == MappingRule.GL_ACCOUNT else
                                       Dimension(kind=stored["kind"], code=stored["code"], name=stored.get("name", ""),
                                                 active=False))
        keys = list(codes)
        self.sync, self.count = sync, 0  # codes published in this run
        for start in range(0, len(keys), sync.batch_size):
            chunk = {key: codes[key] for key in keys[start:start + sync.batch_size]}
            records = ledger.rows("code", [(key, f"{key.replace(':', ' ')} {code.name}".strip())
                                           for key, code in chunk.items()])
            batch = []
            for key, code in chunk.items():
                record, source_hash = records[key], fingerprint(code)
                if record.status == RecordStatus.SYNCED and record.source_hash == source_hash:
                    ledger.unchanged(record)
                    continue
                kind = MappingRule.GL_ACCOUNT if isinstance(code, GlAccount) else code.kind
                batch.append(Pending(record, code, source_hash,
                                     {"kind": kind, "code": code.code, "name": code.name, "active": code.active}, {}))
            if not batch:
                continue
            with ledger.batch():
                answers = ledger.guarded_batch(batch, lambda b=batch: sync.ap.publish_codes([p.item for p in b]))
                if answers is not None:
                    ledger.record_results(batch, answers, self.published)
        if self.count:
            sync.load_reference_data()  # the rules just written take effect in this run

    def published(self, pending, target_id):
        self.sync.ledger.succeed(pending.record, "published" if pending.item.active else "deactivated", target_id,
                                 pending.source_hash, pending.data)
        self.rule_for_published(self.sync.integration, pending.data, target_id)
        self.count += 1

    @staticmethod
    def rule_for_published(integration, code, target_id):
        kind = code["kind"]
        if kind not in dict(MappingRule.KINDS) or not code["active"]:
            return
        # Made where missing only: a rule a person already set for that code stays as they set it.
        MappingRule.objects.get_or_create(
            integration=integration, kind=kind, source_code=code["code"],
            defaults={"target_kind": kind, "target_id": target_id, "source_label": code["name"][:200],
                      "target_label": code["name"][:200], "confirmed": True})
