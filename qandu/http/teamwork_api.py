"""Teamwork operations of the REST API: tags, canned responses, notifications, threads, CSAT, follow-ups.

Registered on the core route table (:data:`qandu.http.api.api`) when imported; each is a thin
adapter to ``app.teamwork`` (access checks live there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from qandu.errors import InvalidRequest
from qandu.http import schemas as s
from qandu.http import teamwork_schemas as ts
from qandu.http.api import api
from qandu.http.routing import Call, Result

_TAGS = "tags"
_TEAMWORK = "teamwork"
_LIFECYCLE = "lifecycle"

s.COMPONENTS.update(ts.COMPONENTS)


def parse_time(value: str, field: str, *, date_only_ok: bool = False) -> dt.datetime:
    """An ISO 8601 date-time with an offset (or, if ``date_only_ok``, a date or naive time in UTC)."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{field}: not an ISO 8601 date-time: {value[:40]!r}", field=field) from None
    if parsed.tzinfo is None:
        if not date_only_ok:
            raise InvalidRequest(f"{field}: give a time zone offset (Z or +hh:mm)", field=field)
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


# --------------------------------------------------------------------------- tags


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/tags",
    tag=_TAGS,
    body=ts.TAGS_BODY,
    responses={200: ("The conversation with its tags.", ts.CONVERSATION_RESPONSE)},
    errors=(403, 404),
)
async def add_tags(call: Call) -> Result:
    """Tag a conversation (staff); tags are normalised to lower case."""
    conversation = await call.app.teamwork.add_tags(call.me, call.params["conversationId"], call.body["tags"])
    return {"conversation": conversation.to_wire()}


@api.operation(
    "DELETE",
    "/api/conversations/{conversationId}/tags/{tag}",
    tag=_TAGS,
    params={"tag": {**ts._TAG, "description": "The tag (URL-encoded)."}},
    responses={200: ("The conversation without the tag.", ts.CONVERSATION_RESPONSE)},
    errors=(403, 404),
)
async def remove_tag(call: Call) -> Result:
    """Remove a tag (staff); automatic tagging will not add it back."""
    conversation = await call.app.teamwork.remove_tag(
        call.me, call.params["conversationId"], call.params["tag"]
    )
    return {"conversation": conversation.to_wire()}


@api.operation(
    "GET",
    "/api/tags",
    tag=_TAGS,
    query=ts.TAGS_QUERY,
    responses={200: ("Tags in use with how many conversations have them.", ts.TAGS_RESPONSE)},
    errors=(403,),
)
async def list_tags(call: Call) -> Result:
    """Tags in use, most used first; ``q`` finds tags by prefix (staff)."""
    counts = await call.app.teamwork.tag_counts(call.me, call.query.get("q", ""), call.query["limit"])
    return {"tags": [{"tag": tag, "count": count} for tag, count in counts]}


# --------------------------------------------------------------------------- canned responses


@api.operation(
    "GET",
    "/api/canned-responses",
    tag=_TEAMWORK,
    query=ts.CANNED_QUERY,
    responses={200: ("Matching canned responses by shortcut.", ts.CANNED_LIST_RESPONSE)},
    errors=(403,),
)
async def list_canned_responses(call: Call) -> Result:
    """List or search canned responses (staff); ``language`` adds the language-neutral ones."""
    found = await call.app.teamwork.canned(
        call.me, query=call.query.get("q", ""), language=call.query.get("language"), limit=call.query["limit"]
    )
    return {"cannedResponses": [c.to_wire() for c in found]}


@api.operation(
    "POST",
    "/api/canned-responses",
    tag=_TEAMWORK,
    body=ts.CANNED_BODY,
    responses={201: ("The new canned response.", ts.CANNED_RESPONSE)},
    errors=(403, 409),
)
async def create_canned_response(call: Call) -> Result:
    """Create a canned response (admins); one per shortcut and language."""
    canned = await call.app.teamwork.save_canned(call.me, None, call.body)
    return 201, {"cannedResponse": canned.to_wire()}


@api.operation(
    "PATCH",
    "/api/canned-responses/{cannedResponseId}",
    tag=_TEAMWORK,
    body=ts.CANNED_PATCH_BODY,
    responses={200: ("The changed canned response.", ts.CANNED_RESPONSE)},
    errors=(403, 404, 409),
)
async def update_canned_response(call: Call) -> Result:
    """Change a canned response's shortcut, text or language (admins)."""
    canned = await call.app.teamwork.save_canned(call.me, call.params["cannedResponseId"], call.body)
    return {"cannedResponse": canned.to_wire()}


@api.operation(
    "DELETE",
    "/api/canned-responses/{cannedResponseId}",
    tag=_TEAMWORK,
    responses={200: ("Deleted.", ts.DELETED_RESPONSE)},
    errors=(403, 404),
)
async def delete_canned_response(call: Call) -> Result:
    """Delete a canned response (admins)."""
    await call.app.teamwork.delete_canned(call.me, call.params["cannedResponseId"])
    return {"id": call.params["cannedResponseId"], "deleted": True}


