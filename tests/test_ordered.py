"""The pipeline's queue (qandu.ordered): in order per key, keys at once, a bounded backlog."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from qandu.ordered import OrderedQueue


def run_jobs(jobs: list[tuple[str, int]], workers: int, capacity: int) -> tuple[list[tuple[str, int]], int]:
    """Submit ``(key, pauses)`` jobs in order; return the (key, index) order they started in and
    the most jobs that ran at once."""
    started: list[tuple[str, int]] = []
    running: set[str] = set()
    most = 0

    async def handle(job: tuple[str, int, int]) -> None:
        nonlocal most
        key, index, pauses = job
        assert key not in running, f"two jobs of {key} overlap"
        running.add(key)
        most = max(most, len(running))
        started.append((key, index))
        for _ in range(pauses):
            await trio.sleep(0)
        running.remove(key)

    async def main() -> None:
        queue = OrderedQueue(handle, workers=workers, capacity=capacity)
        async with trio.open_nursery() as nursery:
            await nursery.start(queue.run)
            for index, (key, pauses) in enumerate(jobs):
                await queue.submit(key, (key, index, pauses))
            queue.close()

    trio.run(main)
    return started, most


@given(
    st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 3)), max_size=40),
    st.integers(1, 4),
    st.integers(1, 6),
)
def test_every_job_runs_once_in_order_per_key_and_never_beside_its_own_key(jobs, workers, capacity):
    started, most = run_jobs(jobs, workers, capacity)
    assert sorted(index for _, index in started) == list(range(len(jobs)))
    for key in "abcd":
        indexes = [index for k, index in started if k == key]
        assert indexes == sorted(indexes)
    assert most <= workers


async def test_a_stuck_job_holds_up_only_its_own_key():
    release = trio.Event()
    done: list[str] = []

    async def handle(job: str) -> None:
        if job == "a1":
            await release.wait()
        done.append(job)

    queue = OrderedQueue(handle, workers=2, capacity=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        for key, job in (("a", "a1"), ("a", "a2"), ("b", "b1"), ("b", "b2")):
            await queue.submit(key, job)
        await trio.testing.wait_all_tasks_blocked()
        assert done == ["b1", "b2"]  # a2 waits behind a1, b does not
        assert queue.waiting == 1
        release.set()
        queue.close()
    assert done == ["b1", "b2", "a1", "a2"]


async def test_submit_waits_while_the_backlog_is_full_and_fails_once_closed():
    release = trio.Event()
    handled: list[int] = []

    async def handle(job: int) -> None:
        await release.wait()
        handled.append(job)

    queue = OrderedQueue(handle, workers=1, capacity=2)
    submitted: list[int] = []

    async def submit(job: int) -> None:
        await queue.submit(str(job), job)
        submitted.append(job)

    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        for job in (1, 2, 3):
            nursery.start_soon(submit, job)
            await trio.testing.wait_all_tasks_blocked()
        assert submitted == [1, 2]  # the third waits for room
        release.set()
        await trio.testing.wait_all_tasks_blocked()
        assert submitted == [1, 2, 3]
        queue.close()
        with pytest.raises(trio.ClosedResourceError):
            await queue.submit("4", 4)
    assert handled == [1, 2, 3]
