"""Intent models: build, train, evaluate, and cache them on disk keyed by a hash of their inputs.

One model per bot and language: ``spacy.blank(lang)`` (or a configured installed pipeline),
an ``entity_ruler`` with the bot's patterns, and a ``textcat`` (exclusive classes) trained on
the bot's examples.  A trained model is saved under
``<cache>/<bot>/<lang>-<key>/`` where ``key`` hashes the training data, the settings that
shape the model, the feature code's version and spaCy's version: change any of them and the
model is stale, so it is trained again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import spacy
from spacy.language import Language
from spacy.training import Example as SpacyExample
from spacy.util import fix_random_seed, minibatch

from qandu_nlu.config import NluConfig
from qandu_nlu.data import BotData, Example
from qandu_nlu.entities import BuiltinEntities, Entity
from qandu_nlu.features import feature_doc, stemmer_for

log = logging.getLogger("qandu_nlu")

MODEL_FORMAT = 1
"""Bump when features or training change in a way that old models no longer match."""
RULER = "qandu_entities"
TEXTCAT = "qandu_intents"
META_FILE = "qandu-nlu.json"
_REFERENCE_DAY = dt.date(2026, 1, 1)  # relative dates are masked alike whatever the day

Progress = Callable[[int, int], None]


def _bow(config: NluConfig) -> dict[str, Any]:
    return {
        "@architectures": "spacy.TextCatBOW.v3",
        "exclusive_classes": True,
        "ngram_size": config.ngram_size,
        "no_output_layer": False,
        "length": 65536,
    }


def _tok2vec(width: int = 64) -> dict[str, Any]:
    return {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {
            "@architectures": "spacy.MultiHashEmbed.v2",
            "width": width,
            "rows": [2000, 2000, 500, 1000, 500],
            "attrs": ["NORM", "LOWER", "PREFIX", "SUFFIX", "SHAPE"],
            "include_static_vectors": False,
        },
        "encode": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2",
            "width": width,
            "window_size": 1,
            "maxout_pieces": 3,
            "depth": 2,
        },
    }


def architecture(config: NluConfig) -> dict[str, Any]:
    """The thinc model config of the intent classifier for ``config.architecture``."""
    if config.architecture == "ensemble":
        return {"@architectures": "spacy.TextCatEnsemble.v2", "nO": None, "linear_model": _bow(config),
                "tok2vec": _tok2vec()}  # fmt: skip
    if config.architecture == "cnn":
        return {"@architectures": "spacy.TextCatReduce.v1", "exclusive_classes": True,
                "use_reduce_first": False, "use_reduce_last": False, "use_reduce_max": False,
                "use_reduce_mean": True, "tok2vec": _tok2vec(96)}  # fmt: skip
    return _bow(config)


def cache_key(data: BotData, lang: str, config: NluConfig) -> str:
    """Hash of everything a trained model depends on."""
    payload = {
        "format": MODEL_FORMAT,
        "spacy": ".".join(spacy.about.__version__.split(".")[:2]),
        "data": data.digest[lang],
        "settings": config.training_key(),
        "base": config.pipelines.get(lang, f"blank:{lang}"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@attrs.define
class IntentModel:
    """A loaded model: entities from its pipeline, intents from its classifier."""

    lang: str
    nlp: Language
    meta: dict[str, Any]
    builtins: BuiltinEntities
    stemmer: Any = None

    def __attrs_post_init__(self) -> None:
        self.stemmer = stemmer_for(self.lang)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.nlp.get_pipe(TEXTCAT).labels)

    def entities(self, text: str) -> tuple[Any, list[Entity]]:
        """Tokenise ``text`` and run every component but the classifier; return doc and entities."""
        doc = self.nlp.make_doc(text)
        for name, component in self.nlp.pipeline:
            if name != TEXTCAT:
                doc = component(doc)
        found = [
            Entity(ent.label_, ent.start_char, ent.end_char, ent.text, ent.ent_id_ or ent.text)
            for ent in doc.ents
        ]
        return doc, found

    def classify(self, doc: Any, masked: Sequence[Entity]) -> list[tuple[str, float]]:
        """Intents ranked by confidence for a tokenised ``doc`` with ``masked`` entities."""
        scored = self.nlp.get_pipe(TEXTCAT)(feature_doc(self.nlp, doc, masked, self.stemmer))
        return sorted(scored.cats.items(), key=lambda item: item[1], reverse=True)

    def predict(self, text: str) -> list[tuple[str, float]]:
        doc, _ = self.entities(text)
        return self.classify(doc, self.builtins.find(text, _REFERENCE_DAY))


def build(data: BotData, lang: str, config: NluConfig, builtins: BuiltinEntities) -> IntentModel:
    """An untrained model for ``lang``: base pipeline, entity ruler, classifier with the intents."""
    base = config.pipelines.get(lang)
    nlp = spacy.blank(lang) if base is None or base.startswith("blank:") else spacy.load(base)
    patterns = data.ruler_patterns(lang)
    if patterns:
        ruler = nlp.add_pipe("entity_ruler", name=RULER, config={"phrase_matcher_attr": "LOWER"})
        ruler.add_patterns(patterns)
    textcat = nlp.add_pipe("textcat", name=TEXTCAT, config={"model": architecture(config)})
    for label in data.intents(lang):
        textcat.add_label(label)
    return IntentModel(lang, nlp, {}, builtins)


def train(
    model: IntentModel, examples: Sequence[Example], config: NluConfig, progress: Progress | None = None
) -> float:
    """Train the classifier of ``model`` on ``examples``; return the seconds it took."""
    started = time.perf_counter()
    fix_random_seed(config.seed)
    textcat = model.nlp.get_pipe(TEXTCAT)
    labels = model.labels
    gold = []
    for example in examples:
        doc, _ = model.entities(example.text)
        features = feature_doc(
            model.nlp, doc, model.builtins.find(example.text, _REFERENCE_DAY), model.stemmer
        )
        cats = {label: float(label == example.intent) for label in labels}
        gold.append(SpacyExample.from_dict(features, {"cats": cats}))
    textcat.initialize(lambda: gold, nlp=model.nlp)
    optimizer = model.nlp.create_optimizer()
    rng = random.Random(config.seed)
    for epoch in range(1, config.epochs + 1):
        rng.shuffle(gold)
        for batch in minibatch(gold, size=16):
            textcat.update(batch, sgd=optimizer, drop=config.dropout)
        if progress is not None:
            progress(epoch, config.epochs)
    return time.perf_counter() - started


def accuracy(model: IntentModel, examples: Sequence[Example]) -> float:
    """Share of ``examples`` whose top intent is right."""
    if not examples:
        return 0.0
    hits = sum(model.predict(e.text)[0][0] == e.intent for e in examples)
    return hits / len(examples)


def split(examples: Sequence[Example], every: int = 5) -> tuple[list[Example], list[Example]]:
    """A stratified split: every ``every``-th example of each intent is held out."""
    seen: dict[str, int] = {}
    keep, held = [], []
    for example in examples:
        seen[example.intent] = seen.get(example.intent, 0) + 1
        (held if seen[example.intent] % every == 0 else keep).append(example)
    return keep, held


def model_dir(cache: Path, bot: str, lang: str, key: str) -> Path:
    return cache / bot / f"{lang}-{key}"


def save(model: IntentModel, target: Path, meta: dict[str, Any]) -> None:
    """Write the model to ``target`` atomically (a finished directory appears at once)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        model.nlp.to_disk(staging / "pipeline")
        (staging / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:
            if not (target / META_FILE).exists():  # another process finished first: keep theirs
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    model.meta = meta


def load(path: Path, lang: str, builtins: BuiltinEntities) -> IntentModel:
    """Load a saved model directory."""
    meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    return IntentModel(lang, spacy.load(path / "pipeline"), meta, builtins)


def cached(path: Path) -> bool:
    return (path / META_FILE).is_file() and (path / "pipeline").is_dir()


def older_models(cache: Path, bot: str, lang: str, keep: Path) -> list[Path]:
    """Other saved models of ``bot``/``lang``, newest first (usable while ``keep`` trains)."""
    folder = cache / bot
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob(f"{lang}-*") if p != keep and cached(p)]
    return sorted(found, key=lambda p: (p / META_FILE).stat().st_mtime, reverse=True)


