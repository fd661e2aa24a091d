"""Demo actions on the bot's local order data (``bots/<bot>/orders.json``).

``order_status`` (intent ``order_status``, ``/order``), ``return_eligibility`` (intent
``return_item`` with a known order number, ``/return``) and ``cancel_order`` (intent
``cancel_order``, ``/cancel``).  All of them act only after the customer confirmed the
order's e-mail address.  ``cancel_order`` is a small form: it asks for the order number,
then the e-mail address, checks that the order's status still allows a cancellation, asks
the customer to confirm (yes/no) and only then cancels.  The demo keeps cancellations in
memory (``orders.json`` is never written); a real shop puts its own actions in a plugin of
its own, with the same two hooks, calling its order system.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from qandu import Action, ActionArg, ActionResult
from qandu.errors import ConfigError
from qandu_autoreply.responses import Responses

ORDER_NUMBER = ActionArg(
    "order_number", "The order number, e.g. NL-12345", pattern=r"(?i)(?<![\w-])(?:NL-?)?\d{5}(?![\w-])"
)
EMAIL = ActionArg(
    "email", "The e-mail address used for the order", required=False, pattern=r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
)
_YES = ("yes", "yeah", "yep", "yup", "sure", "ok", "okay", "please do", "do it", "go ahead", "cancel it",
        "cancel", "ja", "jap", "jep", "jawohl", "klar", "genau", "gerne", "gern", "mach das", "stornieren",
        "storniere", "storno")  # fmt: skip
_NO = ("no", "not", "nope", "nah", "don't", "do not", "keep it", "stop", "nein", "nee", "ne", "nicht",
       "lieber nicht", "doch nicht", "behalten")  # fmt: skip
_ANSWERS = "|".join(re.escape(word) for word in sorted(_YES + _NO, key=len, reverse=True))
#: The answer to "Shall I cancel it?"; the first yes or no word of the message counts.
CONFIRM = ActionArg(
    "confirm",
    "Please answer yes or no",
    required=False,
    pattern=rf"(?i)(?<!\w)(?:{_ANSWERS})(?!\w)",
    only_when_asked=True,
)

ACTIONS = [
    Action(
        "order_status",
        "Look up the status of an order",
        intents=("order_status",),
        command="order",
        args=(ORDER_NUMBER, EMAIL),
        ask_missing=True,
    ),
    Action(
        "return_eligibility",
        "Check whether an order can still be returned",
        intents=("return_item",),
        command="return",
        args=(ORDER_NUMBER, EMAIL),
    ),
    Action(
        "cancel_order",
        "Cancel an order that has not shipped yet",
        intents=("cancel_order",),
        command="cancel",
        args=(ORDER_NUMBER, EMAIL, CONFIRM),
        ask_missing=True,
    ),
]
_NAMES = frozenset(action.name for action in ACTIONS)

#: Statuses after which nothing is left to return.
_CLOSED = frozenset({"cancelled", "return_received", "refunded"})
#: Statuses of orders that have not shipped, which the customer may cancel.
CANCELLABLE = frozenset({"received", "processing", "delayed"})


def confirmed(answer: str) -> bool:
    """Whether the customer's answer to a yes/no question (a :data:`CONFIRM` match) is yes."""
    return " ".join(answer.lower().split()) not in _NO


