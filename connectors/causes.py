"""Why one record failed, as stable codes: the one registry of causes.

A failure is a typed error (connectors.errors) or an engine check with a cause code from here, stored on its record
beside its message (for a person) and its subject (the code, the ERP supplier a fix is made on). The work queue groups
by the code within one integration, and by the subject too where the entry says a fix mends one subject (one rule per
unmapped code, one supplier corrected in the ERP); it offers what the entry says; finance and ops read its advice.
Adding a cause is one entry below: connectors.errors refuses a code that is not here, and
tests/syncs/test_cause_codes.py fails on a code used in the code base without an entry, or an entry without advice.

A title is a group's heading: {subject}, {erp} and {ap} are filled in with the records' values where they share one,
and read "(varies)" where they do not (only a cause grouped without its subject can have several).
"""

from dataclasses import dataclass

RETRIED = "Nothing: it is retried automatically."
# What the work queue offers for a group besides "Retry all" (syncs.admin builds the links): the rule to add for the
# group's code, the mapping rules to correct, the integration's vendor key prefix, the integration or the connection to
# correct, or setting the group aside.
OFFERS = ("add_rule", "mapping_rules", "vendor_key_prefix", "integration", "connection", "set_aside")


@dataclass(frozen=True)
class Cause:
    code: str
    title: str  # the group's heading (see above)
    headline: str  # what happened, in a finance person's words
    action: str  # what finance does about it
    ops: str  # what ops staff do about it, in the work queue
    retry: bool = True  # whether retrying the records can send them once the cause is fixed
    offer: str = ""  # one of OFFERS, or nothing beyond retry and set aside
    automatic: bool = False  # retried by the next runs without anyone asking
    # A fix mends one subject (a rule per code, a supplier corrected in the ERP): one group per subject, named by it.
    by_subject: bool = False
    # For "add_rule": the kind of code the subject is, or "" where the subject names its kind ("Subaccount 900-000").
    rule_kind: str = ""


