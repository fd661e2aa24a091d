"""Assemble a bot's analyser and decide, per language, whether its model is fresh, stale or missing."""

from __future__ import annotations

from pathlib import Path

import attrs

from qandu.bots import Bot
from qandu_nlu.analyzer import BotAnalyzer
from qandu_nlu.config import NluConfig
from qandu_nlu.data import BotData
from qandu_nlu.entities import BuiltinEntities
from qandu_nlu.language import LanguageGuesser, vocabulary
from qandu_nlu.models import cache_key, cached, model_dir, older_models
from qandu_nlu.sentiment import SentimentScorer


def build_analyzer(bot: Bot, data: BotData | None, config: NluConfig) -> BotAnalyzer:
    """The analyser of ``bot`` (its models are added once loaded or trained)."""
    vocabularies = {}
    if data is not None:
        vocabularies = {
            lang: vocabulary(e.text for e in examples) for lang, examples in data.examples.items()
        }
    return BotAnalyzer(
        bot=bot.name,
        default_language=bot.default_language,
        languages=bot.languages,
        guesser=LanguageGuesser(
            bot.languages, min_confidence=config.min_language_confidence, vocabularies=vocabularies
        ),
        builtins=builtins_for(config),
        sentiment=SentimentScorer(
            negative_below=config.sentiment_negative, positive_above=config.sentiment_positive
        ),
        carry_below=config.carry_below,
        order_intents=data.intents_with("ORDER_NUMBER") if data is not None else frozenset(),
    )


def builtins_for(config: NluConfig) -> BuiltinEntities:
    return BuiltinEntities(config.order_pattern, config.order_format, config.phone_region)


@attrs.frozen
class ModelPlan:
    """What to do about one bot's model in one language."""

    bot: str
    lang: str
    target: Path
    """Where the current model lives (or will, once trained)."""
    fresh: bool
    load_from: Path | None
    """A saved model to load now: the current one, or a stale one to use while training."""
    reason: str


def plan_models(data: dict[str, BotData], config: NluConfig, cache: Path) -> list[ModelPlan]:
    """One plan per bot and language that has training data."""
    plans = []
    for bot, bot_data in data.items():
        for lang in bot_data.examples:
            target = model_dir(cache, bot, lang, cache_key(bot_data, lang, config))
            if cached(target):
                plans.append(ModelPlan(bot, lang, target, True, target, "cached"))
                continue
            older = older_models(cache, bot, lang, keep=target)
            reason = "its data or settings changed" if older else "no trained model yet"
            plans.append(ModelPlan(bot, lang, target, False, older[0] if older else None, reason))
    return plans
