"""Reply suggestions for the agent who handles a conversation.

For the customer's latest message: the best knowledge-base passages (score: retrieval
confidence), the templates of the likely intents (score: intent confidence) and, with an
LLM configured, a draft grounded in those passages (score: the best passage's confidence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qandu import Conversation, Message, Suggestion
from qandu_autoreply.knowledge import KnowledgeIndex
from qandu_autoreply.policy import Responder, top_intent

if TYPE_CHECKING:
    from qandu.bots import Bot

#: Passages below this confidence are not worth an agent's attention.
MIN_SUGGESTION_CONFIDENCE = 0.2


def _intents(annotations: dict[str, Any]) -> list[tuple[str, float]]:
    ranked = []
    for item in annotations.get("intents") or ():
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            confidence = item.get("confidence")
            ranked.append((item["name"], float(confidence) if isinstance(confidence, int | float) else 0.0))
    if not ranked:
        name, confidence = top_intent(annotations)
        if name is not None:
            ranked.append((name, confidence))
    return ranked


def _closest(texts: list[str], question: str, index: KnowledgeIndex | None) -> str:
    """The template variant sharing the most terms with the question (the first on ties)."""
    if index is None:
        return texts[0]
    asked = set(index.analyze(question))
    return max(texts, key=lambda text: len(asked & set(index.analyze(text))))


async def suggest(
    responder: Responder,
    conversation: Conversation,
    messages: list[Message],
    annotations: dict[str, Any],
    bot: Bot | None,
) -> list[Suggestion] | None:
    """Suggestions for the last customer message in ``messages`` (``None``: nothing to offer)."""
    if bot is None or bot.name not in responder.bots:
        return None
    data = responder.bots[bot.name]
    customer = [m for m in messages if m.sender.type == "user" and (m.content.text or "").strip()]
    if not customer:
        return None
    last = customer[-1]
    history = [m for m in messages if m.seq < last.seq]
    turn = responder.make_turn(last, conversation, annotations, bot, data, history)
    config = responder.config
    suggestions = []
    hits = await responder.search(
        data,
        turn.language,
        turn.text,
        max(config.suggestions, config.llm.passages),
        turn.intent,
        turn.intent_confidence,
    )
    for hit in hits[: config.suggestions]:
        if hit.confidence >= MIN_SUGGESTION_CONFIDENCE:
            suggestions.append(Suggestion(hit.passage.text, hit.confidence, "knowledge", hit.passage.id))
    for name, confidence in _intents(annotations):
        if name in config.handoff_intents or confidence < MIN_SUGGESTION_CONFIDENCE:
            continue
        texts = data.responses.render_all(name, turn.language, turn.known)
        if texts:
            text = _closest(texts, turn.text, data.indexes.get(turn.language))
            suggestions.append(Suggestion(text, confidence, "template", f"intent:{name}"))
    grounded = [hit for hit in hits if hit.confidence >= config.min_confidence]
    if responder.llm is not None and grounded:
        draft = await responder.llm.answer(
            persona=bot.persona,
            language=turn.language,
            passages=[hit.passage for hit in grounded[: config.llm.passages]],
            history=history[-config.llm.history :] if config.llm.history else [],
            question=turn.text,
        )
        if draft is not None:
            suggestions.append(Suggestion(draft, grounded[0].confidence, "llm", grounded[0].passage.id))
    return suggestions
