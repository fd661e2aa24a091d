"""Database threads: one group-committing writer and a few readers, owned by the store.

peewee keeps one connection per thread, so the store runs its own threads instead of
``trio.to_thread`` (which reuses threads).  Jobs are plain callables run in a thread; results
travel back to trio with ``TrioToken.run_sync_soon``, never with a blocking call per job.

The writer drains everything queued (up to ``batch_cap`` jobs), runs it in one transaction,
commits once, then wakes every waiting task: a task resumes only after its job committed.
A job that raises fails alone: the batch is rolled back and replayed with a savepoint per
job, so that only the failing job's work is undone.  (Jobs run without savepoints first
because a savepoint costs two statements per job -- two network round trips on
PostgreSQL -- and failing jobs are rare.  Jobs must therefore be pure database work that may
run twice.)  If the commit fails, every job of the batch fails with :class:`CommitFailed`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import attrs
import outcome
import peewee
import trio

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


class StorageError(Exception):
    """Base class of the store's own failures (not domain errors)."""


class StoreClosed(StorageError):
    """The store is closed or closing: no new work is accepted."""


class CommitFailed(StorageError):
    """The batch transaction holding this job could not be committed; nothing was stored."""


@attrs.frozen
class LaneStatistics:
    """Writer counters: batches, jobs in them, the largest batch, batches replayed after a failed job."""

    batches: int = 0
    jobs: int = 0
    largest_batch: int = 0
    replays: int = 0


class _Replay(Exception):
    """A job failed in the optimistic pass: roll the batch back and replay it with savepoints."""


class _Job:
    __slots__ = ("abandoned", "done", "fn", "on_commit", "result")

    def __init__(self, fn: Callable[[], Any], on_commit: Callable[[Any], None] | None = None) -> None:
        self.fn = fn
        self.on_commit = on_commit
        self.done = trio.Event()
        self.result: outcome.Outcome[Any] | None = None
        self.abandoned = False


def _nothing() -> None:
    pass


def _wake(jobs: list[_Job]) -> None:
    """Runs in the trio thread: resume every task waiting on ``jobs``.

    ``on_commit`` callbacks run here first, synchronously and in commit order, so that
    what they publish (new messages) leaves in the order the database assigned.
    """
    for job in jobs:
        if job.on_commit is not None and isinstance(job.result, outcome.Value):
            try:
                job.on_commit(job.result.value)
            except Exception:
                log.exception("on_commit callback failed")
        job.done.set()


def _run(fn: Callable[[], T]) -> outcome.Outcome[T]:
    try:
        return outcome.Value(fn())
    except Exception as exc:
        return outcome.Error(exc)