# --------------------------------------------------------------------------- notifications


@api.operation(
    "GET",
    "/api/notifications",
    tag=_TEAMWORK,
    query=ts.NOTIFICATIONS_QUERY,
    responses={200: ("Your mentions and reminders, newest first.", ts.NOTIFICATIONS_RESPONSE)},
    errors=(403,),
)
async def list_notifications(call: Call) -> Result:
    """Your notifications: @mentions in private notes and follow-up reminders (staff)."""
    found, unread = await call.app.teamwork.notifications(
        call.me, unread_only=call.query["unread"], limit=call.query["limit"]
    )
    return {"notifications": [n.to_wire() for n in found], "unread": unread}


@api.operation(
    "POST",
    "/api/notifications/read",
    tag=_TEAMWORK,
    body=ts.READ_BODY,
    responses={200: ("How many notifications were newly marked read.", ts.READ_RESPONSE)},
    errors=(403,),
)
async def mark_notifications_read(call: Call) -> Result:
    """Mark notifications read: ``ids`` or ``all: true`` (staff)."""
    marked = await call.app.teamwork.mark_read(call.me, None if call.body.get("all") else call.body["ids"])
    return {"marked": marked}


# --------------------------------------------------------------------------- threads


@api.operation(
    "GET",
    "/api/messages/{messageId}/thread",
    tag="messages",
    responses={
        200: ("The thread: its first message and every reply (replyTo) below it.", ts.THREAD_RESPONSE)
    },
    errors=(403, 404),
)
async def message_thread(call: Call) -> Result:
    """The thread a message belongs to (customers do not see private notes)."""
    root, replies = await call.app.teamwork.thread(call.me, call.params["messageId"])
    return {"root": root.to_wire(), "replies": [m.to_wire() for m in replies]}


# --------------------------------------------------------------------------- satisfaction


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/csat",
    tag=_LIFECYCLE,
    body=ts.CSAT_BODY,
    responses={201: ("The answered survey.", ts.SURVEY_RESPONSE)},
    errors=(403, 404, 409),
)
async def answer_csat(call: Call) -> Result:
    """Answer the satisfaction survey (the customer; once per survey).

    Without ``surveyId`` the conversation's latest survey is answered; 409 if it was
    answered already, 404 if none was sent.
    """
    survey = await call.app.teamwork.csat.answer(
        call.me,
        call.params["conversationId"],
        rating=call.body["rating"],
        comment=call.body.get("comment"),
        survey_id=call.body.get("surveyId"),
    )
    return 201, {"survey": survey.to_wire()}


@api.operation(
    "GET",
    "/api/conversations/{conversationId}/csat",
    tag=_LIFECYCLE,
    responses={200: ("Every survey of the conversation, oldest first.", ts.SURVEYS_RESPONSE)},
    errors=(403, 404),
)
async def list_csat(call: Call) -> Result:
    """The conversation's satisfaction surveys and answers."""
    surveys = await call.app.teamwork.csat.surveys(call.me, call.params["conversationId"])
    return {"surveys": [survey.to_wire() for survey in surveys]}


# --------------------------------------------------------------------------- follow-ups


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/followups",
    tag=_LIFECYCLE,
    body=ts.FOLLOWUP_BODY,
    responses={201: ("The scheduled follow-up.", ts.FOLLOWUP_RESPONSE)},
    errors=(403, 404, 409),
)
async def schedule_followup(call: Call) -> Result:
    """Schedule a follow-up (staff): a message to the customer, posted as you, or a reminder to you.

    It fires once at ``at`` (or as soon as the server runs again after that time).
    """
    body: dict[str, Any] = call.body
    job = await call.app.teamwork.followups.schedule(
        call.me,
        call.params["conversationId"],
        at=parse_time(body["at"], "at"),
        kind=body.get("kind", "message"),
        text=body.get("text"),
    )
    return 201, {"followup": job.to_wire()}


@api.operation(
    "GET",
    "/api/conversations/{conversationId}/followups",
    tag=_LIFECYCLE,
    responses={200: ("The conversation's follow-ups by due time.", ts.FOLLOWUPS_RESPONSE)},
    errors=(403, 404),
)
async def list_followups(call: Call) -> Result:
    """The conversation's follow-ups, fired or not (staff)."""
    jobs = await call.app.teamwork.followups.of_conversation(call.me, call.params["conversationId"])
    return {"followups": [job.to_wire() for job in jobs]}


@api.operation(
    "DELETE",
    "/api/followups/{followupId}",
    tag=_LIFECYCLE,
    responses={200: ("The cancelled follow-up.", ts.FOLLOWUP_RESPONSE)},
    errors=(403, 404, 409),
)
async def cancel_followup(call: Call) -> Result:
    """Cancel a follow-up that has not fired (its author or an admin)."""
    job = await call.app.teamwork.followups.cancel(call.me, call.params["followupId"])
    return {"followup": job.to_wire()}
