"""Built-in entities a support desk needs: email, phone, order number, amount, date.

Each recogniser is a regular expression (plus ``phonenumbers`` to validate and format phone
numbers) with a normalised ``value``: emails lower-cased, phone numbers in E.164, order
numbers in the shop's canonical form (``NL-48213``), amounts as ``{"value", "currency"}``,
dates as ISO 8601.  Recognisers run in priority order and never overlap: an email's digits
are not an order number, a date is not a phone number.

Order numbers are contextual.  A match written with the shop's prefix (``NL-48213``: text
of ``order_pattern`` outside its group) is one; a bare ``48213`` could as well be a zip code
or part of a phone number, so it only counts after a cue word ("order 48213", "Bestellnummer
lautet 48213", "#48213") or when the dialogue expects one (``expect_order``: the open
question is about an order), unless a word such as "zip" or "Telefon" says otherwise.
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

_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]", re.UNICODE)
#: Words that announce an order number (by prefix: "order", "Bestellnummer", "Auftrags-Nr").
_ORDER_CUES = ("order", "bestell", "auftrag")
#: Words that may stand between the cue and the number ("order number is 48213").
_ORDER_FILLERS = frozenset(
    ("number", "no", "nr", "num", "id", "is", "was", "it's", "its", "my", "the", "ist", "lautet", "war",
     "nummer", "mit", "der", "die", "meine", "hat", "#", ":", ".", "-", "?", ",")
)  # fmt: skip
#: Words (by prefix) that say a number is something else ("zip code 22041", "Tel. 040 ...").
_NOT_ORDER = (
    "zip", "postcode", "postal", "postleitzahl", "plz", "phone", "telefon", "mobil", "handy", "fax",
    "kunden", "customer", "iban", "konto", "account", "hausnummer",
)  # fmt: skip
_NOT_ORDER_WORDS = frozenset(("tel", "call", "ruf", "blz", "str", "street", "road"))
_STREETS = ("straße", "strasse", "weg", "allee")
#: A digit right before or after a bare number: it is part of a longer one (a phone number).
_DIGIT_BEFORE = re.compile(r"\d[ /.\-]?$")
_DIGIT_AFTER = re.compile(r"^[ /.\-]?\d")
CUE_WINDOW = 4
"""How many words before a bare number are searched for a cue."""


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

    def find(self, text: str, today: dt.date, *, expect_order: bool = False) -> list[Entity]:
        """Every built-in entity in ``text``, sorted by position; ``today`` anchors relative dates.

        :param expect_order: the dialogue expects an order number, so a bare number that
            fits ``order_pattern`` is one without a cue word.
        """
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
        add(self._order_numbers(text, expect_order))
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

    def _order_numbers(self, text: str, expect_order: bool) -> Iterable[Entity]:
        for m in self._order_re.finditer(text):
            key = m.group(1)
            if key == m.group():  # bare digits, without the shop's prefix: only in context
                before, after = text[: m.start()], text[m.end() :]
                if _DIGIT_BEFORE.search(before) or _DIGIT_AFTER.match(after):
                    continue
                cue = order_cue(before)
                if not (cue or (expect_order and cue is None)):
                    continue
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


def order_cue(before: str) -> bool | None:
    """What the words before a bare number say about it: ``True`` after an order cue word
    (with only fillers such as "number is" between), ``False`` if a word nearby makes it
    something else (a zip code, a phone or customer number), else ``None``."""
    words = [token.lower() for token in _TOKEN.findall(before)[-CUE_WINDOW:]][::-1]
    if any(w.startswith(_NOT_ORDER) or w in _NOT_ORDER_WORDS or w.endswith(_STREETS) for w in words):
        return False
    if words and words[0] == "#":
        return True
    for word in words:
        if word.startswith(_ORDER_CUES):
            return True
        if word not in _ORDER_FILLERS:
            break
    return None
