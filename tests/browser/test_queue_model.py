"""The console's queue view (``qandu/static/console/queue.js``) under Node, against a model.

A server-side queue changes by random operations, each announced as a ``queue.updated``
delta; the console loads the queue whole (``GET /api/queue``) at random points, with answers
read at any moment after the request and arriving in any order relative to the WebSocket's
deltas.  Once everything has arrived (and the reloads the view asked for have run), the view
must hold exactly the server's first ``limit`` conversations, in order, and the right total.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

QUEUE_JS = Path(__file__).resolve().parents[2] / "qandu" / "static" / "console" / "queue.js"
RANK = {"high": 0, "medium": 1, "low": 2}

HARNESS = f"""
import {{ QueueView, queueOrder }} from {json.dumps(QUEUE_JS.as_uri())};
import readline from "node:readline";
for await (const line of readline.createInterface({{ input: process.stdin }})) {{
  const {{ limit, events }} = JSON.parse(line);
  const view = new QueueView(limit);
  const tickets = [];
  let stale = false;
  let sorted = true;
  for (const [kind, arg, snapshot] of events) {{
    if (kind === "loading") tickets.push(view.loading());
    else if (kind === "load") stale = view.load(tickets[arg], snapshot) || stale;
    else if (kind === "failed") view.failed(tickets[arg]);
    else stale = view.apply(arg) || stale;
    sorted = sorted && view.items.length <= limit
      && view.items.every((c, i) => i === 0 || queueOrder(view.items[i - 1], c) < 0);
  }}
  process.stdout.write(JSON.stringify({{ ids: view.ids(), total: view.total, stale, sorted }}) + "\\n");
}}
"""


@pytest.fixture(scope="module")
def node() -> Iterator[subprocess.Popen[str]]:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed")
    process = subprocess.Popen(
        [path, "--input-type=module", "-e", HARNESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield process
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=30)


def run(node: subprocess.Popen[str], limit: int, events: list[list[Any]]) -> dict[str, Any]:
    assert node.stdin is not None and node.stdout is not None
    node.stdin.write(json.dumps({"limit": limit, "events": events}) + "\n")
    node.stdin.flush()
    return json.loads(node.stdout.readline())


class Server:
    """The queue as the database holds it, and the deltas its changes publish."""

    def __init__(self) -> None:
        self.waiting: dict[str, dict[str, Any]] = {}
        self.clock = 0
        self.deltas: list[dict[str, Any]] = []
        self.history: list[dict[str, dict[str, Any]]] = [{}]

    def apply(self, op: tuple[str, int, str]) -> None:
        kind, number, priority = op
        cid = f"c{number:02d}"
        self.clock += 1
        delta: dict[str, Any] = {"added": [], "updated": [], "removed": []}
        if cid in self.waiting and kind == "leave":
            del self.waiting[cid]
            delta["removed"].append(cid)
        elif cid in self.waiting:
            self.waiting[cid] = {**self.waiting[cid], "priority": priority}
            delta["updated"].append(self.waiting[cid])
        elif kind != "leave":
            queued_at = f"2025-01-01T00:00:{self.clock:02d}.000Z"
            self.waiting[cid] = {"id": cid, "priority": priority, "queuedAt": queued_at}
            delta["added"].append(self.waiting[cid])
        else:
            delta["removed"].append(cid)  # left from elsewhere (assigned, not queued): still announced
        delta["total"] = len(self.waiting)
        self.deltas.append(delta)
        self.history.append(dict(self.waiting))

    @staticmethod
    def snapshot(waiting: dict[str, dict[str, Any]], limit: int) -> dict[str, Any]:
        ordered = sorted(waiting.values(), key=lambda c: (RANK[c["priority"]], c["queuedAt"], c["id"]))
        return {"conversations": ordered[:limit], "total": len(waiting)}


operations = st.lists(
    st.tuples(
        st.sampled_from(["join", "join", "leave"]),
        st.integers(0, 12),
        st.sampled_from(["low", "medium", "high"]),
    ),
    max_size=40,
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[list[Any]], dict[str, Any], bool]:
    """A limit, the console's event stream, the final snapshot, whether a load failed last."""
    limit = draw(st.integers(1, 5))
    server = Server()
    for op in draw(operations):
        server.apply(op)
    count = len(server.deltas)
    loads = []  # (requested after delta i, read after delta s, answered after delta r, fails)
    requested = 0
    for _ in range(draw(st.integers(1, 3))):
        requested = draw(st.integers(requested, count))
        read = draw(st.integers(requested, count))
        answered = draw(st.integers(requested, count))
        loads.append((requested, read, answered, draw(st.booleans()) and len(loads) > 0))
    events: list[list[Any]] = []
    for position in range(count + 1):
        events += [["loading"] for requested, *_ in loads if requested == position]
        # an answer may come before deltas that were published before it was read
        for ticket, (_, read, answered, fails) in enumerate(loads):
            if answered == position and fails:
                events.append(["failed", ticket])
            elif answered == position:
                events.append(["load", ticket, Server.snapshot(server.history[read], limit)])
        if position < count:
            events.append(["delta", server.deltas[position]])
    last_failed = loads[-1][3]  # the newest load failed: the view waits for the next ready
    return limit, events, Server.snapshot(server.waiting, limit), last_failed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_view_converges_on_the_servers_queue(node, scenario):
    limit, events, final, last_failed = scenario
    loads = [e for e in events if e[0] == "loading"]
    result = run(node, limit, events)
    assert result["sorted"]
    if result["stale"] or last_failed:  # the console loads again: the last state, read now
        again = [["loading"], ["load", len(loads), final]]
        result = run(node, limit, events + again)
    assert result["ids"] == [c["id"] for c in final["conversations"]]
    assert result["total"] == final["total"]


def test_a_full_view_reloads_when_a_removal_leaves_a_gap(node):
    def conversation(cid: str, second: int) -> dict[str, Any]:
        return {"id": cid, "priority": "medium", "queuedAt": f"2025-01-01T00:00:{second:02d}.000Z"}

    a, b, c = conversation("a", 1), conversation("b", 2), conversation("c", 3)
    snapshot = {"conversations": [a, b], "total": 3}
    events = [["loading"], ["load", 0, snapshot]]
    removed = run(node, 2, [*events, ["delta", {"added": [], "updated": [], "removed": ["a"], "total": 2}]])
    assert (removed["ids"], removed["stale"]) == (["b"], True)  # c is now second: load it
    behind = run(node, 2, [*events, ["delta", {"added": [c], "updated": [], "removed": [], "total": 4}]])
    assert (behind["ids"], behind["total"], behind["stale"]) == (["a", "b"], 4, False)
    urgent = {**c, "priority": "high"}
    ahead = run(node, 2, [*events, ["delta", {"added": [], "updated": [urgent], "removed": [], "total": 3}]])
    assert (ahead["ids"], ahead["stale"]) == (["c", "a"], False)
