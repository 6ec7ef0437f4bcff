"""The Pipeline: the one object the CLI, the UI, the HTTP API and the eval talk to.

(Interface first; the stages are filled in by the foundation work.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.settings import Settings
from rag.types import Answer, Article, ArticleSummary, IngestReport, Passage, Turn

Progress = Callable[[int, int, str], None]  # (done, total, label)


class Pipeline:
    """Thread-safe facade over ingest -> chunk -> embed -> store -> retrieve -> answer -> cite."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def ensure_sample_corpus(self, progress: Progress | None = None) -> IngestReport | None:
        """On first use of an empty index, ingest `settings.sample_dir`. None if nothing done."""
        raise NotImplementedError

    def ingest(self, paths: Sequence[str | Path], progress: Progress | None = None) -> IngestReport:
        raise NotImplementedError

    def ingest_bytes(self, filename: str, data: bytes) -> IngestReport:
        """Ingest an uploaded file; `filename` only decides the format (never a path)."""
        raise NotImplementedError

    def list_articles(self) -> list[ArticleSummary]:
        raise NotImplementedError

    def get_article(self, article_id: str) -> Article:
        raise NotImplementedError

    def delete_article(self, article_id: str) -> None:
        raise NotImplementedError

    def reindex(self, progress: Progress | None = None) -> IngestReport:
        raise NotImplementedError

    def ask(self, question: str, history: Sequence[Turn] | None = None,
            top_k: int | None = None) -> Answer:
        raise NotImplementedError

    def ask_stream(self, question: str, history: Sequence[Turn] | None = None,
                   top_k: int | None = None) -> Iterator[str | Answer]:
        """Yield text deltas (str) as the answer is produced, then the final `Answer` last."""
        raise NotImplementedError

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        """The fused ranking (best first) without answering; used by the eval's retrieval metrics."""
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass
