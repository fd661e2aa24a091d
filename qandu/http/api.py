"""The REST API's operations: thin adapters from validated requests to :class:`ChatService`.

Every chat operation goes through ``app.chat`` (access checks, fan-out, plugins); the store
is only read for identities and, after an access check, a conversation's status history.
"""

from __future__ import annotations

from typing import Any

from qandu import assist
from qandu.auth import check_password
from qandu.domain import Conversation, Message, User
from qandu.errors import Conflict, InvalidRequest, Unauthorized
from qandu.gateway.protocol import content_from_wire
from qandu.http import schemas as s
from qandu.http.routing import Api, Call, Result
from qandu.storage import conversation_cursor
from qandu.teamwork.types import normalize_tag

api = Api()

#: Anonymous visitors are called this unless they give a name.
DEFAULT_NAME = "Visitor"

_CHAT = "chat"
_CONVERSATIONS = "conversations"
_MESSAGES = "messages"
_AUTH = "auth"
_SERVER = "server"


def _message(message: Message) -> dict[str, Any]:
    return {"message": message.to_wire()}


def _conversation(conversation: Conversation) -> dict[str, Any]:
    return {"conversation": conversation.to_wire()}


# --------------------------------------------------------------------------- chat (widget)


def conversation_page(page: list[Conversation], limit: int) -> Result:
    """A page of conversations read with ``limit + 1`` rows, and the cursor of the next one."""
    more = len(page) > limit
    page = page[:limit]
    return {
        "conversations": [c.to_wire() for c in page],
        "nextBefore": conversation_cursor(page[-1]) if more else None,
    }


@api.operation(
    "POST",
    "/api/chat/initialize",
    tag=_CHAT,
    auth=False,
    body=s.INITIALIZE_BODY,
    responses={201: ("The conversation was started.", s.INITIALIZE_RESPONSE)},
    errors=(401, 404),
)
async def initialize(call: Call) -> Result:
    """Start a conversation, as a new visitor or a known customer.

    Without identity a new anonymous customer is created (its e-mail, unverified, is kept in
    the conversation's context).  ``token`` resumes the customer of an earlier token.
    ``site`` + ``userId`` + ``userHash`` (HMAC-SHA256 hex of userId with the site's secret)
    identify a site's logged-in user: the same customer on every device.
    """
    app, body = call.app, call.body
    context = body.get("context")
    if "token" in body and "site" in body:
        raise InvalidRequest("token: give either token or site/userId/userHash, not both", field="token")
    if "site" in body:
        user = await _site_customer(call)
    elif "token" in body:
        user = await _token_customer(call, body["token"])
    else:
        user = await app.store.create_user(kind="user", role="customer", name=body.get("name", DEFAULT_NAME))
        if "email" in body:
            context = {**(context or {}), "email": body["email"]}
    conversation, greeting = await app.chat.start_conversation(
        user,
        bot_name=body.get("bot", app.default_bot),
        source=body.get("source", "api"),
        context=context,
        custom_fields=body.get("customFields"),
        locale=body.get("locale"),
    )
    return 201, {
        "token": app.auth.issue(user),
        "user": user.to_wire(),
        "conversation": conversation.to_wire(),
        "gatewayUrl": _gateway_url(call),
        "greeting": greeting.to_wire() if greeting is not None else None,
    }


async def _site_customer(call: Call) -> User:
    body, app = call.body, call.app
    external_id = app.auth.verify_site_user(body["site"], body["userId"], body["userHash"])
    name = body.get("name", DEFAULT_NAME)
    try:
        return await app.store.get_or_create_external_user(external_id, name=name, email=body.get("email"))
    except Conflict:  # the e-mail address belongs to someone else: do not take it over
        return await app.store.get_or_create_external_user(external_id, name=name)


async def _token_customer(call: Call, token: str) -> User:
    try:
        claims = call.app.auth.verify(token)
    except Unauthorized as exc:
        raise Unauthorized(exc.message, field="token") from None
    user = await call.app.store.get_user(claims.user_id)
    if user is None or user.role != "customer":
        raise Unauthorized("token is not a customer's token", field="token")
    return user


