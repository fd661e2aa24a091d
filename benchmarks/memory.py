"""Scenario 5: server memory per idle connection.

Open ``count`` authenticated customer connections to a fresh server and read the server
process's resident set size (psutil) before and after; the difference divided by ``count``
is the cost of one idle connection.  For QanDu the customers (and their conversations) are
created through ``POST /api/chat/initialize`` *before* the first reading, so what is measured
is the connections, not the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from benchmarks.loadgen import Progress, Target, close_all, open_many


@dataclass
class MemoryResult:
    connections: int
    rss_before: int
    rss_after: int

    @property
    def per_connection_kb(self) -> float:
        return (self.rss_after - self.rss_before) / self.connections / 1024


async def _settled_rss(target: Target, settle: float) -> int:
    """RSS once it stops moving (samples ``settle / 4`` seconds apart, at most ``settle`` in all)."""
    await trio.sleep(settle / 4)
    last = target.server.rss()
    for _ in range(3):
        await trio.sleep(settle / 4)
        now = target.server.rss()
        if abs(now - last) < 64 * 1024:
            return now
        last = now
    return last


async def measure(
    target: Target, count: int, *, settle: float = 2.0, progress: Progress | None = None
) -> MemoryResult:
    customers = await target.customers(count, progress or (lambda _: None))
    before = await _settled_rss(target, settle)
    async with trio.open_nursery() as nursery:
        connections = await open_many(
            nursery, target.ws_url, [c.token for c in customers], progress or (lambda _: None)
        )
        target.server.check_alive()
        after = await _settled_rss(target, settle)
        opened = len(connections)
        await close_all(connections)
        nursery.cancel_scope.cancel()
    return MemoryResult(connections=opened, rss_before=before, rss_after=after)
