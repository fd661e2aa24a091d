"""The bot's knowledge base: Markdown articles split into passages, ranked with BM25.

Each ``## Section`` of ``bots/<bot>/knowledge/<slug>.md`` (English, or the bot's default
language) or ``<slug>.<lang>.md`` is one passage.  One index is built per language, so a
German question is only answered from German articles.  An article may start with YAML
front matter naming the intents it answers::

    ---
    intents: [cancel_order]
    ---
    # Cancelling or Changing an Order

When the NLU is confident of such an intent, the passages of its articles rank higher
(``search(..., boost=...)``): "how long does it take?" asked about a refund gets the refunds
article, not the shipping times.

Retrieval is Okapi BM25 (``bm25s``) over Snowball-stemmed words without stop words; the
section heading and the article title are indexed with the body, so a question that names
the topic ("Klarna", "Packstation") finds its section.  Why BM25 and how it was measured:
``plugins/autoreply/README.md``.

BM25 scores are unbounded, so a reply needs a confidence in [0, 1]: the share of the
question's information (the IDF weight of its distinct terms) found in the passage.  Terms the
knowledge base has never seen count as much as its rarest term, so "what's the weather in Paris"
has a confidence near 0, while chatty words around a real question do not sink it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import attrs
import bm25s
import numpy as np
import Stemmer
import yaml
from bm25s import stopwords

from qandu.errors import ConfigError

#: Snowball stemmer and stop words (bm25s's lists) for each supported language.
LANGUAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "en": ("english", stopwords.STOPWORDS_EN_PLUS),
    "de": ("german", stopwords.STOPWORDS_GERMAN),
    "fr": ("french", stopwords.STOPWORDS_FRENCH),
    "es": ("spanish", stopwords.STOPWORDS_SPANISH),
    "it": ("italian", stopwords.STOPWORDS_ITALIAN),
    "nl": ("dutch", stopwords.STOPWORDS_DUTCH),
}

#: Weight of a query term that occurs in no passage, relative to the rarest known term.
UNKNOWN_TERM_WEIGHT = 1.0

_WORD = re.compile(r"\w+(?:[-']\w+)*", re.UNICODE)


@attrs.frozen
class Passage:
    """One ``##`` section of an article."""

    id: str
    """``<file stem>#<section anchor>``, e.g. ``shipping.de#deutschland``."""
    article: str
    title: str
    heading: str
    text: str
    language: str
    path: Path
    intents: tuple[str, ...] = ()
    """The intents its article answers (front matter ``intents:``)."""


@attrs.frozen
class Hit:
    """A ranked passage: BM25 ``score`` and ``confidence`` in [0, 1]."""

    passage: Passage
    score: float
    confidence: float


def anchor(heading: str) -> str:
    """A URL fragment for a heading: lower case, words joined with ``-``."""
    return re.sub(r"[^\w]+", "-", heading.lower()).strip("-")


def article_language(path: Path, default_language: str) -> str:
    """``returns.de.md`` is German; ``returns.md`` is in the bot's default language."""
    suffixes = path.name.split(".")[1:-1]
    return suffixes[-1] if suffixes else default_language


def front_matter(text: str, path: Path) -> tuple[dict[str, object], str]:
    """The YAML front matter of an article (``{}`` if it has none) and the rest of its text."""
    if not text.startswith("---\n"):
        return {}, text
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise ConfigError([f"{path}: front matter is not closed with a '---' line"])
    try:
        data = yaml.safe_load(head) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: front matter is not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: front matter must be a mapping such as 'intents: [refund]'"])
    return data, body


def split_article(path: Path, language: str) -> list[Passage]:
    """Split one Markdown article into passages, one per ``##`` section.

    Text before the first ``##`` (after the ``#`` title) becomes a passage headed by the
    title; empty sections are skipped.
    """
    meta, body = front_matter(path.read_text(encoding="utf-8"), path)
    intents = meta.get("intents", [])
    if not isinstance(intents, list) or not all(isinstance(i, str) for i in intents):
        raise ConfigError([f"{path}: front matter 'intents' must be a list of intent names"])
    title = path.stem
    sections: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("# ") and not sections:
            title = line[2:].strip()
        elif line.startswith("## "):
            sections.append((line[3:].strip(), []))
        elif line.strip():
            if not sections:
                sections.append((title, []))
            sections[-1][1].append(line.strip())
    stem = path.name.removesuffix(".md")
    article = stem.split(".")[0]
    return [
        Passage(
            id=f"{stem}#{anchor(heading)}",
            article=article,
            title=title,
            heading=heading,
            text=" ".join(lines),
            language=language,
            path=path,
            intents=tuple(intents),
        )
        for heading, lines in sections
        if lines
    ]