def _gateway_url(call: Call) -> str:
    endpoints = call.app.endpoints
    return endpoints.ws_url if endpoints is not None else call.app.config.server.public_ws_url


@api.operation(
    "POST",
    "/api/chat/message",
    tag=_CHAT,
    body=s.MESSAGE_BODY,
    responses={
        201: ("The message was stored.", s.MESSAGE_RESPONSE),
        200: ("A resend of an already stored clientMsgId: the stored message.", s.MESSAGE_RESPONSE),
    },
    errors=(403, 404, 409),
)
async def send_message(call: Call) -> Result:
    """Post a message to a conversation (idempotent on clientMsgId)."""
    body = call.body
    message, created = await call.app.chat.send_message(
        call.me,
        conversation_id=body["conversationId"],
        client_msg_id=body["clientMsgId"],
        content=content_from_wire(body["content"]),
        reply_to=body.get("replyTo"),
        attachment_ids=body.get("attachments", ()),
        private=body.get("private", False),
    )
    return (201 if created else 200), _message(message)


@api.operation(
    "GET",
    "/api/chat/history/{conversationId}",
    tag=_CHAT,
    query=s.HISTORY_QUERY,
    responses={200: ("A page of messages.", s.HISTORY_RESPONSE)},
    errors=(403, 404),
)
async def history(call: Call) -> Result:
    """Read a conversation's messages, a page at a time.

    Without ``before``/``after``: the newest page; ``before=nextBefore`` pages back.
    ``after=<seq>`` pages forward from a seq (``after=nextAfter`` continues), up to ``before``
    if both are given.  Messages are always in ascending seq; ``hasMore`` is about the
    paging direction.
    """
    before, after, limit = call.query.get("before"), call.query.get("after"), call.query["limit"]
    page = await call.app.chat.history(
        call.me, call.params["conversationId"], before_seq=before, after_seq=after, limit=limit + 1
    )
    has_more = len(page) > limit
    forward = after is not None
    if has_more:
        page = page[:limit] if forward else page[1:]
    return {
        "messages": [m.to_wire() for m in page],
        "hasMore": has_more,
        "nextBefore": page[0].seq if has_more and not forward else None,
        "nextAfter": page[-1].seq if has_more and forward else None,
    }


@api.operation(
    "PUT",
    "/api/chat/status/{messageId}",
    tag=_CHAT,
    body=s.RECEIPT_BODY,
    responses={200: ("The message.", s.MESSAGE_RESPONSE)},
    errors=(403, 404),
)
async def set_message_status(call: Call) -> Result:
    """Mark every message up to this one as delivered or read (for the caller)."""
    message = await call.app.chat.receipt_for_message(call.me, call.params["messageId"], call.body["status"])
    return _message(message)


# --------------------------------------------------------------------------- accounts


@api.operation(
    "POST",
    "/api/auth/login",
    tag=_AUTH,
    auth=False,
    body=s.LOGIN_BODY,
    responses={200: ("Logged in.", s.LOGIN_RESPONSE)},
    errors=(401,),
)
async def login(call: Call) -> Result:
    """Log in with e-mail and password (agents and admins)."""
    found = await call.app.store.find_login(call.body["email"])
    if found is None or not check_password(found[1], call.body["password"]):
        raise Unauthorized("wrong e-mail address or password", field="password")
    user = found[0]
    return {"token": call.app.auth.issue(user), "user": user.to_wire(), "gatewayUrl": _gateway_url(call)}


@api.operation("GET", "/api/me", tag=_AUTH, responses={200: ("The caller.", s.USER_RESPONSE)})
async def me(call: Call) -> Result:
    """Who the bearer token belongs to."""
    return {"user": call.me.to_wire()}


# --------------------------------------------------------------------------- conversations


