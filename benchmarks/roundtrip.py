"""Scenario 1: message round trip, ``message.send`` -> ``ack``, at 1, 10 and 100 concurrent clients.

Each client is a customer in a conversation of its own, sending one message and waiting for
its ``ack`` before the next, for a fixed time.  For QanDu the ack means "committed to SQLite"
(``synchronous=FULL``, group commit); the bare server acks from memory.

QanDu runs its whole hot path for each message: access check, ``qandu_message_incoming``,
the group commit, fan-out, then the post-store pipeline.  The demo bot, with no AI plugin
installed, has no answer, so on a conversation's first message it hands the conversation
to the human queue (a bot notice and a status change); one warm-up message per client
triggers that before the clock starts.
"""

from __future__ import annotations

import gc
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psutil
import trio

from benchmarks.loadgen import Progress, Target, close_all, open_many, request
from benchmarks.stats import Latency


@dataclass
class RoundTrip:
    clients: int
    round_trips: int
    seconds: float
    latency: Latency
    server_cpu: float
    """Server CPU seconds per wall second during the measurement (1.0 = one core busy)."""
    client_cpu: float

    @property
    def per_second(self) -> float:
        return self.round_trips / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_ms(self) -> float:
        """Server CPU time per round trip, in ms: what the server spends, whatever else runs."""
        return self.server_cpu * self.seconds / self.round_trips * 1000 if self.round_trips else 0.0


def _send(conversation_id: str, ref: str, text: str) -> dict[str, Any]:
    return {
        "type": "message.send",
        "id": ref,
        "conversationId": conversation_id,
        "clientMsgId": uuid.uuid4().hex,
        "content": {"type": "text", "text": text},
    }


async def measure(
    target: Target,
    clients: int,
    *,
    duration: float,
    max_messages: int | None = None,
    settle: float = 1.0,
    progress: Progress | None = None,
) -> RoundTrip:
    customers = await target.customers(clients)
    latencies: list[float] = []
    done = 0
    me = psutil.Process()
    async with trio.open_nursery() as nursery:
        connections = await open_many(nursery, target.ws_url, [c.token for c in customers])

        async with trio.open_nursery() as warmup:
            for ws, customer in zip(connections, customers, strict=True):
                warmup.start_soon(request, ws, _send(customer.conversation_id, "w", "hello, warming up"))
        await trio.sleep(settle)  # let the bot's one-time handoff finish
        gc.collect()
        gc.freeze()  # keep the load generator's collector out of the measurement

        deadline = trio.current_time() + duration

        async def client(ws: Any, conversation_id: str) -> None:
            nonlocal done
            n = 0
            while trio.current_time() < deadline and (max_messages is None or done < max_messages):
                n += 1
                frame = _send(conversation_id, f"r{n}", f"round trip {n}")
                started = time.perf_counter()
                await request(ws, frame)
                latencies.append(time.perf_counter() - started)
                done += 1
                if progress is not None:
                    progress(1)

        cpu_server, cpu_client = target.server.cpu_seconds(), _cpu(me)
        started = time.perf_counter()
        async with trio.open_nursery() as load:
            for ws, customer in zip(connections, customers, strict=True):
                load.start_soon(client, ws, customer.conversation_id)
        elapsed = time.perf_counter() - started
        cpu_server, cpu_client = target.server.cpu_seconds() - cpu_server, _cpu(me) - cpu_client

        gc.unfreeze()
        await close_all(connections)
        nursery.cancel_scope.cancel()
    return RoundTrip(
        clients=clients,
        round_trips=len(latencies),
        seconds=elapsed,
        latency=Latency.of(latencies),
        server_cpu=cpu_server / elapsed,
        client_cpu=cpu_client / elapsed,
    )


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system
