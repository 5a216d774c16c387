"""Money, dates and times as finance reads them, one way on every finance page and in the tie-out command:
"6,538.60 USD", "3 Mar 2026", "10:42 today". The command imports these same functions."""

from datetime import date, datetime

from django import template
from django.utils import timezone

from connectors.values import DAY, money
from syncs.reasons import readable as in_words

register = template.Library()


# The one money format, shared with the messages the engine and the connectors write (connectors.values).
register.filter(money)


@register.filter
def amounts(by_currency):
    """{currency: amount} as "80.00 EUR · 12,345.00 USD", currencies in order."""
    if not by_currency:
        return ""
    return " · ".join(money(amount, currency) for currency, amount in sorted(by_currency.items()))


@register.filter
def figure(value):
    """A count and its amounts (syncs.status.Figure, or the same as a dict): "2 · 7,143.19 USD", or "0"."""
    count, by_currency = ((value.get("count", 0), value.get("amounts")) if isinstance(value, dict)
                          else (value.count, value.amounts))
    return " · ".join([str(count), *([amounts(by_currency)] if by_currency else [])])


@register.filter
def day(value):
    """A date as "3 Mar 2026"; an ISO date text (as payment rows keep it) is read first. Empty: "—"."""
    if isinstance(value, str) and value:
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return DAY.format(d=value) if isinstance(value, date) else "—"


@register.filter
def moment(value):
    """"10:42 today", "yesterday 16:05" or "3 Dec 2025 10:42" (UTC)."""
    if not value:
        return ""
    local = timezone.localtime(value)
    today = timezone.localtime(timezone.now()).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"{clock} today"
    if (today - local.date()).days == 1:
        return f"yesterday {clock}"
    return f"{day(local.date())} {clock}"


@register.filter
def readable(detail):
    """A stored failure reason as a person reads it (syncs.reasons.readable)."""
    return in_words(detail)


@register.filter
def who(actor):
    """An audit entry's actor for finance: a person's name, or the portal itself for automation."""
    return "ml-connector (automatic)" if str(actor).startswith("system") else actor