@api.operation(
    "GET",
    "/api/conversations",
    tag=_CONVERSATIONS,
    query=s.CONVERSATIONS_QUERY,
    responses={200: ("A page of conversations, most recent activity first.", s.CONVERSATIONS_RESPONSE)},
)
async def list_conversations(call: Call) -> Result:
    """List conversations: a customer's own, or all of them for staff.

    ``assignee`` is ``me``, ``none`` (unassigned) or an agent's id; ``tag`` keeps those with that tag.
    """
    query, user = call.query, call.me
    filters: dict[str, Any] = {"limit": query["limit"] + 1}
    if "status" in query:
        filters["status"] = query["status"]
    if "before" in query:
        filters["before"] = query["before"]
    if "tag" in query:
        filters["tag"] = normalize_tag(query["tag"], "tag")
    assignee = query.get("assignee")
    if assignee == "none":
        filters["unassigned"] = True
    elif assignee is not None:
        filters["assignee_id"] = user.id if assignee == "me" else assignee
    page = await call.app.chat.list_conversations(user, **filters)
    return conversation_page(page, query["limit"])


@api.operation(
    "GET",
    "/api/conversations/{conversationId}",
    tag=_CONVERSATIONS,
    responses={200: ("The conversation; staff also get its status history.", s.CONVERSATION_DETAIL_RESPONSE)},
    errors=(403, 404),
)
async def get_conversation(call: Call) -> Result:
    """Read one conversation."""
    conversation = await call.app.chat.readable(call.me, call.params["conversationId"])
    result = _conversation(conversation)
    if call.me.is_staff:
        changes = await call.app.store.status_history(conversation.id)
        result["statusHistory"] = [change.to_wire() for change in changes]
    return result


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/join",
    tag=_CONVERSATIONS,
    responses={200: ("The conversation after joining.", s.CONVERSATION_RESPONSE)},
    errors=(403, 404, 409),
)
async def join_conversation(call: Call) -> Result:
    """Join a conversation (staff); an unowned one is assigned to the agent."""
    return _conversation(await call.app.chat.join(call.me, call.params["conversationId"]))


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/leave",
    tag=_CONVERSATIONS,
    responses={200: ("The conversation after leaving.", s.CONVERSATION_RESPONSE)},
    errors=(403, 404, 409),
)
async def leave_conversation(call: Call) -> Result:
    """Leave a conversation (staff); if the agent owned it, it goes back to the queue."""
    return _conversation(await call.app.chat.leave(call.me, call.params["conversationId"]))


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/handback",
    tag=_CONVERSATIONS,
    responses={200: ("The conversation, served by its bot again.", s.CONVERSATION_RESPONSE)},
    errors=(403, 404, 409),
)
async def handback_conversation(call: Call) -> Result:
    """Hand a conversation back to its bot (staff): no assignee, status active.

    The assigned agent (or an admin) may hand back an assigned conversation; any agent may
    hand back one that waits in the queue.  The bot answers the customer's next message.
    """
    return _conversation(await call.app.chat.handback(call.me, call.params["conversationId"]))


@api.operation(
    "GET",
    "/api/conversations/{conversationId}/suggestions",
    tag=_CONVERSATIONS,
    query=s.SUGGESTIONS_QUERY,
    responses={200: ("Suggested replies, best first.", s.SUGGESTIONS_RESPONSE)},
    errors=(403, 404),
)
async def suggest_replies(call: Call) -> Result:
    """Suggest replies to the customer's latest message (staff).

    Knowledge-base passages, response templates and, if configured, a generated draft,
    each with a score in [0, 1]; empty without an assistance plugin or customer message.
    """
    call.app.chat.require_staff(call.me)
    conversation = await call.app.chat.readable(call.me, call.params["conversationId"])
    limit = call.query["limit"]
    message, suggestions = await assist.suggest_replies(call.app.chat, conversation, limit=limit)
    return {
        "conversationId": conversation.id,
        "messageId": message.id if message is not None else None,
        "suggestions": [suggestion.to_wire() for suggestion in suggestions],
    }


