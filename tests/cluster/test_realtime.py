"""Three nodes behave as one: a customer on node A, staff on nodes B and C.

Every real-time feature crosses nodes, concurrent writers on two nodes are seen once and in
seq order by everyone, and a follow-up scheduled on one node fires once in the cluster.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import trio

from qandu.client import ChatClient, new_id
from qandu.domain import Content, iso, utcnow
from qandu.gateway import protocol as p
from tests.cluster.harness import Cluster, Stream, expect, metric

CLUSTER = {
    "size": 3,
    "overrides": {
        "lifecycle": {"followup_poll": 0.2},
        "plugins.routing": {"sweep_interval": 0.5},
    },
}
TIMEOUT = 45


def _email(name: str) -> str:
    return f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"


async def _staff(cluster: Cluster, name: str, *, role: str = "support") -> tuple[str, str]:
    email = _email(name)
    (user_id,) = await cluster.add_staff((email, name), role=role)
    return user_id, email


async def _request(client: ChatClient, frame: Any) -> dict[str, Any]:
    return await client.gateway.request(frame)


async def test_a_customer_on_one_node_and_an_agent_on_another_use_every_real_time_feature(
    cluster: Cluster,
) -> None:
    ria_id, ria_email = await _staff(cluster, "Ria")
    _, ola_email = await _staff(cluster, "Ola", role="admin")
    with trio.fail_after(TIMEOUT):
        async with cluster.staff(2, ola_email) as ola, cluster.customer(0, name="Cato") as cato:
            cid = cato.conversation_id
            assert cid is not None
            cato_id = cato.user["id"]
            async with cluster.staff(1, ria_email) as ria:
                # presence and availability: Ria's console on B is seen by staff on C
                await expect(ola, "presence", lambda f: f["userId"] == ria_id and f["status"] == "online")
                await expect(
                    ola,
                    "agent.updated",
                    lambda f: f["agent"]["id"] == ria_id and f["agent"]["status"] == "online",
                )

                # an assignment made on C reaches Ria on B and the customer on A
                await ola.api.request("POST", f"/api/conversations/{cid}/assign", json={"agentId": ria_id})
                assigned = await expect(ria, "assignment", lambda f: f["conversation"]["id"] == cid)
                assert assigned["action"] == "assigned"
                await expect(
                    cato, "conversation.updated", lambda f: f["conversation"]["assigneeId"] == ria_id
                )
                await _request(ria, p.Subscribe(cid, ref=new_id()))

                # new messages both ways
                hello = await cato.send_text("Hello from node A")
                got = await expect(ria, "message.new", lambda f: f["message"]["id"] == hello["id"])
                assert got["message"]["content"]["text"] == "Hello from node A"
                answer = await ria.send_text("Hi, Ria on node B here", conversation_id=cid)
                got = await expect(cato, "message.new", lambda f: f["message"]["id"] == answer["id"])
                assert got["message"]["sender"]["id"] == ria_id

                # typing both ways
                await cato.gateway.send(p.Typing(cid, "start"))
                typing = await expect(ria, "typing", lambda f: f["user"]["id"] == cato_id)
                assert (typing["conversationId"], typing["state"]) == (cid, "start")
                await ria.gateway.send(p.Typing(cid, "stop"))
                typing = await expect(cato, "typing", lambda f: f["user"]["id"] == ria_id)
                assert typing["state"] == "stop"

                # edits both ways
                await _request(cato, p.EditMessage(hello["id"], "Hello from node A (edited)", ref=new_id()))
                edited = await expect(ria, "message.updated", lambda f: f["message"]["id"] == hello["id"])
                assert edited["message"]["content"]["text"] == "Hello from node A (edited)"
                assert "editedAt" in edited["message"]
                await _request(ria, p.EditMessage(answer["id"], "Hi, this is Ria", ref=new_id()))
                edited = await expect(cato, "message.updated", lambda f: f["message"]["id"] == answer["id"])
                assert edited["message"]["content"]["text"] == "Hi, this is Ria"

                # reactions both ways, added and removed
                await _request(ria, p.AddReaction(hello["id"], "👍", ref=new_id()))
                reaction = await expect(cato, "reaction", lambda f: f["messageId"] == hello["id"])
                assert (reaction["action"], reaction["reaction"]["userId"]) == ("added", ria_id)
                await _request(cato, p.AddReaction(answer["id"], "❤️", ref=new_id()))
                reaction = await expect(ria, "reaction", lambda f: f["messageId"] == answer["id"])
                assert (reaction["action"], reaction["reaction"]["emoji"]) == ("added", "❤️")
                await _request(ria, p.RemoveReaction(hello["id"], "👍", ref=new_id()))
                reaction = await expect(cato, "reaction", lambda f: f["messageId"] == hello["id"])
                assert reaction["action"] == "removed"

                # receipts both ways
                await _request(cato, p.SendReceipt(cid, "read", answer["seq"], ref=new_id()))
                receipt = await expect(ria, "receipt", lambda f: f["userId"] == cato_id)
                assert (receipt["status"], receipt["seq"]) == ("read", answer["seq"])
                await _request(ria, p.SendReceipt(cid, "delivered", hello["seq"], ref=new_id()))
                receipt = await expect(cato, "receipt", lambda f: f["userId"] == ria_id)
                assert (receipt["status"], receipt["seq"]) == ("delivered", hello["seq"])

                # deletion
                await _request(ria, p.DeleteMessage(answer["id"], ref=new_id()))
                deleted = await expect(cato, "message.deleted", lambda f: f["messageId"] == answer["id"])
                assert (deleted["conversationId"], deleted["seq"]) == (cid, answer["seq"])

                # availability chosen on B is seen by staff on C
                await _request(ria, p.SetPresence("away", ref=new_id()))
                await expect(
                    ola,
                    "agent.updated",
                    lambda f: f["agent"]["id"] == ria_id and f["agent"]["status"] == "away",
                )

                # a status change made through node B's API reaches A and C
                await ria.api.request("PUT", f"/api/conversations/{cid}/status", json={"status": "resolved"})
                await expect(
                    cato, "conversation.updated", lambda f: f["conversation"]["status"] == "resolved"
                )
                await expect(
                    ola,
                    "conversation.updated",
                    lambda f: f["conversation"]["id"] == cid and f["conversation"]["status"] == "resolved",
                )
            # Ria's last console (on B) closed: the customer on A sees her go offline
            await expect(cato, "presence", lambda f: f["userId"] == ria_id and f["status"] == "offline")


async def test_presence_goes_offline_only_when_the_last_console_in_the_cluster_closes(
    cluster: Cluster,
) -> None:
    ned_id, ned_email = await _staff(cluster, "Ned")
    _, uma_email = await _staff(cluster, "Uma", role="admin")
    with trio.fail_after(TIMEOUT):
        async with cluster.customer(0, name="Pia") as pia, cluster.staff(2, uma_email) as uma:
            cid = pia.conversation_id
            assert cid is not None
            async with cluster.staff(1, ned_email) as ned:
                await ned.api.request("POST", f"/api/conversations/{cid}/claim")
                async with cluster.staff(2, ned_email):  # a second console, on node C
                    pass
                await _until_connections(cluster, 2, 1)  # node C is done with it (Uma's is left)
                await uma.gateway.send(p.Typing(cid, "start"))  # C publishes it after any presence
                seen = await Stream(pia).wait_for(lambda s: _typing_by(s, uma.user["id"]))
                gone = [f for f in seen if f["type"] == "presence" and f["status"] == "offline"]
                assert not gone, "Ned still has a console open on node B"
            await expect(pia, "presence", lambda f: f["userId"] == ned_id and f["status"] == "offline")


def _typing_by(stream: Stream, user_id: str) -> list[dict[str, Any]] | None:
    for index, frame in enumerate(stream.frames):
        if frame["type"] == "typing" and frame["user"]["id"] == user_id:
            return stream.frames[:index]
    return None


async def _until_connections(cluster: Cluster, node: int, count: int) -> None:
    while await metric(cluster.nodes[node], "qandu_gateway_connections") != count:
        await trio.sleep(0.05)


async def test_concurrent_writers_on_two_nodes_are_seen_once_and_in_seq_order_everywhere(
    cluster: Cluster,
) -> None:
    _, rex_email = await _staff(cluster, "Rex")
    _, ida_email = await _staff(cluster, "Ida", role="admin")
    each = 40
    with trio.fail_after(TIMEOUT):
        async with (
            cluster.customer(0, name="Cleo") as cleo,
            cluster.staff(1, rex_email) as rex,
            cluster.staff(2, ida_email) as ida,
        ):
            cid = cleo.conversation_id
            assert cid is not None
            for staff in (rex, ida):
                await _request(staff, p.Subscribe(cid, ref=new_id()))
            await rex.api.request("POST", f"/api/conversations/{cid}/claim")  # posts "Rex joined"
            [(base,)] = cluster.sql("SELECT last_seq FROM conversations WHERE id = %s", (cid,))
            streams = {"cleo": Stream(cleo), "rex": Stream(rex), "ida": Stream(ida)}
            for stream in streams.values():  # everyone has the notice: the window starts after it
                await stream.wait_for(lambda s: base in s.new_seqs(cid))
                stream.frames.clear()
            last = base + 2 * each

            async def write_and_read(name: str, client: ChatClient) -> None:
                stream = streams[name]
                for index in range(each):  # pipelined: the connection has them all in flight
                    frame = p.SendMessage(
                        cid, f"{name}-{index}", Content(text=f"{name} {index}"), ref=new_id()
                    )
                    await client.gateway.send(frame)
                await stream.wait_for(lambda s: len(s.acked_seqs()) == each and _complete(s, cid, base, last))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(write_and_read, "cleo", cleo)
                nursery.start_soon(write_and_read, "rex", rex)
                nursery.start_soon(streams["ida"].wait_for, lambda s: _complete(s, cid, base, last))

    window = list(range(base + 1, last + 1))
    for name, stream in streams.items():
        live, own = stream.new_seqs(cid), stream.acked_seqs()
        assert live == sorted(set(live)), f"{name}: message.new out of order or twice: {live}"
        assert not set(live) & set(own), f"{name} got its own messages as message.new"
        assert sorted(live + own) == window, name
        if own:  # one connection's frames are handled in order: its messages are in send order
            acks = [f["message"] for f in stream.of("ack")]
            assert [m["clientMsgId"] for m in acks] == [f"{name}-{i}" for i in range(each)]
            assert [m["seq"] for m in acks] == sorted(m["seq"] for m in acks)
    stored = cluster.sql(
        "SELECT seq FROM messages WHERE conversation_id = %s AND seq > %s ORDER BY seq", (cid, base)
    )
    assert [seq for (seq,) in stored] == window


def _complete(stream: Stream, conversation_id: str, base: int, last: int) -> bool:
    seen = set(stream.new_seqs(conversation_id)) | set(stream.acked_seqs())
    return seen >= set(range(base + 1, last + 1))


def _at(seconds: float) -> str:
    return iso(utcnow() + dt.timedelta(seconds=seconds)) or ""


async def test_a_follow_up_scheduled_on_one_node_fires_once_in_the_cluster(cluster: Cluster) -> None:
    fay_id, fay_email = await _staff(cluster, "Fay")
    fired_before = sum([await metric(node, "qandu_followups_fired") for node in cluster.nodes])
    with trio.fail_after(TIMEOUT):
        async with cluster.customer(2, name="Hugo") as hugo, cluster.staff(1, fay_email) as fay:
            cid = hugo.conversation_id
            await fay.api.request("POST", f"/api/conversations/{cid}/claim")
            due = _at(2.0)  # every node's scheduler wakes for the same instant
            async with cluster.api(0, fay.api.token) as on_a:
                jobs = [
                    (await on_a.request("POST", f"/api/conversations/{cid}/followups", json=body))["followup"]
                    for body in [{"at": due, "text": f"Checking in ({i})"} for i in range(4)]
                    + [{"at": due, "kind": "reminder", "text": f"Call Hugo ({i})"} for i in range(2)]
                ]
            texts = {f"Checking in ({i})" for i in range(4)}
            reminders = {job["id"] for job in jobs if job["kind"] == "reminder"}
            customer, agent = Stream(hugo), Stream(fay)
            await customer.wait_for(
                lambda s: texts <= {f["message"]["content"].get("text") for f in s.of("message.new")}
            )
            await agent.wait_for(
                lambda s: reminders <= {f["notification"]["data"]["followupId"] for f in s.of("reminder")}
            )
            while (
                sum([await metric(node, "qandu_followups_fired") for node in cluster.nodes])
                < fired_before + 6
            ):
                await trio.sleep(0.05)

    rows = cluster.sql("SELECT id, status, attempts FROM followups WHERE conversation_id = %s", (cid,))
    assert sorted(rows) == sorted((job["id"], "done", 1) for job in jobs)  # claimed once each
    fired = sum([await metric(node, "qandu_followups_fired") for node in cluster.nodes])
    assert fired == fired_before + 6
    followups = [f for f in customer.of("message.new") if f["message"]["content"].get("text") in texts]
    assert len(followups) == 4 and all(f["message"]["sender"]["id"] == fay_id for f in followups)
    assert len(agent.of("reminder")) == 2
    sent = cluster.sql(
        "SELECT client_msg_id FROM messages WHERE conversation_id = %s AND client_msg_id LIKE 'followup-%%'",
        (cid,),
    )
    assert sorted(key for (key,) in sent) == sorted(
        f"followup-{job['id']}" for job in jobs if job["kind"] == "message"
    )
