"""What the store hands out besides the library's own types (rag/types.py): an article's
citation fields, a stored sentence with its vector, and the compact encoding of a sentence's
spans. Kept apart from the Store class so that its read and write halves, and callers, share
one definition of each without importing one another.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

from rag.embed import Vectors
from rag.types import Article, Chunk, Sentence, SpanCandidate


class ArticleMeta(NamedTuple):
    title: str
    date: str | None
    source: str
    date_inferred: bool
    url: str | None
    group_id: str


class StoredSentence(NamedTuple):
    """A sentence as the index holds it; `spans` as encode_spans() wrote them (None: not
    found at ingest, an index from before that)."""

    idx: int  # its place in the article
    start: int
    end: int
    vec: Vectors
    spans: str | None

    def span_candidates(self, text: str) -> tuple[SpanCandidate, ...] | None:
        """Its spans over its `text` (the sentence itself), or None when not stored."""
        return decode_spans(self.spans, text)


def encode_spans(spans: Sequence[SpanCandidate] | None) -> str | None:
    """Spans as compact JSON of [start, end, label] (the text is the sentence's own)."""
    if spans is None:
        return None
    return json.dumps([[sp.start, sp.end, sp.label] for sp in spans], separators=(",", ":"))


def decode_spans(raw: str | None, text: str) -> tuple[SpanCandidate, ...] | None:
    """What encode_spans() wrote, over the sentence `text`; None when nothing (or something
    unreadable or out of the sentence's bounds) was stored: the reader then finds them."""
    if raw is None:
        return None
    try:
        rows = json.loads(raw)
        out = tuple(SpanCandidate(text[s:e], s, e, str(lab)) for s, e, lab in rows
                    if isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= len(text))
    except (ValueError, TypeError):
        return None
    return out if len(out) == len(rows) else None


# (article, chunks, chunk vectors, sentences, sentence vectors): one article ready to store.
Derived = tuple[Article, Sequence[Chunk], Vectors, Sequence[Sentence], Vectors]
