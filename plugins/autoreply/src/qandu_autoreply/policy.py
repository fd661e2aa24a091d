"""How the bot answers one customer message.

In order: a slash command runs its action; a handoff trigger (the customer asks for a
person, is angry, or the intent is ``human_handoff``/``complaint``) passes the chat to the
human queue; an answer to the bot's last question completes a waiting action; a confident
intent runs its action (or asks for a missing argument) or, for small talk, its template;
a confident knowledge-base passage answers (rephrased by the LLM when one is configured);
a confident intent's template answers; otherwise the bot asks to rephrase, and hands off
when that did not help.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING, Any

import attrs
import trio

from qandu import Action, ActionResult, Conversation, Message, Reply
from qandu_autoreply.actions import ActionRegistry, Command, parse_command
from qandu_autoreply.config import AutoReplyConfig
from qandu_autoreply.knowledge import Hit, KnowledgeIndex
from qandu_autoreply.responses import Responses
from qandu_autoreply.state import (
    METADATA_KEY,
    Pending,
    State,
    context_slots,
    entity_slots,
    last_state,
    pattern_slots,
)

if TYPE_CHECKING:
    from qandu.bots import Bot
    from qandu.plugins import PluginManager
    from qandu.storage import Store
    from qandu_autoreply.llm import LlmClient

log = logging.getLogger("qandu_autoreply")

_WORDS = re.compile(r"\w+")
#: Earlier messages read for the dialogue state and the LLM prompt.
HISTORY = 12
HELP_HEADER = {"en": "Here's what I can do:", "de": "Das kann ich für dich tun:"}
UNKNOWN_COMMAND = {
    "en": "I don't know the command /{name}.",
    "de": "Den Befehl /{name} kenne ich nicht.",
}


@attrs.frozen
class BotData:
    """What the plugin prepared for one bot at start-up."""

    indexes: dict[str, KnowledgeIndex]
    responses: Responses
    actions: ActionRegistry


@attrs.frozen
class Turn:
    """One customer message and everything known about it."""

    message: Message
    conversation: Conversation
    annotations: dict[str, Any]
    bot: Bot
    data: BotData
    language: str
    state: State
    history: list[Message]
    fresh: dict[str, str]
    """Slots the customer gave in this message."""
    known: dict[str, str]
    """Every slot known: conversation context, NLU context, remembered, fresh."""
    intent: str | None
    intent_confidence: float

    @property
    def text(self) -> str:
        return (self.message.content.text or "").strip()

    @property
    def remembered(self) -> dict[str, str]:
        """The slots the next turn inherits (not answers such as a confirmation)."""
        return self.data.actions.slots({**self.state.slots, **self.fresh})


def top_intent(annotations: dict[str, Any]) -> tuple[str | None, float]:
    intent = annotations.get("intent")
    if isinstance(intent, dict) and isinstance(intent.get("name"), str):
        confidence = intent.get("confidence")
        return intent["name"], float(confidence) if isinstance(confidence, int | float) else 0.0
    return None, 0.0


def choose_language(
    text: str, annotations: dict[str, Any], conversation: Conversation, bot: Bot, state: State
) -> str:
    """The NLU's language for this message if the bot speaks it (a one-word message such as
    an order number keeps the conversation's language), else the conversation's or locale's."""
    detected = annotations.get("language")
    if isinstance(detected, str) and detected in bot.languages and (state.language is None or " " in text):
        return detected
    if state.language in bot.languages:
        return state.language
    return bot.language_for((conversation.context or {}).get("locale"))


