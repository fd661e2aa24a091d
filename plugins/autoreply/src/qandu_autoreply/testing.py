"""Test helpers for autoreply and the plugins built on it: a scripted NLU, a chat helper and a
stand-in OpenAI-compatible endpoint (run it with :func:`serve_fake_llm` on 127.0.0.1)."""

from __future__ import annotations

import functools
from typing import Any

import attrs
import hypercorn.config
import hypercorn.trio
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from qandu import hookimpl


class ScriptedNlu:
    """A stand-in for the NLU plugin: annotations looked up by the message's exact text.

    Texts not in the script get ``default`` (``None``: as if no NLU were installed).
    """

    def __init__(self, script: dict[str, dict[str, Any]], default: dict[str, Any] | None = None) -> None:
        self.script = script
        self.default = default

    @hookimpl
    async def qandu_analyze_message(self, message: Any) -> dict[str, Any] | None:
        return self.script.get(message.content.text or "", self.default)


def nlu(intent: str | None = None, confidence: float = 0.95, **extra: Any) -> dict[str, Any]:
    """Annotations like the NLU plugin's: intent, entities, sentiment, language."""
    annotations: dict[str, Any] = {"entities": [], "language": "en", "sentiment": {"score": 0.0}}
    if intent is not None:
        annotations["intent"] = {"name": intent, "confidence": confidence}
        annotations["intents"] = [{"name": intent, "confidence": confidence}]
    entities = extra.pop("entities", {})
    annotations["entities"] = [{"label": label, "text": text} for label, text in entities.items()]
    return {**annotations, **extra}


async def bot_says(client: Any, text: str) -> dict[str, Any]:
    """Send ``text`` as the customer; return the bot's next message (skipping others)."""
    await client.send_text(text)
    while True:
        frame = await client.gateway.next_frame("message.new")
        if frame["message"]["sender"]["type"] == "ai":
            return frame["message"]


def meta(message: dict[str, Any]) -> dict[str, Any]:
    """The autoreply metadata of a bot message."""
    return message["content"].get("metadata", {}).get("autoreply", {})


# --------------------------------------------------------------------------- stand-in LLM


@attrs.define
class FakeLlm:
    """An OpenAI-compatible chat-completions endpoint on 127.0.0.1 whose answers a test sets."""

    url: str = ""
    mode: str = "ok"
    """ok, slow, error (500), not_json, no_choices, no_answer."""
    answer: str = "Grounded answer from the model."
    requests: list[dict[str, Any]] = attrs.Factory(list)

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        if self.mode == "slow":
            await trio.sleep(30)
        if self.mode == "error":
            return PlainTextResponse("upstream exploded", status_code=500)
        if self.mode == "not_json":
            return PlainTextResponse("<html>surprise</html>")
        if self.mode == "no_choices":
            return JSONResponse({"id": "x", "choices": []})
        content = "NO_ANSWER" if self.mode == "no_answer" else self.answer
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            }
        )

    @property
    def last_prompt(self) -> str:
        """Every message's content of the last request, one after another."""
        return "\n".join(message["content"] for message in self.requests[-1]["body"]["messages"])


async def serve_fake_llm(nursery: trio.Nursery) -> FakeLlm:
    """Start a :class:`FakeLlm` on 127.0.0.1 (a free port) in ``nursery``."""
    llm = FakeLlm()
    app = Starlette(routes=[Route("/v1/chat/completions", llm.completions, methods=["POST"])])
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 0.1
    binds = await nursery.start(functools.partial(hypercorn.trio.serve, app, config))
    llm.url = f"{binds[0]}/v1/chat/completions"
    return llm
