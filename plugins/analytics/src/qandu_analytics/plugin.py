"""The analytics plugin: records events off the message path and serves ``GET /api/analytics``."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import trio

from qandu import Service, hookimpl
from qandu.cluster import Lease, LeaseLost
from qandu.domain import Conversation, Message, iso
from qandu.errors import Forbidden, InvalidRequest
from qandu.events import Event
from qandu.http.routing import Call, Operation, Result
from qandu.http.teamwork_api import parse_time
from qandu.schemas import ID_SCHEMA, object_schema
from qandu.storage import StorageError
from qandu_analytics import queries
from qandu_analytics.config import AnalyticsConfig
from qandu_analytics.recorder import EventRecord, MessageRecord, Record, apply_batch, epoch, prune_events
from qandu_analytics.schema import MIGRATIONS

log = logging.getLogger("qandu_analytics")

PRUNE_EVERY = 3600.0

QUERY = object_schema(
    {
        "from": {
            "type": "string",
            "minLength": 10,
            "maxLength": 40,
            "description": "Start (ISO 8601, UTC by default).",
        },
        "to": {
            "type": "string",
            "minLength": 10,
            "maxLength": 40,
            "description": "End, exclusive (default: now).",
        },
        "bucket": {"enum": ["hour", "day"], "default": "day", "description": "Series resolution."},
        "agentId": {**ID_SCHEMA, "description": "Only this agent's conversations."},
        "teamId": {**ID_SCHEMA, "description": "Only this team's conversations."},
    },
    [],
)


def _time(value: str, field: str) -> float:
    return parse_time(value, field, date_only_ok=True).timestamp()


def _sentiment(annotations: dict[str, Any]) -> tuple[float | None, str | None]:
    sentiment = annotations.get("sentiment")
    if not isinstance(sentiment, dict) or not isinstance(sentiment.get("score"), int | float):
        return None, None
    label = sentiment.get("label")
    return float(sentiment["score"]), label if isinstance(label, str) else None


def _intent(annotations: dict[str, Any]) -> str | None:
    intent = annotations.get("intent")
    name = intent.get("name") if isinstance(intent, dict) else intent
    return name if isinstance(name, str) else None


class Analytics:
    """Durable conversation analytics for the dashboard (``GET /api/analytics``)."""

    Config = AnalyticsConfig
    requires = ()

    def __init__(self, config: AnalyticsConfig) -> None:
        self.config = config
        self.app: Any = None
        self._pending: list[Record] = []
        self._wake = trio.Event()
        self._lock = trio.Lock()
        self.written = 0
        self.dropped = 0
        self.overflowed = 0
        """Records refused because ``max_pending`` were buffered (the writer kept failing)."""
        self._room = True
        self.pruned = 0

    # -- recording (hooks: append only) ------------------------------------------------------

    def _record(self, record: Record) -> None:
        """Buffer a record for the writer: no I/O and no waiting, so that the hooks never
        suspend (no cancel scope for them) and analytics never holds up the chat.  With
        ``max_pending`` records buffered (the writer has been failing that long), new ones are
        dropped and counted (``overflowed``), with one warning per episode."""
        if len(self._pending) >= self.config.max_pending:
            if self._room:
                log.warning("analytics is %d records behind; dropping new ones", len(self._pending))
                self._room = False
            self.overflowed += 1
            return
        self._room = True
        self._pending.append(record)
        if len(self._pending) >= self.config.batch_size:
            self._wake.set()

    @hookimpl
    async def qandu_event(self, event: Event) -> None:
        self._record(EventRecord(event.name, event.conversation_id, epoch(event.at), dict(event.data)))

    @hookimpl
    async def qandu_message_stored(
        self, message: Message, conversation: Conversation, annotations: dict[str, Any]
    ) -> None:
        sender = message.sender.type
        if sender not in ("user", "agent"):
            return
        score, label = _sentiment(annotations) if sender == "user" else (None, None)
        self._record(
            MessageRecord(
                conversation_id=message.conversation_id,
                at=epoch(message.timestamp),
                sender=sender,
                sender_id=message.sender.id,
                intent=_intent(annotations) if sender == "user" else None,
                sentiment=score,
                sentiment_label=label,
            )
        )

    # -- writing -----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write what is buffered now, a batch per transaction; return how many records were written.

        A batch that fails to commit stays buffered (at the front) for the next attempt.
        """
        async with self._lock:
            target, written = len(self._pending), 0
            while written < target and self._pending:
                chunk = self._pending[: min(self.config.batch_size, target - written)]
                await self._write(chunk)
                del self._pending[: len(chunk)]
                written += len(chunk)
                self.written += len(chunk)
            return written

    async def _write(self, chunk: list[Record]) -> None:
        """Write a batch; if a record in it cannot be written, write the others and drop that one.

        Storage failures (the database is away) propagate: the batch stays buffered.
        """
        try:
            await self.app.store.run_write(apply_batch, chunk)
        except StorageError:
            raise
        except Exception:
            for record in chunk:
                try:
                    await self.app.store.run_write(apply_batch, [record])
                except StorageError:
                    raise
                except Exception:
                    self.dropped += 1
                    log.exception("analytics record dropped, it cannot be written: %r", record)

    @hookimpl
    async def qandu_startup(self, app: Any) -> None:
        self.app = app
        await app.store.migrate_plugin("analytics", MIGRATIONS)

    @hookimpl
    def qandu_register_services(self, app: Any) -> list[Service]:
        # Every node writes the events it saw; one node of the cluster prunes the raw log.
        return [Service("analytics", self._run), Service("analytics-retention", self._prune, singleton=True)]

    async def _run(self, app: Any, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write buffered events every ``flush_interval`` (sooner when a batch is full)."""
        task_status.started()
        while True:
            with trio.move_on_after(self.config.flush_interval):
                await self._wake.wait()
            self._wake = trio.Event()
            try:
                await self.flush()
            except Exception:
                log.exception("writing analytics failed; keeping the events and retrying")

    async def _prune(
        self, app: Any, *, lease: Lease, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Drop raw log entries older than ``event_log_days``, hourly (a singleton: one node does it).

        The first prune waits one ``flush_interval``, like the first write.
        """
        task_status.started()
        await trio.sleep(self.config.flush_interval)
        while True:
            horizon = time.time() - self.config.event_log_days * 86400
            try:
                self.pruned += await lease.write(prune_events, horizon)
            except LeaseLost:
                raise
            except Exception:
                log.exception("pruning the analytics event log failed; retrying later")
            await trio.sleep(PRUNE_EVERY)

    @hookimpl
    async def qandu_shutdown(self, app: Any) -> None:
        """Write what the pipeline recorded while the server drained (the store is still open)."""
        await self.flush()

    # -- the API -----------------------------------------------------------------------------

    @hookimpl
    def qandu_register_routes(self, app: Any) -> list[Any]:
        operation = Operation(
            method="GET",
            path="/api/analytics",
            handler=self.get_analytics,
            tag="analytics",
            query=QUERY,
            responses={200: ("Dashboard figures for the range.", {"type": "object"})},
            errors=(403,),
        )
        return [operation.route(app, None)]

    async def get_analytics(self, call: Call) -> Result:
        """Dashboard figures: volume, response and resolution times, CSAT, containment, intents (staff)."""
        if not call.me.is_staff:
            raise Forbidden("only agents and admins see analytics")
        query = call.query
        end = _time(query["to"], "to") if "to" in query else time.time()
        start = _time(query["from"], "from") if "from" in query else end - 7 * 86400
        if start >= end:
            raise InvalidRequest("from: must be before to", field="from")
        if end - start > self.config.max_range_days * 86400:
            raise InvalidRequest(
                f"from: the range is longer than {self.config.max_range_days} days", field="from"
            )
        await self.flush()
        figures = await call.app.store.run_read(
            queries.summary, start, end, query["bucket"], agent=query.get("agentId"), team=query.get("teamId")
        )
        return await self._render(call, figures)

    async def _render(self, call: Call, figures: dict[str, Any]) -> dict[str, Any]:
        def stamp(seconds: float) -> str | None:
            return iso(dt.datetime.fromtimestamp(seconds, dt.UTC))

        figures["from"], figures["to"] = stamp(figures["from"]), stamp(figures["to"])
        for point in figures["series"]:
            point["start"] = stamp(point["start"])
        names = await call.app.store.get_users([a["agentId"] for a in figures["agents"]])
        for agent in figures["agents"]:
            user = names.get(agent["agentId"])
            agent["name"] = user.name if user is not None else None
        return figures
