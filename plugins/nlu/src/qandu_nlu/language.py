"""Which of the bot's languages a message is written in.

``lingua-language-detector`` is built for the bot's languages only (all of lingua's 75
languages would cost about 1.4 GB; two cost a few MB and about 0.1 ms a message).  Short
messages are where detectors guess: lingua calls "Hallo" English with 87% confidence.  So
for messages of up to three words the words only one language's training data uses decide
first; then lingua's guess counts if it is at least ``min_confidence``; then those words
again; and when nothing decides, the conversation keeps its language (the previous
message's, else the locale the widget sent, else the bot's default).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

SHORT = 3
"""Up to this many words, the training vocabulary speaks before the detector."""
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


@attrs.frozen
class Detected:
    language: str
    confidence: float
    source: str
    """``detector``, ``vocabulary`` or ``context`` (the fallback)."""


def _lingua(code: str) -> Language | None:
    iso = getattr(IsoCode639_1, code.upper(), None)
    return None if iso is None else Language.from_iso_code_639_1(iso)


class LanguageGuesser:
    """Detects one of ``languages``; see the module docstring for the fallbacks."""

    def __init__(
        self,
        languages: Iterable[str],
        *,
        min_confidence: float,
        vocabularies: dict[str, set[str]] | None = None,
    ) -> None:
        self.languages = tuple(dict.fromkeys(languages))
        self.min_confidence = min_confidence
        known = {code: _lingua(code) for code in self.languages}
        self._codes = {lang: code for code, lang in known.items() if lang is not None}
        self._detector: LanguageDetector | None = None
        if len(self._codes) >= 2:
            self._detector = LanguageDetectorBuilder.from_languages(*self._codes).build()
        self._vocabulary: dict[str, set[str]] = {}
        vocabularies = vocabularies or {}
        for code in self.languages:
            others = set().union(*(vocabularies.get(c, set()) for c in self.languages if c != code))
            self._vocabulary[code] = vocabularies.get(code, set()) - others

    def warm_up(self) -> None:
        """Load the detector's language models now rather than on the first message."""
        if self._detector is not None:
            self._detector.compute_language_confidence_values("warm up the language models")

    def detect(self, text: str, fallback: str) -> Detected:
        """The language of ``text``; ``fallback`` when the text does not tell."""
        if len(self.languages) == 1:
            return Detected(self.languages[0], 1.0, "context")
        words = [w.lower() for w in _WORD.findall(text)]
        hits = {code: sum(w in vocabulary for w in words) for code, vocabulary in self._vocabulary.items()}
        best = max(hits.values(), default=0)
        leaders = [code for code, count in hits.items() if count == best]
        by_vocabulary = leaders[0] if best > 0 and len(leaders) == 1 else None
        if by_vocabulary is not None and len(words) <= SHORT:
            return Detected(by_vocabulary, round(best / len(words), 3), "vocabulary")
        if self._detector is not None and sum(len(w) for w in words) >= 2:
            values = self._detector.compute_language_confidence_values(text)
            if values and values[0].value >= self.min_confidence:
                return Detected(self._codes[values[0].language], round(values[0].value, 3), "detector")
        if by_vocabulary is not None:
            return Detected(by_vocabulary, round(best / len(words), 3), "vocabulary")
        return Detected(fallback, 0.0, "context")


def vocabulary(texts: Iterable[str]) -> set[str]:
    """The lower-cased words of ``texts``."""
    return {w.lower() for text in texts for w in _WORD.findall(text)}
