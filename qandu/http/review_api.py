"""Review operations of the REST API: the admins' filtered list, full-text search, export, /metrics."""

from __future__ import annotations

import csv
import hmac
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from qandu.errors import Forbidden, NotFound, Unauthorized
from qandu.http import teamwork_schemas as ts
from qandu.http.api import api, conversation_page
from qandu.http.routing import Call, Result
from qandu.http.teamwork_api import parse_time
from qandu.metrics import CONTENT_TYPE
from qandu.storage import conversation_cursor, review, search
from qandu.storage.review import ReviewFilter
from qandu.teamwork.types import normalize_tag

_REVIEW = "review"
_SERVER = "server"
EXPORT_PAGE = 100
CSV_COLUMNS = (
    "conversationId",
    "status",
    "priority",
    "tags",
    "bot",
    "assigneeId",
    "teamId",
    "startedAt",
    "messageId",
    "seq",
    "timestamp",
    "senderType",
    "senderId",
    "senderName",
    "private",
    "contentType",
    "text",
    "replyTo",
)


def _require_admin(call: Call) -> None:
    if call.me.role != "admin":
        raise Forbidden("only admins may review and export every conversation")


def review_filter(query: dict[str, Any]) -> ReviewFilter:
    """The filter of a review or export query string."""
    tags = [normalize_tag(tag, "tag") for tag in query.get("tag", "").split(",") if tag.strip()]
    return ReviewFilter(
        status=query.get("status"),
        tags=tuple(dict.fromkeys(tags)),
        agent_id=query.get("agent"),
        team_id=query.get("team"),
        priority=query.get("priority"),
        since=parse_time(query["from"], "from", date_only_ok=True) if "from" in query else None,
        until=parse_time(query["to"], "to", date_only_ok=True) if "to" in query else None,
        csat_min=query.get("csatMin"),
        csat_max=query.get("csatMax"),
        intent=query.get("intent"),
        sentiment=query.get("sentiment"),
    )


@api.operation(
    "GET",
    "/api/review/conversations",
    tag=_REVIEW,
    query=ts.REVIEW_QUERY,
    responses={200: ("A page of matching conversations, most recent activity first.", ts.REVIEW_RESPONSE)},
    errors=(403,),
)
async def review_conversations(call: Call) -> Result:
    """List any conversation by status, tag, agent, team, priority, date, CSAT, intent, sentiment (admins).

    ``intent`` and ``sentiment`` keep conversations with a message the NLU analysed that way
    (its stored annotations).
    """
    _require_admin(call)
    limit = call.query["limit"]
    page = await call.app.store.run_read(
        review.review_conversations,
        review_filter(call.query),
        limit=limit + 1,
        before=call.query.get("before"),
    )
    return conversation_page(page, limit)


@api.operation(
    "GET",
    "/api/search",
    tag=_REVIEW,
    query=ts.SEARCH_QUERY,
    responses={200: ("Messages containing every word, newest first.", ts.SEARCH_RESPONSE)},
    errors=(403, 404),
)
async def search_messages(call: Call) -> Result:
    """Full-text search of messages: staff search everything, customers their own conversations.

    Words match whole words or word beginnings (``refund`` finds "refunded"); every word must occur.
    """
    user, query = call.me, call.query
    if "conversationId" in query:
        await call.app.chat.readable(user, query["conversationId"])
    limit = query["limit"]
    found = await call.app.store.run_read(
        search.search_messages,
        query["q"],
        participant_id=None if user.is_staff else user.id,
        conversation_id=query.get("conversationId"),
        include_private=user.is_staff,
        limit=limit + 1,
        before=query.get("before"),
    )
    more = len(found) > limit
    found = found[:limit]
    return {
        "messages": [m.to_wire() for m in found],
        "nextBefore": search.search_cursor(found[-1]) if more else None,
    }


@api.operation(
    "GET",
    "/api/export",
    tag=_REVIEW,
    query=ts.EXPORT_QUERY,
    responses={},
    raw_responses={200: ("The matching conversations, streamed.", ts.EXPORT_CONTENT)},
    errors=(403,),
)
async def export_conversations(call: Call) -> Result:
    """Export conversations with their messages, private notes and status history (admins).

    ``format=json``: an array of ``{conversation, statusHistory, messages}``; ``format=csv``:
    one row per message with its conversation's columns.  Takes the review filters.
    """
    _require_admin(call)
    where = review_filter(call.query)
    pages = _export_pages(call, where, call.query["limit"])
    if call.query["format"] == "csv":
        return StreamingResponse(
            _csv(pages), media_type="text/csv; charset=utf-8", headers=_attachment("conversations.csv")
        )
    return StreamingResponse(
        _json(pages), media_type="application/json", headers=_attachment("conversations.json")
    )


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


async def _export_pages(call: Call, where: ReviewFilter, limit: int) -> AsyncIterator[list[Any]]:
    before = None
    left = limit
    while left > 0:
        size = min(EXPORT_PAGE, left)
        page = await call.app.store.run_read(review.export_page, where, limit=size, before=before)
        if page:
            yield page
        if len(page) < size:
            return
        left -= len(page)
        before = conversation_cursor(page[-1][0])


async def _json(pages: AsyncIterator[list[Any]]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for page in pages:
        for conversation, messages, history in page:
            item = {
                "conversation": conversation.to_wire(),
                "statusHistory": [change.to_wire() for change in history],
                "messages": [message.to_wire() for message in messages],
            }
            yield (b"" if first else b",") + orjson.dumps(item)
            first = False
    yield b"]"


async def _csv(pages: AsyncIterator[list[Any]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for page in pages:
        for conversation, messages, _history in page:
            wire = conversation.to_wire()
            for message in messages:
                writer.writerow(_csv_row(wire, message.to_wire()))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _csv_row(conversation: dict[str, Any], message: dict[str, Any]) -> list[Any]:
    content, sender = message["content"], message["sender"]
    return [
        conversation["id"],
        conversation["status"],
        conversation["priority"],
        ";".join(conversation["tags"]),
        conversation["bot"] or "",
        conversation["assigneeId"] or "",
        conversation.get("teamId") or "",
        conversation["startedAt"],
        message["id"],
        message["seq"],
        message["timestamp"],
        sender["type"],
        sender["id"],
        sender["name"],
        "true" if message.get("private") else "false",
        content["type"],
        content.get("text") or "",
        message.get("replyTo") or "",
    ]


@api.operation(
    "GET",
    "/metrics",
    tag=_SERVER,
    auth=False,
    query=ts.METRICS_QUERY,
    responses={},
    raw_responses={200: ("Operational metrics in the Prometheus text format.", ts.METRICS_CONTENT)},
    errors=(401, 404),
)
async def metrics(call: Call) -> Result:
    """Prometheus metrics: connections, messages, latency, pipeline, plugin failures, storage.

    Off with ``[metrics] enabled = false``; with ``[metrics] token`` set, scrapers send
    ``Authorization: Bearer <token>``.
    """
    config = call.app.config.metrics
    if not config.enabled:
        raise NotFound("metrics are turned off ([metrics] enabled = false)")
    if config.token:
        sent = call.request.headers.get("authorization", "").partition(" ")[2].strip()
        if not hmac.compare_digest(sent.encode(), config.token.encode()):
            raise Unauthorized("this server's /metrics needs Authorization: Bearer <[metrics] token>")
    metrics_ = call.app.chat.metrics
    metrics_.attach(call.app, call.gateway)
    return Response(metrics_.render(), media_type=CONTENT_TYPE)
