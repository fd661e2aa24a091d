"""Assignment and the queue, driven at random against the real store on a SQLite file.

Each rule runs its async code with ``trio.run`` (hypothesis-trio does not import with current
hypothesis), opening the store for that step, as in ``test_status_machine.py``.  The model is
plain Python; the invariants compare it with what the database says after every step:
no conversation is lost or assigned twice, agents' limits hold, the queue is in order.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from qandu.domain import PRIORITIES, utcnow
from qandu.errors import Conflict, InvalidTransition
from qandu.lifecycle import TRANSITIONS
from qandu.routing import PRIORITY_RANK
from qandu.storage import Store
from qandu.storage.routing import RoutingStore

T = TypeVar("T")
AGENTS = 3
OPEN = ("active", "pending")


class QueueModel(RuleBasedStateMachine):
    """Model: per conversation its status, assignee and priority; per agent availability and limit."""

    conversations = Bundle("conversations")

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.status: dict[str, str] = {}
        self.assignee: dict[str, str | None] = {}
        self.agents: list[str] = []
        self.limits: dict[str, int] = {}
        self.available: dict[str, bool] = {}
        self.customer = ""

    def run(self, step: Callable[[Store, RoutingStore], Awaitable[T]]) -> T:
        async def main() -> T:
            store = Store.from_url("sqlite:///queue.sqlite3", data_dir=pathlib.Path(self.directory.name))
            async with store:
                return await step(store, RoutingStore(store))

        return trio.run(main)

    def load(self, agent: str) -> int:
        return sum(1 for c, a in self.assignee.items() if a == agent and self.status[c] in OPEN)

    @initialize(limits=st.lists(st.integers(1, 2), min_size=AGENTS, max_size=AGENTS))
    def create_agents(self, limits: list[int]) -> None:
        async def create(store: Store, routing: RoutingStore) -> tuple[str, list[str]]:
            customer = await store.create_user(kind="user", role="customer", name="Model")
            ids = []
            for index, limit in enumerate(limits):
                agent = await store.create_user(kind="agent", role="support", name=f"Agent {index}")
                await routing.update_profile(agent.id, {"max_chats": limit})
                await routing.set_status(agent.id, "online", present_until=utcnow() + dt.timedelta(hours=1))
                ids.append(agent.id)
            return customer.id, ids

        self.customer, self.agents = self.run(create)
        self.limits = dict(zip(self.agents, limits, strict=True))
        self.available = dict.fromkeys(self.agents, True)

    @rule(target=conversations, priority=st.sampled_from(PRIORITIES), queued=st.booleans())
    def new_conversation(self, priority: str, queued: bool) -> str:
        async def create(store: Store, routing: RoutingStore) -> str:
            customer = await store.get_user(self.customer)
            assert customer is not None
            conversation = await store.create_conversation(
                customer=customer, bot_user=None, priority=priority
            )
            if queued:
                await store.set_status(conversation.id, "pending", by=None, reason="handoff")
            return conversation.id

        cid = self.run(create)
        self.status[cid] = "pending" if queued else "active"
        self.assignee[cid] = None
        return cid

    def _assign(self, cid: str, agent: str, **options: Any) -> bool:
        async def assign(store: Store, routing: RoutingStore) -> bool:
            try:
                await routing.assign(cid, agent, by=None, reason="model", default_limit=None, **options)
            except Conflict:
                return False
            return True

        return self.run(assign)

    def _may_take(self, cid: str, agent: str, *, expect_unassigned: bool, require_available: bool) -> bool:
        if self.status[cid] not in OPEN:
            return False
        if self.assignee[cid] == agent:
            return True
        if expect_unassigned and self.assignee[cid] is not None:
            return False
        if require_available and not self.available[agent]:
            return False
        return self.load(agent) < self.limits[agent]

    def _took(self, cid: str, agent: str) -> None:
        self.assignee[cid] = agent
        if self.status[cid] == "pending":
            self.status[cid] = "active"

    @rule(
        cid=conversations, index=st.integers(0, AGENTS - 1), how=st.sampled_from(["claim", "route", "assign"])
    )
    def assign(self, cid: str, index: int, how: str) -> None:
        agent = self.agents[index]
        options = {
            "claim": {"expect_unassigned": True},
            "route": {"expect_unassigned": True, "require_available": True},
            "assign": {},
        }[how]
        expected = self._may_take(
            cid,
            agent,
            expect_unassigned=options.get("expect_unassigned", False),
            require_available=options.get("require_available", False),
        )
        assert self._assign(cid, agent, **options) == expected, (how, self.status[cid], self.assignee[cid])
        if expected:
            self._took(cid, agent)

    @rule(cid=conversations)
    def two_agents_race_for_it(self, cid: str) -> None:
        first, second = self.agents[0], self.agents[1]

        async def race(store: Store, routing: RoutingStore) -> list[str]:
            won: list[str] = []

            async def claim(agent: str) -> None:
                try:
                    await routing.assign(
                        cid, agent, by=None, reason="race", default_limit=None, expect_unassigned=True
                    )
                    won.append(agent)
                except Conflict:
                    pass

            async with trio.open_nursery() as nursery:
                nursery.start_soon(claim, first)
                nursery.start_soon(claim, second)
            return won

        won = self.run(race)
        if self.assignee[cid] is not None and self.status[cid] in OPEN:
            assert won == [a for a in (first, second) if a == self.assignee[cid]]  # only the owner "re-wins"
        else:
            assert len(won) <= 1
            if won:
                self._took(cid, won[0])

    @rule(cid=conversations, requeue=st.booleans())
    def release(self, cid: str, requeue: bool) -> None:
        async def release(store: Store, routing: RoutingStore) -> bool:
            try:
                await routing.release(cid, by=None, reason="model", requeue=requeue)
            except Conflict:
                return False
            return True

        expected = self.status[cid] in OPEN
        assert self.run(release) == expected
        if expected:
            self.assignee[cid] = None
            self.status[cid] = "pending" if requeue else "active"

    @rule(cid=conversations, status=st.sampled_from(["active", "pending", "resolved", "archived"]))
    def change_status(self, cid: str, status: str) -> None:
        async def change(store: Store, routing: RoutingStore) -> bool:
            try:
                await store.set_status(cid, status, by=None, reason="model")
            except InvalidTransition:
                return False
            return True

        allowed = status in TRANSITIONS[self.status[cid]]
        assert self.run(change) == allowed
        if allowed:
            self.status[cid] = status

    @rule(index=st.integers(0, AGENTS - 1), status=st.sampled_from(["online", "away", "offline"]))
    def set_availability(self, index: int, status: str) -> None:
        agent = self.agents[index]
        until = utcnow() + dt.timedelta(hours=1)
        self.run(lambda store, routing: routing.set_status(agent, status, present_until=until))
        self.available[agent] = status == "online"

    @precondition(lambda self: bool(self.agents))
    @rule(index=st.integers(0, AGENTS - 1))
    def agent_goes_offline_and_is_requeued(self, index: int) -> None:
        agent = self.agents[index]

        async def requeue(store: Store, routing: RoutingStore) -> None:
            await routing.set_status(agent, "offline", present_until=None)
            for cid in await routing.open_assigned(agent):
                await routing.release(cid, by=None, reason="offline", expect_agent=agent)

        self.run(requeue)
        self.available[agent] = False
        for cid, owner in self.assignee.items():
            if owner == agent and self.status[cid] in OPEN:
                self.assignee[cid] = None
                self.status[cid] = "pending"

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        if not self.agents:
            return

        async def read(store: Store, routing: RoutingStore) -> tuple[Any, Any, Any]:
            conversations = {cid: await store.get_conversation(cid) for cid in self.status}
            agents = await routing.list_agents(default_limit=None)
            return conversations, agents, await routing.queue(limit=500)

        conversations, agents, queue = self.run(read)
        for cid, conversation in conversations.items():
            assert conversation is not None  # never lost
            assert (conversation.status, conversation.assignee_id) == (self.status[cid], self.assignee[cid])
            if conversation.status in ("resolved", "archived"):
                assert conversation.queued_at is None
            if conversation.status == "pending":
                assert conversation.queued_at is not None
        for agent in agents:
            assert agent.load == self.load(agent.id) <= self.limits[agent.id]  # limits hold
        waiting = {cid for cid in self.status if self.status[cid] == "pending" and self.assignee[cid] is None}
        assert [c.id for c in queue] == sorted(
            waiting,
            key=lambda cid: (
                -PRIORITY_RANK[conversations[cid].priority],
                conversations[cid].queued_at,
                cid,
            ),
        )
        owners = [c.assignee_id for c in conversations.values() if c.assignee_id and c.status in OPEN]
        for agent in self.agents:
            assert owners.count(agent) == self.load(agent)

    def teardown(self) -> None:
        self.directory.cleanup()


def test_assignment_and_queue_against_sqlite_store() -> None:
    run_state_machine_as_test(
        QueueModel, settings=settings(max_examples=20, stateful_step_count=18, deadline=None)
    )
