"""Fixtures for the autoreply tests."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from qandu.testing import make_app
from qandu_autoreply import AutoReply, AutoReplyConfig
from qandu_autoreply.testing import FakeLlm, ScriptedNlu, serve_fake_llm

#: The demo orders assume "today" is around this date.
DEMO_TODAY = "2026-12-01"


def _autoreply_app(tmp_path: Any, script: dict[str, Any] | None = None, **config: Any) -> Any:
    """An app with autoreply (demo orders dated :data:`DEMO_TODAY`) and, given a script, a scripted NLU."""
    plugins: dict[str, object] = {}
    if script is not None:
        plugins["fakenlu"] = ScriptedNlu(script)
    plugins["autoreply"] = AutoReply(AutoReplyConfig(**{"orders_today": DEMO_TODAY, **config}))
    return make_app(tmp_path, plugins=plugins)


@pytest.fixture
def autoreply_app() -> Any:
    """``autoreply_app(tmp_path, script=None, **config)``: autoreply (+ a scripted NLU)."""
    return _autoreply_app


@pytest.fixture
async def fake_llm(nursery: trio.Nursery) -> FakeLlm:
    return await serve_fake_llm(nursery)
