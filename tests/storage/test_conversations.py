"""Conversations: creation, listing with keyset paging, participants, status, updates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from qandu.domain import Conversation, User, iso
from qandu.errors import InvalidRequest, InvalidTransition, NotFound
from qandu.storage import UNSET, Store, conversation_cursor


async def test_create_conversation_with_bot(store: Store, customer: User, bot: User) -> None:
    conversation = await store.create_conversation(
        customer=customer, bot_user=bot, source="widget", context={"page": "/pricing"}, priority="high"
    )
    assert (conversation.status, conversation.priority, conversation.source) == ("active", "high", "widget")
    assert conversation.bot == "support" and conversation.assignee_id is None and conversation.last_seq == 0
    assert conversation.context == {"page": "/pricing"} and conversation.tags == ()
    roles = [(p.id, p.type, p.role, p.name) for p in conversation.participants]
    assert roles == [(customer.id, "user", "customer", customer.name), (bot.id, "ai", "ai", bot.name)]
    assert conversation.started_at.tzinfo == dt.UTC
    assert await store.get_conversation(conversation.id) == conversation
    assert await store.get_conversation("missing") is None


async def test_create_conversation_checks_inputs(store: Store, customer: User) -> None:
    with pytest.raises(InvalidRequest):
        await store.create_conversation(customer=customer, bot_user=None, priority="urgent")
    stranger = User(id="nobody", kind="user", role="customer", name="?")
    with pytest.raises(NotFound):
        await store.create_conversation(customer=stranger, bot_user=None)


async def _conversations(store: Store, customer: User, count: int) -> list[Conversation]:
    return [await store.create_conversation(customer=customer, bot_user=None) for _ in range(count)]


async def test_list_pages_newest_first_without_gaps(store: Store, customer: User) -> None:
    created = await _conversations(store, customer, 7)
    seen: list[Conversation] = []
    before: Any = None
    while page := await store.list_conversations(limit=3, before=before):
        seen.extend(page)
        before = conversation_cursor(page[-1])
    expected = sorted(created, key=lambda c: (c.last_message_at, c.id), reverse=True)
    assert [c.id for c in seen] == [c.id for c in expected]
    # a (timestamp, id) pair works as a cursor too
    second = await store.list_conversations(
        limit=2, before=(iso(expected[0].last_message_at), expected[0].id)
    )
    assert [c.id for c in second] == [c.id for c in expected[1:3]]


async def test_list_filters(store: Store, customer: User, agent: User) -> None:
    first, second, third = await _conversations(store, customer, 3)
    await store.update_conversation(first.id, assignee_id=agent.id)
    await store.set_status(second.id, "pending", by=agent.id)
    await store.add_participant(third.id, agent)

    def ids(conversations: list[Conversation]) -> set[str]:
        return {c.id for c in conversations}

    assert ids(await store.list_conversations(assignee_id=agent.id)) == {first.id}
    assert ids(await store.list_conversations(unassigned=True)) == {second.id, third.id}
    assert ids(await store.list_conversations(status="pending")) == {second.id}
    assert ids(await store.list_conversations(status=["active", "pending"])) == {
        first.id,
        second.id,
        third.id,
    }
    assert ids(await store.list_conversations(participant_id=agent.id)) == {third.id}
    assert ids(await store.list_conversations(participant_id=customer.id, status="active")) == {
        first.id,
        third.id,
    }
    with pytest.raises(InvalidRequest):
        await store.list_conversations(before="garbage")
    with pytest.raises(InvalidRequest):
        await store.list_conversations(limit=0)


async def test_participants_join_leave_rejoin(store: Store, customer: User, agent: User) -> None:
    conversation = await store.create_conversation(customer=customer, bot_user=None)
    joined = await store.add_participant(conversation.id, agent)
    assert joined.is_participant(agent.id)
    assert [(p.type, p.role) for p in joined.participants if p.id == agent.id] == [("agent", "support")]
    left = await store.remove_participant(conversation.id, agent.id)
    assert not left.is_participant(agent.id) and any(
        p.id == agent.id and p.left_at for p in left.participants
    )
    assert await store.list_conversations(participant_id=agent.id) == []
    rejoined = await store.add_participant(conversation.id, agent)
    assert rejoined.is_participant(agent.id) and len(rejoined.participants) == 2
    assert await store.add_participant(conversation.id, agent) == rejoined  # already in: no change
    with pytest.raises(NotFound):
        await store.remove_participant(conversation.id, "nobody")
    with pytest.raises(NotFound):
        await store.add_participant("missing", agent)


async def test_status_transitions_and_history(store: Store, customer: User, agent: User) -> None:
    conversation = await store.create_conversation(customer=customer, bot_user=None)
    pending, change = await store.set_status(conversation.id, "pending", by=agent.id, reason="waiting")
    assert pending.status == "pending"
    assert (change.from_status, change.to_status, change.by, change.reason) == (
        "active",
        "pending",
        agent.id,
        "waiting",
    )
    await store.set_status(conversation.id, "resolved", by=None, reason=None)
    with pytest.raises(InvalidTransition):
        await store.set_status(conversation.id, "pending", by=None, reason=None)
    with pytest.raises(InvalidTransition):
        await store.set_status(conversation.id, "resolved", by=None, reason=None)  # same status
    with pytest.raises(InvalidTransition):
        await store.set_status(conversation.id, "closed", by=None, reason=None)
    await store.set_status(conversation.id, "archived", by=None, reason=None)
    history = await store.status_history(conversation.id)
    assert [(h.from_status, h.to_status) for h in history] == [
        ("active", "pending"),
        ("pending", "resolved"),
        ("resolved", "archived"),
    ]
    assert (await store.get_conversation(conversation.id)).status == "archived"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await store.set_status("missing", "pending", by=None, reason=None)


async def test_update_changes_only_given_fields(store: Store, customer: User, agent: User) -> None:
    conversation = await store.create_conversation(customer=customer, bot_user=None, context={"a": 1})
    updated = await store.update_conversation(
        conversation.id, tags=["billing", "vip", "billing"], priority="low"
    )
    assert updated.tags == ("billing", "vip") and updated.priority == "low" and updated.context == {"a": 1}
    assigned = await store.update_conversation(
        conversation.id, assignee_id=agent.id, custom_fields={"plan": "pro"}
    )
    assert (assigned.assignee_id, assigned.custom_fields, assigned.tags) == (
        agent.id,
        {"plan": "pro"},
        updated.tags,
    )
    cleared = await store.update_conversation(conversation.id, assignee_id=None, context=None, priority=UNSET)
    assert (cleared.assignee_id, cleared.context, cleared.priority) == (None, None, "low")
    with pytest.raises(InvalidRequest):
        await store.update_conversation(conversation.id, priority="urgent")
    with pytest.raises(NotFound):
        await store.update_conversation("missing", tags=[])
