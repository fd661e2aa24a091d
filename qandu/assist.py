"""Bot assistance: actions (automated tasks) and reply suggestions for agents.

The types here are what plugins exchange through ``qandu_register_actions``,
``qandu_run_action`` and ``qandu_suggest_replies``; :func:`suggest_replies` and
:func:`push_suggestions` are how the core asks for suggestions (HTTP API and gateway).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import attrs

from qandu.analysis import analyse
from qandu.bus import conversation_topic
from qandu.gateway.protocol import suggestions_frame

if TYPE_CHECKING:
    from qandu.chat import ChatService
    from qandu.domain import Conversation, Message

log = logging.getLogger("qandu.assist")

SuggestionSource = Literal["knowledge", "template", "llm", "action"]

#: How many recent messages ``qandu_suggest_replies`` sees.
SUGGESTION_CONTEXT = 20
#: Suggestions pushed to agents after each customer message.
PUSHED_SUGGESTIONS = 3


@attrs.frozen
class ActionArg:
    """One argument of an action: a slot (``order_number``) filled from the message or context."""

    name: str
    description: str = ""
    required: bool = True
    pattern: str | None = None
    """A regular expression that finds the value in free text (used without NLU entities)."""
    only_when_asked: bool = False
    """Filled only by the customer's answer after the action asked for it (``ActionResult.ask``),
    never from the conversation's context, earlier messages or a slash command's words: a
    confirmation ("yes") must answer the question it confirms.  Leave such arguments optional."""


@attrs.frozen
class Action:
    """An automated task the bot can run, for an intent or a slash command.

    :ivar name: Unique name, passed back to ``qandu_run_action``.
    :ivar intents: Intents that run it (when its required arguments are known).
    :ivar command: Slash command without the slash (``order`` for ``/order NL-48213``);
        its words fill ``args`` in order.
    :ivar ask_missing: When an intent triggers it and a required argument is unknown, ask
        the customer for it instead of answering otherwise.
    """

    name: str
    description: str
    intents: tuple[str, ...] = ()
    command: str | None = None
    args: tuple[ActionArg, ...] = ()
    ask_missing: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "intents": list(self.intents),
            "command": self.command,
            "args": [attrs.asdict(arg) for arg in self.args],
        }


@attrs.frozen
class ActionResult:
    """What an action did.  The reply is ``text``, or ``template`` rendered with ``slots``.

    :ivar template: A key of the bot's response templates (``order_status.found``),
        rendered in the customer's language.
    :ivar data: Structured result, kept in the reply's metadata (for agents and widgets).
    :ivar ask: The argument the action still needs: the bot asks (with ``text``/``template``)
        and runs the action again once the customer answered.
    :ivar handoff: Pass the conversation to a person after replying.
    """

    text: str | None = None
    template: str | None = None
    slots: dict[str, Any] = attrs.Factory(dict)
    data: dict[str, Any] | None = None
    ask: str | None = None
    handoff: bool = False


@attrs.frozen
class Suggestion:
    """A reply an agent might send, with a score in [0, 1] (higher is better).

    :ivar source: ``knowledge`` (a passage), ``template`` (a response template), ``llm``
        (a generated draft) or ``action`` (an action's result).
    :ivar reference: What it came from: a passage id (``shipping#germany``), ``intent:<name>``...
    """

    text: str
    score: float
    source: SuggestionSource
    reference: str | None = None

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text, "score": round(self.score, 4), "source": self.source}
        if self.reference is not None:
            data["reference"] = self.reference
        return data


def rank(groups: list[list[Suggestion]], limit: int) -> list[Suggestion]:
    """Merge every plugin's suggestions: best score first, the same text only once."""
    seen: set[str] = set()
    merged = []
    for suggestion in sorted((s for g in groups for s in g), key=lambda s: -s.score):
        key = " ".join(suggestion.text.split()).lower()
        if key not in seen:
            seen.add(key)
            merged.append(suggestion)
    return merged[:limit]


async def suggest_replies(
    chat: ChatService,
    conversation: Conversation,
    *,
    limit: int,
    messages: list[Message] | None = None,
    annotations: dict[str, Any] | None = None,
) -> tuple[Message | None, list[Suggestion]]:
    """Ask every ``qandu_suggest_replies`` plugin; return the message answered and the ranking.

    ``messages`` (ascending) and ``annotations`` (of the last customer message) are read
    when not given; annotations are computed only if none were stored.  Without a customer
    message there is nothing to suggest.
    """
    if messages is None:
        messages = await chat.store.history(conversation.id, limit=SUGGESTION_CONTEXT, include_private=False)
    last = next((m for m in reversed(messages) if m.sender.type == "user"), None)
    if last is None:
        return None, []
    if annotations is None:
        annotations = await chat.store.get_annotations(last.id)
    if annotations is None:
        analysis = await analyse(chat.pm, last, conversation)
        annotations = analysis.annotations
        if analysis.context:  # the analysers' state moves on, as in the pipeline
            await chat.store.update_context(conversation.id, analysis.context)
    bot = chat.bots.get(conversation.bot or "")
    groups = await chat.pm.call_all(
        "qandu_suggest_replies",
        conversation=conversation,
        messages=messages,
        annotations=annotations,
        bot=bot,
    )
    return last, rank([list(result) for _plugin, result in groups], limit)


async def push_suggestions(
    chat: ChatService, conversation: Conversation, message: Message, annotations: dict[str, Any]
) -> None:
    """Send a ``suggestions`` frame to the staff watching ``conversation`` (a human owns it)."""
    if not chat.pm.hook.qandu_suggest_replies.get_hookimpls():
        return
    messages = await chat.store.history(
        conversation.id, before_seq=message.seq + 1, limit=SUGGESTION_CONTEXT, include_private=False
    )
    answered, suggestions = await suggest_replies(
        chat, conversation, limit=PUSHED_SUGGESTIONS, messages=messages, annotations=annotations
    )
    if answered is None or not suggestions:
        return
    frame = suggestions_frame(conversation.id, answered.id, suggestions)
    chat.bus.publish(conversation_topic(conversation.id), frame, staff_only=True)
