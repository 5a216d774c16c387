"""What counts as a number in a remote system's answer: one rule for every connector and simulator reader.
Each caller says in its own words which field of which record was wrong."""

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


def amount_value(value, refusal):
    """An amount to the cent from a remote field, by decimal_value's rule; otherwise `refusal()` is raised, the
    caller's record error naming the field in its own words."""
    number = decimal_value(value)
    if number is None:
        raise refusal()
    return number.quantize(CENT)
