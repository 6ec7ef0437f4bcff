"""newsrag's own types: every stage boundary speaks these, never llama-index or Chroma objects.

All are frozen dataclasses so they can be shared between threads and cached safely.
`to_dict()` gives the JSON contract used by the CLI (`--json`), the HTTP API and the eval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RawDocument:
    """One article as read from its input, before cleaning."""

    text: str
    origin: str
    filename: str
    title: str | None = None
    date: str | None = None
    url: str | None = None
    source: str | None = None
    author: str | None = None
    # When the text was fetched (ISO): no publication date is later; reads "2 hours ago".
    crawled: str | None = None


@dataclass(frozen=True)
class Article:
    """A cleaned article as stored in the index.

    `text` is the cleaned text; every offset in `Chunk` and `Citation` points into it.
    `origin` identifies where the article came from (file path, URL, or path#record) so that
    re-ingesting changed content from the same origin replaces the old version.
    """

    id: str
    title: str
    text: str
    date: str | None = None  # ISO YYYY-MM-DD
    source: str = ""  # publisher, or the file name when none is known
    url: str | None = None
    author: str | None = None
    origin: str = ""
    date_inferred: bool = False

    def to_dict(self, include_text: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "date_inferred": self.date_inferred,
            "source": self.source,
            "url": self.url,
            "author": self.author,
            "origin": self.origin,
        }
        if include_text:
            d["text"] = self.text
        return d


@dataclass(frozen=True)
class Chunk:
    """A contiguous span of an article: `article.text[start:end] == text`."""

    id: str  # "<article_id>:<index>"
    article_id: str
    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class SpanCandidate:
    """Words of a sentence that could answer: `sentence[start:end] == text`."""

    text: str
    start: int
    end: int
    label: str  # an entity label of the NER model, or NOUN_CHUNK (rag/nlp.py)


@dataclass(frozen=True)
class Sentence:
    """A sentence span inside an article (offsets into the article text), with its named
    entities and noun chunks when they were found at ingest (rag/nlp.py)."""

    article_id: str
    index: int
    start: int
    end: int
    text: str
    spans: tuple[SpanCandidate, ...] | None = None


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with the article metadata a citation needs and its retrieval scores."""

    chunk: Chunk
    title: str
    date: str | None
    source: str
    score: float  # fused score (higher is better)
    dense_score: float | None = None  # cosine similarity, when the dense retriever found it
    keyword_score: float | None = None  # BM25, when the keyword retriever found it
    rank: int = 0
    date_inferred: bool = False  # the date was estimated from the text (rag/dates.py)
    url: str | None = None  # the article's canonical URL, for deep links
    group_id: str = ""  # articles that copy one another share it (rag/dedup.py)
    also: tuple[str, ...] = ()  # other sources of the same passage, collapsed into this one

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.chunk.article_id,
            "chunk_id": self.chunk.id,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "text": self.chunk.text,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Citation:
    """One numbered source of an answer. `quote == article.text[start:end]`."""

    n: int
    article_id: str
    title: str
    date: str | None
    source: str
    chunk_id: str
    quote: str
    start: int
    end: int
    score: float
    # Optional, serialised only when set: the sources that carried the same passage (copies
    # collapsed at retrieval), a link that opens the web article at the quote, and whether
    # `date` was estimated from the text.
    also_reported_by: tuple[str, ...] = ()
    url: str | None = None
    date_inferred: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "n": self.n,
            "article_id": self.article_id,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "chunk_id": self.chunk_id,
            "quote": self.quote,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 6),
        }
        if self.also_reported_by:
            d["also_reported_by"] = list(self.also_reported_by)
        if self.url:
            d["url"] = self.url
        if self.date_inferred:
            d["date_inferred"] = True
        return d


@dataclass(frozen=True)
class ShortAnswer:
    """The few words that answer ("ICE agents", "April 15"): a span of a cited quote.

    `article_id`'s stored text satisfies `text[start:end] == self.text`, and the span lies inside
    the quote of the citation numbered `citation`.
    """

    text: str
    article_id: str
    start: int
    end: int
    citation: int
    confidence: float = 0.0  # the reader's probability that these words are the answer

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "article_id": self.article_id, "start": self.start,
                "end": self.end, "citation": self.citation,
                "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class Answer:
    """The answer to one question.

    `text` carries `[n]` markers; every marker has a `Citation` with that `n`. When `abstained`
    is true, `text` says the articles don't answer and `passages` holds the nearest passages.
    """

    question: str
    text: str
    abstained: bool
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    standalone_question: str | None = None  # the question as understood after follow-up handling
    confidence: float = 0.0  # the answerer's confidence (0-1); below the threshold it abstains
    # LLM backends (rag/generate.py): which backend wrote `text`, the draft sentences the
    # verifier removed as unsupported, and the backend failure that forced the extractive
    # fallback. Serialised only when they differ from the extractive defaults.
    backend: str = "extractive"
    removed: tuple[str, ...] = ()
    backend_error: str | None = None
    # The few words that answer, when the reader found them inside a cited quote.
    short_answer: ShortAnswer | None = None
    as_of: str | None = None  # the day "now", "this week" and "latest" were read against
    # Undated articles among the best matches that a since/until filter left out.
    undated_left_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "question": self.question,
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
            "answer": self.text,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
        }
        if self.as_of:
            d["as_of"] = self.as_of
        if self.undated_left_out:
            d["undated_left_out"] = self.undated_left_out
        if self.standalone_question and self.standalone_question != self.question:
            d["standalone_question"] = self.standalone_question
        if self.abstained:
            d["nearest_passages"] = [p.to_dict() for p in self.passages]
        if self.backend != "extractive":
            d["backend"] = self.backend
        if self.removed:
            d["removed"] = list(self.removed)
        if self.backend_error:
            d["backend_error"] = self.backend_error
        return d


@dataclass(frozen=True)
class IngestReport:
    """What an ingest run did, per article."""

    added: tuple[str, ...] = ()  # article ids newly stored
    replaced: tuple[str, ...] = ()  # ids stored in place of an older version from the same origin
    unchanged: tuple[str, ...] = ()  # ids already present: nothing written
    removed: tuple[str, ...] = ()  # old ids replaced by new content
    chunks_added: int = 0
    errors: tuple[tuple[str, str], ...] = ()  # (path, message) for inputs that were rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "replaced": list(self.replaced),
            "unchanged": list(self.unchanged),
            "removed": list(self.removed),
            "chunks_added": self.chunks_added,
            "errors": [{"path": p, "error": m} for p, m in self.errors],
        }


@dataclass(frozen=True)
class ArticleSummary:
    """A row of `newsrag list`."""

    id: str
    title: str
    date: str | None
    source: str
    chunks: int
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "chunks": self.chunks,
            "url": self.url,
        }


@dataclass(frozen=True)
class Turn:
    """One earlier message of a conversation."""

    role: str  # "user" or "assistant"
    content: str
