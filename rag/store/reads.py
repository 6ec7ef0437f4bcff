"""The store's reads: articles and their summaries, copy groups, chunks, sentences with their
vectors, and the numbers `status`, `doctor` and `/api/health` report. None of it takes the
writer lock, so a reader never waits for a writer (the write path: writes.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.errors import NotFoundError
from rag.store.base import StoreBase
from rag.store.records import ArticleMeta, StoredSentence
from rag.types import Article, ArticleSummary, Chunk


class StoreReads(StoreBase):
    # --- reads -----------------------------------------------------------------------------

    @staticmethod
    def _article(row: Sequence[Any]) -> Article:
        return Article(id=row[0], title=row[1], date=row[2], date_inferred=bool(row[3]),
                       source=row[4], url=row[5], author=row[6], origin=row[7], text=row[8])

    _ARTICLE_COLS = "id, title, date, date_inferred, source, url, author, origin, text"

    def has_article(self, article_id: str) -> bool:
        return self._conn().execute(
            "SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone() is not None

    def get_article(self, article_id: str) -> Article:
        row = self._conn().execute(
            f"SELECT {self._ARTICLE_COLS} FROM articles WHERE id = ?", (article_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No article with id {article_id!r}.",
                                hint="`newsrag list` shows the ids.")
        return self._article(row)

    def all_articles(self) -> list[Article]:
        rows = self._conn().execute(
            f"SELECT {self._ARTICLE_COLS} FROM articles ORDER BY added_at, id").fetchall()
        return [self._article(r) for r in rows]

    def ids_for_origin(self, origin: str) -> list[str]:
        return [r[0] for r in self._conn().execute(
            "SELECT id FROM articles WHERE origin = ?", (origin,))]

    def list_articles(self, limit: int | None = None, offset: int = 0) -> list[ArticleSummary]:
        """Newest first (undated last); a page of them with `limit`/`offset`. The date index
        orders the page: a page of a large archive reads only its own rows."""
        rows = self._conn().execute(
            "SELECT id, title, date, source, chunk_count, url FROM articles "
            "ORDER BY date DESC, added_at, id LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset)).fetchall()
        return [ArticleSummary(id=r[0], title=r[1], date=r[2], source=r[3], chunks=r[4], url=r[5])
                for r in rows]

    def article_meta(self, ids: Sequence[str]) -> dict[str, ArticleMeta]:
        """id -> what a passage and its citation show of the article."""
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        return {r[0]: ArticleMeta(r[1], r[2], r[3], bool(r[4]), r[5], r[6] or r[0])
                for r in self._conn().execute(
                    "SELECT id, title, date, source, date_inferred, url, group_id FROM articles "
                    f"WHERE id IN ({q})", list(ids))}

    def date_span(self) -> tuple[str | None, str | None, float | None]:
        """(oldest date, newest date, when an article was last added)."""
        # Three queries, not one: SQLite answers a lone MIN or MAX from the index.
        con = self._conn()
        return (con.execute("SELECT MIN(date) FROM articles").fetchone()[0],
                con.execute("SELECT MAX(date) FROM articles").fetchone()[0],
                con.execute("SELECT MAX(added_at) FROM articles").fetchone()[0])

    # --- groups of copies (rag/dedup.py decides; the store only keeps the id) -------------

    def group_of(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """article id -> group id (its own id when it copies nothing), for `ids` (the stored
        ones among them) or, when None, for every article."""
        con = self._conn()
        if ids is None:
            return {r[0]: r[1] for r in con.execute(
                "SELECT id, COALESCE(group_id, id) FROM articles")}
        out: dict[str, str] = {}
        for i in range(0, len(ids), 500):  # SQLite caps the number of parameters
            part = list(ids[i:i + 500])
            q = ",".join("?" * len(part))
            out.update({r[0]: r[1] for r in con.execute(
                f"SELECT id, COALESCE(group_id, id) FROM articles WHERE id IN ({q})", part)})
        return out

    def group_members(self, group_id: str) -> list[str]:
        """The articles of a group (an ungrouped article is a group of itself), oldest first.
        Both conditions are indexed: no scan of the articles."""
        return [r[0] for r in self._conn().execute(
            "SELECT id FROM articles WHERE group_id = ? OR (group_id IS NULL AND id = ?) "
            "ORDER BY added_at, id", (group_id, group_id))]

    def article_ids(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT id FROM articles ORDER BY id")]

    def added_at(self, ids: Sequence[str]) -> dict[str, float]:
        """id -> when the article was stored (seconds since the epoch)."""
        out: dict[str, float] = {}
        con = self._conn()
        for i in range(0, len(ids), 500):  # SQLite caps the number of parameters
            part = list(ids[i:i + 500])
            q = ",".join("?" * len(part))
            out.update({r[0]: r[1] for r in con.execute(
                f"SELECT id, added_at FROM articles WHERE id IN ({q})", part)})
        return out

    def copy_group_count(self) -> int:
        """How many groups of copies (of more than one article) the index holds."""
        # A group of several articles has members whose group id is not their own id.
        return int(self._conn().execute(
            "SELECT COUNT(DISTINCT group_id) FROM articles WHERE group_id != id").fetchone()[0])

    def groups(self) -> dict[str, list[str]]:
        """group id -> article ids, for groups of more than one article."""
        out: dict[str, list[str]] = {}
        for aid, gid in self._conn().execute(
                "SELECT id, COALESCE(group_id, id) FROM articles ORDER BY added_at, id"):
            out.setdefault(gid, []).append(aid)
        return {g: ids for g, ids in out.items() if len(ids) > 1}

    def get_chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        rows = self._conn().execute(
            f"SELECT id, article_id, idx, start, end, text FROM chunks WHERE id IN ({q})",
            list(ids)).fetchall()
        return {r[0]: Chunk(id=r[0], article_id=r[1], index=r[2], start=r[3], end=r[4],
                            text=r[5]) for r in rows}

    def sentences_in(self, article_id: str, start: int, end: int) -> list[StoredSentence]:
        """The sentences of an article inside [start, end), with their vectors and spans."""
        rows = self._conn().execute(
            "SELECT idx, start, end, vec, spans FROM sentences WHERE article_id = ? "
            "AND start >= ? AND end <= ? ORDER BY idx", (article_id, start, end)).fetchall()
        return [StoredSentence(r[0], r[1], r[2],
                               np.frombuffer(r[3], dtype=np.float16).astype(np.float32), r[4])
                for r in rows]

    def vector_count(self) -> int:
        return int(self._collection.count())

    def pending_count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def integrity_problems(self) -> list[str]:
        """SQLite's own full check (reads every page: for `newsrag doctor`, not every open)."""
        try:
            rows = [r[0] for r in self._conn().execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            return [str(exc)]
        return [] if rows == ["ok"] else rows