def train_and_save(
    data: BotData,
    lang: str,
    config: NluConfig,
    builtins: BuiltinEntities,
    target: Path,
    *,
    progress: Progress | None = None,
    evaluate: bool = False,
) -> IntentModel:
    """Train ``lang``'s model on all its examples and save it to ``target``.

    With ``evaluate``, first train on 80% of the examples and measure accuracy on the other
    20% (``meta["split_accuracy"]``); that doubles the training time.
    """
    examples = data.examples[lang]
    meta: dict[str, Any] = {
        "bot": data.bot,
        "lang": lang,
        "key": target.name.split("-", 1)[1],
        "examples": len(examples),
        "intents": data.intents(lang),
        "settings": config.training_key(),
        "base": config.pipelines.get(lang, f"blank:{lang}"),
        "spacy": spacy.about.__version__,
    }
    phases = 2 if evaluate else 1

    def step(phase: int) -> Progress | None:
        if progress is None:
            return None
        return lambda epoch, epochs: progress(phase * epochs + epoch, phases * epochs)

    if evaluate:
        keep, held = split(examples)
        trial = build(data, lang, config, builtins)
        train(trial, keep, config, step(0))
        meta["split_accuracy"] = round(accuracy(trial, held), 4)
        meta["split_size"] = len(held)
    model = build(data, lang, config, builtins)
    meta["train_seconds"] = round(train(model, examples, config, step(phases - 1)), 2)
    meta["trained_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    save(model, target, meta)
    for old in older_models(target.parent.parent, data.bot, lang, keep=target):
        shutil.rmtree(old, ignore_errors=True)
    log.info("trained %s/%s on %d examples in %.1fs", data.bot, lang, len(examples), meta["train_seconds"])
    return model
