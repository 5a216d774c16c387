"""Why a record failed, for the people who read it: finance in plain words with what to do, ops grouped by
root cause.

The engine writes each failure's reason as a sentence (SyncRecord.error_detail) and its class
(error_class). Reasons that differ only in a record's own figures (amounts, line numbers, ids, times)
have one cause; `fold()` removes those figures so such reasons group together, and keeps the short codes
a fix is made on (GL account 6100, supplier S10007).
"""

import re
from dataclasses import dataclass

# Record-specific figures, folded to "…". Order matters: times before plain numbers.
FOLDS = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"), "…"),
    (re.compile(r"(?<![\w.])-?\d[\d,]*\.\d+\b"), "…"),  # amounts
    (re.compile(r"\b(Line|line|row|Row|attempt|Attempt)s? \d+\b"), r"\1 …"),
    # Ids: a token of ten or more letters and digits with at least one digit (BILL's 00n…, UUIDs, hashes).
    (re.compile(r"\b(?=[\w-]*\d)[\w-]{10,}\b"), "…"),
    (re.compile(r"\b\d{6,}\b"), "…"),
]
TRACEBACK = re.compile(r"Traceback \(most recent call last\).*", re.DOTALL)
EXCEPTION_PREFIX = re.compile(r"^(?:[A-Z][A-Za-z]*(?:Error|Exception|Required|Unsafe|Deferred|Limited)): ")
MAX_REASON = 400


@dataclass(frozen=True)
class Advice:
    headline: str  # what happened, in a finance person's words
    action: str  # what finance does about it
    ops: str  # what ops staff do about it, in the work queue
    automatic: bool = False  # retried by itself


RETRIED = "Nothing: it is retried automatically."


ADVICE = {
    "mapping": Advice("A code on it has no match in the AP platform.",
                      "Ask your operations team to map the code; it is sent again once they have.",
                      "Map the code under Mapping rules (\"Load reference data\" proposes rules), then retry the "
                      "group."),
    "data": Advice("Something on it must be corrected at the source.",
                   "Correct it in the ERP (the reason says what). An invoice corrected itself is picked up by the "
                   "next run; for anything else (its supplier, say), ask operations to retry it.",
                   "Have it corrected in the ERP (the reason says what), then retry the group; an invoice that was "
                   "itself corrected is also picked up by the next run."),
    "not_found": Advice("The AP platform no longer has something it needs.",
                        "Ask your operations team to look into it.",
                        "Check that what the reason names still exists in the AP platform, then retry the group."),
    "transient": Advice("The other system did not answer properly.", RETRIED, RETRIED, True),
    "rate_limit": Advice("The other system asked us to slow down.", RETRIED, RETRIED, True),
    "conflict": Advice("It was being changed in the other system at the same time.", RETRIED, RETRIED, True),
    "locked": Advice("It was locked in the other system.", RETRIED, RETRIED, True),
    "auth": Advice("The portal could not sign in to one of the systems.",
                   "Ask your operations team to check the connection's credentials.",
                   "Correct the connection's credentials and use \"Test connection\", then retry the group."),
    "configuration": Advice("An integration setting is wrong.", "Ask your operations team to check the integration.",
                            "Correct the integration or connection setting the reason names, then retry the group."),
}
UNKNOWN = Advice("It could not be sent.", "Ask your operations team to look into it.",
                 "Read the reason, fix its cause, then retry the group.")
CLASS_WORDS = {
    "mapping": "missing mapping", "data": "data to correct", "not_found": "not found", "transient": "passing error",
    "rate_limit": "rate limit", "conflict": "edited at the same time", "locked": "locked", "auth": "sign-in refused",
    "configuration": "configuration",
}


# Causes whose remedy is not the one of their class, found by the words the engine writes for them.
BY_CAUSE = [
    ("nothing is converted", Advice("It is in a currency the AP platform's account cannot pay.",
                                    "Pay it outside the AP platform, and ask your operations team to set the record "
                                    "aside so it is not retried.",
                                    "Once finance has paid it outside the AP platform, set the group aside; a retry "
                                    "cannot send it.")),
    # A payee the AP platform holds inactive, as its connector words it (AvidXchange: its vendor enrolment decides).
    ("Activate the payee in the AP platform", Advice("The AP platform holds its payee inactive.",
                                        "Ask your operations team to have the payee activated in the AP platform.",
                                        "Have the payee activated in the AP platform (the ERP cannot), then retry the "
                                        "group.")),
]


def advice(error_class, detail=""):
    for words, cause in BY_CAUSE:
        if words in (detail or ""):
            return cause
    return ADVICE.get(error_class, UNKNOWN)


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


def fold(detail):
    """The reason without the record's own figures: reasons with one cause fold to one text."""
    text = readable(detail)
    for pattern, replacement in FOLDS:
        text = pattern.sub(replacement, text)
    return re.sub(r"(…[\s,]*){2,}", "… ", text).strip()
