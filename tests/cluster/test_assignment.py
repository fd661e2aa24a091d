"""Assignment across nodes, driven at random: never two agents for one claim, never past a limit.

Agents claim, get assigned, transferred and released through the HTTP API of different
nodes, go online and offline, and race each other (two agents claiming one conversation
through two nodes at once; one agent claiming several at once through all nodes), while
every node's routing plugin drains the queue on its own.  What the database says is
checked after every step; every ``409`` must have its reason in the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import attrs
import httpx
import pytest
import trio
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from tests.cluster.harness import PASSWORD, Cluster

CLUSTER = {
    "size": 3,
    "overrides": {"plugins.routing": {"sweep_interval": 0.3, "offline_grace": 600.0, "max_chats": 2}},
}
AGENTS = 3
CLOSED = ("resolved", "archived")

nodes = st.integers(0, 2)
agents = st.integers(0, AGENTS - 1)


@attrs.define
class Desk:
    """The cluster's HTTP APIs with an admin's and the agents' tokens."""

    cluster: Cluster
    admin: str
    agents: list[tuple[str, str]]  # (id, token)

    http: list[httpx.Client] = attrs.Factory(list)
    """One client per node, for the main thread (racing threads open their own)."""
    limits: dict[str, int] = attrs.Factory(dict)
    statuses: dict[str, str] = attrs.Factory(dict)
    """What the previous examples left: limits and availability need no call when unchanged."""

    def call(
        self, node: int, token: str | None, method: str, path: str, json: Any = None, *, fresh: bool = False
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if fresh:
            with httpx.Client(base_url=self.cluster.nodes[node].http_url, timeout=30) as http:
                response = http.request(method, path, json=json, headers=headers)
        else:
            response = self.http[node].request(method, path, json=json, headers=headers)
        assert response.status_code < 500, f"{method} {path} on node {node}: {response.text}"
        return response

    def claim(self, node: int, token: str, cid: str, *, fresh: bool = False) -> httpx.Response:
        return self.call(node, token, "POST", f"/api/conversations/{cid}/claim", fresh=fresh)


@pytest.fixture
def desk(cluster: Cluster) -> Iterator[Desk]:
    emails = [f"router-agent-{i}@example.com" for i in range(AGENTS)]
    existing = {email for (email,) in cluster.sql("SELECT email FROM users WHERE email LIKE 'router-%%'")}
    if not existing:
        trio.run(lambda: cluster.add_staff(*((email, f"Agent {i}") for i, email in enumerate(emails))))
        trio.run(lambda: cluster.add_staff(("router-admin@example.com", "Boss"), role="admin"))

    def login(node: int, email: str) -> dict[str, Any]:
        with httpx.Client(base_url=cluster.nodes[node].http_url, timeout=30) as http:
            response = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.json()

    admin = login(0, "router-admin@example.com")["token"]
    logged = [login(i % 3, email) for i, email in enumerate(emails)]
    clients = [httpx.Client(base_url=node.http_url, timeout=30) for node in cluster.nodes]
    try:
        yield Desk(cluster, admin, [(data["user"]["id"], data["token"]) for data in logged], clients)
    finally:
        for client in clients:
            client.close()


class AssignmentMachine(RuleBasedStateMachine):
    """No model of who should get what (the routers act on their own): the database is the truth."""

    conversations = Bundle("conversations")

    def __init__(self, desk: Desk) -> None:
        super().__init__()
        self.desk = desk
        self.limits: dict[str, int] = {}
        self.created: list[str] = []

    # -- reading the database ---------------------------------------------------------------

    def row(self, cid: str) -> tuple[str, str | None]:
        [(status, assignee)] = self.desk.cluster.sql(
            "SELECT status, assignee_id FROM conversations WHERE id = %s", (cid,)
        )
        return status, assignee

    def load(self, agent_id: str) -> int:
        [(count,)] = self.desk.cluster.sql(
            "SELECT COUNT(*) FROM conversations WHERE assignee_id = %s AND status IN ('active', 'pending')",
            (agent_id,),
        )
        return count

    def explain_conflict(self, cid: str, agent_id: str) -> None:
        """A 409 for giving ``cid`` to ``agent_id`` must have a reason in the database."""
        status, assignee = self.row(cid)
        full = self.load(agent_id) >= self.limits[agent_id]
        taken = assignee is not None and assignee != agent_id
        assert status in CLOSED or taken or full, (
            f"409 without a reason: {cid} is {status}, assigned to {assignee}"
        )

    def check_taken(self, response: httpx.Response, cid: str, agent_id: str) -> bool:
        """A claim/assign/transfer answer: 200 names the agent, 409 has its reason."""
        if response.status_code == 200:
            assert response.json()["conversation"]["assigneeId"] == agent_id
            event("taken")
            return True
        event("conflict")
        assert response.status_code == 409, response.text
        self.explain_conflict(cid, agent_id)
        return False

    # -- rules ------------------------------------------------------------------------------

    @initialize(limits=st.lists(st.integers(1, 2), min_size=AGENTS, max_size=AGENTS), node=nodes)
    def start(self, limits: list[int], node: int) -> None:
        for (agent_id, token), limit in zip(self.desk.agents, limits, strict=True):
            if self.desk.limits.get(agent_id) != limit:
                self.desk.call(node, self.desk.admin, "PATCH", f"/api/agents/{agent_id}", {"maxChats": limit})
                self.desk.limits[agent_id] = limit
            if self.desk.statuses.get(agent_id) != "online":
                self.desk.call(node, token, "PUT", "/api/agents/me/status", {"status": "online"})
                self.desk.statuses[agent_id] = "online"
            self.limits[agent_id] = limit

    @rule(target=conversations, node=nodes, queued=st.lists(st.booleans(), min_size=1, max_size=3))
    def new_conversations(self, node: int, queued: list[bool]) -> MultipleResults[str]:
        cids = []
        for waiting in queued:
            response = self.desk.call(node, None, "POST", "/api/chat/initialize", {"name": "Customer"})
            cid = response.json()["conversation"]["id"]
            if waiting:  # waiting for a person: every node's router may now take it
                path = f"/api/conversations/{cid}/status"
                self.desk.call(node, self.desk.admin, "PUT", path, {"status": "pending"})
            cids.append(cid)
        self.created.extend(cids)
        return multiple(*cids)

    @rule(cid=conversations, agent=agents, node=nodes)
    def claim(self, cid: str, agent: int, node: int) -> None:
        agent_id, token = self.desk.agents[agent]
        self.check_taken(
            self.desk.call(node, token, "POST", f"/api/conversations/{cid}/claim"), cid, agent_id
        )

    @rule(cid=conversations, first=agents, second=agents, node=nodes)
    def two_agents_claim_at_once(self, cid: str, first: int, second: int, node: int) -> None:
        if first == second:
            second = (second + 1) % AGENTS
        claimers = [(self.desk.agents[first], node), (self.desk.agents[second], (node + 1) % 3)]
        responses = _at_once(
            [partial(self.desk.claim, n, token, cid, fresh=True) for (_, token), n in claimers]
        )
        taken = [
            self.check_taken(response, cid, agent_id)
            for response, ((agent_id, _), _) in zip(responses, claimers, strict=True)
        ]
        assert taken.count(True) <= 1, "two agents claimed one conversation"
        event(f"two claims at once: {taken.count(True)} won")

    @rule(cids=st.lists(conversations, min_size=2, max_size=4, unique=True), agent=agents)
    def one_agent_claims_several_at_once(self, cids: list[str], agent: int) -> None:
        agent_id, token = self.desk.agents[agent]
        mine = {cid for cid in cids if self.row(cid)[1] == agent_id}
        room = max(0, self.limits[agent_id] - self.load(agent_id))
        responses = _at_once(
            [partial(self.desk.claim, n % 3, token, cid, fresh=True) for n, cid in enumerate(cids)]
        )
        won = {cid for cid, r in zip(cids, responses, strict=True) if self.check_taken(r, cid, agent_id)}
        assert len(won - mine) <= room, f"{len(won - mine)} new chats for an agent with room for {room}"
        event(f"several claims at once: {len(won - mine)} won with room for {room}")

    @rule(cid=conversations, agent=agents, node=nodes, how=st.sampled_from(["assign", "transfer"]))
    def admin_gives(self, cid: str, agent: int, node: int, how: str) -> None:
        agent_id, _ = self.desk.agents[agent]
        path = f"/api/conversations/{cid}/{how}"
        self.check_taken(
            self.desk.call(node, self.desk.admin, "POST", path, {"agentId": agent_id}), cid, agent_id
        )

    @rule(cid=conversations, node=nodes)
    def assignee_leaves(self, cid: str, node: int) -> None:
        _, assignee = self.row(cid)
        tokens = dict(self.desk.agents)
        if assignee in tokens:
            response = self.desk.call(node, tokens[assignee], "POST", f"/api/conversations/{cid}/leave")
            assert response.status_code in (200, 409), response.text

    @rule(agent=agents, node=nodes, status=st.sampled_from(["online", "away", "offline"]))
    def availability(self, agent: int, node: int, status: str) -> None:
        _, token = self.desk.agents[agent]
        response = self.desk.call(node, token, "PUT", "/api/agents/me/status", {"status": status})
        assert response.status_code == 200, response.text
        self.desk.statuses[self.desk.agents[agent][0]] = status

    @rule(cid=conversations, node=nodes)
    def resolve(self, cid: str, node: int) -> None:
        path = f"/api/conversations/{cid}/status"
        response = self.desk.call(node, self.desk.admin, "PUT", path, {"status": "resolved"})
        assert response.status_code in (200, 409, 422), response.text

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def limits_hold(self) -> None:
        for agent_id, limit in self.limits.items():
            assert self.load(agent_id) <= limit, f"agent {agent_id} has more than {limit} open chats"

    @invariant()
    def assignees_take_part(self) -> None:
        orphans = self.desk.cluster.sql(
            "SELECT c.id FROM conversations c"
            " WHERE c.assignee_id IS NOT NULL AND c.status IN ('active', 'pending') AND NOT EXISTS"
            " (SELECT 1 FROM participants p"
            " WHERE p.conversation_id = c.id AND p.user_id = c.assignee_id AND p.left_at IS NULL)"
        )
        assert not orphans, f"assigned to someone not in the conversation: {orphans}"

    def teardown(self) -> None:
        """Close this example's conversations (in the database: a reset, not a step), so the
        next example starts with idle agents."""
        self.desk.cluster.sql(
            "UPDATE conversations SET status = 'archived'"
            " WHERE id = ANY(%s) AND status IN ('active', 'pending')",
            (self.created,),
        )


def _at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls in threads released together; their responses in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_assignment_across_nodes_never_doubles_up_or_exceeds_limits(desk: Desk) -> None:
    run_state_machine_as_test(
        lambda: AssignmentMachine(desk),
        settings=settings(
            max_examples=10,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
