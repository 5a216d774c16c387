"""Each record's failure has a cause code and a subject beside its message (connectors.causes).

- `SyncRecord.cause` (indexed with the integration and status: the work queue groups by it) and `SyncRecord.subject`
  (what a fix is made on: the ERP supplier, the GL account, the currency).
- Every existing row with a reason gets its cause from its message, by the substring rules the work queue and the
  advice matched before causes were stored; they live only here. A message no rule knows gets the cause of its class.
  The codes are written out, not imported: what this migration wrote stays what it wrote.
"""

import re

from django.db import migrations, models

# (pattern, cause, which group of the match is the subject: None for none), in no order: the one matching earliest in
# the message wins, as the first of several problems an invoice failed with is the one its record is filed under.
RULES = [
    (r"Supplier (\S+) (?:\([^)]*\) )?has no tax ID", "supplier_tax_id_missing", 1),
    (r"Supplier (\S+) has no name", "supplier_name_missing", 1),
    (r"Supplier (\S+) is blocked or on hold in ", "supplier_on_hold", 1),
    (r"\bit is blocked or on hold in ", "supplier_on_hold", None),
    (r"\bit has no tax ID", "supplier_tax_id_missing", None),
    (r"\bit has not been synced", "supplier_not_synced", None),
    (r"Vendor (\S+) in .+? belongs to ", "vendor_owned_elsewhere", 1),
    (r"The lines add up to ", "lines_do_not_add_up", None),
    (r"The invoice is in (\w+), and .+?nothing is converted", "currency_not_payable", 1),
    (r"Activate the payee in the AP platform", "payee_inactive", None),
    (r"GL account (\S+) is not mapped to a ", "gl_unmapped", 1),
    (r"\b([A-Z][a-z]+ \S+) is not mapped to a ", "code_unmapped", 1),
    (r"\b((?:GL account|[A-Z][a-z]+) [^\s:]+)(?:: A | is mapped to )", "mapping_rule_unusable", 1),
    (r"Line \d+ has no GL account", "line_without_gl_account", None),
    (r"two of its codes map to the ", "codes_collide", None),
    (r"did not say what became of it", "outcome_unknown", None),
    (r"^Held in .+? after it was sent", "held_after_sending", None),
    (r"^Held in .+?; it is not sent", "invoice_held", None),
]
# "Supplier S1 is not in BILL yet: <the supplier's own reason>": the invoice is filed under its supplier's cause.
WAITING = re.compile(r"^Supplier (\S+) is not in .+? yet: ")
# The cause of a message no rule knows, by its class.
BY_CLASS = {"data": "refused", "mapping": "mapping_rule_unusable", "not_found": "not_found", "conflict": "conflict",
            "locked": "locked", "transient": "no_answer", "rate_limit": "rate_limited", "auth": "sign_in_refused",
            "configuration": "integration_setting"}
# Causes read from words a message of another class may also hold.
MAPPING_ONLY = {"code_unmapped", "mapping_rule_unusable"}
# Causes about an invoice's supplier: where the message does not name it, the invoice's own supplier is the subject.
ABOUT_SUPPLIER = {"supplier_tax_id_missing", "supplier_name_missing", "supplier_on_hold", "supplier_not_synced",
                  "vendor_owned_elsewhere", "payee_inactive"}
COMPILED = [(re.compile(pattern), cause, group) for pattern, cause, group in RULES]


def cause_of(message, error_class, supplier=""):
    """(cause, subject) of an old row, read from its message."""
    waiting = WAITING.match(message)
    found = [(match.start(), cause, match.group(group) if group else "")
             for pattern, cause, group in COMPILED for match in [pattern.search(message)] if match]
    if not found:
        cause = BY_CLASS.get(error_class, "refused")
        return cause, (waiting.group(1) if waiting else "")[:200]
    _, cause, subject = min(found, key=lambda hit: hit[0])
    if cause in ABOUT_SUPPLIER and not subject:
        subject = waiting.group(1) if waiting else supplier
    if cause in MAPPING_ONLY and error_class != "mapping":
        cause, subject = BY_CLASS.get(error_class, "refused"), ""
    return cause, subject.rstrip(".;,")[:200]


def assign_causes(apps, schema_editor):
    SyncRecord = apps.get_model("syncs", "SyncRecord")
    changed = []
    for record in (SyncRecord.objects.exclude(error_detail="").filter(cause="")
                   .only("pk", "error_class", "error_detail", "data").iterator(chunk_size=1000)):
        supplier = record.data.get("supplier", "") if isinstance(record.data, dict) else ""
        record.cause, record.subject = cause_of(record.error_detail, record.error_class, str(supplier or ""))
        changed.append(record)
        if len(changed) >= 1000:
            SyncRecord.objects.bulk_update(changed, ["cause", "subject"])
            changed = []
    SyncRecord.objects.bulk_update(changed, ["cause", "subject"])


class Migration(migrations.Migration):

    dependencies = [
        ("syncs", "0008_undone_payments_and_number_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrecord",
            name="cause",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="syncrecord",
            name="subject",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddIndex(
            model_name="syncrecord",
            index=models.Index(fields=["integration", "status", "cause"], name="record_status_cause"),
        ),
        migrations.RunPython(assign_causes, migrations.RunPython.noop),
    ]
