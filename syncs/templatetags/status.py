"""Money and times as finance reads them."""

from decimal import Decimal

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def money(amount, currency=""):
    if amount is None or amount == "":
        return "—"
    text = f"{Decimal(amount):,.2f}"
    return f"{text} {currency}".strip()


@register.filter
def amounts(by_currency):
    """{currency: amount} as "12,345.00 USD · 80.00 EUR"."""
    if not by_currency:
        return ""
    return " · ".join(money(amount, currency) for currency, amount in sorted(by_currency.items()))


@register.filter
def moment(value):
    """"10:42 today", "yesterday 16:05" or "3 Dec 10:42" (UTC)."""
    if not value:
        return ""
    local = timezone.localtime(value)
    today = timezone.localtime(timezone.now()).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"{clock} today"
    if (today - local.date()).days == 1:
        return f"yesterday {clock}"
    return f"{local.day} {local:%b %Y} {clock}" if local.year != today.year else f"{local.day} {local:%b} {clock}"


@register.filter
def readable(detail):
    """A stored failure reason as a person reads it (syncs.reasons.readable)."""
    from syncs.reasons import readable as in_words

    return in_words(detail)


@register.filter
def who(actor):
    """An audit entry's actor for finance: a person's name, or the portal itself for automation."""
    return "ml-connector (automatic)" if str(actor).startswith("system") else actor
