"""What ops staff do to an integration, shared by the admin actions and the management commands."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from connectors.cursors import TIMESTAMP, CursorTypeError
from portal import audit
from syncs.models import Cursor, MappingRule, RecordStatus, SyncRecord, Trigger
from syncs.tasks import enqueue_run


def replay_point(records):
    """The moment to re-read timestamp streams from so that every given record comes back from the ERP.
    (Streams with other cursor types re-read their failed records from their markers on a replay.)"""
    moments = []
    for record in records:
        try:
            moments.append(TIMESTAMP.parse(record.data.get("marker") or ""))
        except CursorTypeError:
            moments.append(TIMESTAMP.start(record.created_at))
    return min(moments) - timedelta(seconds=1) if moments else None


def person_entries(action, actor, records, message_of):
    """A person's action on ledger rows as one audit entry per row (each row's lineage shows who), not yet
    written: the caller writes them with the rows they describe."""
    return [audit.build(action, actor=actor, tenant=record.integration.tenant, obj=record,
                        source_ref=record.source_ref, target_id=record.target_id, message=message_of(record))
            for record in records]


@transaction.atomic  # the audit entries and the run request (syncs.requests) are written together
def replay_failed(integration, actor, records=None):
    """Re-run the failed records of an integration (all, or those given). Returns how many."""
    records = list(records if records is not None else
                   SyncRecord.objects.filter(integration=integration, status=RecordStatus.FAILED))
    if not records:
        return 0
    since = replay_point(records)
    audit.record("sync.replay", actor=actor, tenant=integration.tenant, obj=integration,
                 message=f"Replaying {len(records)} failed record(s), re-reading from {since:%Y-%m-%d %H:%M}",
                 details={"records": [r.pk for r in records[:200]]})
    # Each record's own history (its lineage page) shows who asked for it to be sent again.
    audit.record_all(person_entries("sync.record.replayed", actor, records,
                                    lambda record: "Retry asked for; the next run sends it again."))
    enqueue_run(integration, Trigger.REPLAY, since, actor)
    return len(records)


@transaction.atomic
def resync_from(integration, moment, actor):
    """Move every cursor back to `moment`; the ledger keeps the re-read from duplicating anything. A stream
    whose cursor is not a timestamp finds a timestamp here and so reads from its start."""
    for stream in ("suppliers", "invoices", "payments", "vendor_edits"):
        Cursor.objects.update_or_create(integration=integration, stream=stream,
                                        defaults={"kind": TIMESTAMP.name, "value": TIMESTAMP.render(moment)})
    audit.record("sync.resync", actor=actor, tenant=integration.tenant, obj=integration,
                 message=f"Cursors moved back to {moment:%Y-%m-%d %H:%M} UTC")
    enqueue_run(integration, Trigger.RESYNC, None, actor)


def load_reference_data(integration, actor):
    """Fetch GL accounts from both sides and propose unconfirmed GL rules where account numbers match. Safe to
    run again: existing rules are kept, and their names on both sides are brought up to date."""
    with integration.source.connector() as erp, integration.target.connector() as ap:
        source_accounts, target_accounts = erp.gl_accounts(), ap.gl_accounts()
    by_code = {a.code: a for a in target_accounts if a.code and a.active}
    by_id = {a.id: a for a in target_accounts}
    names = {a.code: a.name for a in source_accounts}
    existing = {rule.source_code: rule for rule in MappingRule.objects.filter(integration=integration,
                                                                             kind=MappingRule.GL_ACCOUNT)}
    renamed = []
    for rule in existing.values():
        labels = (names.get(rule.source_code, rule.source_label),
                  by_id[rule.target_id].name if rule.target_id in by_id else rule.target_label)
        if labels != (rule.source_label, rule.target_label):
            rule.source_label, rule.target_label = labels
            renamed.append(rule)
    MappingRule.objects.bulk_update(renamed, ["source_label", "target_label"])
    proposed = []
    for account in source_accounts:
        target = by_code.get(account.code)
        if target and account.code not in existing:
            proposed.append(MappingRule(integration=integration, kind=MappingRule.GL_ACCOUNT,
                                        target_kind=MappingRule.GL_ACCOUNT, source_code=account.code,
                                        source_label=account.name, target_id=target.id, target_label=target.name,
                                        confirmed=False))
    MappingRule.objects.bulk_create(proposed)
    unmatched = sorted(f"{a.code} {a.name}".strip() for a in source_accounts
                       if a.code not in by_code and a.code not in existing)
    audit.record("mapping.proposed", actor=actor, tenant=integration.tenant, obj=integration,
                 message=f"{len(proposed)} GL rule(s) proposed; {len(unmatched)} account(s) without a match",
                 details={"proposed": [str(r) for r in proposed][:200], "unmatched": unmatched[:200]})
    return {"source_accounts": len(source_accounts), "target_accounts": len(target_accounts),
            "proposed": len(proposed), "unmatched": unmatched, "at": timezone.now().isoformat()}
