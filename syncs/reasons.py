"""Why a record failed, for the people who read it: finance in plain words with what to do, ops grouped by cause.

The engine stores each failure's message (SyncRecord.error_detail, for a person), its class (error_class) and its
cause code with its subject (cause, subject; connectors.causes holds the codes and their advice). Advice and
grouping go by the code, never by the words of the message.
"""

import re

from connectors.causes import CAUSES, Cause

TRACEBACK = re.compile(r"Traceback \(most recent call last\).*", re.DOTALL)
EXCEPTION_PREFIX = re.compile(r"^(?:[A-Z][A-Za-z]*(?:Error|Exception|Required|Unsafe|Deferred|Limited)): ")
MAX_REASON = 400
# What a group's heading says for a value its records do not share.
VARIES = "(varies)"

# The cause a record without one is advised and grouped by (a row written before causes were stored, and not read
# since), from its class: the defaults of connectors.errors, and of the engine's own checks.
BY_CLASS = {"data": "refused", "mapping": "code_unmapped", "not_found": "not_found", "transient": "no_answer",
            "rate_limit": "rate_limited", "conflict": "conflict", "locked": "locked", "auth": "sign_in_refused",
            "configuration": "integration_setting"}
UNKNOWN = Cause("", "Failed for a reason not recorded", "It could not be sent.", "Ask your operations team to look "
                "into it.", "Read the reason, fix its cause, then retry the group.")
CLASS_WORDS = {
    "mapping": "missing mapping", "data": "data to correct", "not_found": "not found", "transient": "passing error",
    "rate_limit": "rate limit", "conflict": "edited at the same time", "locked": "locked", "auth": "sign-in refused",
    "configuration": "configuration",
}


def cause_code(cause, error_class=""):
    """The code a record is filed under: its own, else its class's."""
    return cause or BY_CLASS.get(error_class, "")


def advice(cause, error_class=""):
    """The registry's entry for a record's cause (headline, action, ops, whether a retry can fix it)."""
    return CAUSES.get(cause_code(cause, error_class), UNKNOWN)


def title(cause, subject=VARIES, erp=VARIES, ap=VARIES):
    """A group's heading: the cause's title with the values its records share, "(varies)" for the others."""
    return advice(cause).title.format(subject=subject or VARIES, erp=erp or VARIES, ap=ap or VARIES)


def class_in_words(error_class):
    return CLASS_WORDS.get(error_class, error_class.replace("_", " ") or "unclassified")


def readable(detail):
    """The stored reason as a person may read it: no traceback, no exception class names, no raw structures."""
    text = TRACEBACK.sub("", detail or "").strip()
    text = EXCEPTION_PREFIX.sub("", text)
    if text[:1] in "{[" or "{'" in text or '{"' in text:
        # A raw structure from a remote system's answer: keep the sentence before it, if any.
        before = re.split(r"[{\[]", text, maxsplit=1)[0].strip(" :")
        text = (before + ": " if before else "") + "the other system gave no readable reason."
    if len(text) > MAX_REASON:
        text = text[:MAX_REASON].rsplit(" ", 1)[0] + " …"
    return text or "No reason was recorded."