class Responder:
    """Answers customer messages for every bot the plugin prepared."""

    def __init__(
        self, config: AutoReplyConfig, pm: PluginManager, store: Store, llm: LlmClient | None
    ) -> None:
        self.config = config
        self.pm = pm
        self.store = store
        self.llm = llm
        self.bots: dict[str, BotData] = {}
        self.limiter = trio.CapacityLimiter(1)

    # -- the turn ------------------------------------------------------------------------

    async def reply(
        self, message: Message, conversation: Conversation, annotations: dict[str, Any], bot: Bot
    ) -> Reply | None:
        data = self.bots.get(bot.name)
        if data is None or not (message.content.text or "").strip():
            return None
        history = await self.store.history(
            conversation.id, before_seq=message.seq, limit=HISTORY, include_private=False
        )
        turn = self.make_turn(message, conversation, annotations, bot, data, history)
        command = parse_command(turn.text)
        if command is not None:
            return await self._command(turn, command)
        reason = self._handoff_reason(turn)
        if reason is not None:
            return self._handoff(turn, reason)
        if turn.state.pending is not None:
            reply = await self._continue(turn, turn.state.pending)
            if reply is not None:
                return reply
        if turn.intent is not None:
            action = data.actions.intents.get(turn.intent)
            if action is not None:
                args, missing = data.actions.fill(action, turn.known)
                if not missing:
                    reply = await self._run(turn, action, args)
                    if reply is not None:
                        return reply
                elif action.ask_missing:
                    return self._ask_missing(turn, action, args, missing[0])
            if turn.intent in self.config.small_talk_intents:
                reply = self._template(turn)
                if reply is not None:
                    return reply
        reply = await self._knowledge(turn)
        if reply is None and turn.intent is not None:
            reply = self._template(turn)
        return reply or self._fallback(turn)

    def make_turn(
        self,
        message: Message,
        conversation: Conversation,
        annotations: dict[str, Any],
        bot: Bot,
        data: BotData,
        history: list[Message],
    ) -> Turn:
        state = last_state(history, bot.user_id)
        text = (message.content.text or "").strip()
        fresh = entity_slots(annotations)
        if "entities" not in annotations:  # no NLU: find arguments by their patterns
            fresh = {**pattern_slots(text, data.actions.free_patterns()), **fresh}
        if state.pending is not None and state.pending.arg not in fresh:
            pattern = data.actions.patterns.get(state.pending.arg)
            if pattern is not None:  # the answer to the bot's question
                fresh |= pattern_slots(text, {state.pending.arg: pattern})
        intent, confidence = top_intent(annotations)
        small_talk = intent in self.config.small_talk_intents
        if confidence < (
            self.config.min_small_talk_confidence if small_talk else self.config.min_intent_confidence
        ):
            intent = None
        return Turn(
            message=message,
            conversation=conversation,
            annotations=annotations,
            bot=bot,
            data=data,
            language=choose_language(text, annotations, conversation, bot, state),
            state=state,
            history=history,
            fresh=fresh,
            known={**context_slots(conversation, annotations), **state.slots, **fresh},
            intent=intent,
            intent_confidence=confidence,
        )

    # -- replies -------------------------------------------------------------------------

    def _reply(
        self, turn: Turn, text: str, source: str, *, state: State | None = None, **extra: Any
    ) -> Reply:
        state = state or State(slots=turn.remembered)
        state = attrs.evolve(state, language=turn.language)
        meta = {"source": source, "language": turn.language, "state": state.to_wire(), **extra}
        if turn.intent is not None:
            meta["intent"] = {"name": turn.intent, "confidence": round(turn.intent_confidence, 4)}
        return Reply(text=text, metadata={METADATA_KEY: meta})

    def _handoff(self, turn: Turn, reason: str, text: str = "", **extra: Any) -> Reply:
        reply = self._reply(turn, text, "handoff", **extra) if text else Reply(text="")
        return attrs.evolve(reply, handoff=True, reason=reason)

    def _handoff_reason(self, turn: Turn) -> str | None:
        words = _WORDS.findall(turn.text.lower())
        keywords = self.config.handoff_keywords
        if " ".join(words) in keywords or ("intent" not in turn.annotations and set(words) & set(keywords)):
            return "customer asked for a person"  # without NLU, any mention of a keyword counts
        sentiment = turn.annotations.get("sentiment")
        score = sentiment.get("score") if isinstance(sentiment, dict) else None
        if isinstance(score, int | float) and score <= self.config.negative_sentiment:
            return f"negative sentiment ({score:.2f})"
        if turn.intent in self.config.handoff_intents:
            return f"intent {turn.intent}"
        return None

    def _template(self, turn: Turn) -> Reply | None:
        assert turn.intent is not None
        key = turn.intent
        if key == "greeting" and "name" in turn.known:
            key = "greeting.known_user"
        text = turn.data.responses.render(key, turn.language, turn.known)
        if text is None:
            text = turn.data.responses.render(turn.intent, turn.language, turn.known)
        return self._reply(turn, text, "template", reference=f"intent:{turn.intent}") if text else None

    def _fallback(self, turn: Turn) -> Reply:
        if turn.state.fallbacks < self.config.rephrase_attempts:
            text = turn.data.responses.render("fallback", turn.language, turn.known)
            if text:
                state = State(slots=turn.remembered, fallbacks=turn.state.fallbacks + 1)
                return self._reply(turn, text, "fallback", state=state)
        return self._handoff(turn, "low confidence")

    # -- knowledge -----------------------------------------------------------------------

    async def search(
        self,
        data: BotData,
        language: str,
        text: str,
        k: int,
        intent: str | None = None,
        confidence: float = 0.0,
    ) -> list[Hit]:
        """Rank passages in a worker thread (scoring is CPU work).

        A confident ``intent`` lifts the passages of articles tagged with it (``intent_boost``).
        """
        index = data.indexes.get(language)
        if index is None:
            return []
        boost = {intent: self.config.intent_boost * confidence} if intent is not None else None
        search = functools.partial(index.search, text, k, boost=boost)
        return await trio.to_thread.run_sync(search, limiter=self.limiter)

    async def _knowledge(self, turn: Turn) -> Reply | None:
        k = self.config.llm.passages if self.llm is not None else 1
        hits = await self.search(turn.data, turn.language, turn.text, k, turn.intent, turn.intent_confidence)
        if not hits or hits[0].confidence < self.config.min_confidence:
            return None
        text, source = hits[0].passage.text, "knowledge"
        if self.llm is not None:
            answer = await self.llm.answer(
                persona=turn.bot.persona,
                language=turn.language,
                passages=[hit.passage for hit in hits],
                history=turn.history[-self.config.llm.history :] if self.config.llm.history else [],
                question=turn.text,
            )
            if answer is not None:
                text, source = answer, "llm"
        references = [hit.passage.id for hit in hits[: 1 if source == "knowledge" else len(hits)]]
        return self._reply(turn, text, source, references=references, confidence=hits[0].confidence)

    # -- actions -------------------------------------------------------------------------

    async def _command(self, turn: Turn, command: Command) -> Reply:
        actions = turn.data.actions
        if command.name == "human":
            return self._handoff(turn, "customer asked for a person")
        action = actions.commands.get(command.name)
        if action is None:
            lines = [HELP_HEADER.get(turn.language, HELP_HEADER["en"]), *actions.help_lines()]
            if command.name != "help":
                unknown = UNKNOWN_COMMAND.get(turn.language, UNKNOWN_COMMAND["en"])
                lines.insert(0, unknown.format(name=command.name))
            return self._reply(turn, "\n".join(lines), "command")
        args = {**actions.fill(action, turn.known)[0], **actions.command_args(action, command.words)}
        missing = [arg.name for arg in action.args if arg.required and arg.name not in args]
        if missing:
            return self._ask_missing(turn, action, args, missing[0])
        return await self._run(turn, action, args) or self._fallback(turn)

    async def _continue(self, turn: Turn, pending: Pending) -> Reply | None:
        """The customer answered the bot's question for an action's argument (or moved on)."""
        action = turn.data.actions.actions.get(pending.action)
        value = turn.fresh.get(pending.arg)
        if action is None or value is None:
            return None
        return await self._run(turn, action, {**pending.args, pending.arg: value}, pending)

    def _ask_missing(self, turn: Turn, action: Action, args: dict[str, str], arg: str) -> Reply:
        keys = [k for k in (turn.intent, *action.intents, action.name) if k]
        text = next(
            (
                t
                for k in keys
                if (t := turn.data.responses.render(f"{k}.missing_slot", turn.language, turn.known))
            ),
            None,
        )
        if text is None:
            description = next((a.description for a in action.args if a.name == arg), arg)
            text = f"{description}?"
        state = State(slots=turn.remembered, pending=Pending(action.name, arg, args))
        return self._reply(turn, text, "action", state=state, action={"name": action.name, "ask": arg})

    async def _run(
        self, turn: Turn, action: Action, args: dict[str, str], pending: Pending | None = None
    ) -> Reply | None:
        result: ActionResult | None = await self.pm.call_first(
            "qandu_run_action",
            action=action,
            args=args,
            conversation=turn.conversation,
            message=turn.message,
            bot=turn.bot,
            language=turn.language,
        )
        if result is None:
            log.warning("no plugin ran action %r", action.name)
            return None
        slots = {**turn.known, **args, **{k: str(v) for k, v in result.slots.items()}}
        text = result.text or (
            turn.data.responses.render(result.template, turn.language, slots) if result.template else None
        )
        remembered = turn.data.actions.slots({**turn.remembered, **args})
        meta: dict[str, Any] = {"name": action.name, "data": result.data}
        state = State(slots=remembered)
        if result.ask is not None:
            remembered.pop(result.ask, None)
            same = pending is not None and (pending.action, pending.arg) == (action.name, result.ask)
            asks = pending.asks + 1 if same and pending is not None else 1
            if asks > self.config.max_asks:
                reason = f"action {action.name}: no valid {result.ask}"
                return self._handoff(turn, reason, text or "", action=meta)
            rest = {k: v for k, v in args.items() if k != result.ask}
            state = State(slots=remembered, pending=Pending(action.name, result.ask, rest, asks))
            meta["ask"] = result.ask
        if not text:
            log.warning("action %r gave no text (template %r)", action.name, result.template)
            return None
        if result.handoff:
            return self._handoff(turn, f"action {action.name}", text, action=meta)
        return self._reply(turn, text, "action", state=state, action=meta)
