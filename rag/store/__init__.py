"""The persistent index: Chroma for chunk vectors, SQLite for articles, chunks, sentences and
the keyword (FTS5/BM25) index, and `manifest.json` describing how it was built.

Chroma objects never leave the store: callers get our types. Its parts: `schema.py` (SQLite
tables, tallies, migration), `vectors.py` (Chroma, the index's only module importing chromadb),
`lock.py` (one writer per index), `records.py` (the types it hands out); the journal, reads
and searches are here.

Crash safety: an article counts as ingested when its SQLite transaction commits. Before
touching Chroma, the article id is written to a `pending` journal; on open, the pending ids of
a dead writer are rolled back (their vectors removed unless the article committed), so a crash
at any moment leaves an index where every listed article is complete and nothing half-written
remains. A live writer's journal is left to it: readers never wait for or block on a writer.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag import health, manifest
from rag.dates import DateRange, date_number
from rag.embed import Vectors
from rag.errors import IndexDamagedError, IndexLockedError, NotFoundError
from rag.manifest import BuildInfo
from rag.store import vectors
from rag.store.lock import WriterLock
from rag.store.records import ArticleMeta, Derived, StoredSentence, decode_spans, encode_spans
from rag.store.schema import TALLIED, connect, open_tables
from rag.text import terms
from rag.types import Article, ArticleSummary, Chunk, Sentence

__all__ = ["ArticleMeta", "Derived", "Store", "StoredSentence", "decode_spans", "encode_spans"]

_TOTAL = "\x00total"  # the total-chunks entry of the document-frequency cache (not a term)
_DF_CACHE_MAX = 100_000


class Store:
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

    # --- plumbing --------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """One connection per thread: SQLite connections must not be shared across threads."""
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = connect(self.dir / "store.sqlite")
            self._local.con = con
        return con

    def _open_collection(self) -> Any:
        self._client = vectors.open_client(self.dir, self.chroma_url)
        return vectors.collection(self._client)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive write access: one thread in this process, one process on this index
        (rag/store/lock.py)."""
        return self._writer.held()

    # --- manifest (format and checks: rag/manifest.py) --------------------------------------

    def read_manifest(self) -> dict[str, Any] | None:
        return manifest.read(self.dir)

    def _check_manifest(self) -> None:
        manifest.check(self.dir, self.build)

    def write_manifest(self, **extra: Any) -> None:
        manifest.write(self.dir, self.build, self.counts(), **extra)

    @property
    def initialised(self) -> bool:
        return manifest.exists(self.dir)

    # --- recovery --------------------------------------------------------------------------

    def _recover(self) -> None:
        """Roll back a dead writer's journal. A live writer holds the write lock: its entries
        are its work in progress, so a reader leaves them and opens without waiting."""
        con = self._conn()
        if not con.execute("SELECT 1 FROM pending LIMIT 1").fetchone():
            return
        try:
            with self.writing():
                self._roll_back(con)
        except IndexLockedError:
            return

    def _roll_back(self, con: sqlite3.Connection) -> None:
        # Read under the lock: a writer that finished meanwhile has cleared its entries.
        for article_id, op in con.execute("SELECT article_id, op FROM pending").fetchall():
            committed = con.execute(
                "SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone()
            if op == "delete" and committed:
                self._delete_rows(article_id)
                committed = None
            if not committed:
                self._collection.delete(where={"article_id": article_id})
            with con:
                con.execute("DELETE FROM pending WHERE article_id = ?", (article_id,))

    # --- writes ----------------------------------------------------------------------------

    def add_article(self, article: Article, chunks: Sequence[Chunk], chunk_vecs: Vectors,
                    sentences: Sequence[Sentence], sentence_vecs: Vectors) -> None:
        self.add_articles([(article, chunks, chunk_vecs, sentences, sentence_vecs)])

    def add_articles(self, batch: Sequence[Derived]) -> None:
        """Store articles with their chunks, sentences and vectors: all journaled first, one
        vector write, one SQLite transaction. A crash before the commit stores none of the
        batch; the journal removes their vectors on the next open."""
        if not batch:
            return
        con = self._conn()
        with self.writing():
            if not self.initialised:  # an index with articles always says how it was built
                self.write_manifest()
            with con:
                con.executemany("INSERT OR REPLACE INTO pending VALUES (?, 'add')",
                                [(art.id,) for art, *_ in batch])
            self._upsert_many([(art, chunks, vecs) for art, chunks, vecs, _, _ in batch])
            with con:
                now = time.time()
                con.executemany(
                    "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(art.id, art.title, art.date, int(art.date_inferred), art.source, art.url,
                      art.author, art.origin, art.text, len(chunks), now, art.id)
                     for art, chunks, *_ in batch],
                )
                for art, chunks, _, sentences, svecs in batch:
                    self._insert_derived(con, art, chunks, sentences, svecs)
                con.executemany("DELETE FROM pending WHERE article_id = ?",
                                [(art.id,) for art, *_ in batch])

    def rederive_article(self, article: Article, chunks: Sequence[Chunk], chunk_vecs: Vectors,
                         sentences: Sequence[Sentence], sentence_vecs: Vectors) -> None:
        """Store new chunks, sentences and vectors for an article already stored (reindex).

        The article row is never removed, so an interrupted reindex loses no article.
        """
        con = self._conn()
        with self.writing():
            self._upsert_vectors(article, chunks, chunk_vecs)
            with con:
                con.execute("UPDATE articles SET chunk_count = ? WHERE id = ?",
                            (len(chunks), article.id))
                self._insert_derived(con, article, chunks, sentences, sentence_vecs)

    def _upsert_vectors(self, article: Article, chunks: Sequence[Chunk], vecs: Vectors) -> None:
        self._upsert_many([(article, chunks, vecs)])

    def _upsert_many(self, items: Sequence[tuple[Article, Sequence[Chunk], Vectors]]) -> None:
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        vecs: list[Vectors] = []
        for article, chunks, chunk_vecs in items:
            if not chunks:
                continue
            ids += [c.id for c in chunks]
            metas += [{
                "article_id": article.id, "title": article.title, "date": article.date or "",
                "source": article.source, "start": c.start, "end": c.end,
                "date_num": date_number(article.date),
            } for c in chunks]
            vecs.append(chunk_vecs.astype(np.float32))
        if not ids:
            return
        embeddings = np.concatenate(vecs)
        step = max(1, int(self._client.get_max_batch_size()))  # Chroma caps one write
        for i in range(0, len(ids), step):
            # No documents: the text lives in SQLite, and Chroma would store and full-text
            # index it a second time (half the index size and much of the write time).
            self._collection.upsert(ids=ids[i:i + step], embeddings=embeddings[i:i + step],
                                    metadatas=metas[i:i + step])

    @staticmethod
    def _insert_derived(con: sqlite3.Connection, article: Article, chunks: Sequence[Chunk],
                        sentences: Sequence[Sentence], sentence_vecs: Vectors) -> None:
        con.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
            [(c.id, c.article_id, c.index, c.start, c.end, c.text) for c in chunks],
        )
        # The title is indexed with every chunk: headlines carry the story's key words.
        con.executemany(
            "INSERT INTO chunks_fts (terms, chunk_id) VALUES (?, ?)",
            [(" ".join(terms(f"{article.title}\n{c.text}")), c.id) for c in chunks],
        )
        con.executemany(
            "INSERT INTO sentences (article_id, idx, start, end, vec, spans) VALUES (?,?,?,?,?,?)",
            [(s.article_id, s.index, s.start, s.end,
              sentence_vecs[i].astype(np.float16).tobytes(), encode_spans(s.spans))
             for i, s in enumerate(sentences)],
        )

    def _delete_rows(self, article_id: str) -> None:
        con = self._conn()
        with con:
            chunk_ids = [r[0] for r in con.execute(
                "SELECT id FROM chunks WHERE article_id = ?", (article_id,))]
            con.executemany("DELETE FROM chunks_fts WHERE chunk_id = ?",
                            [(c,) for c in chunk_ids])
            con.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
            con.execute("DELETE FROM sentences WHERE article_id = ?", (article_id,))
            con.execute("DELETE FROM articles WHERE id = ?", (article_id,))

    def delete_article(self, article_id: str) -> None:
        con = self._conn()
        with self.writing():
            if not con.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone():
                raise NotFoundError(f"No article with id {article_id!r}.",
                                    hint="`newsrag list` shows the ids.")
            with con:
                con.execute("INSERT OR REPLACE INTO pending VALUES (?, 'delete')", (article_id,))
            self._delete_rows(article_id)
            self._collection.delete(where={"article_id": article_id})
            with con:
                con.execute("DELETE FROM pending WHERE article_id = ?", (article_id,))

    def clear_derived(self) -> None:
        """Drop every chunk, sentence and vector, keeping the articles (for reindex)."""
        con = self._conn()
        with self.writing():
            self._collection = vectors.recreate(self._client)
            with con:
                con.execute("DELETE FROM chunks")
                con.execute("DELETE FROM chunks_fts")
                con.execute("DELETE FROM sentences")

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

    def set_group(self, article_ids: Sequence[str], group_id: str) -> None:
        con = self._conn()
        with self.writing(), con:
            con.executemany("UPDATE articles SET group_id = ? WHERE id = ?",
                            [(group_id, a) for a in article_ids])

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

    def set_date(self, article_id: str, iso: str, inferred: bool) -> None:
        """Change an article's date, in SQLite and in its vectors' filter metadata."""
        con = self._conn()
        with self.writing():
            with con:
                con.execute("UPDATE articles SET date = ?, date_inferred = ? WHERE id = ?",
                            (iso, int(inferred), article_id))
            got = self._collection.get(where={"article_id": article_id}, include=["metadatas"])
            if got["ids"]:
                self._collection.update(ids=got["ids"], metadatas=[
                    {**(m or {}), "date": iso, "date_num": date_number(iso)}
                    for m in got["metadatas"]])

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

    def counts(self) -> dict[str, int]:
        """Articles, chunks and sentences stored (kept by triggers: no table scan)."""
        rows = dict(self._conn().execute("SELECT name, n FROM tallies").fetchall())
        return {t: int(rows.get(t, 0)) for t in TALLIED}

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