def load_passages(folder: Path, default_language: str) -> dict[str, list[Passage]]:
    """Every passage under ``folder``, grouped by language (empty if there is no folder)."""
    grouped: dict[str, list[Passage]] = {}
    if not folder.is_dir():
        return grouped
    for path in sorted(folder.glob("*.md")):
        language = article_language(path, default_language)
        grouped.setdefault(language, []).extend(split_article(path, language))
    return grouped


class Analyzer:
    """Text to index terms for one language: words, lower case, no stop words, stemmed."""

    def __init__(self, language: str) -> None:
        stemmer_name, words = LANGUAGES.get(language, LANGUAGES["en"])
        self._stemmer = Stemmer.Stemmer(stemmer_name)
        self._stopwords = frozenset(words)

    def __call__(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in self._stopwords]
        return self._stemmer.stemWords(words)


class KnowledgeIndex:
    """A BM25 index over one language's passages.  Building and searching are CPU work:
    call them in a worker thread."""

    def __init__(self, passages: list[Passage], language: str) -> None:
        self.passages = passages
        self.language = language
        self.analyze = Analyzer(language)
        docs = [self.analyze(f"{p.title} {p.heading} {p.heading} {p.text}") for p in passages]
        self._vocab: dict[str, int] = {}
        for doc in docs:
            for term in doc:
                self._vocab.setdefault(term, len(self._vocab))
        self._doc_terms = [frozenset(doc) for doc in docs]
        self._retriever = bm25s.BM25()
        if docs:
            ids = [[self._vocab[t] for t in doc] for doc in docs]
            self._retriever.index(
                bm25s.tokenization.Tokenized(ids=ids, vocab=self._vocab), show_progress=False
            )
        n = len(passages)
        df: dict[str, int] = {}
        for terms in self._doc_terms:
            for term in terms:
                df[term] = df.get(term, 0) + 1
        self._idf = {term: math.log(1 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}
        self._unknown_idf = UNKNOWN_TERM_WEIGHT * math.log(1 + (n + 0.5) / 0.5)
        tagged: dict[str, list[int]] = {}
        for index, passage in enumerate(passages):
            for intent in passage.intents:
                tagged.setdefault(intent, []).append(index)
        self._tagged = {intent: np.array(indexes) for intent, indexes in tagged.items()}

    def search(self, text: str, k: int = 3, *, boost: dict[str, float] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``text``, best first (none if no term is known).

        :param boost: per intent, how much to lift the passages of articles tagged with it:
            their BM25 score is multiplied by ``1 + boost``.  Their ``confidence`` (how much
            of the question the passage covers) stays as it is.
        """
        terms = list(dict.fromkeys(self.analyze(text)))
        known = [t for t in terms if t in self._vocab]
        if not known or not self.passages:
            return []
        query = [self._vocab[t] for t in known]
        scores = self._retriever.get_scores(query, weight_mask=self._weights(boost or {}))
        k = min(k, len(self.passages))
        top = np.argsort(-scores, kind="stable")[:k]
        total = sum(self._idf.get(t, self._unknown_idf) for t in terms)
        hits = []
        for index in top:
            score = float(scores[index])
            if score <= 0:
                break
            found = sum(self._idf[t] for t in known if t in self._doc_terms[index])
            hits.append(Hit(self.passages[index], score, round(found / total, 4)))
        return hits

    def _weights(self, boost: dict[str, float]) -> np.ndarray | None:
        """Per passage, the factor its score is multiplied by (``None``: no boost applies)."""
        lifted = [
            (self._tagged[intent], weight) for intent, weight in boost.items() if intent in self._tagged
        ]
        if not any(weight > 0 for _, weight in lifted):
            return None
        weights = np.ones(len(self.passages), dtype=np.float32)
        for indexes, weight in lifted:
            weights[indexes] = np.maximum(weights[indexes], 1 + weight)
        return weights


def build_indexes(folder: Path, default_language: str) -> dict[str, KnowledgeIndex]:
    """One index per language found under ``folder``."""
    return {
        language: KnowledgeIndex(passages, language)
        for language, passages in load_passages(folder, default_language).items()
    }


def passages_by_id(indexes: Iterable[KnowledgeIndex]) -> dict[str, Passage]:
    return {p.id: p for index in indexes for p in index.passages}
