"""A bot's NLU data: intent examples per language and entity patterns, with their hash.

``bots/<bot>/intents/<lang>.jsonl`` holds one example per line::

    {"text": "Where's my order NL-48213?", "intent": "order_status",
     "entities": [{"start": 17, "end": 25, "label": "ORDER_NUMBER"}]}

``bots/<bot>/entities.jsonl`` (optional) holds spaCy entity-ruler patterns, such as
``{"label": "PRODUCT", "pattern": "Aroma 3000"}``; labelled ``PRODUCT`` (and other non
built-in) spans of the examples become patterns too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import attrs

from qandu_nlu.entities import LABELS


class DataError(Exception):
    """The bot's NLU data is invalid; ``errors`` name file, line and field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@attrs.frozen
class Example:
    text: str
    intent: str
    entities: tuple[tuple[int, int, str], ...] = ()


@attrs.frozen
class BotData:
    """Everything one bot's models are trained from."""

    bot: str
    examples: dict[str, tuple[Example, ...]]
    """Per language."""
    patterns: tuple[dict[str, Any], ...]
    """Entity-ruler patterns from ``entities.jsonl`` (the examples' spans are added per language)."""
    digest: dict[str, str]
    """Per language, a hash of the files the model is trained from."""

    def intents(self, lang: str) -> list[str]:
        return sorted({e.intent for e in self.examples.get(lang, ())})

    def intents_with(self, label: str) -> frozenset[str]:
        """The intents (of any language) with an example that labels a ``label`` entity."""
        return frozenset(
            e.intent for examples in self.examples.values() for e in examples
            if any(span[2] == label for span in e.entities)
        )  # fmt: skip

    def ruler_patterns(self, lang: str) -> list[dict[str, Any]]:
        """Phrase patterns: the bot's own, plus every labelled non built-in span of ``lang``."""
        patterns = [p for p in self.patterns if p.get("lang", lang) == lang]
        seen = {(p["label"], str(p["pattern"]).lower()) for p in patterns}
        for example in self.examples.get(lang, ()):
            for start, end, label in example.entities:
                if label in LABELS:
                    continue
                text = example.text[start:end]
                if (label, text.lower()) not in seen:
                    seen.add((label, text.lower()))
                    patterns.append({"label": label, "pattern": text, "id": text.lower()})
        return [{k: val for k, val in p.items() if k != "lang"} for p in patterns]


def _read_jsonl(path: Path, errors: list[str]) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{number}: not valid JSON: {exc.msg}")
            continue
        if not isinstance(row, dict):
            errors.append(f"{path}:{number}: expected a JSON object")
            continue
        rows.append((number, row))
    return rows


def _example(path: Path, number: int, row: dict[str, Any], errors: list[str]) -> Example | None:
    where = f"{path}:{number}"
    text, intent = row.get("text"), row.get("intent")
    if not isinstance(text, str) or not text.strip():
        errors.append(f"{where}: text: expected a non-empty string")
        return None
    if not isinstance(intent, str) or not intent.strip():
        errors.append(f"{where}: intent: expected a non-empty string")
        return None
    spans = []
    for index, entity in enumerate(row.get("entities") or []):
        start, end, label = (entity.get(k) for k in ("start", "end", "label"))
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            errors.append(
                f"{where}: entities[{index}]: start/end must be offsets into text (0 <= start < end)"
            )
        elif not isinstance(label, str) or not label:
            errors.append(f"{where}: entities[{index}].label: expected a non-empty string")
        else:
            spans.append((start, end, label))
    return Example(text, intent, tuple(spans))


def load_bot_data(bot: str, path: Path, languages: tuple[str, ...]) -> BotData:
    """Read and check a bot folder's intents and patterns; raise :class:`DataError` on problems."""
    errors: list[str] = []
    examples: dict[str, tuple[Example, ...]] = {}
    digest: dict[str, str] = {}
    patterns: list[dict[str, Any]] = []
    pattern_file = path / "entities.jsonl"
    pattern_bytes = b""
    if pattern_file.exists():
        pattern_bytes = pattern_file.read_bytes()
        for number, row in _read_jsonl(pattern_file, errors):
            if not isinstance(row.get("label"), str) or not isinstance(row.get("pattern"), str | list):
                errors.append(f"{pattern_file}:{number}: expected {{'label': ..., 'pattern': ...}}")
            else:
                patterns.append(row)
    for lang in languages:
        file = path / "intents" / f"{lang}.jsonl"
        if not file.exists():
            continue
        rows = [_example(file, n, row, errors) for n, row in _read_jsonl(file, errors)]
        found = tuple(e for e in rows if e is not None)
        if len({e.intent for e in found}) < 2:
            errors.append(f"{file}: needs examples of at least two intents")
        examples[lang] = found
        digest[lang] = hashlib.sha256(file.read_bytes() + b"\0" + pattern_bytes).hexdigest()
    if errors:
        raise DataError(errors)
    return BotData(bot=bot, examples=examples, patterns=tuple(patterns), digest=digest)


def read_examples(path: Path) -> list[Example]:
    """Labelled examples from a JSONL file (for measuring accuracy); raise :class:`DataError`."""
    errors: list[str] = []
    rows = [_example(path, n, row, errors) for n, row in _read_jsonl(path, errors)]
    if errors:
        raise DataError(errors)
    return [e for e in rows if e is not None]