CAUSES = {cause.code: cause for cause in (
    # --- what the other system answered (the defaults of connectors.errors, by class) -----------------------
    Cause("refused", "Refused by the other system (each record's reason says why)",
          "Something on it must be corrected at the source.",
          "Correct it in the ERP (the reason says what). An invoice corrected itself is picked up by the next run; "
          "for anything else (its supplier, say), ask operations to retry it.",
          "Have it corrected in the ERP (the reason says what), then retry the group; an invoice that was itself "
          "corrected is also picked up by the next run."),
    Cause("not_found", "Something it needs is no longer in the other system",
          "The AP platform no longer has something it needs.", "Ask your operations team to look into it.",
          "Check that what the reason names still exists in the AP platform, then retry the group."),
    Cause("conflict", "Changed in the other system at the same time",
          "It was being changed in the other system at the same time.", RETRIED, RETRIED, automatic=True),
    Cause("locked", "Locked in the other system", "It was locked in the other system.", RETRIED, RETRIED,
          automatic=True),
    Cause("no_answer", "The other system did not answer properly", "The other system did not answer properly.",
          RETRIED, RETRIED, automatic=True),
    Cause("rate_limited", "The other system asked us to slow down", "The other system asked us to slow down.",
          RETRIED, RETRIED, automatic=True),
    Cause("outcome_unknown", "{ap} did not say what became of it", "The AP platform did not say whether it took it.",
          RETRIED, "Nothing: the next run looks it up before creating anything.", automatic=True),
    Cause("disk_full", "The disk of the exchange folder is full", "The disk its file is written to is full.",
          RETRIED, "Free space on the disk the reason names; the next run writes the file.", automatic=True),
    Cause("sign_in_refused", "Sign-in refused", "The portal could not sign in to one of the systems.",
          "Ask your operations team to check the connection's credentials.",
          "Correct the connection's credentials and use \"Test connection\", then retry the group.",
          offer="connection"),
    Cause("assumption_contradicted", "Held back: {erp} does not behave as ml-connector assumes",
          "It is held back until operations confirm the ERP's setup.",
          "Nothing yet: operations are checking the ERP's setup with you.",
          "The connection's last assumption check found something this needs contradicted (the reason names it). "
          "Once the customer has fixed it, check the connection's assumptions again, or confirm an override on its "
          "report; the next run sends what was held back, or retry the group.", offer="connection"),
    Cause("integration_setting", "An integration setting is wrong", "An integration setting is wrong.",
          "Ask your operations team to check the integration.",
          "Correct the integration or connection setting the reason names, then retry the group.", offer="integration"),
    Cause("unreadable_record", "Records that cannot be read as sent", "It could not be read as it was sent.",
          "Correct it in the system it comes from (the reason names the field); ask operations to retry it then.",
          "Have it corrected where it comes from (the reason names the field), then retry the group."),
    # --- suppliers -------------------------------------------------------------------------------------------
    Cause("supplier_tax_id_missing", "Supplier {subject} has no tax ID", "Its supplier has no tax ID.",
          "Add the supplier's tax ID in the ERP, then ask your operations team to retry it.",
          "Have the supplier's tax ID added in the ERP, then retry the group.", by_subject=True),
    Cause("supplier_name_missing", "Supplier {subject} has no name", "Its supplier has no name.",
          "Give the supplier its name in the ERP, then ask your operations team to retry it.",
          "Have the supplier's name added in the ERP, then retry the group.", by_subject=True),
    Cause("supplier_on_hold", "Supplier {subject} is blocked or on hold in {erp}",
          "Its supplier is blocked or on hold in the ERP.",
          "Nothing while it is meant to wait; once the supplier is released in the ERP, ask your operations team to "
          "retry it.",
          "Once the supplier is released in the ERP, retry the group; until then its invoices wait.", by_subject=True),
    Cause("supplier_set_aside", "Supplier {subject} was set aside by a person", "Its supplier was set aside.",
          "Ask your operations team whether the supplier is to be put back.",
          "A retry cannot send these while their supplier is set aside: put the supplier's record back if they are "
          "to go, or set them aside too, with the reason.", retry=False, offer="set_aside", by_subject=True),
    Cause("supplier_not_synced", "Supplier {subject} is not in {ap} yet", "Its supplier is not in the AP platform yet.",
          "Ask your operations team to look into it.",
          "Check why the supplier has not gone across (its vendor record says), then retry the group.",
          by_subject=True),
    Cause("vendor_owned_elsewhere", "Supplier {subject}'s vendor in {ap} belongs to another integration",
          "Its supplier's vendor in the AP platform belongs to another integration.",
          "Ask your operations team to keep the two integrations' suppliers apart.",
          "A retry cannot fix this: give this integration a vendor key prefix (it can be set while the integration "
          "has no vendors), then replay it.", retry=False, offer="vendor_key_prefix"),
    Cause("payee_inactive", "Supplier {subject}'s payee is inactive in {ap}",
          "The AP platform holds its payee inactive.",
          "Ask your operations team to have the payee activated in the AP platform.",
          "Have the payee activated in the AP platform (the ERP cannot), then retry the group.", by_subject=True),
    # --- invoices --------------------------------------------------------------------------------------------
    Cause("lines_do_not_add_up", "The lines do not add up to the invoice total",
          "Its lines do not add up to its total.",
          "Correct the invoice in the ERP; the next run picks it up.",
          "Have the invoice corrected in the ERP: the next run picks it up (or retry the group once it is)."),
    Cause("currency_not_payable", "Invoices in {subject}, a currency the {ap} account does not pay",
          "It is in a currency the AP platform's account cannot pay.",
          "Pay it outside the AP platform, and ask your operations team to set the record aside so it is not retried.",
          "Once finance has paid it outside the AP platform, set the group aside; a retry cannot send it.",
          retry=False, offer="set_aside"),
    Cause("invoice_held", "Held in {erp} before it was sent", "It is held in the ERP.",
          "Nothing while it is held: it is sent once it is released.", "Nothing: it is sent once released in the ERP."),
    Cause("held_after_sending", "Held in {erp} after its bill was sent to {ap}",
          "It was held in the ERP after its bill was sent.",
          "Stop the bill in the AP platform if it must not be paid; nothing is changed there for you.",
          "Tell finance: the bill stands in the AP platform until someone stops it there.", retry=False),
    # --- codes (mapping) -------------------------------------------------------------------------------------
    Cause("gl_unmapped", "GL account {subject} is not mapped to a {ap} account",
          "A code on it has no match in the AP platform.",
          "Ask your operations team to map the code; it is sent again once they have.",
          "Map the code under Mapping rules (\"Load reference data\" proposes rules), then retry the group.",
          offer="add_rule", by_subject=True, rule_kind="gl_account"),
    Cause("code_unmapped", "{subject} is not mapped to {ap}", "A code on it has no match in the AP platform.",
          "Ask your operations team to map the code; it is sent again once they have.",
          "Map the code under Mapping rules (\"Load reference data\" proposes rules), then retry the group.",
          offer="add_rule", by_subject=True),
    Cause("mapping_rule_unusable", "The mapping rule for {subject} cannot be used",
          "A code on it is mapped to something the AP platform cannot use.",
          "Ask your operations team to correct the mapping; it is sent again once they have.",
          "Correct the rule under Mapping rules (the reason says what is wrong with it), then retry the group.",
          offer="mapping_rules", by_subject=True),
    Cause("line_without_gl_account", "Invoice lines without a GL account", "A line of it has no GL account.",
          "Add the GL account to the line in the ERP; the next run picks it up.",
          "Have the line coded in the ERP: the next run picks the invoice up (or retry the group once it is)."),
    Cause("codes_collide", "Two codes of one line map to the same {ap} field",
          "Two codes on one line map to the same field in the AP platform.",
          "Ask your operations team to correct the mapping; it is sent again once they have.",
          "Correct the mapping rules so that a line's codes map to different fields, then retry the group.",
          offer="mapping_rules"),
)}


def registered(code):
    """The code, refused in words when it is not in CAUSES: a failure is filed under a known cause or not at all."""
    if code not in CAUSES:
        raise ValueError(f"Unknown failure cause {code!r}: add it to connectors.causes.CAUSES with its advice.")
    return code
