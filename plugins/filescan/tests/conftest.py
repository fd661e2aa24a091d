"""Fixtures of the filescan tests: a fake ClamAV daemon on a unix socket."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

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
