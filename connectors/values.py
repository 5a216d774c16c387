"""What counts as a number in a remote system's answer: one rule for every connector and simulator reader.
Each caller says in its own words which field of which record was wrong.

And money as a person reads it, "6,538.60 USD": the one format for the finance pages, the tie-out command and every
message that names an amount, whichever floor writes it (it lives here, on the lowest floor, so connectors may use it
too), and the amount a person types back in that form. A day likewise: "3 Mar 2026" (DAY), also in the words an
ERP is told about an undone payment (connectors.reversals)."""

import re
from decimal import Decimal, InvalidOperation


def decimal_value(value):
    """A finite Decimal from a JSON number or numeric text, or None for anything else (a boolean, an object,
    text that is no number, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


CENT = Decimal("0.01")
DAY = "{d.day} {d:%b %Y}"


def amount_value(value, refusal):
    """An amount to the cent from a remote field, by decimal_value's rule; otherwise `refusal()` is raised, the
    caller's record error naming the field in its own words."""
    number = decimal_value(value)
    if number is None:
        raise refusal()
    return number.quantize(CENT)


NO_CURRENCY = "(no currency)"
# What a person may type for an amount: as money() shows it ("6,538.60 USD"), or plainly ("6538.6"). Commas must
# group thousands, so "6,53" is a typing slip, not 653; no stored amount has more than two decimals or 16 digits
# before the point (syncs.SyncRecord.amount).
TYPED_AMOUNT = re.compile(
    r"(?P<figure>-?(?:\d{1,3}(?:,\d{3}){1,5}|\d{1,16})(?:\.\d{1,2})?)(?:\s*(?P<currency>[A-Za-z]{3}))?")


def money(amount, currency=""):
    """"6,538.60 USD": thousands separated, two decimals, and the currency, or "(no currency)" where the system did
    not give one rather than a bare figure someone takes for dollars."""
    if amount is None or amount == "":
        return "—"
    try:
        text = f"{Decimal(str(amount)):,.2f}"
    except InvalidOperation:
        text = str(amount)
    return f"{text} {currency or NO_CURRENCY}"


def typed_amount(text):
    """(amount, currency code or "") from what a person typed, as money() shows it or plainly; None when it is no
    amount."""
    found = TYPED_AMOUNT.fullmatch((text or "").strip())
    if found is None:
        return None
    return Decimal(found["figure"].replace(",", "")), (found["currency"] or "").upper()
