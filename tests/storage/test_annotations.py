"""Message annotations (staff-only history) and merging a conversation's context."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from qandu.domain import Conversation, User
from qandu.errors import NotFound
from qandu.storage import Store

ANNOTATIONS = {
    "intent": {"name": "order_status", "confidence": 0.91},
    "entities": [{"label": "ORDER_NUMBER", "text": "48213", "start": 5, "end": 10, "value": "NL-48213"}],
    "sentiment": {"score": -0.2, "label": "negative"},
    "language": "de",
}


@pytest.fixture
async def conversation(store: Store, customer: User, bot: User) -> Conversation:
    return await store.create_conversation(customer=customer, bot_user=bot, context={"locale": "de"})


async def test_annotations_are_stored_and_only_loaded_on_request(
    store: Store, conversation: Conversation, customer: User, draft: Any
) -> None:
    first, _ = await store.append_message(draft(conversation.id, customer, "order 48213", client_msg_id="1"))
    second, _ = await store.append_message(draft(conversation.id, customer, "hello", client_msg_id="2"))
    await store.save_annotations(first.id, ANNOTATIONS)
    assert await store.get_annotations(first.id) == ANNOTATIONS
    assert await store.get_annotations(second.id) is None

    plain = await store.history(conversation.id)
    assert all(m.annotations is None for m in plain)
    assert all("annotations" not in m.to_wire() for m in plain)
    staff = {m.id: m for m in await store.history(conversation.id, with_annotations=True)}
    assert staff[first.id].annotations == ANNOTATIONS
    assert staff[first.id].to_wire()["annotations"] == ANNOTATIONS
    assert staff[second.id].annotations is None

    replaced = {**ANNOTATIONS, "language": "en"}
    await store.save_annotations(first.id, replaced)  # a second analysis replaces the first
    assert await store.get_annotations(first.id) == replaced


async def test_deleting_a_message_forgets_its_annotations(
    store: Store, conversation: Conversation, customer: User, draft: Any
) -> None:
    message, _ = await store.append_message(
        draft(conversation.id, customer, "mail a@b.de", client_msg_id="1")
    )
    await store.save_annotations(message.id, ANNOTATIONS)
    await store.delete_message(message.id, by_id=customer.id)
    assert await store.get_annotations(message.id) is None


async def test_update_context_merges_keys(store: Store, conversation: Conversation) -> None:
    updated = await store.update_context(conversation.id, {"nlu": {"slots": {"order_number": "NL-48213"}}})
    assert updated.context == {"locale": "de", "nlu": {"slots": {"order_number": "NL-48213"}}}
    updated = await store.update_context(conversation.id, {"locale": None, "vip": True})
    assert updated.context == {"nlu": {"slots": {"order_number": "NL-48213"}}, "vip": True}
    with pytest.raises(NotFound):
        await store.update_context("missing", {"x": 1})


async def test_concurrent_context_updates_keep_every_key(store: Store, conversation: Conversation) -> None:
    async with trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(store.update_context, conversation.id, {f"key{i}": i})
    context = (await store.get_conversation(conversation.id)).context
    assert context == {"locale": "de", **{f"key{i}": i for i in range(20)}}
