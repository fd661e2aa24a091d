"""Receipts: monotonic per-participant high-water marks, and message status computed from them."""

from __future__ import annotations

from typing import Any

import pytest

from qandu.domain import Receipt, User
from qandu.errors import InvalidRequest, NotFound
from qandu.storage import Store


async def test_receipts_are_monotonic_and_clamped(
    store: Store, customer: User, agent: User, draft: Any
) -> None:
    conversation = await store.create_conversation(customer=customer, bot_user=None)
    await store.append_messages([draft(conversation.id, customer, f"m{n}") for n in range(5)])

    async def mark(status: str, seq: int) -> tuple[int, int, bool]:
        receipt, changed = await store.record_receipt(
            conversation.id, user_id=agent.id, status=status, seq=seq
        )  # type: ignore[arg-type]
        return receipt.delivered_seq, receipt.read_seq, changed

    assert await mark("delivered", 2) == (2, 0, True)
    assert await mark("delivered", 1) == (2, 0, False)  # never goes down
    assert await mark("read", 3) == (3, 3, True)  # read implies delivered
    assert await mark("delivered", 99) == (5, 3, True)  # clamped to last_seq
    assert await mark("read", 2) == (5, 3, False)
    assert await mark("read", -4) == (5, 3, False)
    assert await store.receipts(conversation.id) == [
        Receipt(conversation_id=conversation.id, user_id=agent.id, delivered_seq=5, read_seq=3)
    ]
    with pytest.raises(InvalidRequest):
        await store.record_receipt(conversation.id, user_id=agent.id, status="seen", seq=1)  # type: ignore
    with pytest.raises(NotFound):
        await store.record_receipt("missing", user_id=agent.id, status="read", seq=1)


async def test_message_status_from_other_participants(
    store: Store, customer: User, agent: User, draft: Any
) -> None:
    conversation = await store.create_conversation(customer=customer, bot_user=None)
    await store.append_messages([draft(conversation.id, customer, f"m{n}") for n in range(4)])
    reply, _ = await store.append_message(draft(conversation.id, agent, "answer"))  # seq 5

    async def statuses() -> list[str]:
        return [m.status for m in await store.history(conversation.id)]

    assert await statuses() == ["sent"] * 5
    # the sender's own receipts never mark their messages
    await store.record_receipt(conversation.id, user_id=customer.id, status="read", seq=5)
    assert await statuses() == ["sent"] * 4 + ["read"]
    await store.record_receipt(conversation.id, user_id=agent.id, status="delivered", seq=3)
    assert await statuses() == ["delivered"] * 3 + ["sent", "read"]
    await store.record_receipt(conversation.id, user_id=agent.id, status="read", seq=2)
    assert await statuses() == ["read", "read", "delivered", "sent", "read"]
    stored = await store.get_message(reply.id)
    assert stored is not None and stored.status == "read"
