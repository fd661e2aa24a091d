"""Demo actions on the bot's local order data (``bots/<bot>/orders.json``).

``order_status`` (intent ``order_status``, ``/order``) and ``return_eligibility``
(intent ``return_item`` with a known order number, ``/return``).  Both show order
details only after the customer confirmed the order's e-mail address.  A real shop puts
its own lookups in a plugin of its own, with the same two hooks.
"""

from __future__ import annotations

import datetime as dt
import json
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
]

#: Statuses after which nothing is left to return.
_CLOSED = frozenset({"cancelled", "return_received", "refunded"})


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
        """Run ``order_status`` or ``return_eligibility``; ``None`` for other names."""
        if name not in ("order_status", "return_eligibility"):
            return None
        number = normalize_order_number(args["order_number"])
        slots: dict[str, Any] = {"order_number": number}
        order = self.orders.get(number)
        if order is None:
            return ActionResult(template="order_status.not_found", slots=slots, data={"found": False})
        email = args.get("email", "").strip().lower()
        if not email:
            return ActionResult(template="order_status.verify_email", slots=slots, ask="email")
        if email != str(order.get("email", "")).lower():
            return ActionResult(template="order_status.not_verified", slots=slots, ask="email")
        if name == "order_status":
            return self._status(order, slots, language)
        return self._returnable(order, slots)

    def _status(self, order: dict[str, Any], slots: dict[str, Any], language: str) -> ActionResult:
        fields = {key: order.get(key) or "" for key in ("carrier", "tracking", "eta", "delivered")}
        fields["name"] = order.get("customer_name", "")
        status = order.get("status", "")
        texts = self.responses.lookup("order_status.status_text") or {}
        text = (texts.get(language) or texts.get(self.responses.default_language) or {}).get(status, status)
        return ActionResult(
            template="order_status.found",
            slots={**slots, "status_text": text.format_map(fields)},
            data={"found": True, "status": status, **{k: v for k, v in fields.items() if v and k != "name"}},
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
