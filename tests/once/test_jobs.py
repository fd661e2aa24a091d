"""Periodic and triggered jobs run on two nodes at once: each effect happens once in the cluster."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import psycopg
import pytest
import trio

from qandu.domain import User, utcnow
from qandu.errors import InvalidTransition
from qandu.plugins import hookimpl
from qandu.routing import RouteDecision
from qandu.storage import followups as jobs
from qandu.storage import parse_url
from qandu.storage.csat import surveys_of
from tests.once.conftest import Node, opened

TIMEOUT = 30
PAST = dt.timedelta(minutes=5)


async def _people(node: Node) -> tuple[User, User]:
    store = node.app.store
    customer = await store.create_user(kind="user", role="customer", name="Cleo")
    agent = await store.create_user(kind="agent", role="support", name="Avery", email="avery@example.com")
    return customer, agent


async def _conversations(node: Node, customer: User, count: int, status: str | None = None) -> list[str]:
    ids = []
    for _ in range(count):
        conversation = await node.app.store.create_conversation(customer=customer, bot_user=None)
        if status is not None:
            await node.app.store.set_status(conversation.id, status, by=None, reason="test")
        ids.append(conversation.id)
    return ids


async def _at_once(*calls: Any) -> list[Any]:
    """Run the calls concurrently; return their results in order."""
    results: list[Any] = [None] * len(calls)

    async def one(index: int, call: Any) -> None:
        results[index] = await call()

    async with trio.open_nursery() as nursery:
        for index, call in enumerate(calls):
            nursery.start_soon(one, index, call)
    return results


def _events(pair: tuple[Node, ...], name: str) -> Counter[str | None]:
    return Counter(event.conversation_id for node in pair for event in node.events.named(name))


async def test_two_nodes_archiving_at_once_archive_each_conversation_once(nodes):
    pair = nodes(lifecycle={"archive_after": 0.001})
    a, b = pair
    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            customer, _ = await _people(a)
            ids = await _conversations(a, customer, 24, "resolved")
            await trio.sleep(0.01)  # older than archive_after
            counts = await _at_once(*(node.app.teamwork.archiver.sweep for node in (a, b, a, b)))

            assert sum(counts) == 24
            archived = _events(pair, "conversation.status_changed")
            assert archived == Counter(dict.fromkeys(ids, 1))
            for cid in ids:
                history = await a.app.store.status_history(cid)
                assert [change.to_status for change in history].count("archived") == 1


async def test_an_archive_sweep_skips_a_row_another_transaction_holds(nodes, db_url, tmp_path):
    if db_url.startswith("sqlite"):
        pytest.skip("row locks are PostgreSQL's")
    a, _ = nodes(lifecycle={"archive_after": 0.001})
    target = parse_url(db_url, data_dir=tmp_path)
    with trio.fail_after(TIMEOUT):
        async with opened(a):
            customer, _ = await _people(a)
            held, *_others = await _conversations(a, customer, 4, "resolved")
            await trio.sleep(0.01)  # older than archive_after
            locker = psycopg.connect(
                target.conninfo or "", options=f"-c search_path={target.schema}", autocommit=True
            )
            try:
                locker.execute("BEGIN")
                locker.execute("SELECT 1 FROM conversations WHERE id = %s FOR UPDATE", (held,))
                with trio.fail_after(5):  # without SKIP LOCKED it would wait for the 10 s lock_timeout
                    assert await a.app.teamwork.archiver.sweep() == 3
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            assert (await a.app.store.get_conversation(held)).status == "resolved"  # type: ignore[union-attr]
            assert await a.app.teamwork.archiver.sweep() == 1  # the next sweep takes it


async def test_two_nodes_sweeping_sla_deadlines_at_once_announce_each_breach_once(nodes):
    pair = nodes()
    a, b = pair
    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            customer, _ = await _people(a)
            ids = await _conversations(a, customer, 16, "pending")
            for cid in ids:
                await a.app.routing.set_sla(cid, first_response_due=utcnow() - PAST)
            found = await _at_once(*(node.app.routing.sweep_sla for node in (a, b, a, b)))

            assert sum(len(breaches) for breaches in found) == 16
            assert _events(pair, "sla.breached") == Counter(dict.fromkeys(ids, 1))
            assert await a.app.routing.sweep_sla() == []  # flagged: never again


async def test_two_nodes_expiring_presence_at_once_announce_each_agent_once(nodes):
    pair = nodes()
    a, b = pair
    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            agents = []
            for index in range(10):
                agent = await a.app.store.create_user(kind="agent", role="support", name=f"Agent {index}")
                await a.app.routing.db.set_status(agent.id, "online", present_until=utcnow() - PAST)
                agents.append(agent.id)
            await _at_once(*(node.app.routing.presence.step for node in (a, b, a, b)))

            offline = Counter(
                event.data["agentId"]
                for node in pair
                for event in node.events.named("agent.status_changed")
                if event.data["status"] == "offline"
            )
            assert offline == Counter(dict.fromkeys(agents, 1))


class LeastBusy:
    """A router: the least-loaded candidate (yielding first, so that drains could interleave)."""

    @hookimpl
    async def qandu_route_conversation(self, conversation: Any, candidates: list[Any]) -> RouteDecision:
        await trio.lowlevel.checkpoint()
        agent = min(candidates, key=lambda candidate: (candidate.load, candidate.id))
        return RouteDecision(agent.id, "least busy")


async def test_two_nodes_draining_at_once_take_turns_and_assign_each_conversation_once(nodes):
    pair = nodes(plugins=lambda name: {"router": LeastBusy()})
    a, b = pair
    active, peak = [0], [0]

    def track(node: Node) -> None:
        drain_once = node.app.routing._drain

        async def tracked(lease: Any, *, limit: int) -> int:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            try:
                return await drain_once(lease, limit=limit)
            finally:
                active[0] -= 1

        node.app.routing._drain = tracked  # type: ignore[method-assign]

    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            customer, _ = await _people(a)
            agents = []
            for index in range(3):
                agent = await a.app.store.create_user(kind="agent", role="support", name=f"Agent {index}")
                await a.app.routing.db.set_status(agent.id, "online", present_until=utcnow() + PAST)
                agents.append(agent.id)
            ids = await _conversations(a, customer, 12, "pending")
            for node in pair:
                node.app.routing.default_max_chats = 4
                track(node)
            assigned = await _at_once(*(node.app.routing.drain for node in (a, b, a, b)))

            assert peak[0] == 1  # one node drains at a time
            assert sum(assigned) == 12
            assert _events(pair, "conversation.assigned") == Counter(dict.fromkeys(ids, 1))
            loads = Counter()
            for cid in ids:
                conversation = await a.app.store.get_conversation(cid)
                assert conversation is not None and conversation.status == "active"
                loads[conversation.assignee_id] += 1
                joined = [m for m in await a.app.store.history(cid) if m.sender.type == "system"]
                assert len(joined) == 1  # one "joined the conversation" notice
            assert loads == Counter(dict.fromkeys(agents, 4))


async def test_a_follow_up_re_fired_after_its_claim_ran_out_is_announced_once(nodes):
    pair = nodes()
    a, b = pair
    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            customer, agent = await _people(a)
            [cid] = await _conversations(a, customer, 1)
            job = await a.app.store.run_write(
                jobs.create, cid, kind="message", text="Checking in", due_at=utcnow() - PAST, by=agent.id
            )
            followups_a, followups_b = a.app.teamwork.followups, b.app.teamwork.followups
            [slow] = await a.app.store.run_write(
                jobs.claim_due, node=followups_a.node, now=utcnow(), lease=0.0
            )
            # Node A is slow: its claim runs out, node B claims the job again and fires it.
            later = utcnow() + dt.timedelta(seconds=1)
            [again] = await b.app.store.run_write(
                jobs.claim_due, node=followups_b.node, now=later, lease=60.0
            )
            assert (slow.id, again.id) == (job.id, job.id)
            assert await followups_b._fire(again) == 1
            assert await followups_a._fire(slow) == 0  # posts nothing new, announces nothing

            posted = [m for m in await a.app.store.history(cid) if m.client_msg_id == f"followup-{job.id}"]
            assert len(posted) == 1
            assert _events(pair, "followup.fired") == Counter({cid: 1})
            assert [e.data["followupId"] for e in b.events.named("followup.fired")] == [job.id]
            assert (await a.app.store.run_read(jobs.get, job.id)).status == "done"


async def test_two_nodes_resolving_at_once_send_one_satisfaction_survey(nodes):
    pair = nodes()
    a, b = pair
    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            customer, agent = await _people(a)
            [cid] = await _conversations(a, customer, 1)

            async def resolve(node: Node) -> bool:
                try:
                    await node.app.chat.set_status(agent, cid, "resolved")
                except InvalidTransition:
                    return False
                return True

            outcomes = await _at_once(lambda: resolve(a), lambda: resolve(b))

            assert sorted(outcomes) == [False, True]
            assert len(await a.app.store.run_read(surveys_of, cid)) == 1
            surveys = [m for m in await a.app.store.history(cid) if m.content.type == "action"]
            assert len(surveys) == 1
            assert _events(pair, "conversation.status_changed") == Counter({cid: 1})


async def test_an_agent_written_offline_while_their_node_stalled_comes_back_online(nodes):
    a, b = nodes()
    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            stalled = await a.app.store.create_user(kind="agent", role="support", name="Stella")
            chose = await a.app.store.create_user(kind="agent", role="support", name="Chad")
            for agent in (stalled, chose):
                a.app.routing.presence.connected(agent)  # a console on node A
            await a.app.routing.presence.step()
            await a.app.routing.presence.set_status(chose, "offline", reason="chosen")
            # node A stalls past the lease: node B writes Stella down as offline
            await a.app.routing.db.set_status(stalled.id, "online", present_until=utcnow() - PAST)
            await b.app.routing.presence.step()
            assert (await b.app.routing.agent(stalled.id)).status == "offline"

            await a.app.routing.presence.step()  # A recovers: Stella's console is still open there
            assert (await b.app.routing.agent(stalled.id)).status == "online"
            assert (await b.app.routing.agent(chose.id)).status == "offline"  # a choice stays
