"""What the support-team plugins cost: message round trips with routing, tagging and analytics on vs off.

Run as ``python -m benchmarks.plugins_overhead [--clients 10] [--seconds 4] [--rounds 10]``.

Two QanDu servers are measured in the same run, alternately (off on, on off, off on...) so
that drift of the machine hits both, after an unmeasured warm-up round of each: one with
the plugins ``routing``, ``tagging`` and ``analytics`` enabled (those that are installed),
one with them disabled.  Every other installed plugin is disabled in both, so that the
difference is these plugins alone.  The load is :mod:`benchmarks.roundtrip`: each client a
customer in its own conversation (handed to the human queue by the warm-up message, so
routing sees every message), sending and waiting for the ``ack``.  Besides throughput, the
server's CPU time per round trip is reported for both: the steadier figure on a busy
machine.  ``--profile DIR`` runs the servers under cProfile (slower; for finding the cost,
not measuring it).  Exit status 1 if the plugins cost more than ``--budget`` (10 %) of the
throughput.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from benchmarks import servers
from benchmarks.loadgen import QanduTarget
from benchmarks.roundtrip import RoundTrip, measure

MEASURED = ("routing", "tagging", "analytics")
CLIENTS = 10
BUDGET = 0.10
"""The issue's budget: the plugins may cost at most this share of the round-trip throughput."""


def plugin_tables(enabled: set[str]) -> str:
    """``[plugins.x] enabled = ...`` for every installed plugin: only ``enabled`` ones are on."""
    return "".join(
        f"\n[plugins.{name}]\nenabled = {'true' if name in enabled else 'false'}\n"
        for name in servers.installed_plugins()
    )


def start(workdir: Path, enabled: set[str], profile: Path | None = None) -> servers.ServerProcess:
    """``qandu serve`` on free ports with only ``enabled`` plugins (under cProfile with ``profile``)."""
    return servers.start_qandu(
        workdir,
        plugins="installed",  # then each installed plugin switched on or off explicitly
        extra_toml=plugin_tables(enabled),
        profile=profile,
        name="qandu+plugins" if enabled else "qandu",
    )


async def one_round(server: servers.ServerProcess, clients: int, seconds: float) -> RoundTrip:
    target = QanduTarget(server)
    try:
        return await measure(target, clients, duration=seconds)
    finally:
        await target.aclose()


@dataclass
class Overhead:
    """Round trips of the servers with the measured plugins off and on, round by round."""

    clients: int
    seconds: float
    plugins_on: list[str]
    plugins_missing: list[str]
    off: list[RoundTrip] = field(default_factory=list)
    on: list[RoundTrip] = field(default_factory=list)

    def rate(self, label: str) -> float:
        """Round trips/s over all rounds of one side (``off`` or ``on``)."""
        runs = getattr(self, label)
        return sum(r.round_trips for r in runs) / sum(r.seconds for r in runs)

    def cpu_ms(self, label: str) -> float:
        """Server CPU per round trip, in ms: the steadier figure on a busy machine."""
        runs = getattr(self, label)
        return sum(r.server_cpu * r.seconds for r in runs) * 1000 / sum(r.round_trips for r in runs)

    @property
    def overhead(self) -> float:
        """The share of the plugins-off throughput that the plugins cost."""
        return 1 - self.rate("on") / self.rate("off")

    def summary(self) -> dict[str, object]:
        return {
            "clients": self.clients,
            "seconds_per_round": self.seconds,
            "rounds": len(self.off),
            "plugins_on": self.plugins_on,
            "plugins_missing": self.plugins_missing,
            "round_trips_per_second_off": round(self.rate("off"), 1),
            "round_trips_per_second_on": round(self.rate("on"), 1),
            "overhead": round(self.overhead, 4),
            "rounds_overhead": [
                round(1 - on.per_second / off.per_second, 4)
                for off, on in zip(self.off, self.on, strict=True)
            ],
            "server_cpu_ms_off": round(self.cpu_ms("off"), 3),
            "server_cpu_ms_on": round(self.cpu_ms("on"), 3),
            "p50_ms_off": round(self.off[-1].latency.p50, 2),
            "p50_ms_on": round(self.on[-1].latency.p50, 2),
        }


def run(
    clients: int,
    seconds: float,
    rounds: int,
    *,
    warmup: float = 3.0,
    profile: Path | None = None,
    on_round: Callable[[], None] | None = None,
) -> Overhead:
    """``rounds`` rounds of each side after a warm-up round of each; ``on_round`` after every round."""
    on = set(MEASURED) & set(servers.installed_plugins())
    result = Overhead(clients, seconds, sorted(on), sorted(set(MEASURED) - on))
    with tempfile.TemporaryDirectory(prefix="qandu-overhead-") as tmp:

        def one(label: str, enabled: set[str], index: int, duration: float) -> RoundTrip:
            profiled = profile / f"{label}-{index}.prof" if profile is not None else None
            server = start(Path(tmp) / f"{label}-{index}", enabled, profiled)
            try:
                return trio.run(one_round, server, clients, duration)
            finally:
                server.stop()
                if on_round is not None:
                    on_round()

        if warmup > 0:  # the machine's first minutes (caches, clocks) go to neither side
            for label, enabled in (("off", set()), ("on", on)):
                one(label, enabled, -1, warmup)
        for index in range(rounds):
            order = (("off", set()), ("on", on))
            for label, enabled in order if index % 2 == 0 else order[::-1]:  # off on, on off, ...
                getattr(result, label).append(one(label, enabled, index, seconds))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of an unmeasured first round")
    parser.add_argument("--profile", type=Path, help="write each server's cProfile stats into this directory")
    parser.add_argument(
        "--budget", type=float, default=BUDGET, help="largest acceptable overhead (0.10 = 10%%)"
    )
    args = parser.parse_args(argv)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    result = run(args.clients, args.seconds, args.rounds, warmup=args.warmup, profile=args.profile)
    print(json.dumps(result.summary(), indent=2))
    overhead = result.overhead
    if overhead > args.budget:
        print(
            f"FAIL: the plugins cost {overhead:.1%} of the throughput (budget {args.budget:.0%})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
