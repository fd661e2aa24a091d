"""What the agent console needs beside the core operations: a customer's conversations and
the caller's unread counts.

Registered on the core route table (:data:`qandu.http.api.api`) when this module is imported.
"""

from __future__ import annotations

from typing import Any

from qandu.errors import NotFound
from qandu.http import schemas as s
from qandu.http.api import api, conversation_page
from qandu.http.routing import Call, Result
from qandu.schemas import object_schema
from qandu.storage.unread import unread_counts

_CONVERSATIONS = "conversations"

CUSTOMER_CONVERSATIONS_QUERY: dict[str, Any] = object_schema(
    {
        "limit": {**s._LIMIT, "default": 20},
        "before": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "description": "The nextBefore cursor of the previous page.",
        },
    },
    [],
)

UNREAD_QUERY: dict[str, Any] = object_schema({"limit": {**s._LIMIT, "default": 100}}, [])

_COUNT = {"type": "integer", "minimum": 0}
UNREAD_RESPONSE = s._closed(
    {
        "conversations": {
            "type": "array",
            "description": "Conversations with unread messages, most recent activity first.",
            "items": s._closed(
                {
                    "conversationId": {"type": "string"},
                    "readSeq": {**_COUNT, "description": "Your read mark: every message up to it is read."},
                    "lastSeq": {**_COUNT, "description": "The conversation's last seq."},
                    "unread": {
                        **_COUNT,
                        "description": "Messages after your read mark written by someone else "
                        "(not system notices, not deleted ones).",
                    },
                },
                ["conversationId", "readSeq", "lastSeq", "unread"],
            ),
        }
    },
    ["conversations"],
)


@api.operation(
    "GET",
    "/api/customers/{customerId}/conversations",
    tag=_CONVERSATIONS,
    query=CUSTOMER_CONVERSATIONS_QUERY,
    responses={200: ("The customer's conversations, most recent activity first.", s.CONVERSATIONS_RESPONSE)},
    errors=(403, 404),
)
async def customer_conversations(call: Call) -> Result:
    """A customer's conversations, the current one included (staff): their history with you."""
    call.app.chat.require_staff(call.me)
    customer_id = call.params["customerId"]
    customer = await call.app.store.get_user(customer_id)
    if customer is None or customer.role != "customer":
        raise NotFound(f"no customer {customer_id}", field="customerId")
    limit = call.query["limit"]
    page = await call.app.store.list_conversations(
        participant_id=customer_id, limit=limit + 1, before=call.query.get("before")
    )
    return conversation_page(page, limit)


@api.operation(
    "GET",
    "/api/me/unread",
    tag=_CONVERSATIONS,
    query=UNREAD_QUERY,
    responses={200: ("Your unread counts.", UNREAD_RESPONSE)},
)
async def my_unread(call: Call) -> Result:
    """Unread messages in the conversations you take part in (not archived), from your read mark.

    Your read mark is what you sent as ``read`` receipts; customers do not count private notes.
    """
    found = await call.app.store.run_read(
        unread_counts, call.me.id, include_private=call.me.is_staff, limit=call.query["limit"]
    )
    return {"conversations": [unread.to_wire() for unread in found]}
