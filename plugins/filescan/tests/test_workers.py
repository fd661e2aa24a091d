"""YARA runs in worker processes: reused, bounded, and killed when they crash, hang or are cancelled.

Hangs and crashes are real: the worker process is stopped with SIGSTOP (it then answers
nothing, as a scan stuck in libyara would) or killed with SIGSEGV while it holds a request.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from qandu.files import testing as samples
from qandu.testing import until
from qandu_filescan.engines import ScanError, YaraScanner, rule_files
from qandu_filescan.pool import WorkerFailed, WorkerPool

TIMEOUT = 20


@pytest.fixture
async def yara() -> AsyncIterator[YaraScanner]:
    scanner = YaraScanner(rule_files(True, None), timeout=30, workers=1)
    try:
        yield scanner
    finally:
        await scanner.aclose()


@pytest.fixture
def eicar(tmp_path: Path) -> Path:
    path = tmp_path / "eicar.txt"
    path.write_bytes(samples.EICAR)
    return path


async def scan(yara: YaraScanner, path: Path) -> list[str]:
    found = await yara.scan(path, filename=path.name, extension="txt", mime_type="text/plain")
    return [match.rule for match in found]


def pids(yara: YaraScanner) -> list[int]:
    assert yara.pool is not None
    return sorted(worker.pid for worker in yara.pool.live)


def running(pid: int) -> bool:
    """Whether ``pid`` is still a process (a reaped child is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def busy(yara: YaraScanner) -> bool:
    assert yara.pool is not None
    return yara.pool.busy > 0


async def test_scans_run_in_a_worker_process_that_is_reused(yara: YaraScanner, eicar: Path) -> None:
    with trio.fail_after(TIMEOUT):
        assert await scan(yara, eicar) == ["eicar_test_file"]
        (pid,) = pids(yara)
        assert pid != os.getpid()
        assert b"worker.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert await scan(yara, eicar) == ["eicar_test_file"]
        assert pids(yara) == [pid]
        await yara.aclose()
        assert pids(yara) == [] and not running(pid)
        with pytest.raises(ScanError, match="shut down"):
            await scan(yara, eicar)


async def test_no_more_workers_than_the_pool_size(yara: YaraScanner, eicar: Path) -> None:
    with trio.fail_after(TIMEOUT):
        await scan(yara, eicar)
        (pid,) = pids(yara)
        os.kill(pid, signal.SIGSTOP)
        results: list[list[str]] = []

        async def one() -> None:
            results.append(await scan(yara, eicar))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one)
            nursery.start_soon(one)
            await until(lambda: busy(yara))
            await trio.testing.wait_all_tasks_blocked()
            assert pids(yara) == [pid]  # the second scan waits for the only worker
            os.kill(pid, signal.SIGCONT)
        assert results == [["eicar_test_file"]] * 2 and pids(yara) == [pid]


async def test_a_worker_that_crashes_mid_scan_is_an_error_and_is_replaced(
    yara: YaraScanner, eicar: Path
) -> None:
    with trio.fail_after(TIMEOUT):
        await scan(yara, eicar)
        (pid,) = pids(yara)
        os.kill(pid, signal.SIGSTOP)
        async with trio.open_nursery() as nursery:
            failure: list[str] = []

            async def doomed() -> None:
                with pytest.raises(ScanError) as caught:
                    await scan(yara, eicar)
                failure.append(str(caught.value))

            nursery.start_soon(doomed)
            await until(lambda: busy(yara))  # the request is in the worker's pipe
            os.kill(pid, signal.SIGSEGV)
            os.kill(pid, signal.SIGCONT)
        assert failure == ["YARA scan failed: the scan worker crashed (SIGSEGV)"]
        assert not running(pid)
        assert await scan(yara, eicar) == ["eicar_test_file"]
        assert pids(yara) != [pid]


async def test_a_silent_worker_is_killed_after_its_timeout(tmp_path: Path, eicar: Path) -> None:
    yara = YaraScanner(rule_files(True, None), timeout=1, workers=1)
    try:
        with trio.fail_after(TIMEOUT):
            await scan(yara, eicar)
            (pid,) = pids(yara)
            os.kill(pid, signal.SIGSTOP)
            with pytest.raises(ScanError, match=r"the scan worker did not answer within 3s"):
                await scan(yara, eicar)
            assert not running(pid) and pids(yara) == []
    finally:
        await yara.aclose()


async def test_a_cancelled_scan_kills_its_worker(yara: YaraScanner, eicar: Path) -> None:
    with trio.fail_after(TIMEOUT):
        await scan(yara, eicar)
        (pid,) = pids(yara)
        os.kill(pid, signal.SIGSTOP)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(scan, yara, eicar)
            await until(lambda: busy(yara))
            nursery.cancel_scope.cancel()
        assert not running(pid) and pids(yara) == []
        assert await scan(yara, eicar) == ["eicar_test_file"]


async def test_a_worker_that_dies_at_start_is_reported() -> None:
    pool = WorkerPool(b"", size=1, command=[sys.executable, "-c", "import sys; sys.exit(3)"])
    with trio.fail_after(TIMEOUT):
        with pytest.raises(WorkerFailed, match="exited with code 3"):
            await pool.call(b"{}", timeout=10)
        assert pool.live == set()
        await pool.aclose()


async def test_a_worker_that_died_while_idle_is_replaced_before_use(yara: YaraScanner, eicar: Path) -> None:
    with trio.fail_after(TIMEOUT):
        await scan(yara, eicar)
        (pid,) = pids(yara)
        os.kill(pid, signal.SIGKILL)
        assert yara.pool is not None
        (worker,) = yara.pool.live
        await worker.process.wait()
        assert await scan(yara, eicar) == ["eicar_test_file"]
        assert pids(yara) != [pid]
