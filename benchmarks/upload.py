"""Benchmark: a 50 MB upload streams to disk without growing the server, and chat stays fast meanwhile.

``python -m benchmarks.upload`` runs two scenarios, each against a fresh ``qandu serve`` in
its own process, with the AI plugins switched off so that chat latency is the core's:

* ``core`` -- the file path of the core alone (``filescan`` disabled);
* ``filescan`` -- the same with the ``filescan`` plugin scanning every upload (YARA, in the
  plugin's worker processes).

In each: ``--clients`` customers send a message every ``--interval`` seconds over the
gateway, timing each until its ``ack`` (stored and acknowledged).  First ``--seconds`` of
that alone (the baseline), then the same load while another customer uploads
``--megabytes`` MB ``--uploads`` times in a row (chunked, no Content-Length, as a browser
streaming a file), with the server's memory sampled every 10 ms from ``/proc``: ``VmRSS``
and its anonymous part ``RssAnon`` (heap and buffers), and the RSS of the server's child
processes (the scan workers, which map each file they scan).

Pass/fail: the server's RSS may grow less than ``--max-growth-mb`` over the reading taken
just before the uploads, and the chat p99 during the uploads must stay under ``--p99-ms`` or
within ``--max-p99-ratio`` times the baseline.  The scan workers' peak is reported, not gated:
it is the file mapped for the few milliseconds of its scan, in a process of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import open_websocket_url

MB = 1024 * 1024
CHUNK = 256 * 1024
HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent


class Latency:
    """Nearest-rank percentiles of latencies given in seconds, reported in milliseconds."""

    def __init__(self, seconds: list[float]) -> None:
        self.values = sorted(value * 1000 for value in seconds)
        self.count = len(self.values)

    def pct(self, q: float) -> float:
        if not self.values:
            return math.nan
        return self.values[min(self.count, max(1, math.ceil(q * self.count))) - 1]

    @property
    def p50(self) -> float:
        return self.pct(0.50)

    @property
    def p99(self) -> float:
        return self.pct(0.99)

    def brief(self) -> str:
        return f"p50 {self.p50:.1f} / p99 {self.p99:.1f} / max {self.pct(1.0):.1f} ms"


class Server:
    """``qandu serve`` in its own process (its own GIL), on free loopback ports."""

    def __init__(self, workdir: Path, extra_config: str) -> None:
        self.port, ws_port = _free_port(), _free_port()
        self.http_url, self.ws_url = f"http://{HOST}:{self.port}", f"ws://{HOST}:{ws_port}/ws"
        self.data_dir = workdir / "data"
        config = workdir / "config.toml"
        config.write_text(
            f'[server]\nhost = "{HOST}"\nport = {self.port}\nws_port = {ws_port}\n'
            f'data_dir = "{self.data_dir}"\ndrain_timeout = 2.0\n\n'
            f'[bots]\npaths = ["{REPO / "bots" / "support"}"]\ndefault = "support"\n{extra_config}'
        )
        self.log_path = workdir / "server.log"
        script = Path(sys.executable).parent / "qandu"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "qandu"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "serve", "-c", str(config)],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )
        self.pid = self.process.pid

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.http_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _proc_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) of a process in bytes, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                values[name] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["RssAnon"]


def _children_rss(pid: int) -> int:
    """Total VmRSS of the direct children of a process (the scan workers), in bytes."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError, KeyError):  # exited meanwhile, or a zombie
                total += _proc_memory(int(child))[0]
    return total


def start_server(workdir: Path, upload_bytes: int, *, filescan: bool) -> Server:
    """``qandu serve`` with every installed plugin but ``filescan`` (if asked) switched off."""
    limit = upload_bytes + MB
    extra = f"\n[files]\nmax_bytes = {limit}\n"
    for name in sorted(ep.name for ep in entry_points(group="qandu.plugins")):
        if name == "filescan" and filescan:
            extra += f"\n[plugins.filescan]\nmax_bytes = {limit}\n"
        else:
            extra += f"\n[plugins.{name}]\nenabled = false\n"
    server = Server(workdir, extra)
    server.wait_ready()
    return server


async def _customer(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await http.post("/api/chat/initialize", json={"name": name})
    response.raise_for_status()
    return response.json()


async def _chatter(
    ws_url: str, init: dict[str, Any], interval: float, stop: trio.Event, latencies: list[float]
) -> None:
    """Send a message every ``interval`` s until ``stop``; time each until its ack."""
    cid = init["conversation"]["id"]
    async with open_websocket_url(f"{ws_url}?token={init['token']}") as ws:
        while json.loads(await ws.get_message())["type"] != "ready":
            pass
        next_at = trio.current_time()
        count = 0
        while not stop.is_set():
            count += 1
            ref = f"r{count}"
            frame = {
                "type": "message.send",
                "id": ref,
                "conversationId": cid,
                "clientMsgId": uuid.uuid4().hex,
                "content": {"type": "text", "text": f"ping {count}"},
            }
            started = trio.current_time()
            await ws.send_message(json.dumps(frame))
            while json.loads(await ws.get_message()).get("ref") != ref:
                pass
            latencies.append(trio.current_time() - started)
            next_at += interval
            await trio.sleep_until(max(next_at, trio.current_time()))


async def _upload(server: Server, init: dict[str, Any], size: int) -> tuple[float, dict[str, Any]]:
    """Upload ``size`` random bytes as a chunked stream; return the seconds taken and the upload."""
    block = os.urandom(CHUNK)

    async def body():
        sent = 0
        while sent < size:
            piece = block[: min(CHUNK, size - sent)]
            sent += len(piece)
            yield piece

    async with httpx.AsyncClient(base_url=server.http_url, timeout=120) as http:
        started = time.perf_counter()
        response = await http.post(
            "/api/files",
            params={"conversationId": init["conversation"]["id"], "name": "archive.bin"},
            headers={"Authorization": f"Bearer {init['token']}", "Content-Type": "application/octet-stream"},
            content=body(),
        )
        elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"upload failed: {response.status_code} {response.text}")
    return elapsed, response.json()["upload"]


