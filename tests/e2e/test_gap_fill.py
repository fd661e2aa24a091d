"""A connection that sees a seq beyond the next one reads the missing messages from storage.

With several nodes a frame can arrive before an earlier one relayed by another node, or be
lost while Redis is away; here the gap is made by storing a message without publishing it.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qandu.bus import conversation_topic
from qandu.client import ChatClient, new_id
from qandu.domain import Content, Message, Sender
from qandu.gateway import protocol as p
from qandu.storage.drafts import MessageDraft
from qandu.testing import add_agent, make_app, running

pytestmark = pytest.mark.trio


async def store_silently(app, conversation_id: str, text: str) -> Message:
    """Store a notice without publishing it (as if its publication was lost on the way)."""
    sender = Sender(id="system", type="system", name="QanDu")
    draft = MessageDraft(conversation_id, sender, Content(text=text), new_id())
    message, created = await app.store.append_message(draft)
    assert created
    return message


async def messages_until(client: ChatClient, seq: int) -> list[int]:
    seqs: list[int] = []
    while not seqs or seqs[-1] < seq:
        frame = await client.gateway.next_frame("message.new")
        seqs.append(frame["message"]["seq"])
    return seqs


async def test_a_gap_is_filled_from_storage_in_order(app, server):
    with trio.fail_after(20):
        async with ChatClient.initialize(server.http_url, name="Gus") as customer:
            conversation_id = customer.conversation_id
            conversation = await app.store.get_conversation(conversation_id)
            hidden = [(await store_silently(app, conversation_id, f"lost {i}")).seq for i in range(3)]
            notice = await app.chat.post_system(conversation, "published normally")
            assert notice.seq == hidden[-1] + 1
            seqs = await messages_until(customer, notice.seq)
            assert seqs == [*hidden, notice.seq]

            # a resume afterwards sends nothing twice
            resumed = await customer.gateway.request(
                p.Resume(conversation_id=conversation_id, after_seq=notice.seq, ref="r1")
            )
            assert resumed["count"] == 0


async def test_own_message_behind_a_gap_is_acked_not_echoed(app, server):
    with trio.fail_after(20):
        async with ChatClient.initialize(server.http_url, name="Hal") as customer:
            conversation_id = customer.conversation_id
            hidden = (await store_silently(app, conversation_id, "lost")).seq
            sent = await customer.send_text("mine")
            assert sent["seq"] == hidden + 1
            conversation = await app.store.get_conversation(conversation_id)
            notice = await app.chat.post_system(conversation, "after mine")
            seqs = await messages_until(customer, notice.seq)
            assert seqs[0] == hidden and seqs == sorted(set(seqs))
            assert sent["seq"] not in seqs  # our own message came as the ack only


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    deliveries=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=8),
    order=st.randoms(use_true_random=False),
)
async def test_any_order_loss_or_repetition_of_frames_reaches_the_client_once_in_order(
    tmp_path_factory, deliveries, order
):
    """Frames arrive shuffled, repeated (new objects) or not at all, as from several nodes."""
    app = make_app(tmp_path_factory.mktemp("gaps"))
    with trio.fail_after(30):
        async with running(app) as server, ChatClient.initialize(server.http_url, name="Ivy") as customer:
            conversation_id = customer.conversation_id
            stored, pending = [], []
            topic = conversation_topic(conversation_id)
            gate = [trio.Event()]
            read = app.chat.history

            reading = [0]

            async def slow_history(*args, **kwargs):  # the page is read, then held back a while
                reading[0] += 1
                try:
                    page = await read(*args, **kwargs)
                finally:
                    reading[0] -= 1
                await gate[0].wait()
                return page

            app.chat.history = slow_history
            for copies in deliveries:  # store and publish interleaved, frames late or shuffled
                while reading[0]:  # a catch-up's page is read before the next message is stored
                    await trio.sleep(0.001)
                message = await store_silently(app, conversation_id, "x")
                stored.append(message)
                pending += [message] * copies
                order.shuffle(pending)
                while pending and order.random() < 0.6:
                    late = pending.pop()
                    app.bus.publish(topic, p.message_new_frame(late), seq=late.seq)
                    await trio.testing.wait_all_tasks_blocked()
                    if order.random() < 0.5:  # a held read returns: later frames landed meanwhile
                        gate[0].set()
                        gate[0] = trio.Event()
            for late in pending:
                app.bus.publish(topic, p.message_new_frame(late), seq=late.seq)
            gate[0].set()
            conversation = await app.store.get_conversation(conversation_id)
            notice = await app.chat.post_system(conversation, "sync")
            seqs = await messages_until(customer, notice.seq)
            assert seqs == [m.seq for m in stored] + [notice.seq]


async def test_a_subscriber_gets_what_follows_its_subscription_even_if_a_frame_is_lost(app, server):
    await add_agent(app, "gap@example.com", name="Gia")
    with trio.fail_after(20):
        async with ChatClient.initialize(server.http_url, name="Jo") as customer:
            conversation_id = customer.conversation_id
            login = ChatClient.login(server.http_url, server.ws_url, "gap@example.com", "secret-pass")
            async with login as agent:
                await agent.gateway.request(p.Subscribe(conversation_id=conversation_id, ref="s"))
                lost = await store_silently(app, conversation_id, "lost on its way")
                sent = await customer.send_text("after it")
                assert await messages_until(agent, sent["seq"]) == [lost.seq, sent["seq"]]


async def test_own_message_sent_while_a_catch_up_waits_is_not_echoed(app, server):
    with trio.fail_after(20):
        async with ChatClient.initialize(server.http_url, name="Kai") as customer:
            conversation_id = customer.conversation_id
            gate, read = trio.Event(), app.chat.history

            async def held_history(*args, **kwargs):  # the catch-up reads only once let go
                await gate.wait()
                return await read(*args, **kwargs)

            app.chat.history = held_history
            lost = await store_silently(app, conversation_id, "lost")
            conversation = await app.store.get_conversation(conversation_id)
            notice = await app.chat.post_system(conversation, "reveals the gap")  # a catch-up starts
            sent = await customer.send_text("mine, while it waits")
            gate.set()
            later = await app.chat.post_system(conversation, "later")
            seqs = await messages_until(customer, later.seq)
            assert sent["seq"] not in seqs
            assert seqs == sorted(set(seqs)) and {lost.seq, notice.seq, later.seq} <= set(seqs)