def normalize_order_number(value: str) -> str:
    """``48213``, ``nl48213`` and ``NL-48213`` all mean ``NL-48213``."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return f"NL-{digits}" if digits else value.strip().upper()


class OrderBook:
    """The orders of one bot, read once at start-up."""

    def __init__(
        self,
        orders: dict[str, dict[str, Any]],
        responses: Responses,
        *,
        today: dt.date | None,
        return_days: int,
    ) -> None:
        self.orders = orders
        self.responses = responses
        self._today = today
        self.return_days = return_days

    @classmethod
    def load(cls, path: Path, responses: Responses, *, today: dt.date | None, return_days: int) -> OrderBook:
        try:
            orders = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError([f"{path}: not valid JSON: {exc}"]) from None
        if not isinstance(orders, dict):
            raise ConfigError([f"{path}: expected an object keyed by order number"])
        return cls(orders, responses, today=today, return_days=return_days)

    @property
    def today(self) -> dt.date:
        return self._today or dt.date.today()

    def run(self, name: str, args: dict[str, str], language: str) -> ActionResult | None:
        """Run one of :data:`ACTIONS` by name; ``None`` for other names."""
        if name not in _NAMES:
            return None
        number = normalize_order_number(args["order_number"])
        slots: dict[str, Any] = {"order_number": number}
        order = self.orders.get(number)
        flow = "cancel_order" if name == "cancel_order" else "order_status"
        if order is None:
            again = "order_number" if name == "cancel_order" else None  # cancelling needs a real order
            return ActionResult(template=f"{flow}.not_found", slots=slots, data={"found": False}, ask=again)
        email = args.get("email", "").strip().lower()
        if not email:
            return ActionResult(template=f"{flow}.verify_email", slots=slots, ask="email")
        if email != str(order.get("email", "")).lower():
            return ActionResult(template=f"{flow}.not_verified", slots=slots, ask="email")
        if name == "order_status":
            return self._status(order, slots, language)
        if name == "cancel_order":
            return self._cancel(number, order, args.get("confirm"), slots, language)
        return self._returnable(order, slots)

    def _status_text(self, order: dict[str, Any], language: str) -> str:
        """``order_status.status_text.<language>.<status>``, filled from the order."""
        fields = {key: order.get(key) or "" for key in ("carrier", "tracking", "eta", "delivered")}
        fields["name"] = order.get("customer_name", "")
        status = order.get("status", "")
        texts = self.responses.lookup("order_status.status_text") or {}
        text = (texts.get(language) or texts.get(self.responses.default_language) or {}).get(status, status)
        return text.format_map(fields)

    def _status(self, order: dict[str, Any], slots: dict[str, Any], language: str) -> ActionResult:
        fields = {key: order.get(key) or "" for key in ("carrier", "tracking", "eta", "delivered")}
        return ActionResult(
            template="order_status.found",
            slots={**slots, "status_text": self._status_text(order, language)},
            data={"found": True, "status": order.get("status", ""), **{k: v for k, v in fields.items() if v}},
        )

    def _cancel(
        self, number: str, order: dict[str, Any], answer: str | None, slots: dict[str, Any], language: str
    ) -> ActionResult:
        """Cancel an order that has not shipped, once the customer said yes to it."""
        status = order.get("status", "")
        data: dict[str, Any] = {"found": True, "status": status, "cancelled": False}
        if status == "cancelled":
            return ActionResult(template="cancel_order.already_cancelled", slots=slots, data=data)
        if status == "partially_shipped":  # the team can still cancel what has not shipped
            return ActionResult(
                template="cancel_order.partially_shipped", slots=slots, data=data, handoff=True
            )
        if status not in CANCELLABLE:
            text = self._status_text(order, language)
            return ActionResult(
                template="cancel_order.too_late", slots={**slots, "status_text": text}, data=data
            )
        if answer is None:
            items = ", ".join(_item_name(item, language) for item in order.get("items") or ())
            summary = {**slots, "items": items, "total": _money(str(order.get("total", "")), language)}
            return ActionResult(template="cancel_order.confirm", slots=summary, data=data, ask="confirm")
        if not confirmed(answer):
            return ActionResult(template="cancel_order.kept", slots=slots, data=data)
        self.orders[number] = {**order, "status": "cancelled", "cancelled": self.today.isoformat()}
        return ActionResult(
            template="cancel_order.cancelled",
            slots=slots,
            data={**data, "status": "cancelled", "cancelled": True},
        )

    def _returnable(self, order: dict[str, Any], slots: dict[str, Any]) -> ActionResult:
        status = order.get("status", "")
        data: dict[str, Any] = {"found": True, "status": status, "eligible": False}
        if status in _CLOSED:
            return ActionResult(template="return_item.closed", slots=slots, data=data)
        delivered = order.get("delivered")
        if status != "delivered" or not delivered:
            return ActionResult(template="return_item.not_delivered", slots=slots, data=data)
        until = dt.date.fromisoformat(delivered) + dt.timedelta(days=self.return_days)
        slots = {**slots, "delivered": delivered, "return_until": until.isoformat()}
        data |= {"delivered": delivered, "returnUntil": until.isoformat()}
        if self.today > until:
            return ActionResult(template="return_item.expired", slots=slots, data=data)
        data["eligible"] = True
        return ActionResult(template="return_item.eligible", slots=slots, data=data)


def _item_name(item: dict[str, Any], language: str) -> str:
    name = item.get(f"name_{language}") or item.get("name") or item.get("sku") or "?"
    quantity = item.get("qty", 1)
    return f"{quantity} x {name}" if isinstance(quantity, int) and quantity > 1 else str(name)


def _money(amount: str, language: str) -> str:
    """``59.90 EUR`` as the customer's language writes it (``59,90 €`` in German)."""
    if language == "de" and amount.endswith(" EUR"):
        return amount.removesuffix(" EUR").replace(".", ",") + " €"
    return amount
