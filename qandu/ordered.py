"""Jobs handled in order per key, different keys at once: the post-store pipeline's queue.

Each key (a conversation) has its own FIFO; a key waiting for a worker sits once in a shared
ready queue, and a worker takes one job of it, then puts the key back at the end of the line
if it has more.  So one conversation's jobs never overlap or overtake each other, a slow job
holds up only its own conversation, and a busy conversation cannot starve the others.  The
backlog is bounded: :meth:`OrderedQueue.submit` waits while ``capacity`` jobs are queued or
running, so a flood slows its producers instead of growing memory.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class OrderedQueue(Generic[T]):
    """Run ``handle(job)`` for submitted jobs: in order per key, up to ``workers`` keys at once.

    ``handle`` must not raise (an exception would stop the workers).
    """

    def __init__(self, handle: Callable[[T], Awaitable[None]], *, workers: int, capacity: int) -> None:
        self._handle = handle
        self._workers = workers
        self._slots = trio.Semaphore(capacity)
        self._jobs: dict[str, collections.deque[T]] = {}
        self._ready_send, self._ready = trio.open_memory_channel[str](math.inf)
        self._closed = False
        self.waiting = 0
        """Jobs submitted and not started yet."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the workers until :meth:`close` was called and every queued job is done."""
        async with trio.open_nursery() as nursery:
            for _ in range(self._workers):
                nursery.start_soon(self._worker)
            task_status.started()

    async def submit(self, key: str, job: T) -> None:
        """Queue ``job`` after the earlier jobs of ``key``; wait while the backlog is full.

        Raises :class:`trio.ClosedResourceError` once the queue is closed.
        """
        if self._closed:
            raise trio.ClosedResourceError("the queue is closed")
        await self._slots.acquire()
        if self._closed:
            self._slots.release()
            raise trio.ClosedResourceError("the queue is closed")
        self.waiting += 1
        jobs = self._jobs.get(key)
        if jobs is None:
            self._jobs[key] = collections.deque([job])
            self._ready_send.send_nowait(key)
        else:
            jobs.append(job)

    def close(self) -> None:
        """Take no more jobs; the workers finish the queued ones, then :meth:`run` returns."""
        self._closed = True
        if not self._jobs:
            self._ready_send.close()

    async def _worker(self) -> None:
        async for key in self._ready:
            jobs = self._jobs[key]
            job = jobs.popleft()
            self.waiting -= 1
            try:
                await self._handle(job)
            finally:
                self._slots.release()
                if jobs:
                    self._ready_send.send_nowait(key)  # behind the keys already waiting
                else:
                    del self._jobs[key]
                    if self._closed and not self._jobs:
                        self._ready_send.close()
