"""The bot's reply latency with many customers chatting at once (``python -m benchmarks.ai_reply``).

``qandu serve`` runs in its own process with every installed plugin (NLU, autoreply...) and
the demo bot.  Once the NLU's models are trained (a warm-up until its intents show up in the
bot's replies), the simulated customers (a third of them German) connect, then all start
together, each asking knowledge-base questions from
``plugins/autoreply/tests/data/kb_questions.jsonl`` with a short think time.  The latency is
from sending a message to receiving the bot's answer over the gateway.  A conversation the
bot hands to the human queue is replaced by a new one.  The server's CPU time per reply
(read from outside with psutil) is the steadier figure on a shared machine.  Target: p99
under 300 ms with 50 customers; the exit status is 1 when it is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import trio

from benchmarks.servers import REPO, installed_plugins, raise_fd_limit, running, start_qandu
from benchmarks.stats import Latency, fmt
from qandu.client import ChatClient

QUESTIONS = REPO / "plugins" / "autoreply" / "tests" / "data" / "kb_questions.jsonl"
TARGET_P99_MS = 300.0
REPLY_TIMEOUT = 10.0
WARM_UP_TIMEOUT = 300.0


def questions() -> dict[str, list[str]]:
    by_language: dict[str, list[str]] = {"en": [], "de": []}
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["expect"]:
            by_language[item["lang"]].append(item["text"])
    return by_language


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {"en": [], "de": []}
        self.sources: dict[str, int] = {}
        self.handoffs = 0
        self.timeouts = 0
        self.connected = 0
        self.started = time.perf_counter()
        self.server_cpu = 0.0
        """Seconds of CPU the server process used while the customers chatted."""


async def customer(
    http_url: str,
    language: str,
    asks: list[str],
    recorder: Recorder,
    rng: random.Random,
    think: float,
    go: trio.Event,
) -> None:
    """One customer asking ``asks`` in turn once ``go`` is set; a new conversation after a handoff."""
    pending = list(asks)
    while pending:
        async with ChatClient.initialize(http_url, locale=language, name="Bench") as client:
            recorder.connected += 1
            await go.wait()  # everyone is connected: the chatting starts at once
            while pending:
                text = pending.pop(0)
                await trio.sleep(rng.uniform(0, think))
                started = time.perf_counter()
                await client.send_text(text)
                with trio.move_on_after(REPLY_TIMEOUT) as scope:
                    while True:
                        frame = await client.gateway.next_frame("message.new")
                        if frame["message"]["sender"]["type"] == "ai":
                            break
                if scope.cancelled_caught:
                    recorder.timeouts += 1
                    break
                recorder.latencies[language].append(time.perf_counter() - started)
                metadata = frame["message"]["content"].get("metadata") or {}
                source = metadata.get("autoreply", {}).get("source", "handoff")
                recorder.sources[source] = recorder.sources.get(source, 0) + 1
                if source == "handoff" or not metadata:
                    recorder.handoffs += 1
                    break  # the human queue has it now: the bot stays silent


WARM_UP = {"en": "thanks", "de": "danke schön"}


async def warm_up(http_url: str, timeout: float = WARM_UP_TIMEOUT) -> float:
    """Wait until the NLU's models are trained: the bot's reply to a thank-you in each
    language carries an intent (the NLU trains them one after another at start-up)."""
    started = time.perf_counter()
    with trio.fail_after(timeout):
        for language, text in WARM_UP.items():
            while True:
                async with ChatClient.initialize(http_url, name="Warm-up", locale=language) as client:
                    await client.send_text(text)
                    while True:
                        frame = await client.gateway.next_frame("message.new")
                        if frame["message"]["sender"]["type"] == "ai":
                            break
                metadata = frame["message"]["content"].get("metadata") or {}
                if metadata.get("autoreply", {}).get("intent"):
                    break
                await trio.sleep(1.0)
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def measure(
    http_url: str, pid: int, customers: int, messages: int, think: float, seed: int, nlu: bool
) -> Recorder:
    recorder = Recorder()
    if nlu:
        print(f"NLU models ready after {await warm_up(http_url):.1f} s")
    rng = random.Random(seed)
    pool = questions()
    go = trio.Event()
    async with trio.open_nursery() as nursery:
        for index in range(customers):
            language = "de" if index % 3 == 2 else "en"  # a third of the customers write German
            asks = [rng.choice(pool[language]) for _ in range(messages)]
            nursery.start_soon(
                customer, http_url, language, asks, recorder, random.Random(rng.random()), think, go
            )
        with trio.fail_after(WARM_UP_TIMEOUT):
            while recorder.connected < customers:
                await trio.sleep(0.05)
        recorder.started = time.perf_counter()
        cpu_before = cpu_seconds(pid)
        go.set()
    recorder.server_cpu = cpu_seconds(pid) - cpu_before
    return recorder


def report(recorder: Recorder, elapsed: float, customers: int) -> dict[str, Any]:
    everything = recorder.latencies["en"] + recorder.latencies["de"]
    total = Latency.of(everything)
    result = {
        "customers": customers,
        "replies": len(everything),
        "replies_per_second": len(everything) / elapsed,
        "latency_ms": total.__dict__,
        "latency_ms_en": Latency.of(recorder.latencies["en"]).__dict__,
        "latency_ms_de": Latency.of(recorder.latencies["de"]).__dict__,
        "server_cpu_ms_per_reply": 1000 * recorder.server_cpu / max(len(everything), 1),
        "sources": recorder.sources,
        "handoffs": recorder.handoffs,
        "timeouts": recorder.timeouts,
        "target_p99_ms": TARGET_P99_MS,
        "passed": total.p99 < TARGET_P99_MS and recorder.timeouts == 0,
    }
    print(f"{customers} customers, {len(everything)} bot replies in {elapsed:.1f} s")
    print(f"  reply latency       {total.brief()}   (target p99 < {fmt(TARGET_P99_MS)} ms)")
    print(f"  English             {Latency.of(recorder.latencies['en']).brief()}")
    print(f"  German              {Latency.of(recorder.latencies['de']).brief()}")
    print(f"  server CPU          {fmt(result['server_cpu_ms_per_reply'], 3)} ms per reply")
    print(
        f"  answered by         {recorder.sources}; handoffs {recorder.handoffs}; "
        f"timeouts {recorder.timeouts}"
    )
    print("  PASS" if result["passed"] else "  FAIL")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ai_reply", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10, help="questions per customer")
    parser.add_argument(
        "--think", type=float, default=1.0, help="max seconds between a reply and the next question"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    raise_fd_limit()
    nlu = "nlu" in installed_plugins()
    with (
        tempfile.TemporaryDirectory(prefix="qandu-ai-reply-") as workdir,
        running(start_qandu, Path(workdir), plugins="installed") as server,
    ):
        assert server.http_url is not None
        recorder = trio.run(
            measure,
            server.http_url,
            server.process.pid,
            args.customers,
            args.messages,
            args.think,
            args.seed,
            nlu,
        )
        result = report(recorder, time.perf_counter() - recorder.started, args.customers)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    raise SystemExit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
