"""Shared fixtures: the demo bot's models are trained once per test session into a shared cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qandu.bots import load_bot
from qandu.testing import DEMO_BOT, REPO
from qandu_nlu import NluConfig
from qandu_nlu.builder import builtins_for
from qandu_nlu.data import Example, load_bot_data
from qandu_nlu.models import IntentModel, cache_key, load, model_dir, train_and_save

HELDOUT = REPO / "tests" / "data"


def heldout(lang: str) -> list[Example]:
    """The demo bot's held-out utterances (never used for training)."""
    lines = (HELDOUT / f"heldout_{lang}.jsonl").read_text(encoding="utf-8").splitlines()
    return [Example(row["text"], row["intent"]) for row in map(json.loads, lines) if row]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache holding the demo bot's trained models (trained once per session)."""
    cache = tmp_path_factory.mktemp("nlu-cache")
    config = NluConfig(cache_dir=str(cache))
    bot = load_bot(DEMO_BOT)
    data = load_bot_data(bot.name, bot.path, bot.languages)
    for lang in data.examples:
        target = model_dir(cache, bot.name, lang, cache_key(data, lang, config))
        train_and_save(data, lang, config, builtins_for(config), target)
    return cache


@pytest.fixture(scope="session")
def demo_models(model_cache: Path) -> dict[str, IntentModel]:
    """The demo bot's trained models, loaded, per language."""
    config = NluConfig(cache_dir=str(model_cache))
    return {
        path.name.split("-")[0]: load(path, path.name.split("-")[0], builtins_for(config))
        for path in sorted((model_cache / "support").iterdir())
    }


@pytest.fixture
def nlu_config(model_cache: Path) -> NluConfig:
    """Settings whose cache already holds the demo bot's models (nothing trains at start)."""
    return NluConfig(cache_dir=str(model_cache))
