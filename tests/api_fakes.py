"""The in-memory stand-in for the pipeline that the HTTP API tests drive (test_api_*.py):
deterministic, no models, no index. Its `fake` and `client` fixtures are in conftest.py; the
real pipeline behind the API is driven in test_server.py."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from rag.errors import InputError, NotFoundError, UnsupportedFormatError
from rag.types import Answer, Article, ArticleSummary, Chunk, Citation, IngestReport, Passage, Turn

WORD = re.compile(r"[a-z0-9]+")
STOP = {"the", "a", "of", "in", "to", "when", "must", "who", "what", "is", "did", "does", "how"}


class FakePipeline:
    """Deterministic stand-in: one-sentence chunks, word-overlap retrieval, quote-the-best answer.

    Enough behaviour for the API's contract (citations whose span is the quote, abstention,
    errors, uploads) without loading models.
    """

    def __init__(self, articles: Sequence[Article] = ()) -> None:
        self.articles = {a.id: a for a in articles}
        self.calls: list[tuple[str, list[Turn]]] = []
        self.ranges: list[tuple[str | None, str | None]] = []
        self.lock = threading.Lock()

    def _sentences(self) -> list[tuple[Article, int, int]]:
        out = []
        for a in self.articles.values():
            for m in re.finditer(r"[^.!?]+[.!?]?", a.text):
                s, e = m.start(), m.end()
                while s < e and a.text[s].isspace():
                    s += 1
                if e > s:
                    out.append((a, s, e))
        return out

    def ask(self, question: str, history: Sequence[Turn] | None = None,
            top_k: int | None = None, since: str | None = None,
            until: str | None = None, as_of: str | None = None,
            include_undated: bool | None = None) -> Answer:
        if not question.strip():
            raise InputError("The question is empty.", hint="Type a question.")
        with self.lock:
            self.calls.append((question, list(history or [])))
            self.ranges.append((since, until))
        words = set(WORD.findall(question.lower())) - STOP
        ranked = sorted(
            self._sentences(),
            key=lambda t: -len(words & set(WORD.findall(t[0].text[t[1]:t[2]].lower()))),
        )
        passages = tuple(
            Passage(Chunk(f"{a.id}:{i}", a.id, i, a.text[s:e], s, e), a.title, a.date, a.source,
                    score=1.0 / (i + 1))
            for i, (a, s, e) in enumerate(ranked[: top_k or 3])
        )
        best = ranked[0] if ranked else None
        if best is None or not words & set(WORD.findall(best[0].text[best[1]:best[2]].lower())):
            return Answer(question, "The articles don't say.", True, (), passages, {"total": 1.0})
        a, s, e = best
        cite = Citation(1, a.id, a.title, a.date, a.source, f"{a.id}:0", a.text[s:e], s, e, 0.9)
        return Answer(question, f"{a.text[s:e]} [1]", False, (cite,), passages, {"total": 1.0})

    def ask_stream(self, question: str, history: Sequence[Turn] | None = None,
                   top_k: int | None = None, since: str | None = None,
                   until: str | None = None) -> Iterator[str | Answer]:
        answer = self.ask(question, history, top_k)
        yield from re.findall(r"\S+\s*", answer.text)  # as the pipeline streams it
        yield answer

    def list_articles(self, limit: int | None = None, offset: int = 0) -> list[ArticleSummary]:
        rows = [ArticleSummary(a.id, a.title, a.date, a.source, 1) for a in self.articles.values()]
        return rows[offset:None if limit is None else offset + limit]

    def article_count(self) -> int:
        return len(self.articles)

    def get_article(self, article_id: str) -> Article:
        try:
            return self.articles[article_id]
        except KeyError:
            raise NotFoundError(f"No article {article_id!r}.") from None

    def delete_article(self, article_id: str) -> None:
        self.get_article(article_id)
        del self.articles[article_id]

    def ingest_uploads(self, files: Sequence[tuple[str, bytes]], replace: bool = False,
                       cancelled: Any = None) -> IngestReport:
        reports = [self.ingest_bytes(name, data) for name, data in files]
        return IngestReport(added=tuple(x for r in reports for x in r.added),
                            unchanged=tuple(x for r in reports for x in r.unchanged),
                            chunks_added=sum(r.chunks_added for r in reports))

    def ingest_bytes(self, filename: str, data: bytes) -> IngestReport:
        if not filename.endswith((".txt", ".md")):
            raise UnsupportedFormatError(f"Cannot read {filename}.", hint="Use .txt or .md.")
        text = data.decode()
        aid = f"up{len(self.articles)}"
        if any(a.text == text for a in self.articles.values()):
            return IngestReport(unchanged=(aid,))
        self.articles[aid] = Article(aid, filename, text, "2024-05-01", filename)
        return IngestReport(added=(aid,), chunks_added=1)

    def stats(self) -> dict[str, Any]:
        return {"articles": len(self.articles), "chunks": len(self._sentences()),
                "embed_model": "fake", "version": "test"}

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        return list(self.ask(question, None, top_k).passages)

    def ensure_sample_corpus(self, progress: Any = None) -> None:
        return None

    def close(self) -> None:
        pass


NIGER = Article(
    "niger1", "US to withdraw troops from Niger", "Niger ordered the US to leave. "
    "The US troops must leave Niger by September 15. Talks continue.", "2024-05-20", "AP",
)
