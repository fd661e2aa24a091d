"""What the support-team plugins cost: message round trips with routing, tagging and analytics on vs off.

Run as ``python -m benchmarks.plugins_overhead [--clients 10] [--seconds 8] [--rounds 2]``.

Two QanDu servers are measured in the same run, alternately (off, on, off, on...) so that
drift of the machine hits both: one with the plugins ``routing``, ``tagging`` and
``analytics`` enabled (those that are installed), one with them disabled.  Every other
installed plugin is disabled in both, so that the difference is these plugins alone.  The
load is :mod:`benchmarks.roundtrip`: each client a customer in its own conversation (handed to
the human queue by the warm-up message, so routing sees every message), sending and waiting
for the ``ack``.  Exit status 1 if the plugins cost more than ``--budget`` (10 %) of the
throughput.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import trio

from benchmarks import servers
from benchmarks.loadgen import QanduTarget
from benchmarks.roundtrip import RoundTrip, measure

MEASURED = ("routing", "tagging", "analytics")


def installed_plugins() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="qandu.plugins"))


def plugin_tables(enabled: set[str]) -> str:
    """``[plugins.x] enabled = ...`` for every installed plugin: only ``enabled`` ones are on."""
    return "".join(
        f"\n[plugins.{name}]\nenabled = {'true' if name in enabled else 'false'}\n"
        for name in installed_plugins()
    )


def start(workdir: Path, enabled: set[str]) -> servers.ServerProcess:
    """``qandu serve`` on free ports with only ``enabled`` plugins; wait for /healthz."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, ws_port = servers.free_port(), servers.free_port()
    config = servers.write_qandu_config(workdir, port=port, ws_port=ws_port, plugins="installed")
    with config.open("a") as file:  # then switch each installed plugin on or off explicitly
        file.write(plugin_tables(enabled))
    server = servers.ServerProcess(
        name="qandu+plugins" if enabled else "qandu",
        process=servers._spawn(
            [*servers.qandu_command(), "serve", "-c", str(config)], workdir / "server.log", workdir
        ),
        ws_url=f"ws://{servers.HOST}:{ws_port}/ws",
        http_url=f"http://{servers.HOST}:{port}",
        log_path=workdir / "server.log",
        data_dir=workdir / "data",
    )
    servers._wait_until(server, lambda: httpx.get(f"{server.http_url}/healthz", timeout=2).status_code == 200)
    return server


async def one_round(server: servers.ServerProcess, clients: int, seconds: float) -> RoundTrip:
    target = QanduTarget(server)
    try:
        return await measure(target, clients, duration=seconds)
    finally:
        await target.aclose()


def run(clients: int, seconds: float, rounds: int) -> dict[str, object]:
    on = set(MEASURED) & set(installed_plugins())
    results: dict[str, list[RoundTrip]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="qandu-overhead-") as tmp:
        for index in range(rounds):
            for label, enabled in (("off", set()), ("on", on)):
                server = start(Path(tmp) / f"{label}-{index}", enabled)
                try:
                    results[label].append(trio.run(one_round, server, clients, seconds))
                finally:
                    server.stop()
    rate = {
        label: sum(r.round_trips for r in rs) / sum(r.seconds for r in rs) for label, rs in results.items()
    }
    return {
        "clients": clients,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "plugins_on": sorted(on),
        "plugins_missing": sorted(set(MEASURED) - on),
        "round_trips_per_second_off": round(rate["off"], 1),
        "round_trips_per_second_on": round(rate["on"], 1),
        "overhead": round(1 - rate["on"] / rate["off"], 4) if rate["off"] else None,
        "p50_ms_off": round(results["off"][-1].latency.p50, 2),
        "p50_ms_on": round(results["on"][-1].latency.p50, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--budget", type=float, default=0.10, help="largest acceptable overhead (0.10 = 10%%)"
    )
    args = parser.parse_args(argv)
    report = run(args.clients, args.seconds, args.rounds)
    print(json.dumps(report, indent=2))
    overhead = report["overhead"]
    if isinstance(overhead, float) and overhead > args.budget:
        print(
            f"FAIL: the plugins cost {overhead:.1%} of the throughput (budget {args.budget:.0%})",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
