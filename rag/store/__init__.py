"""The persistent index: Chroma for chunk vectors, SQLite for articles, chunks, sentences and
the keyword (FTS5/BM25) index, and `manifest.json` describing how it was built.

Chroma objects never leave the store: callers get our types. Its parts: `schema.py` (SQLite
tables, tallies, migration), `vectors.py` (Chroma, the index's only module importing chromadb),
`lock.py` (one writer per index), `records.py` (the types it hands out), `base.py`
(connections, manifest, tallies), `writes.py` (the write path and its crash-safety journal:
it says how a crash is survived); opening an index, reads and searches are here.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag import health
from rag.dates import DateRange
from rag.embed import Vectors
from rag.errors import IndexDamagedError, NotFoundError
from rag.manifest import BuildInfo
from rag.store import vectors
from rag.store.lock import WriterLock
from rag.store.records import ArticleMeta, Derived, StoredSentence, decode_spans, encode_spans
from rag.store.schema import open_tables
from rag.store.writes import StoreWrites
from rag.types import Article, ArticleSummary, Chunk

__all__ = ["ArticleMeta", "Derived", "Store", "StoredSentence", "decode_spans", "encode_spans"]

_TOTAL = "\x00total"  # the total-chunks entry of the document-frequency cache (not a term)
_DF_CACHE_MAX = 100_000


class Store(StoreWrites):
    def __init__(self, index_dir: Path, build: BuildInfo, chroma_url: str | None = None,
                 check: bool = True) -> None:
        self.dir = Path(index_dir)
        self.build = build
        self.chroma_url = chroma_url
        self._writer = WriterLock(self.dir)
        self._local = threading.local()
        if check:
            self._check_manifest()
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._open_tables()
        except sqlite3.DatabaseError as exc:  # not a database, or a corrupt page
            raise IndexDamagedError(f"The index is damaged: {self.dir / 'store.sqlite'} "
                                    f"cannot be read ({exc}).", hint=health.RESTORE) from None
        self._collection = self._open_collection()
        self._recover()
        if check:
            health.raise_if_damaged(self)

    def _open_tables(self) -> None:
        open_tables(self._conn())

    def _open_collection(self) -> Any:
        self._client = vectors.open_client(self.dir, self.chroma_url)
        return vectors.collection(self._client)

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

    # --- search ----------------------------------------------------------------------------

    def dense_search(self, vec: Vectors, k: int,
                     dates: DateRange | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first, from articles dated inside `dates`."""
        # No count() first: Chroma returns fewer results when it holds fewer, and counting
        # costs ~100 ms at a million vectors (the query itself takes ~3 ms).
        where: dict[str, Any] | None = None
        if dates is not None and dates.active:
            lo, hi = dates.bounds()
            where = {"$and": [{"date_num": {"$gte": lo}}, {"date_num": {"$lte": hi}}]}
        res = self._collection.query(query_embeddings=[vec.astype(np.float32)], n_results=k,
                                     include=["distances"], where=where)
        if not res["ids"] or not res["distances"]:
            return []
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0],
                                                         strict=True)]

    def keyword_search(self, query_terms: Sequence[str], k: int,
                       dates: DateRange | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score; higher is better), best first, from articles inside `dates`."""
        unique = list(dict.fromkeys(t for t in query_terms if t))
        if not unique:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in unique)
        if dates is not None and dates.active:
            lo, hi = dates.bounds()
            rows = self._conn().execute(
                "SELECT f.chunk_id, bm25(chunks_fts) AS s FROM chunks_fts f "
                "JOIN chunks c ON c.id = f.chunk_id JOIN articles a ON a.id = c.article_id "
                "WHERE chunks_fts MATCH ? AND CAST(REPLACE(COALESCE(a.date, '0'), '-', '') "
                "AS INTEGER) BETWEEN ? AND ? ORDER BY s LIMIT ?", (match, lo, hi, k)).fetchall()
        else:
            rows = self._conn().execute(
                "SELECT chunk_id, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY s LIMIT ?", (match, k)).fetchall()
        return [(r[0], -float(r[1])) for r in rows]

    def document_frequencies(self, query_terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """(term -> number of chunks containing it, for terms in the index; total chunks).

        Cached per thread until the index changes: counting a common term's chunks walks its
        whole posting list (~40 ms for a word in most of a million chunks), and the same
        question asks for the same terms from retrieval and from answer scoring.
        """
        con = self._conn()
        # data_version moves when another connection commits; total_changes when this one writes.
        stamp = (con.execute("PRAGMA data_version").fetchone()[0], con.total_changes)
        cache: dict[str, int] | None = getattr(self._local, "df_cache", None)
        if cache is None or self._local.df_stamp != stamp or len(cache) > _DF_CACHE_MAX:
            cache = {}
            self._local.df_cache, self._local.df_stamp = cache, stamp
        if _TOTAL not in cache:
            cache[_TOTAL] = self.counts()["chunks"]
        for term in dict.fromkeys(query_terms):
            if term not in cache:
                row = con.execute("SELECT doc FROM fts_vocab WHERE term = ?", (term,)).fetchone()
                cache[term] = row[0] if row else 0
        df = {t: cache[t] for t in query_terms if cache[t] > 0}
        return df, cache[_TOTAL]

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