class Lanes:
    """The writer thread and the reader threads of one store.

    :param database: the peewee database; each thread opens its own connection.
    :param write_transaction: returns the batch transaction context (``BEGIN IMMEDIATE`` on SQLite).
    :param setup_reader: called in each reader thread right after it connects.
    """

    def __init__(
        self,
        database: peewee.Database,
        *,
        write_transaction: Callable[[], AbstractContextManager[Any]],
        setup_reader: Callable[[], None] = _nothing,
        readers: int = 2,
        batch_cap: int = 256,
    ) -> None:
        self._db = database
        self._write_transaction = write_transaction
        self._setup_reader = setup_reader
        self._reader_count = readers
        self._batch_cap = batch_cap
        self._writes: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reads: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._token: trio.lowlevel.TrioToken | None = None
        self._accepting = False
        self._writer_done = trio.Event()
        self._readers_done = trio.Event()
        self._readers_left = 0
        self._stats = LaneStatistics()

    def statistics(self) -> LaneStatistics:
        """Return the writer's counters so far."""
        return self._stats

    # -- trio side ---------------------------------------------------------------------------

    async def start(self, startup: Callable[[], None]) -> None:
        """Start the threads; ``startup`` (migrations) runs first in the writer thread."""
        self._token = trio.lowlevel.current_trio_token()
        started = _Job(startup)
        self._spawn("qandu-db-writer", self._writer_main, started)
        with trio.CancelScope(shield=True):
            await started.done.wait()
        assert started.result is not None
        if isinstance(started.result, outcome.Error):
            await self._writer_done.wait()
            started.result.unwrap()
        self._readers_left = self._reader_count
        for index in range(self._reader_count):
            self._spawn(f"qandu-db-reader-{index}", self._reader_main)
        self._accepting = True

    async def write(self, fn: Callable[[], T], *, on_commit: Callable[[T], None] | None = None) -> T:
        """Run ``fn`` in the writer's next batch; return once that batch committed.

        ``on_commit(result)`` runs in the trio thread right after the commit, in commit
        order across all jobs, before any waiting task resumes.

        The wait is shielded: a cancelled caller still learns nothing false, and the job is
        committed or failed exactly as if the caller had waited.
        """
        job = self._submit(self._writes, fn, on_commit)
        with trio.CancelScope(shield=True):
            await job.done.wait()
        return job.result.unwrap()  # type: ignore[union-attr]

    async def read(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a reader thread (one transaction, a consistent snapshot)."""
        job = self._submit(self._reads, fn)
        try:
            await job.done.wait()
        except trio.Cancelled:
            job.abandoned = True  # a reader skips it if it has not started yet
            raise
        return job.result.unwrap()  # type: ignore[union-attr]

    async def aclose(self) -> None:
        """Stop accepting work, commit everything queued, then stop and disconnect every thread."""
        if not self._accepting:
            return
        self._accepting = False
        with trio.CancelScope(shield=True):
            self._writes.put(_STOP)
            await self._writer_done.wait()
            for _ in range(self._reader_count):
                self._reads.put(_STOP)
            await self._readers_done.wait()

    def _submit(
        self,
        lane: queue.SimpleQueue[Any],
        fn: Callable[[], Any],
        on_commit: Callable[[Any], None] | None = None,
    ) -> _Job:
        if not self._accepting:
            raise StoreClosed("the store is not open")
        job = _Job(fn, on_commit)
        lane.put(job)
        return job

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        threading.Thread(target=target, args=args, name=name, daemon=True).start()

    def _notify(self, fn: Callable[[], None]) -> None:
        """From a database thread: run ``fn`` in the trio thread soon."""
        assert self._token is not None
        with contextlib.suppress(trio.RunFinishedError):  # the run ended without closing the store
            self._token.run_sync_soon(fn)

    def _reader_exited(self) -> None:
        self._readers_left -= 1
        if self._readers_left == 0:
            self._readers_done.set()

    # -- writer thread -----------------------------------------------------------------------

    def _writer_main(self, started: _Job) -> None:
        try:
            started.result = _run(started.fn)  # connects on first use
            self._notify(functools.partial(_wake, [started]))
            if isinstance(started.result, outcome.Value):
                while self._write_one_batch():
                    pass
        finally:
            self._disconnect()
            self._notify(self._writer_done.set)

    def _write_one_batch(self) -> bool:
        """Wait for jobs, commit one batch; return False once told to stop."""
        batch, more = self._take_batch()
        if batch:
            self._commit(batch)
            self._notify(functools.partial(_wake, batch))
        return more

    def _take_batch(self) -> tuple[list[_Job], bool]:
        first = self._writes.get()
        if first is _STOP:
            return [], False
        batch = [first]
        while len(batch) < self._batch_cap:
            try:
                job = self._writes.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return batch, False
            batch.append(job)
        return batch, True

    def _commit(self, batch: list[_Job]) -> None:
        replayed = False
        try:
            self._connect(_nothing)
            try:
                with self._write_transaction():
                    self._run_optimistically(batch)
            except _Replay:  # rolled back: isolate each job in a savepoint this time
                replayed = True
                with self._write_transaction():
                    for job in batch:
                        job.result = self._savepointed(job.fn)
        except Exception as exc:
            log.exception("group commit of %d jobs failed", len(batch))
            self._disconnect()  # the next batch starts on a fresh connection
            for job in batch:
                job.result = outcome.Error(self._commit_failed(exc))
        stats = self._stats
        self._stats = LaneStatistics(
            batches=stats.batches + 1,
            jobs=stats.jobs + len(batch),
            largest_batch=max(stats.largest_batch, len(batch)),
            replays=stats.replays + replayed,
        )

    def _run_optimistically(self, batch: list[_Job]) -> None:
        for job in batch:
            job.result = _run(job.fn)
            if isinstance(job.result, outcome.Error):
                raise _Replay

    def _savepointed(self, fn: Callable[[], T]) -> outcome.Outcome[T]:
        """Run one job inside a savepoint; on error undo only that job.

        A fixed savepoint name is fine (each is released before the next job), and cheaper
        than peewee's nested ``atomic()``, which names each savepoint with a fresh uuid.
        Jobs may still nest ``atomic()`` blocks of their own.
        """
        execute = self._db.execute_sql
        execute("SAVEPOINT qandu_job")
        try:
            result = outcome.Value(fn())
        except Exception as exc:
            execute("ROLLBACK TO SAVEPOINT qandu_job")
            result = outcome.Error(exc)
        execute("RELEASE SAVEPOINT qandu_job")
        return result

    @staticmethod
    def _commit_failed(exc: Exception) -> CommitFailed:
        error = CommitFailed(f"transaction failed, nothing stored: {exc}")
        error.__cause__ = exc
        return error

    # -- reader threads ----------------------------------------------------------------------

    def _reader_main(self) -> None:
        try:
            while (job := self._reads.get()) is not _STOP:
                if not job.abandoned:
                    self._read_one(job)
        finally:
            self._disconnect()
            self._notify(self._reader_exited)

    def _read_one(self, job: _Job) -> None:
        def in_snapshot() -> Any:
            self._connect(self._setup_reader)
            with self._db.atomic():
                return job.fn()

        job.result = _run(in_snapshot)
        if isinstance(job.result, outcome.Error) and _is_connection_error(job.result.error):
            self._disconnect()  # reconnect for the next job
        self._notify(job.done.set)

    # -- both --------------------------------------------------------------------------------

    def _connect(self, setup: Callable[[], None]) -> None:
        if self._db.connect(reuse_if_open=True):
            setup()

    def _disconnect(self) -> None:
        """Close this thread's connection, even a broken one or one inside a transaction."""
        if self._db.is_closed():
            return
        with _quietly():
            self._db.connection().close()
        self._db.dispose()


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, peewee.OperationalError | peewee.InterfaceError)


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    try:
        yield
    except Exception:
        log.debug("ignored while disconnecting", exc_info=True)
