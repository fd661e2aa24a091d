"""Fixtures of the filescan tests: a fake ClamAV daemon on a unix socket, and a real one.

The real one is Debian's ``clamd`` (``scripts/clamav`` installs it) with a signature database
written here -- the EICAR test file and a marker string -- never a downloaded one.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from qandu.files import testing as samples


@asynccontextmanager
async def _fake_clamd(
    socket_path: Path, *, reply_for=None, stall: bool = False
) -> AsyncIterator[list[bytes]]:
    """A tiny clamd: speaks INSTREAM on a unix socket; finds EICAR; records what it got."""
    received: list[bytes] = []

    def default_reply(data: bytes) -> bytes:
        return b"stream: Eicar-Test-Signature FOUND\0" if samples.EICAR in data else b"stream: OK\0"

    async def handle(stream: trio.SocketStream) -> None:
        buffer = b""

        async def need(n: int) -> bytes:
            nonlocal buffer
            while len(buffer) < n:
                data = await stream.receive_some(65536)
                if not data:
                    raise EOFError
                buffer += data
            out, buffer = buffer[:n], buffer[n:]
            return out

        async with stream:
            assert await need(10) == b"zINSTREAM\0"
            data = b""
            while size := struct.unpack("!L", await need(4))[0]:
                data += await need(size)
            received.append(data)
            if stall:
                await trio.sleep_forever()
            await stream.send_all((reply_for or default_reply)(data))

    listener = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await listener.bind(str(socket_path))
    listener.listen()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, [trio.SocketListener(listener)])
        yield received
        nursery.cancel_scope.cancel()


@pytest.fixture
def fake_clamd() -> Any:
    """``async with fake_clamd(socket_path, reply_for=None, stall=False) as received:``."""
    return _fake_clamd


CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
#: A string only the test database's second signature matches.
CLAMD_MARKER = b"qandu-test-marker: nobody else writes this"
#: clamd refuses streams longer than this (``StreamMaxLength``).
CLAMD_STREAM_MAX = 1024 * 1024


@attrs.frozen
class Clamd:
    """A running clamd: where it listens, and its two signatures' names as it reports them
    (with ``.UNOFFICIAL``, as it marks the signatures of a database it did not download)."""

    unix_socket: str
    tcp: str
    eicar: str = "QanDu.Test.EICAR.UNOFFICIAL"
    marker: str = "QanDu.Test.Marker.UNOFFICIAL"
    marker_bytes: bytes = CLAMD_MARKER
    """What the marker signature matches, anywhere in a file."""
    stream_max: int = CLAMD_STREAM_MAX
    """Longest stream clamd accepts."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(unix_socket: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(unix_socket))
            sock.sendall(b"zPING\0")
            return sock.recv(16) == b"PONG\0"
    except OSError:
        return False


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """Debian's clamd on a unix socket and on TCP, with a signature database made here."""
    if not os.access(CLAMD, os.X_OK):
        if os.environ.get("CI"):  # scripts/clamav installs it for CI: missing there is a failure
            pytest.fail(f"{CLAMD} is missing; scripts/clamav installs Debian's clamav-daemon")
        pytest.skip(f"{CLAMD} is missing (scripts/clamav installs Debian's clamav-daemon)")
    root = tmp_path_factory.mktemp("clamd")
    (root / "db").mkdir()
    (root / "db" / "qandu-test.ndb").write_text(
        f"QanDu.Test.EICAR:0:0:{samples.EICAR.hex()}\nQanDu.Test.Marker:0:*:{CLAMD_MARKER.hex()}\n"
    )
    unix_socket, port = root / "clamd.sock", _free_port()
    (root / "clamd.conf").write_text(
        f"Foreground yes\nDatabaseDirectory {root / 'db'}\nLocalSocket {unix_socket}\n"
        f"TCPSocket {port}\nTCPAddr 127.0.0.1\nStreamMaxLength {CLAMD_STREAM_MAX}\n"
        f"LogFile {root / 'clamd.log'}\nPidFile {root / 'clamd.pid'}\n"
    )
    process = subprocess.Popen(
        [CLAMD, "-c", str(root / "clamd.conf")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60  # it loads its database first; slow on a busy machine
        while not _answers(unix_socket):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "clamd.log").read_text() if (root / "clamd.log").exists() else ""
                pytest.fail(f"clamd did not start:\n{log[-2000:]}")
            time.sleep(0.1)
        yield Clamd(unix_socket=str(unix_socket), tcp=f"tcp://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
