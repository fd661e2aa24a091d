"""An OpenAI-compatible chat-completions client for replies grounded in retrieved passages.

The model only sees the bot's persona, the retrieved knowledge-base passages and the recent
conversation, and is told to answer from the passages alone, or say ``NO_ANSWER``.  Every
failure (timeout, connection error, HTTP error, a body that is not the expected JSON, an
empty answer or ``NO_ANSWER``) returns ``None``: the caller then uses the retrieval answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs
import httpx
import trio

from qandu import Message
from qandu_autoreply.config import LlmConfig
from qandu_autoreply.knowledge import Passage

log = logging.getLogger("qandu_autoreply.llm")

NO_ANSWER = "NO_ANSWER"
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
}


@attrs.frozen
class LlmStatistics:
    requests: int
    answers: int
    fallbacks: int
    """Requests that ended without a usable answer (failure, timeout or NO_ANSWER)."""


def build_messages(
    *, persona: str, language: str, passages: Sequence[Passage], history: Sequence[Message], question: str
) -> list[dict[str, str]]:
    """The chat-completions ``messages``: instructions with the passages, history, question."""
    sources = "\n\n".join(f"[{i}] {p.title} - {p.heading}\n{p.text}" for i, p in enumerate(passages, 1))
    system = (
        f"{persona}\n\n"
        "Answer the customer's last message using only the knowledge-base passages below. "
        f"Write in {LANGUAGE_NAMES.get(language, language)}, in at most three short sentences, "
        "without mentioning the passages. Never invent order data, prices or policies. "
        f"If the passages do not answer the message, reply with exactly {NO_ANSWER}.\n\n"
        f"Knowledge-base passages:\n{sources}"
    )
    messages = [{"role": "system", "content": system}]
    for message in history:
        text = (message.content.text or "").strip()
        if text and message.sender.type in ("user", "ai", "agent"):
            messages.append(
                {"role": "user" if message.sender.type == "user" else "assistant", "content": text}
            )
    messages.append({"role": "user", "content": question})
    return messages


def parse_answer(data: Any) -> str | None:
    """The text of ``choices[0].message.content``; ``None`` if absent, empty or NO_ANSWER."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(content, str) or not content.strip() or NO_ANSWER in content:
        return None
    return content.strip()


class LlmClient:
    """One HTTP connection pool to the endpoint, for the lifetime of the server."""

    def __init__(
        self, config: LlmConfig, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ):
        self.config = config
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout), headers=headers, transport=transport)
        self._requests = self._answers = self._fallbacks = 0

    async def answer(
        self,
        *,
        persona: str,
        language: str,
        passages: Sequence[Passage],
        history: Sequence[Message],
        question: str,
    ) -> str | None:
        """A grounded answer, or ``None`` (see the module docstring)."""
        body = {
            "model": self.config.model,
            "messages": build_messages(
                persona=persona, language=language, passages=passages, history=history, question=question
            ),
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }
        self._requests += 1
        answer = None
        with trio.move_on_after(self.timeout) as scope:
            try:
                response = await self._http.post(self.config.url, json=body)
                response.raise_for_status()
                answer = parse_answer(response.json())
                if answer is None:
                    log.warning("LLM endpoint gave no usable answer: %.200s", response.text)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("LLM endpoint failed: %s", exc or type(exc).__name__)
        if scope.cancelled_caught:
            log.warning("LLM endpoint did not answer within %.1fs", self.timeout)
        if answer is None:
            self._fallbacks += 1
        else:
            self._answers += 1
        return answer

    async def aclose(self) -> None:
        await self._http.aclose()

    def statistics(self) -> LlmStatistics:
        return LlmStatistics(self._requests, self._answers, self._fallbacks)
