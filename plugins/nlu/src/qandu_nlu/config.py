"""Settings of the NLU plugin: the ``[plugins.nlu]`` table of ``config.toml``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import validators as v


def _pipelines(instance: Any, attribute: attrs.Attribute, value: dict[str, str]) -> None:
    for lang, name in value.items():
        if not re.fullmatch(r"[a-z]{2,3}", lang):
            raise ValueError(f"{lang}: expected a language code such as 'en', got {lang!r}")
        if name.startswith("blank:") or Path(name).is_dir():
            continue
        if not re.fullmatch(r"[A-Za-z_][\w.]*", name) or importlib.util.find_spec(name) is None:
            raise ValueError(
                f"{lang}: spaCy pipeline {name!r} is not installed (install its package, or give the"
                " path of a saved pipeline; no model is downloaded at run time)"
            )


def _order_pattern(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    if compiled.groups < 1:
        raise ValueError("needs one group around the part that identifies the order, e.g. (?:NL-)?(\\d{5})")


def _fraction(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {value!r}")


def _score(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not -1.0 <= value <= 1.0:
        raise ValueError(f"must be between -1 and 1, got {value!r}")


@attrs.frozen
class NluConfig:
    """``[plugins.nlu]``: how intents are trained and how messages are annotated."""

    pipelines: dict[str, str] = attrs.field(factory=dict, validator=_pipelines)
    """Per language, an installed spaCy pipeline (package name or saved path) to build on
    instead of ``spacy.blank(lang)``; the intent classifier is still trained on the bot's data."""
    architecture: Literal["bow", "ensemble", "cnn"] = "bow"
    """Intent classifier: bag of words (fast, the default), or spaCy's ensemble/CNN models."""
    epochs: int = attrs.field(default=30, validator=[v.ge(1), v.le(500)])
    ngram_size: int = attrs.field(default=2, validator=[v.ge(1), v.le(4)])
    dropout: float = attrs.field(default=0.2, validator=_fraction)
    seed: int = 0
    cache_dir: str = ""
    """Where trained models are kept (default: ``<data_dir>/nlu``)."""
    train_on_start: bool = True
    """Train missing or stale models when the server starts (in the background)."""
    model_wait: float = attrs.field(default=3.0, validator=v.ge(0))
    """Until this many seconds after the start (at most half of ``[dispatch] hook_timeout``),
    messages wait for models that are still loading or training; later ones are annotated
    without intent until the models are there."""
    carry_below: float = attrs.field(default=0.8, validator=_fraction)
    """A message that only answers with entities ("it's 48213") and whose own intent is less
    confident than this keeps the conversation's previous intent."""
    min_language_confidence: float = attrs.field(default=0.8, validator=_fraction)
    """Below this the detector's guess is checked against each language's training vocabulary,
    then falls back to the conversation's language, its locale, or the bot's default."""
    sentiment_negative: float = attrs.field(default=-0.15, validator=_score)
    """Scores at or below this are labelled negative (VADER's usual +-0.05 makes "Can I pay
    with PayPal?" negative: support messages need a wider neutral band)."""
    sentiment_positive: float = attrs.field(default=0.15, validator=_score)
    """Scores at or above this are labelled positive."""
    order_pattern: str = attrs.field(default=r"(?:NL-?)?(\d{5})", validator=_order_pattern)
    """Regular expression of an order number; group 1 identifies the order."""
    order_format: str = "NL-{}"
    """Canonical order number built from group 1."""
    phone_region: str = attrs.field(default="DE", validator=v.matches_re(r"[A-Z]{2}"))
    """Country assumed for phone numbers written without ``+``."""
    timezone: str = "UTC"
    """Time zone of the support desk: what "today" and "tomorrow" mean (e.g. ``Europe/Berlin``)."""

    def problems(self) -> list[str]:
        """Errors that involve several keys (single values are checked by their validators)."""
        errors = []
        if self.sentiment_negative >= self.sentiment_positive:
            errors.append(
                "plugins.nlu.sentiment_negative: must be lower than sentiment_positive"
                f" ({self.sentiment_negative} >= {self.sentiment_positive})"
            )
        for key, value in self.pipelines.items():
            if value.startswith("blank:") and value != f"blank:{key}":
                errors.append(
                    f"plugins.nlu.pipelines.{key}: 'blank:' must name the same language, got {value!r}"
                )
        return errors

    def training_key(self) -> dict[str, Any]:
        """The settings that change a trained model (part of its cache key)."""
        return {
            "architecture": self.architecture,
            "epochs": self.epochs,
            "ngram_size": self.ngram_size,
            "dropout": self.dropout,
            "seed": self.seed,
            "order_pattern": self.order_pattern,
        }
