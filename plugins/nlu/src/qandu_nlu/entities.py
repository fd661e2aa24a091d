"""Built-in entities a support desk needs: email, phone, order number, amount, date.

Each recogniser is a regular expression (plus ``phonenumbers`` to validate and format phone
numbers) with a normalised ``value``: emails lower-cased, phone numbers in E.164, order
numbers in the shop's canonical form (``NL-48213``), amounts as ``{"value", "currency"}``,
dates as ISO 8601.  Recognisers run in priority order and never overlap: an email's digits
are not an order number, a date is not a phone number.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import phonenumbers

from qandu_nlu.dates import find_dates

LABELS = ("EMAIL", "PHONE", "ORDER_NUMBER", "AMOUNT", "DATE")
"""The built-in labels (the bot's own, such as ``PRODUCT``, come from its data)."""


@attrs.frozen
class Entity:
    """One entity: its label, where it is in the text, and its normalised value."""

    label: str
    start: int
    end: int
    text: str
    value: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "value": self.value,
        }


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_NUMBER = r"\d{1,3}(?:[.,' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CURRENCIES = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "$": "USD", "usd": "USD",
    "dollar": "USD", "dollars": "USD", "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
    "chf": "CHF", "franken": "CHF",
}  # fmt: skip
_CURRENCY = "|".join(re.escape(c) for c in sorted(_CURRENCIES, key=len, reverse=True))
_AMOUNT = re.compile(
    rf"(?:(?P<pre>{_CURRENCY})\s?(?P<n1>{_NUMBER})(?![\d,.]\d)"
    rf"|(?<![\w.,])(?P<n2>{_NUMBER})(?:,-)?\s?(?P<post>{_CURRENCY}))(?![\w])",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d ()/.\-]{5,18}\d(?!\w)")


def _amount_value(number: str) -> float | None:
    """``1.299,00`` / ``1,299.00`` / ``49,99`` / ``49.99`` / ``1 299`` -> a float."""
    digits = number.replace(" ", "").replace("'", "")
    decimal_sep = None
    for sep in (",", "."):
        head, _, tail = digits.rpartition(sep)
        if head and len(tail) in (1, 2):
            decimal_sep = sep
            break
    if decimal_sep is not None:
        whole, _, fraction = digits.rpartition(decimal_sep)
        digits = whole.replace(",", "").replace(".", "") + "." + fraction
    else:
        digits = digits.replace(",", "").replace(".", "")
    try:
        return float(Decimal(digits))
    except InvalidOperation:
        return None


@attrs.frozen
class BuiltinEntities:
    """The built-in recognisers, configured for one deployment.

    :param order_pattern: regular expression of an order number; its first group holds the
        part that identifies the order (``(?:NL-?)?(\\d{5})`` matches ``NL-48213`` and ``48213``).
    :param order_format: how to write the canonical order number from that group (``NL-{}``).
    :param phone_region: ISO country for phone numbers written without ``+`` (``DE``).
    """

    order_pattern: str = r"(?:NL-?)?(\d{5})"
    order_format: str = "NL-{}"
    phone_region: str = "DE"
    _order_re: re.Pattern[str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        compiled = re.compile(rf"(?<![\w-]){self.order_pattern}(?![\w-])", re.IGNORECASE)
        object.__setattr__(self, "_order_re", compiled)

    def find(self, text: str, today: dt.date) -> list[Entity]:
        """Every built-in entity in ``text``, sorted by position; ``today`` anchors relative dates."""
        found: list[Entity] = []

        def add(candidates: Iterable[Entity]) -> None:
            for entity in candidates:
                if all(entity.end <= e.start or entity.start >= e.end for e in found):
                    found.append(entity)

        add(self._emails(text))
        add(self._amounts(text))
        add(
            Entity("DATE", d.start, d.end, text[d.start : d.end], d.value)
            for d in sorted(find_dates(text, today), key=lambda d: d.start)
        )
        add(self._order_numbers(text))
        add(self._phones(text))
        return sorted(found, key=lambda e: e.start)

    def _emails(self, text: str) -> Iterable[Entity]:
        for m in _EMAIL.finditer(text):
            yield Entity("EMAIL", m.start(), m.end(), m.group(), m.group().lower())

    def _amounts(self, text: str) -> Iterable[Entity]:
        for m in _AMOUNT.finditer(text):
            number = m["n1"] or m["n2"]
            value = _amount_value(number)
            if value is None:
                continue
            currency = _CURRENCIES[(m["pre"] or m["post"]).lower()]
            yield Entity("AMOUNT", m.start(), m.end(), m.group(), {"value": value, "currency": currency})

    def _order_numbers(self, text: str) -> Iterable[Entity]:
        for m in self._order_re.finditer(text):
            key = m.group(1) if m.re.groups else m.group()
            yield Entity("ORDER_NUMBER", m.start(), m.end(), m.group(), self.order_format.format(key.upper()))

    def _phones(self, text: str) -> Iterable[Entity]:
        for m in _PHONE.finditer(text):
            candidate = m.group()
            if sum(c.isdigit() for c in candidate) < 7:
                continue
            try:
                number = phonenumbers.parse(candidate, self.phone_region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_possible_number(number):
                continue
            formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            yield Entity("PHONE", m.start(), m.end(), candidate, formatted)
