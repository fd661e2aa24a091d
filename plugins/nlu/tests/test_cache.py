"""Trained models are cached on disk, keyed by a hash of their data and settings."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import spacy
import trio

from qandu.client import ChatClient
from qandu.errors import ConfigError
from qandu.plugins import PluginManager
from qandu.testing import make_app, running
from qandu_nlu import Nlu, NluConfig

INTENTS = {
    "greeting": ["hi", "hello there", "good morning", "hey", "hello, anyone there?", "hi again"],
    "order_status": [
        "where is my order",
        "has my parcel shipped",
        "when will my order arrive",
        "track my package",
        "order status please",
        "is my delivery on its way",
    ],
    "refund": [
        "I want my money back",
        "where is my refund",
        "refund please",
        "when do I get reimbursed",
        "has the refund been paid",
        "money back for the return",
    ],
}


def make_bot(root: Path, extra: str | None = None) -> Path:
    """A small English bot, quick to train."""
    folder = root / "mini"
    (folder / "intents").mkdir(parents=True, exist_ok=True)
    (folder / "bot.toml").write_text('name = "mini"\nlanguages = ["en"]\n[greeting]\nen = "Hi"\n')
    rows = [{"text": text, "intent": intent} for intent, texts in INTENTS.items() for text in texts]
    if extra:
        rows.append({"text": extra, "intent": "refund"})
    (folder / "intents" / "en.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


def mini_app(tmp_path: Path, config: NluConfig, bot: Path, name: str = "app"):
    nlu = Nlu(config)
    app = make_app(tmp_path / name, plugins={"nlu": nlu}, bots={"paths": [str(bot)], "default": "mini"})
    return app, nlu


def saved(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "mini").glob("en-*") if (p / "qandu-nlu.json").exists())


async def run_until_trained(app, nlu) -> None:
    async with running(app):
        with trio.fail_after(60):
            await nlu.wait_ready("mini")
            await nlu.wait_trained()


async def test_missing_model_is_trained_once_then_reused(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="qandu_nlu")
    cache = tmp_path / "cache"
    config = NluConfig(cache_dir=str(cache), epochs=5)
    bot = make_bot(tmp_path)
    app, nlu = mini_app(tmp_path, config, bot, "first")
    await run_until_trained(app, nlu)
    [model] = saved(cache)
    meta = json.loads((model / "qandu-nlu.json").read_text())
    assert meta["examples"] == 18 and meta["intents"] == ["greeting", "order_status", "refund"]
    assert "training mini/en (no trained model yet)" in caplog.text

    caplog.clear()
    app, nlu = mini_app(tmp_path, config, bot, "second")
    await run_until_trained(app, nlu)
    assert saved(cache) == [model]
    assert json.loads((model / "qandu-nlu.json").read_text())["trained_at"] == meta["trained_at"]
    assert "training mini" not in caplog.text and f"loaded mini/en from {model}" in caplog.text
    assert nlu.analyzers["mini"].models["en"].predict("where is my parcel")[0][0] == "order_status"


async def test_changed_data_or_settings_make_the_model_stale(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="qandu_nlu")
    cache = tmp_path / "cache"
    config = NluConfig(cache_dir=str(cache), epochs=5)
    bot = make_bot(tmp_path)
    app, nlu = mini_app(tmp_path, config, bot, "first")
    await run_until_trained(app, nlu)
    [first] = saved(cache)

    make_bot(tmp_path, extra="I would like a refund for my blender")  # the data changed
    app, nlu = mini_app(tmp_path, config, bot, "second")
    await run_until_trained(app, nlu)
    [second] = saved(cache)
    assert second != first  # retrained under a new key; the old model is gone
    assert "(stale: used until the new one is trained)" in caplog.text
    assert "training mini/en (its data or settings changed)" in caplog.text

    app, nlu = mini_app(tmp_path, NluConfig(cache_dir=str(cache), epochs=6), bot, "third")
    await run_until_trained(app, nlu)
    [third] = saved(cache)
    assert third not in (first, second)


async def annotations_of(app, text: str) -> dict:
    async with ChatClient.initialize(app.endpoints.http_url, name="Cleo") as customer:
        sent = await customer.send_text(text)
        while (found := await app.store.get_annotations(sent["id"])) is None:
            await trio.sleep(0.02)
        return found


async def test_messages_right_after_start_wait_for_the_training(tmp_path):
    config = NluConfig(cache_dir=str(tmp_path / "cache"), epochs=5, model_wait=60.0)
    nlu = Nlu(config)
    bot = make_bot(tmp_path)
    app = make_app(
        tmp_path, plugins={"nlu": nlu}, bots={"paths": [str(bot)]}, dispatch={"hook_timeout": 120.0}
    )
    async with running(app):
        with trio.fail_after(60):
            annotations = await annotations_of(app, "where is my order 48213")  # sent while training
    assert annotations["intent"]["name"] == "order_status"


async def test_later_messages_do_not_wait_for_a_model_still_training(tmp_path):
    config = NluConfig(cache_dir=str(tmp_path / "cache"), epochs=5, model_wait=0.0)
    app, nlu = mini_app(tmp_path, config, make_bot(tmp_path))
    async with running(app):
        with trio.fail_after(60):
            annotations = await annotations_of(app, "where is my order 48213")
            assert "intent" not in annotations and annotations["language"] == "en"
            assert annotations["entities"][0]["value"] == "NL-48213"
            await nlu.wait_trained()
            assert (await annotations_of(app, "where is my order"))["intent"]["name"] == "order_status"


async def test_without_training_on_start_a_missing_model_means_no_intents(tmp_path, caplog):
    config = NluConfig(cache_dir=str(tmp_path / "cache"), train_on_start=False)
    app, nlu = mini_app(tmp_path, config, make_bot(tmp_path))
    await run_until_trained(app, nlu)
    assert nlu.analyzers["mini"].models == {}
    assert "run 'qandu bot train mini'" in caplog.text
    annotations, _ = nlu.analyzers["mini"].analyze(
        "where is order 48213?", None, __import__("datetime").date.today()
    )
    assert "intent" not in annotations and annotations["entities"][0]["value"] == "NL-48213"


async def test_an_installed_pipeline_can_replace_the_blank_one(tmp_path):
    base = tmp_path / "my_pipeline"
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(base)
    config = NluConfig(cache_dir=str(tmp_path / "cache"), epochs=5, pipelines={"en": str(base)})
    app, nlu = mini_app(tmp_path, config, make_bot(tmp_path))
    await run_until_trained(app, nlu)
    model = nlu.analyzers["mini"].models["en"]
    assert model.nlp.pipe_names == ["sentencizer", "qandu_intents"]
    assert model.predict("refund please")[0][0] == "refund"


def test_an_unknown_pipeline_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError) as excinfo:
        PluginManager().load_installed({"nlu": {"pipelines": {"en": "en_core_web_sm"}}})
    [error] = [e for e in excinfo.value.errors if "nlu" in e]
    assert error.startswith("plugins.nlu.pipelines: en: spaCy pipeline 'en_core_web_sm' is not installed")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"epochs": 0}, "plugins.nlu.epochs"),
        ({"order_pattern": "NL-\\d+"}, "plugins.nlu.order_pattern"),
        ({"sentiment_negative": 0.5, "sentiment_positive": 0.2}, "plugins.nlu.sentiment_negative"),
        ({"timezone": "Mars/Olympus"}, "plugins.nlu.timezone"),
        ({"architecture": "transformer"}, "plugins.nlu.architecture"),
        ({"epoch": 3}, "plugins.nlu.epoch"),
    ],
)
def test_bad_settings_name_their_key(table, key):
    with pytest.raises(ConfigError) as excinfo:
        PluginManager().load_installed({"nlu": table})
    assert any(error.startswith(key + ":") for error in excinfo.value.errors), excinfo.value.errors


async def test_an_unreadable_cached_model_is_trained_again(tmp_path, caplog):
    cache = tmp_path / "cache"
    config = NluConfig(cache_dir=str(cache), epochs=5)
    bot = make_bot(tmp_path)
    app, nlu = mini_app(tmp_path, config, bot, "first")
    await run_until_trained(app, nlu)
    [model] = saved(cache)
    (model / "pipeline" / "config.cfg").write_text("[nlp\nbroken")

    app, nlu = mini_app(tmp_path, config, bot, "second")
    await run_until_trained(app, nlu)
    assert f"cannot load {model}" in caplog.text
    assert saved(cache) == [model] and (model / "pipeline" / "config.cfg").read_text().startswith("[paths]")
    assert nlu.analyzers["mini"].models["en"].predict("refund please")[0][0] == "refund"
