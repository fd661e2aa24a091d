"""Messages: idempotent append, seq under concurrency, history paging, edit/delete, reactions."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from qandu.domain import Attachment, Content, Conversation, Message, User
from qandu.errors import Conflict, Forbidden, InvalidRequest, NotFound
from qandu.storage import MessageDraft, Store


@pytest.fixture
async def conversation(store: Store, customer: User, bot: User) -> Conversation:
    return await store.create_conversation(customer=customer, bot_user=bot)


async def count_rows(store: Store, conversation_id: str) -> int:
    def count(db: Any) -> int:
        return db.sql(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()[0]

    return await store._read(count)


async def test_append_assigns_seq_and_stores_everything(
    store: Store, conversation: Conversation, customer: User, draft: Any
) -> None:
    attachment = Attachment(
        id="f1", type="image", url="/files/f1", name="cat.png", size=123, mime_type="image/png"
    )
    stored, created = await store.append_message(
        MessageDraft(
            conversation_id=conversation.id,
            sender=customer.as_sender(),
            content=Content(type="image", text="look", file_url="/files/f1", metadata={"w": 10}),
            client_msg_id="c-1",
            attachments=(attachment,),
            private=True,
        )
    )
    assert created and stored.seq == 1 and stored.status == "sent"
    assert stored.attachments == (attachment,) and stored.private and stored.client_msg_id == "c-1"
    assert await store.get_message(stored.id) == stored
    assert await store.get_message("missing") is None
    second, _ = await store.append_message(draft(conversation.id, customer, reply_to=stored.id))
    assert (second.seq, second.reply_to) == (2, stored.id)
    refreshed = await store.get_conversation(conversation.id)
    assert refreshed is not None and refreshed.last_seq == 2 and refreshed.last_message_at == second.timestamp


async def test_append_to_missing_conversation(store: Store, customer: User, draft: Any) -> None:
    with pytest.raises(NotFound):
        await store.append_message(draft("missing", customer))


async def test_same_client_msg_id_is_stored_once(
    store: Store, conversation: Conversation, customer: User, bot: User, draft: Any
) -> None:
    first, created = await store.append_message(draft(conversation.id, customer, "hi", client_msg_id="k"))
    again, created_again = await store.append_message(
        draft(conversation.id, customer, "hi", client_msg_id="k")
    )
    assert created and not created_again and again == first
    # the key is per sender: the bot may use the same client id
    other, other_created = await store.append_message(draft(conversation.id, bot, "hi", client_msg_id="k"))
    assert other_created and other.seq == 2
    assert await count_rows(store, conversation.id) == 2


async def test_duplicates_in_one_batch(
    store: Store, conversation: Conversation, customer: User, draft: Any, writer_held: Any
) -> None:
    results: list[tuple[Message, bool]] = []

    async def send() -> None:
        results.append(
            await store.append_message(draft(conversation.id, customer, "x", client_msg_id="same"))
        )

    async with trio.open_nursery() as nursery, writer_held(store):
        nursery.start_soon(send)
        nursery.start_soon(send)
    assert store.statistics().largest_batch >= 2
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0] == results[1][0]
    assert await count_rows(store, conversation.id) == 1


async def test_seq_has_no_gaps_under_concurrency(
    store: Store, conversation: Conversation, customer: User, draft: Any
) -> None:
    seqs: list[int] = []

    async def sender(task: int) -> None:
        for n in range(10):
            message, _ = await store.append_message(draft(conversation.id, customer, f"{task}.{n}"))
            seqs.append(message.seq)

    async with trio.open_nursery() as nursery:
        for task in range(20):
            nursery.start_soon(sender, task)
    assert sorted(seqs) == list(range(1, 201))
    assert [m.seq for m in await store.history(conversation.id, limit=500)] == list(range(1, 201))
    assert store.statistics().largest_batch > 1  # group commit did group


async def _fill(store: Store, conversation: Conversation, customer: User, count: int, draft: Any) -> None:
    drafts = [draft(conversation.id, customer, f"m{n}", private=n % 7 == 0) for n in range(1, count + 1)]
    await store.append_messages(drafts)


async def test_history_pages_backwards_and_forwards(
    store: Store, conversation: Conversation, customer: User, draft: Any
) -> None:
    await _fill(store, conversation, customer, 53, draft)
    newest = await store.history(conversation.id, limit=10)
    assert [m.seq for m in newest] == list(range(44, 54))
    backwards: list[int] = []
    page = newest
    while page:
        backwards = [m.seq for m in page] + backwards
        page = await store.history(conversation.id, before_seq=page[0].seq, limit=10)
    assert backwards == list(range(1, 54))
    forwards: list[int] = []
    after = 0
    while page := await store.history(conversation.id, after_seq=after, limit=10):
        forwards.extend(m.seq for m in page)
        after = page[-1].seq
    assert forwards == list(range(1, 54))
    window = await store.history(conversation.id, after_seq=10, before_seq=15, limit=10)
    assert [m.seq for m in window] == [11, 12, 13, 14]
    public = await store.history(conversation.id, limit=100, include_private=False)
    assert [m.seq for m in public] == [n for n in range(1, 54) if n % 7]
    assert await store.history("missing") == []
    with pytest.raises(InvalidRequest):
        await store.history(conversation.id, limit=0)


async def test_edit_and_delete_permissions(
    store: Store, conversation: Conversation, customer: User, agent: User, draft: Any
) -> None:
    message, _ = await store.append_message(draft(conversation.id, customer, "typo"))
    with pytest.raises(Forbidden):
        await store.edit_message(message.id, text="hacked", editor_id=agent.id)
    edited = await store.edit_message(message.id, text="fixed", editor_id=customer.id)
    assert edited.content.text == "fixed" and edited.edited_at is not None and edited.seq == message.seq
    with pytest.raises(Forbidden):
        await store.delete_message(message.id, by_id=agent.id)
    deleted = await store.delete_message(message.id, by_id=agent.id, allow_any=True)
    assert (
        deleted.deleted_at is not None and deleted.content.text is None and deleted.content.metadata is None
    )
    assert await store.delete_message(message.id, by_id=customer.id) == deleted  # idempotent
    with pytest.raises(Conflict):
        await store.edit_message(message.id, text="again", editor_id=customer.id)
    with pytest.raises(NotFound):
        await store.edit_message("missing", text="x", editor_id=customer.id)
    with pytest.raises(NotFound):
        await store.delete_message("missing", by_id=customer.id)


async def test_reactions(
    store: Store, conversation: Conversation, customer: User, agent: User, draft: Any
) -> None:
    message, _ = await store.append_message(draft(conversation.id, customer))
    updated, reaction, changed = await store.add_reaction(message.id, user_id=agent.id, emoji="👍")
    assert changed and reaction.emoji == "👍" and reaction.user_id == agent.id
    assert updated.reactions == (reaction,)
    again, same, changed_again = await store.add_reaction(message.id, user_id=agent.id, emoji="👍")
    assert not changed_again and same == reaction and again.reactions == (reaction,)
    await store.add_reaction(message.id, user_id=customer.id, emoji="👍")
    [page_message] = await store.history(conversation.id)
    assert [(r.user_id, r.emoji) for r in page_message.reactions] == [(agent.id, "👍"), (customer.id, "👍")]
    after_removal, removed = await store.remove_reaction(message.id, user_id=agent.id, emoji="👍")
    assert removed and [r.user_id for r in after_removal.reactions] == [customer.id]
    _, removed_again = await store.remove_reaction(message.id, user_id=agent.id, emoji="👍")
    assert not removed_again
    with pytest.raises(NotFound):
        await store.add_reaction("missing", user_id=agent.id, emoji="👍")
    await store.delete_message(message.id, by_id=customer.id)
    with pytest.raises(Conflict):
        await store.add_reaction(message.id, user_id=agent.id, emoji="🎉")
