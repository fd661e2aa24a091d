"""Losing a node or Redis under traffic loses nothing acknowledged and sends nothing twice.

A customer (on node A), the agent (on B) and an admin watching (on C) talk through
:class:`~tests.cluster.peer.Peer` clients, which reconnect elsewhere and resume like a real
client.  What the server sent on each connection is checked against what was stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import trio

from qandu.client import ChatClient, connect, new_id
from qandu.gateway import protocol as p
from tests.cluster.harness import Cluster, expect
from tests.cluster.peer import Peer

CLUSTER = {"size": 3, "overrides": {"plugins.routing": {"sweep_interval": 0.5}}}
EACH = 30
"""Messages each of the customer and the agent sends."""
TIMEOUT = 90


async def _peers(cluster: Cluster) -> tuple[Peer, Peer, Peer]:
    """A claimed conversation: customer on A (then C, B), agent on B, admin on C watching."""
    tag = uuid.uuid4().hex[:8]
    agent_email, admin_email = f"agent-{tag}@example.com", f"admin-{tag}@example.com"
    await cluster.add_staff((agent_email, "Agent"))
    await cluster.add_staff((admin_email, "Admin"), role="admin")
    a, b, c = cluster.nodes
    init = await cluster.initialize(a, name="Customer")
    cid = init["conversation"]["id"]
    agent = await cluster.login(b, agent_email)
    admin = await cluster.login(c, admin_email)
    async with cluster.api(b, agent["token"]) as api:
        await api.request("POST", f"/api/conversations/{cid}/claim")
    [(base,)] = cluster.sql("SELECT last_seq FROM conversations WHERE id = %s", (cid,))
    return (
        Peer("customer", init["token"], cid, [a, c, b], base=base),
        Peer("agent", agent["token"], cid, [b, c, a], base=base),
        Peer("admin", admin["token"], cid, [c, b, a], base=base, subscribe=True),
    )


async def _talk(peers: tuple[Peer, Peer, Peer], disrupt: Callable[[Peer, Peer], Awaitable[None]]) -> int:
    """Customer and agent each send :data:`EACH` messages while ``disrupt`` runs; return the last seq."""
    customer, agent, _ = peers
    async with trio.open_nursery() as nursery:
        for peer in peers:
            await nursery.start(peer.run)
        async with trio.open_nursery() as talkers:
            for peer in (customer, agent):
                talkers.start_soon(_send_all, peer)
            await disrupt(customer, agent)
        last = 2 * EACH + customer.base
        for peer in peers:
            await peer.until(lambda x: x.seen() >= set(range(1, last + 1)))
        nursery.cancel_scope.cancel()
    return last


def _resynced(peer: Peer) -> bool:
    return any(frame["type"] == "resync" for link in peer.links for frame in link.frames)


async def _send_all(peer: Peer) -> None:
    for index in range(EACH):
        await peer.send(f"{peer.name} {index}")


def _check(cluster: Cluster, peers: tuple[Peer, Peer, Peer], last: int) -> None:
    customer = peers[0]
    rows = cluster.sql(
        "SELECT seq, id, client_msg_id FROM messages WHERE conversation_id = %s AND seq > %s ORDER BY seq",
        (customer.conversation_id, customer.base),
    )
    assert [seq for seq, _, _ in rows] == list(range(customer.base + 1, last + 1))  # each message once
    stored = {message_id for _, message_id, _ in rows}
    for peer in peers:
        assert {m["id"] for m in peer.acked} <= stored, f"{peer.name}: an acknowledged message was lost"
        delivered = peer.delivered()
        assert len(delivered) == len(set(delivered)), f"sent twice: {peer.describe()}"
        for link in peer.links:
            seqs = link.new_seqs(customer.conversation_id)
            if link.resumed_after is None:
                assert seqs == sorted(seqs), f"out of order on {link.node}: {peer.describe()}"
            else:  # live frames (after ready's lastSeq) may come before the replay; each in order
                ready = link.ready_seq or 0
                replayed, live = [s for s in seqs if s <= ready], [s for s in seqs if s > ready]
                assert replayed == sorted(replayed) and live == sorted(live), peer.describe()
                # and a resume sends exactly what was missed
                acked_here = {
                    f["message"]["seq"] for f in link.frames if f["type"] == "ack" and "message" in f
                }
                assert sorted(set(seqs) | acked_here) == list(range(link.resumed_after + 1, last + 1)), (
                    peer.describe()
                )
        assert peer.seen() == set(range(1, last + 1)), peer.describe()


async def test_a_killed_nodes_clients_resume_on_another_node_with_nothing_lost_or_twice(
    cluster: Cluster,
) -> None:
    with trio.fail_after(TIMEOUT):
        peers = await _peers(cluster)

        async def kill_node_a(customer: Peer, agent: Peer) -> None:
            await customer.until(lambda c: len(c.acked) >= EACH // 3)
            await trio.to_thread.run_sync(cluster.nodes[0].kill)

        last = await _talk(peers, kill_node_a)
    customer = peers[0]
    assert len(customer.links) >= 2 and customer.links[-1].node != "node-a", customer.describe()
    _check(cluster, peers, last)


async def test_redis_stopped_and_restarted_under_traffic_loses_nothing_acknowledged(cluster: Cluster) -> None:
    with trio.fail_after(TIMEOUT):
        peers = await _peers(cluster)

        async def outage(customer: Peer, agent: Peer) -> None:
            await customer.until(lambda c: len(c.acked) >= EACH // 4)
            await trio.to_thread.run_sync(cluster.redis.stop)
            down = len(customer.acked), len(agent.acked)
            # messages are stored and acked on both nodes while Redis is away
            await customer.until(lambda c: len(c.acked) >= min(EACH, down[0] + EACH // 4))
            await agent.until(lambda a: len(a.acked) >= min(EACH, down[1] + EACH // 4))
            await trio.to_thread.run_sync(cluster.redis.start)
            for peer in peers:  # told to reload what is not a message (edits, queue...) once fan-out is back
                await peer.until(_resynced)

        last = await _talk(peers, outage)
    _check(cluster, peers, last)


async def test_a_node_restarted_under_its_node_id_is_not_taken_for_its_earlier_life(cluster: Cluster) -> None:
    """Other nodes recognise a publication seen on two channels by its id: ids restart with the process."""
    tag = uuid.uuid4().hex[:8]
    email = f"agent-{tag}@example.com"
    await cluster.add_staff((email, "Agent"))
    a, b, _ = cluster.nodes
    with trio.fail_after(TIMEOUT):
        async with cluster.customer(a, name="Before") as before, cluster.staff(b, email) as agent:
            cid = before.conversation_id
            await agent.api.request("POST", f"/api/conversations/{cid}/claim")
            await agent.gateway.request(p.Subscribe(cid, ref=new_id()))
            texts = [f"message {i}" for i in range(12)]
            for text in texts[:6]:
                await before.send_text(text)
            await trio.to_thread.run_sync(a.kill)
            await trio.to_thread.run_sync(cluster.ensure_running)  # node A again, same node id
            async with connect(a.ws_url, before.api.token or "") as gateway:
                after = ChatClient(before.api, gateway, cid)
                for text in texts[6:]:
                    await after.send_text(text)
            received = [
                (await expect(agent, "message.new", lambda f: f["message"]["sender"]["type"] == "user"))[
                    "message"
                ]
                for _ in texts
            ]
    assert [m["content"]["text"] for m in received] == texts
    assert [m["seq"] for m in received] == sorted(m["seq"] for m in received)
