"""A bounded pool of scan worker processes (:mod:`qandu_filescan.worker`).

Workers start when first needed and are kept for the next scan, at most ``size`` at once
(callers beyond that wait).  A worker whose call fails in any way -- it crashed, it did not
answer in time, or the caller was cancelled (``[files] scan_timeout``) -- is killed and
reaped at once; the next call starts a fresh one.  Killing is the only reliable way to stop a
scan: a thread running libyara cannot be interrupted.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from qandu_filescan.worker import HEADER

WORKER = Path(__file__).with_name("worker.py")
#: ``-P``: the worker's folder is not put on ``sys.path`` (its modules must not shadow others).
WORKER_COMMAND = (sys.executable, "-P", str(WORKER))
#: Time a worker whose output ended gets to exit on its own (to report how it ended).
_EXIT_GRACE = 1.0


class WorkerFailed(Exception):
    """A worker could not answer: it could not start, crashed, or was too slow."""


def _frame(data: bytes) -> bytes:
    return HEADER.pack(len(data)) + data


def _how_it_ended(returncode: int | None) -> str:
    if returncode is None or returncode == -signal.SIGKILL:
        return "was killed"
    if returncode < 0:
        try:
            return f"crashed ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"crashed (signal {-returncode})"
    return f"exited with code {returncode}"


class Worker:
    """One worker process and the frames it sends back."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._buffer = bytearray()

    @property
    def pid(self) -> int:
        return self.process.pid

    async def call(self, request: bytes) -> bytes:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(_frame(request))
        (size,) = HEADER.unpack(await self._receive(HEADER.size))
        return await self._receive(size)

    async def _receive(self, count: int) -> bytes:
        assert self.process.stdout is not None
        while len(self._buffer) < count:
            data = await self.process.stdout.receive_some(1 << 16)
            if not data:
                raise EOFError
            self._buffer += data
        out = bytes(self._buffer[:count])
        del self._buffer[:count]
        return out

    async def stop(self, *, grace: float = 0.0) -> str:
        """Kill the process (after ``grace`` seconds to exit by itself), reap it, say how it ended."""
        if grace:
            with trio.move_on_after(grace):
                await self.process.wait()
        ended = self.process.returncode
        if ended is None:
            self.process.kill()
        await self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                await pipe.aclose()
        return _how_it_ended(ended)


class WorkerPool:
    """At most ``size`` workers, each started with ``command`` and sent ``init`` first."""

    def __init__(self, init: bytes, *, size: int, command: Sequence[str] = WORKER_COMMAND) -> None:
        self.init = init
        self.command = list(command)
        self._limiter = trio.CapacityLimiter(size)
        self._idle: list[Worker] = []
        self.live: set[Worker] = set()
        """Every running worker, idle or busy."""
        self.busy = 0
        self._closed = False

    async def call(self, request: bytes, *, timeout: float) -> bytes:
        """Send ``request`` to a worker and return its answer within ``timeout`` seconds."""
        async with self._limiter:
            if self._closed:
                raise WorkerFailed("the scanner is shut down")
            worker = await self._take()
            self.busy += 1
            try:
                with trio.fail_after(timeout):
                    answer = await worker.call(request)
            except BaseException as exc:
                # EOF or a broken pipe: it died; closed: the pool was shut down meanwhile
                crashed = isinstance(exc, (EOFError, trio.BrokenResourceError, trio.ClosedResourceError))
                with trio.CancelScope(shield=True):
                    ended = await self._discard(worker, grace=_EXIT_GRACE if crashed else 0.0)
                if isinstance(exc, trio.TooSlowError):
                    raise WorkerFailed(f"the scan worker did not answer within {timeout:g}s") from None
                if crashed:
                    raise WorkerFailed(f"the scan worker {ended}") from None
                raise
            finally:
                self.busy -= 1
            self._idle.append(worker)
            return answer

    async def _take(self) -> Worker:
        """An idle worker that is still running, or a new one."""
        while self._idle:
            worker = self._idle.pop()
            if worker.process.poll() is None:
                return worker
            await self._discard(worker, grace=0.0)  # it died while idle (the OOM killer...)
        return await self._start()

    async def _start(self) -> Worker:
        try:
            process = await trio.lowlevel.open_process(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        except OSError as exc:
            raise WorkerFailed(f"the scan worker could not start: {exc}") from None
        worker = Worker(process)
        self.live.add(worker)
        assert process.stdin is not None
        try:
            await process.stdin.send_all(_frame(self.init))
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                ended = await self._discard(worker, grace=_EXIT_GRACE)
            if isinstance(exc, trio.BrokenResourceError):
                raise WorkerFailed(f"the scan worker {ended} at start") from None
            raise
        return worker

    async def _discard(self, worker: Worker, *, grace: float) -> str:
        self.live.discard(worker)
        return await worker.stop(grace=grace)

    async def aclose(self) -> None:
        """Stop every worker; later calls fail."""
        self._closed = True
        self._idle.clear()
        for worker in list(self.live):
            await self._discard(worker, grace=0.0)
