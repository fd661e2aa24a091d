"""The optional LLM backend, against a local stand-in for an OpenAI-compatible endpoint."""

from __future__ import annotations

import pytest
import trio

from qandu.client import ChatClient
from qandu.errors import ConfigError
from qandu.testing import DEMO_BOT, add_agent, running
from qandu_autoreply import AutoReplyConfig, LlmConfig
from qandu_autoreply.knowledge import load_passages
from qandu_autoreply.llm import LlmClient
from qandu_autoreply.testing import bot_says, meta

PASSAGES = load_passages(DEMO_BOT / "knowledge", "en")
KLARNA = next(p for p in PASSAGES["en"] if p.id == "payment-methods#klarna-pay-now-pay-later-instalments")
QUESTION = "Can I pay in monthly instalments?"


def llm_config(url: str, **extra) -> LlmConfig:
    return LlmConfig(enabled=True, url=url, model="tiny-test", api_key="sk-test", **extra)


async def ask(client: LlmClient) -> str | None:
    return await client.answer(
        persona="Qanda is kind.", language="de", passages=[KLARNA], history=[], question=QUESTION
    )


async def test_client_sends_a_grounded_prompt_and_returns_the_answer(fake_llm):
    client = LlmClient(llm_config(fake_llm.url, max_tokens=64), timeout=2.0)
    try:
        assert await ask(client) == "Grounded answer from the model."
    finally:
        await client.aclose()
    request = fake_llm.requests[-1]
    assert request["authorization"] == "Bearer sk-test"
    body = request["body"]
    assert (body["model"], body["max_tokens"]) == ("tiny-test", 64)
    system = body["messages"][0]
    assert system["role"] == "system"
    assert "Qanda is kind." in system["content"] and KLARNA.text in system["content"]
    assert "Write in German" in system["content"]
    assert body["messages"][-1] == {"role": "user", "content": QUESTION}
    assert client.statistics().answers == 1


@pytest.mark.parametrize("mode", ["slow", "error", "not_json", "no_choices", "no_answer"])
async def test_client_failures_give_none_within_the_timeout(fake_llm, mode):
    fake_llm.mode = mode
    client = LlmClient(llm_config(fake_llm.url), timeout=0.5)
    try:
        with trio.fail_after(2):
            assert await ask(client) is None
    finally:
        await client.aclose()
    assert client.statistics().fallbacks == 1


async def test_connection_refused_gives_none():
    client = LlmClient(llm_config("http://127.0.0.1:9/v1/chat/completions"), timeout=1.0)
    try:
        assert await ask(client) is None
    finally:
        await client.aclose()


def test_enabled_llm_needs_url_and_model():
    with pytest.raises(ConfigError) as error:
        AutoReplyConfig(llm=LlmConfig(enabled=True))
    assert error.value.errors == [
        "plugins.autoreply.llm.url: required when llm.enabled = true",
        "plugins.autoreply.llm.model: required when llm.enabled = true",
    ]


async def test_replies_use_the_llm_and_fall_back_to_retrieval(tmp_path, autoreply_app, fake_llm):
    app = autoreply_app(tmp_path, llm=llm_config(fake_llm.url, timeout=0.5))
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        with trio.fail_after(15):
            generated = await bot_says(customer, QUESTION)
            assert generated["content"]["text"] == "Grounded answer from the model."
            assert meta(generated)["source"] == "llm"
            assert KLARNA.id in meta(generated)["references"]
            assert KLARNA.text in fake_llm.last_prompt
            assert "Qanda is the warm, upbeat" in fake_llm.last_prompt  # the bot's persona

            for mode in ("error", "slow", "not_json"):
                fake_llm.mode = mode
                fallback = await bot_says(customer, QUESTION)
                assert fallback["content"]["text"] == KLARNA.text, mode
                assert meta(fallback)["source"] == "knowledge"

            fake_llm.mode = "ok"
            before = len(fake_llm.requests)
            await bot_says(customer, "fnord wibble")  # nothing retrieved: the LLM is not asked
            assert len(fake_llm.requests) == before


async def test_agents_get_an_llm_draft_among_the_suggestions(tmp_path, autoreply_app, fake_llm):
    app = autoreply_app(tmp_path, llm=llm_config(fake_llm.url))
    fake_llm.answer = "Yes - Klarna lets you pay in 6, 12 or 24 monthly instalments."
    async with running(app) as server, ChatClient.initialize(server.http_url) as customer:
        await add_agent(app, "ada@example.com")
        async with ChatClient.login(
            server.http_url, server.ws_url, "ada@example.com", "secret-pass"
        ) as agent:
            with trio.fail_after(15):
                await bot_says(customer, "human")
                await agent.api.request("POST", f"/api/conversations/{customer.conversation_id}/join")
                await customer.send_text(QUESTION)
                while True:
                    answer = await agent.api.request(
                        "GET", f"/api/conversations/{customer.conversation_id}/suggestions"
                    )
                    if answer["suggestions"]:
                        break
                    await trio.sleep(0.05)
    drafts = [s for s in answer["suggestions"] if s["source"] == "llm"]
    assert drafts == [
        {"text": fake_llm.answer, "score": drafts[0]["score"], "source": "llm", "reference": KLARNA.id}
    ]
    assert drafts[0]["score"] >= 0.5
