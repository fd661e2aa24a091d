"""Unread counts: someone else's messages after a participant's read mark, on both backends."""

from __future__ import annotations

from typing import Any

from qandu.domain import User
from qandu.storage import Store
from qandu.storage.unread import Unread, unread_counts


async def _counts(store: Store, user: User, *, staff: bool) -> dict[str, int]:
    found = await store.run_read(unread_counts, user.id, include_private=staff, limit=50)
    return {row.conversation_id: row.count for row in found}


async def test_counts_follow_the_read_mark(store: Store, customer: User, agent: User, draft: Any) -> None:
    first = await store.create_conversation(customer=customer, bot_user=None)
    second = await store.create_conversation(customer=customer, bot_user=None)
    await store.add_participant(first.id, agent)
    assert await _counts(store, agent, staff=True) == {}

    await store.append_messages([draft(first.id, customer, f"m{n}") for n in range(3)])
    await store.append_messages(
        [draft(first.id, agent, "reply"), draft(first.id, agent, "note", private=True)]
    )
    await store.append_messages([draft(second.id, customer, "elsewhere")])
    assert await _counts(store, agent, staff=True) == {first.id: 3}  # not their own, not second's
    assert await _counts(store, customer, staff=False) == {first.id: 1}  # the note is staff-only

    await store.record_receipt(first.id, user_id=agent.id, status="read", seq=2)
    found = await store.run_read(unread_counts, agent.id, include_private=True, limit=50)
    assert found == [Unread(conversation_id=first.id, read_seq=2, last_seq=5, count=1)]
    await store.record_receipt(first.id, user_id=customer.id, status="read", seq=5)
    assert await _counts(store, customer, staff=False) == {}


async def test_newest_first_and_limited(store: Store, customer: User, agent: User, draft: Any) -> None:
    ids = []
    for n in range(3):
        conversation = await store.create_conversation(customer=customer, bot_user=None)
        await store.add_participant(conversation.id, agent)
        await store.append_messages([draft(conversation.id, customer, f"hello {n}")])
        ids.append(conversation.id)
    found = await store.run_read(unread_counts, agent.id, include_private=True, limit=2)
    assert [row.conversation_id for row in found] == ids[::-1][:2]
    await store.remove_participant(ids[2], agent.id)
    found = await store.run_read(unread_counts, agent.id, include_private=True, limit=50)
    assert [row.conversation_id for row in found] == ids[1::-1]  # left: no longer counted
