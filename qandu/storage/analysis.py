"""A message's analysis in one transaction: its annotations, the context the analysers changed
and the automatic tags it earned.

The post-store pipeline used to write these in three jobs, one after another (the NLU's
context, then the annotations, then the tags): three commits per customer message, two of
them on the way to the bot's reply.  One job makes them one commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qandu.domain import Conversation
from qandu.storage.annotations import save_annotations
from qandu.storage.conversations import locked_fields, merged_context, require_conversation, touch
from qandu.storage.models import Db
from qandu.storage.tags import AUTO, insert_tags


def save_analysis(
    db: Db,
    message_id: str,
    conversation_id: str,
    *,
    annotations: dict[str, Any],
    context: dict[str, Any],
    tags: Sequence[str],
) -> tuple[Conversation, list[str]]:
    """Store the annotations of ``message_id`` (if any), merge ``context`` into the
    conversation's context (a ``None`` value removes its key) and add ``tags`` as automatic tags.

    :returns: the conversation afterwards and the tags that were new (an automatic tag never
        revives one an agent removed).
    """
    if annotations:
        save_annotations(db, message_id, annotations)
    changes: dict[str, Any] = {}
    if context or tags:
        stored = locked_fields(db, conversation_id, "context", "tags")
        if context:
            changes["context"] = merged_context(stored["context"], context)
    added = insert_tags(db, conversation_id, tags, source=AUTO, by=None) if tags else []
    if added:
        changes["tags"] = list(dict.fromkeys([*stored["tags"], *added]))
    if changes:
        touch(db, conversation_id, **changes)
    return require_conversation(db, conversation_id), added
