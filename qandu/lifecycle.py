"""The conversation status machine: active -> pending -> resolved -> archived, and back."""

from __future__ import annotations

from qandu.domain import ConversationStatus
from qandu.errors import InvalidTransition

#: Allowed transitions.  A resolved conversation reopens (``active``) on a new customer message;
#: an archived one only by an explicit reopen.
TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"pending", "resolved"}),
    "pending": frozenset({"active", "resolved"}),
    "resolved": frozenset({"active", "archived"}),
    "archived": frozenset({"active"}),
}


def check_transition(current: ConversationStatus, target: ConversationStatus) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> target`` is allowed."""
    if target not in TRANSITIONS:
        raise InvalidTransition(f"unknown status {target!r}", field="status")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise InvalidTransition(
            f"cannot change status from {current} to {target} (allowed: {allowed})", field="status"
        )