@api.operation(
    "PUT",
    "/api/conversations/{conversationId}/status",
    tag=_CONVERSATIONS,
    body=s.STATUS_BODY,
    responses={200: ("The conversation after the change.", s.CONVERSATION_RESPONSE)},
    errors=(403, 404, 409),
)
async def set_conversation_status(call: Call) -> Result:
    """Change a conversation's status (customers may only resolve their own)."""
    conversation = await call.app.chat.set_status(
        call.me, call.params["conversationId"], call.body["status"], reason=call.body.get("reason")
    )
    return _conversation(conversation)


# --------------------------------------------------------------------------- messages


@api.operation(
    "PATCH",
    "/api/messages/{messageId}",
    tag=_MESSAGES,
    body=s.EDIT_BODY,
    responses={200: ("The edited message.", s.MESSAGE_RESPONSE)},
    errors=(403, 404, 409),
)
async def edit_message(call: Call) -> Result:
    """Change the text of one of your messages."""
    return _message(await call.app.chat.edit_message(call.me, call.params["messageId"], call.body["text"]))


@api.operation(
    "DELETE",
    "/api/messages/{messageId}",
    tag=_MESSAGES,
    responses={200: ("The deleted message (content cleared).", s.MESSAGE_RESPONSE)},
    errors=(403, 404),
)
async def delete_message(call: Call) -> Result:
    """Delete one of your messages (admins: any message)."""
    return _message(await call.app.chat.delete_message(call.me, call.params["messageId"]))


@api.operation(
    "POST",
    "/api/messages/{messageId}/reactions",
    tag=_MESSAGES,
    body=s.REACTION_BODY,
    responses={200: ("The message with its reactions.", s.MESSAGE_RESPONSE)},
    errors=(403, 404, 409),
)
async def add_reaction(call: Call) -> Result:
    """React to a message with an emoji."""
    message = await call.app.chat.react(call.me, call.params["messageId"], call.body["emoji"], add=True)
    return _message(message)


@api.operation(
    "DELETE",
    "/api/messages/{messageId}/reactions/{emoji}",
    tag=_MESSAGES,
    params={"emoji": s.EMOJI_SCHEMA},
    responses={200: ("The message with its reactions.", s.MESSAGE_RESPONSE)},
    errors=(403, 404),
)
async def remove_reaction(call: Call) -> Result:
    """Take back your emoji reaction (URL-encode the emoji)."""
    message = await call.app.chat.react(call.me, call.params["messageId"], call.params["emoji"], add=False)
    return _message(message)


# --------------------------------------------------------------------------- server


@api.operation(
    "GET", "/healthz", tag=_SERVER, auth=False, responses={200: ("The server is up.", s.HEALTH_RESPONSE)}
)
async def healthz(call: Call) -> Result:
    """Liveness: storage backend, fan-out and open gateway connections.

    A node whose Redis link is down still answers ``ok``: it stores and acknowledges messages,
    and its clients catch up when the link returns (``bus.connected`` tells).
    """
    connections = call.gateway.statistics().connections if call.gateway is not None else 0
    bus = call.app.bus
    fan_out = {"backend": call.app.config.bus.backend, "connected": bus.statistics().connected is not False}
    if node := getattr(bus, "node_id", None):
        fan_out["node"] = node
    return {
        "status": "ok",
        "storage": str(call.app.store.backend),
        "connections": connections,
        "bus": fan_out,
    }


@api.operation(
    "GET",
    "/api/openapi.json",
    tag=_SERVER,
    auth=False,
    responses={200: ("The OpenAPI 3.1 document of this API.", s.OPENAPI_RESPONSE)},
)
async def openapi(call: Call) -> Result:
    """This API's OpenAPI 3.1 document."""
    document: dict[str, Any] = call.request.app.state.openapi
    return document


# The routing operations (queue, claim/assign/transfer, agents, teams, inboxes) live in their
# own module and register themselves on ``api`` when imported.
import qandu.http.routing_api  # noqa: E402, F401
