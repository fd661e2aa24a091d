"""What the intent classifier sees: lower-cased words, entities masked, stems and affixes.

Masking the built-in entities (``order 48213`` -> ``order <order_number>``) lets every order
number, amount and date count as the same feature, so ``it's 48213`` and ``it's 50871`` look
alike.  Snowball stems (PyStemmer) are added as extra ``~stem`` features: German inflects and
compounds heavily, and ``Rücksendung``/``zurücksenden`` share little else with the training
data.  Long words also count by their first and last four letters (``<rück``, ``ikett>``),
which catches compounds (``Rücksendeetikett``, ``Passworteingabe``) that share no whole
word with the training data.  Measured on the demo bot (5-fold cross-validation on the
training data / the held-out set), German went from 58% / 88% to 64% / 91% and English
from 61% / 93% to 67% / 95%, at a cost of a few microseconds per message.
"""

from __future__ import annotations

from collections.abc import Sequence

import Stemmer
from spacy.language import Language
from spacy.tokens import Doc

from qandu_nlu.entities import Entity

AFFIX_FROM = 6
"""Words this long also count by their first and last ``AFFIX`` letters (compounds)."""
AFFIX = 4
_STEMMERS = {
    "da": "danish", "de": "german", "en": "english", "es": "spanish", "fi": "finnish",
    "fr": "french", "hu": "hungarian", "it": "italian", "nl": "dutch", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish", "tr": "turkish",
}  # fmt: skip


def stemmer_for(lang: str) -> Stemmer.Stemmer | None:
    """The Snowball stemmer of ``lang``, or ``None`` if Snowball has none."""
    name = _STEMMERS.get(lang)
    return Stemmer.Stemmer(name) if name in Stemmer.algorithms() else None


def feature_words(doc: Doc, masked: Sequence[Entity], stemmer: Stemmer.Stemmer | None) -> list[str]:
    """The classifier's input words for ``doc`` (tokenised text) with ``masked`` entities."""
    words: list[str] = []
    spans = sorted((e.start, e.end, e.label.lower()) for e in masked)
    k = 0
    for token in doc:
        start = token.idx
        while k < len(spans) and spans[k][1] <= start:
            k += 1
        if k < len(spans) and spans[k][0] <= start < spans[k][1]:
            if not words or words[-1] != f"<{spans[k][2]}>":
                words.append(f"<{spans[k][2]}>")
            continue
        if token.is_space:
            continue
        words.append(token.lower_)
    alpha = [w for w in words if w.isalpha()]
    words += [f"<{w[:AFFIX]}" for w in alpha if len(w) >= AFFIX_FROM]
    words += [f"{w[-AFFIX:]}>" for w in alpha if len(w) >= AFFIX_FROM]
    if stemmer is not None:
        words += [
            f"~{stem}" for stem, word in zip(stemmer.stemWords(alpha), alpha, strict=True) if stem != word
        ]
    return words or ["<empty>"]


def feature_doc(nlp: Language, doc: Doc, masked: Sequence[Entity], stemmer: Stemmer.Stemmer | None) -> Doc:
    """A new :class:`Doc` of :func:`feature_words`, ready for the ``textcat`` component."""
    return Doc(nlp.vocab, words=feature_words(doc, masked, stemmer))
