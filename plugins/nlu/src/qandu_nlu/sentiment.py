"""Sentiment of a message: a score in [-1, 1] and a label (negative, neutral, positive).

English uses VADER (``vaderSentiment``), a lexicon and rule-based scorer tuned for short
informal text.  No German model ships with any well-kept library we could install (the
German sentiment packages need a transformer download or carry the non-commercial SentiWS
lexicon), so German uses :class:`GermanSentiment`: the same method and scale as VADER with
a lexicon written for support conversations (``data/sentiment_de.tsv``) and German rules:
negation before *and* after the word within a clause (``gefällt mir nicht``), intensifiers
and dampeners (``sehr``, ``total``, ``etwas``), ``aber`` shifting the weight to what
follows, CAPITALS and exclamation marks.  Both return VADER's normalised compound score.
"""

from __future__ import annotations

import math
import re
from importlib import resources

import attrs
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

_ALPHA = 15  # VADER's normalisation constant
_CAPS_BOOST = 0.733
_BOOST = 0.293
_NEGATION = -0.74
_WINDOW = 3

_NEGATORS = frozenset(
    ("nicht", "nichts", "nie", "niemals", "kein", "keine", "keinen", "keinem", "keiner", "keines", "ohne",
     "weder", "kaum", "nirgends")
)  # fmt: skip
_INTENSIFIERS = (
    "sehr", "extrem", "total", "echt", "wirklich", "absolut", "richtig", "völlig", "voll", "äußerst",
    "ausgesprochen", "besonders", "unglaublich", "mega", "super", "so", "zu", "ganz", "komplett", "enorm",
    "höchst", "wahnsinnig",
)  # fmt: skip
_DAMPENERS = ("etwas", "bisschen", "eher", "leicht", "teilweise", "ziemlich", "relativ", "einigermaßen")
_BOOSTERS = {**dict.fromkeys(_INTENSIFIERS, _BOOST), **dict.fromkeys(_DAMPENERS, -_BOOST)}
_CLAUSE_BREAKS = frozenset(".,;:!?") | {
    "aber",
    "sondern",
    "jedoch",
    "trotzdem",
    "und",
    "oder",
    "weil",
    "dass",
}
_TOKEN = re.compile(r"[:;][-']?[()dDpP/]|\w+|[^\w\s]", re.UNICODE)
_ENDINGS = ("en", "em", "er", "es", "e")


@attrs.frozen
class Sentiment:
    score: float
    label: str

    def to_json(self) -> dict[str, object]:
        return {"score": self.score, "label": self.label}


def load_lexicon() -> dict[str, float]:
    """The German lexicon shipped with the plugin: ``{word or phrase: valence}``."""
    text = resources.files("qandu_nlu").joinpath("data/sentiment_de.tsv").read_text(encoding="utf-8")
    lexicon = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, valence = line.rsplit("\t", 1)
        lexicon[word.strip().lower()] = float(valence)
    return lexicon


def normalize(total: float) -> float:
    """VADER's mapping of a summed valence onto (-1, 1)."""
    return max(-1.0, min(1.0, total / math.sqrt(total * total + _ALPHA)))


class GermanSentiment:
    """VADER's method with a German lexicon and German negation rules."""

    def __init__(self, lexicon: dict[str, float] | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else load_lexicon()
        self.max_phrase = max(len(key.split()) for key in self.lexicon)

    def _lookup(self, word: str) -> float | None:
        if word in self.lexicon:
            return self.lexicon[word]
        for ending in _ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                stem = word[: -len(ending)]
                if stem in self.lexicon:
                    return self.lexicon[stem]
        return None

    def _match(self, words: list[str], i: int) -> tuple[float, int] | None:
        for size in range(min(self.max_phrase, len(words) - i), 1, -1):
            phrase = " ".join(words[i : i + size])
            if phrase in self.lexicon:
                return self.lexicon[phrase], size
        value = self._lookup(words[i])
        return None if value is None else (value, 1)

    def score(self, text: str) -> float:
        tokens = _TOKEN.findall(text)
        words = [t.lower() for t in tokens]
        shouting = any(t.isupper() and len(t) > 1 for t in tokens) and not all(
            t.isupper() for t in tokens if t.isalpha()
        )
        clause = _clauses(words)
        but = next((i for i, w in enumerate(words) if w == "aber"), None)
        total, i = 0.0, 0
        while i < len(words):
            found = self._match(words, i)
            if found is None:
                i += 1
                continue
            value, size = found
            span = range(i, i + size)
            if shouting and tokens[i].isupper() and len(tokens[i]) > 1:
                value += math.copysign(_CAPS_BOOST, value)
            for j in (i - 1, i - 2):
                if j >= 0 and clause[j] == clause[i] and words[j] in _BOOSTERS:
                    value += _BOOSTERS[words[j]] * (1 if value > 0 else -1) * (1 if j == i - 1 else 0.95)
            window = [*range(i - _WINDOW, i), *range(i + size, i + size + _WINDOW)]
            if any(
                0 <= j < len(words) and j not in span and clause[j] == clause[i] and words[j] in _NEGATORS
                for j in window
            ):
                value *= _NEGATION
            if but is not None:
                value *= 0.5 if i < but else 1.5
            total += value
            i += size
        if total:
            total += math.copysign(min(text.count("!"), 4) * 0.292, total)
        return round(normalize(total), 4)


def _clauses(words: list[str]) -> list[int]:
    """Number each token with its clause (negation and boosters do not cross clauses)."""
    numbers, current = [], 0
    for word in words:
        if word in _CLAUSE_BREAKS:
            current += 1
        numbers.append(current)
    return numbers


class _Vader(SentimentIntensityAnalyzer):
    """VADER, reading "never ... such bad" as emphasis like it already reads "never so bad"."""

    @staticmethod
    def _negation_check(valence: float, words_and_emoticons: list[str], start_i: int, i: int) -> float:
        lowered = [str(w).lower() for w in words_and_emoticons[max(0, i - start_i - 1) : i]]
        if lowered and lowered[0] == "never" and "such" in lowered:
            return valence * 1.25
        return SentimentIntensityAnalyzer._negation_check(valence, words_and_emoticons, start_i, i)


class SentimentScorer:
    """Scores text in the bot's languages; thresholds decide the label."""

    def __init__(self, *, negative_below: float, positive_above: float) -> None:
        self.negative_below = negative_below
        self.positive_above = positive_above
        self._vader = _Vader()
        self._german = GermanSentiment()

    def score(self, text: str, language: str) -> float:
        if language == "de":
            return self._german.score(text)
        return round(self._vader.polarity_scores(text)["compound"], 4)

    def __call__(self, text: str, language: str) -> Sentiment:
        score = self.score(text, language)
        if score <= self.negative_below:
            label = "negative"
        elif score >= self.positive_above:
            label = "positive"
        else:
            label = "neutral"
        return Sentiment(score, label)