async def _load(server: Server, inits: list[dict[str, Any]], interval: float, work) -> list[float]:
    """Run the chat load around ``await work()``; return the ack latencies measured meanwhile."""
    latencies: list[float] = []
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        for init in inits:
            nursery.start_soon(_chatter, server.ws_url, init, interval, stop, latencies)
        await trio.sleep(0.5)  # connected and warm
        latencies.clear()
        await work()
        stop.set()
    return latencies


async def scenario(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    size = args.megabytes * MB
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        inits = [await _customer(http, f"Chatter {i}") for i in range(args.clients)]
        uploader = await _customer(http, "Uploader")
    await _upload(server, uploader, MB)  # one-time start-up costs are not growth
    baseline = await _load(server, inits, args.interval, lambda: trio.sleep(args.seconds))
    before = _proc_memory(server.pid)
    peak = [*before, 0]
    times: list[float] = []
    statuses: list[str] = []

    async def uploads() -> None:
        done = trio.Event()

        async def sample() -> None:
            while not done.is_set():
                rss, anon = _proc_memory(server.pid)
                workers = _children_rss(server.pid)
                peak[:] = max(peak[0], rss), max(peak[1], anon), max(peak[2], workers)
                await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sample)
            for _ in range(args.uploads):
                elapsed, upload = await _upload(server, uploader, size)
                times.append(elapsed)
                statuses.append(upload["status"])
            await trio.sleep(0.3)
            done.set()

    during = await _load(server, inits, args.interval, uploads)
    leftovers = list((server.data_dir / "files" / "tmp").glob("*"))
    return {
        "baseline": Latency(baseline),
        "during": Latency(during),
        "times": times,
        "statuses": statuses,
        "rss_growth": (peak[0] - before[0]) / MB,
        "anon_growth": (peak[1] - before[1]) / MB,
        "rss_before": before[0] / MB,
        "workers_peak": peak[2] / MB,
        "leftovers": len(leftovers),
    }


def report(name: str, args: argparse.Namespace, r: dict[str, Any]) -> bool:
    base, during = r["baseline"], r["during"]
    ratio = during.p99 / base.p99 if base.p99 else float("nan")
    rate = args.megabytes / (sum(r["times"]) / len(r["times"]))
    ok_memory = r["rss_growth"] < args.max_growth_mb and r["leftovers"] == 0
    ok_latency = during.p99 <= args.p99_ms or ratio <= args.max_p99_ratio
    print(f"[{name}] {args.uploads} x {args.megabytes} MB uploads: {rate:.0f} MB/s each ({r['statuses']})")
    print(
        f"  server memory: RSS {r['rss_before']:.0f} MB before; peak growth RSS +{r['rss_growth']:.1f} MB,"
        f" anonymous +{r['anon_growth']:.1f} MB (gate: RSS < {args.max_growth_mb:.0f} MB);"
        f" spool files left: {r['leftovers']}"
    )
    if name == "filescan":
        print(f"  scan worker processes: peak RSS {r['workers_peak']:.1f} MB (not gated: not the server)")
    print(f"  chat acks without uploads: {base.brief()} ({base.count} messages)")
    print(f"  chat acks during uploads:  {during.brief()} ({during.count} messages)")
    print(
        f"  p99 ratio {ratio:.2f} (gate: p99 <= {args.p99_ms:.0f} ms or ratio <= {args.max_p99_ratio})"
        f" -> {'PASS' if ok_memory and ok_latency else 'FAIL'}"
    )
    return ok_memory and ok_latency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upload", description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--uploads", type=int, default=3, help="uploads in a row during the load")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between a client's messages")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the baseline")
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    parser.add_argument("--p99-ms", type=float, default=50.0)
    parser.add_argument("--max-p99-ratio", type=float, default=3.0)
    parser.add_argument("--only", choices=["core", "filescan"], default=None)
    args = parser.parse_args(argv)
    names = [args.only] if args.only else ["core", "filescan"]
    ok = True
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"qandu-upload-{name}-") as tmp:
            server = start_server(Path(tmp), args.megabytes * MB, filescan=name == "filescan")
            try:
                result = trio.run(scenario, args, server)
            finally:
                server.stop()
        ok = report(name, args, result) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
