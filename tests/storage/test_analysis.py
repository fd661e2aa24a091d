"""A message's analysis in one job: annotations, context changes and automatic tags."""

from __future__ import annotations

from typing import Any

import pytest

from qandu.domain import Conversation, User
from qandu.errors import NotFound
from qandu.storage import Store
from qandu.storage import tags as tag_rows

STATE = {"slots": {"order_number": "NL-48213"}, "intent": {"name": "order_status"}}


@pytest.fixture
async def conversation(store: Store, customer: User, bot: User) -> Conversation:
    return await store.create_conversation(customer=customer, bot_user=bot, context={"locale": "de", "x": 1})


async def test_annotations_context_and_tags_are_stored_together(
    store: Store, conversation: Conversation, customer: User, draft: Any
) -> None:
    message, _ = await store.append_message(draft(conversation.id, customer, "order 48213"))
    updated, added = await store.save_analysis(
        message.id,
        conversation.id,
        annotations={"intent": {"name": "order_status", "confidence": 0.9}},
        context={"nlu": STATE, "x": None},
        tags=["intent:order_status", "entity:order_number"],
    )
    assert added == ["intent:order_status", "entity:order_number"]
    assert updated.context == {"locale": "de", "nlu": STATE}
    assert updated.tags == tuple(added)
    assert await store.get_conversation(conversation.id) == updated
    assert await store.get_annotations(message.id) == {"intent": {"name": "order_status", "confidence": 0.9}}


async def test_automatic_tags_are_added_once_and_never_revive_a_removed_tag(
    store: Store, conversation: Conversation, customer: User, draft: Any, agent: User
) -> None:
    message, _ = await store.append_message(draft(conversation.id, customer, "refund please"))
    await store.run_write(tag_rows.add_tags, conversation.id, ["vip", "refund"], source="manual", by=agent.id)
    await store.run_write(tag_rows.remove_tag, conversation.id, "refund", by=agent.id)

    updated, added = await store.save_analysis(
        message.id, conversation.id, annotations={}, tags=["refund", "vip", "billing"]
    )
    assert (added, updated.tags) == (["billing"], ("vip", "billing"))
    again, added = await store.save_analysis(message.id, conversation.id, annotations={}, tags=["billing"])
    assert (added, again.tags) == ([], ("vip", "billing"))
    assert await store.get_annotations(message.id) is None  # no annotations: nothing stored


async def test_an_analysis_of_a_missing_conversation_stores_nothing(
    store: Store, conversation: Conversation, customer: User, draft: Any
) -> None:
    message, _ = await store.append_message(draft(conversation.id, customer, "hi"))
    with pytest.raises(NotFound):
        await store.save_analysis(message.id, "missing", annotations={"a": 1}, context={"nlu": STATE})
    assert await store.get_annotations(message.id) is None  # the job failed as a whole
