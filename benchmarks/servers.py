"""The servers under test, each in its own process: QanDu (``qandu serve``) and the bare baseline.

The load generator (this process) never shares a GIL with a server.  Ports are picked free
on loopback; readiness is polled (``/healthz`` for QanDu, a TCP connect for the bare server).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
DEMO_BOT = REPO / "bots" / "support"
HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise this process's soft open-files limit toward ``wanted`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """A running server: its process, where it listens and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    ws_url: str
    http_url: str | None
    log_path: Path
    data_dir: Path | None = None
    url: str | None = None
    """Where a service other than a chat server is reached (``redis://...``)."""

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        """Resident set size of the server process, in bytes."""
        return psutil.Process(self.process.pid).memory_info().rss

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM (QanDu drains and commits), then SIGKILL if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the load generator dies (Linux), so that no
    server outlives a killed benchmark run."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _spawn(
    argv: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,  # Ctrl-C in the terminal reaches the load generator only
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()


def _wait_until(server: ServerProcess, probe: Callable[[], bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            if probe():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} did not become ready in {READY_TIMEOUT:.0f} s:\n{server.log_tail()}")


def qandu_command() -> list[str]:
    """``qandu`` from this interpreter's environment (the venv), else ``python -m qandu``."""
    script = Path(sys.executable).parent / "qandu"
    return [str(script)] if script.exists() else [sys.executable, "-m", "qandu"]


def installed_plugins() -> list[str]:
    """Names of the installed QanDu plugins (entry points of the group ``qandu.plugins``)."""
    from qandu.plugins import entry_points

    return sorted({ep.name for ep in entry_points()})


def write_qandu_config(
    workdir: Path,
    *,
    port: int,
    ws_port: int,
    plugins: str = "none",
    storage_url: str = "sqlite:///qandu.sqlite3",
    extra_toml: str = "",
) -> Path:
    """A config.toml with a SQLite file in ``workdir/data`` and the demo bot; otherwise defaults.

    ``plugins="none"`` disables every installed plugin (the core alone); ``"installed"`` keeps
    them all enabled, as a plain ``qandu serve`` would.  ``storage_url`` replaces the SQLite
    file (a PostgreSQL schema for several nodes); ``extra_toml`` adds tables (``[bus]``, ...).
    """
    if plugins not in ("none", "installed"):
        raise ValueError(f"plugins must be 'none' or 'installed', not {plugins!r}")
    extra = ""
    if plugins == "none":
        extra = "".join(f"\n[plugins.{name}]\nenabled = false\n" for name in installed_plugins())
    data_dir = workdir / "data"
    config = workdir / "config.toml"
    config.write_text(
        f"""# written by benchmarks.servers
[server]
host = "{HOST}"
port = {port}
ws_port = {ws_port}
data_dir = "{data_dir}"
drain_timeout = 2.0

[storage]
url = "{storage_url}"

[bots]
paths = ["{DEMO_BOT}"]
default = "support"
{extra}{extra_toml}"""
    )
    return config


def start_qandu(
    workdir: Path,
    *,
    profile: Path | None = None,
    plugins: str = "none",
    storage_url: str = "sqlite:///qandu.sqlite3",
    extra_toml: str = "",
    name: str = "qandu",
) -> ServerProcess:
    """Start ``qandu serve -c <workdir>/config.toml`` (written here unless it exists); wait for /healthz.

    With ``profile``, the server runs under cProfile and writes its stats there when it stops.
    ``storage_url`` and ``extra_toml`` go to :func:`write_qandu_config`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port, ws_port = free_port(), free_port()
    config = write_qandu_config(
        workdir, port=port, ws_port=ws_port, plugins=plugins, storage_url=storage_url, extra_toml=extra_toml
    )
    argv = [*qandu_command(), "serve", "-c", str(config)]
    if profile is not None:
        argv = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(profile),
            "-m",
            "qandu",
            "serve",
            "-c",
            str(config),
        ]
    server = ServerProcess(
        name=name,
        process=_spawn(argv, workdir / "server.log", cwd=workdir),
        ws_url=f"ws://{HOST}:{ws_port}/ws",
        http_url=f"http://{HOST}:{port}",
        log_path=workdir / "server.log",
        data_dir=workdir / "data",
    )

    def healthy() -> bool:
        return httpx.get(f"{server.http_url}/healthz", timeout=2).status_code == 200

    _wait_until(server, healthy)
    return server


def start_bare(workdir: Path, *, profile: Path | None = None, **_: Any) -> ServerProcess:
    """Start ``python -m benchmarks.bare_server``; wait until it accepts TCP connections."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.bare_server", "--host", HOST, "--port", str(port)]
    if profile is not None:
        argv[1:1] = ["-m", "cProfile", "-o", str(profile)]
    server = ServerProcess(
        name="bare",
        process=_spawn(argv, workdir / "bare.log", cwd=REPO),
        ws_url=f"ws://{HOST}:{port}/ws",
        http_url=None,
        log_path=workdir / "bare.log",
    )

    def listening() -> bool:
        with socket.create_connection((HOST, port), timeout=1):
            return True

    _wait_until(server, listening)
    return server


def start_redis(workdir: Path, **_: Any) -> ServerProcess:
    """Start a private ``redis-server`` on a free port (no persistence); wait until it answers PING.

    Never the system's Redis: the suite owns this one and stops it with the scenario.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    server = ServerProcess(
        name="redis",
        process=_spawn(argv, workdir / "redis.log", cwd=workdir),
        ws_url="",
        http_url=None,
        log_path=workdir / "redis.log",
        url=f"redis://{HOST}:{port}/0",
    )

    def pong() -> bool:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    _wait_until(server, pong)
    return server


@contextmanager
def running(start: Callable[..., ServerProcess], workdir: Path, **options: Any) -> Iterator[ServerProcess]:
    """Run a server for the block; stop it afterwards (and keep its log next to the results on failure)."""
    server = start(workdir, **options)
    try:
        yield server
    except BaseException:
        server.stop()
        keep = REPO / "benchmarks" / "results" / f"{server.name}-failed.log"
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.log_path, keep)
        raise
    else:
        server.stop()
