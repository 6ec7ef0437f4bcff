"""The store's write path and its journal: adding, re-deriving and deleting articles,
changing their date or copy group, and rolling back a dead writer's work on open. Every
write here runs under the writer lock (rag/store/lock.py); reads never take it.

Crash safety: an article counts as ingested when its SQLite transaction commits. Before
touching Chroma, the article id is written to a `pending` journal; on open, the pending ids of
a dead writer are rolled back (their vectors removed unless the article committed), so a crash
at any moment leaves an index where every listed article is complete and nothing half-written
remains. A live writer's journal is left to it: readers never wait for or block on a writer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.dates import date_number
from rag.embed import Vectors
from rag.errors import IndexLockedError, NotFoundError
from rag.store import vectors
from rag.store.base import StoreBase
from rag.store.records import Derived, encode_spans
from rag.text import terms
from rag.types import Article, Chunk, Sentence


class StoreWrites(StoreBase):
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

    # --- edits to stored articles (copy groups: rag/dedup.py decides; dates) --------------

    def set_group(self, article_ids: Sequence[str], group_id: str) -> None:
        con = self._conn()
        with self.writing(), con:
            con.executemany("UPDATE articles SET group_id = ? WHERE id = ?",
                            [(group_id, a) for a in article_ids])

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
