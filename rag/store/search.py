"""The store's searches: nearest chunk vectors in Chroma, BM25 over the SQLite FTS5 keyword
index, both within a date range, and the per-thread cache of document frequencies that
retrieval and answer scoring both ask for. Kept apart from the plain reads (reads.py): these
are the hot path of every question, and what their cost notes speak of.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.dates import DateRange
from rag.embed import Vectors
from rag.store.base import StoreBase

_TOTAL = "\x00total"  # the total-chunks entry of the document-frequency cache (not a term)
_DF_CACHE_MAX = 100_000


class StoreSearch(StoreBase):
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
