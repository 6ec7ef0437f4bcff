"""Hybrid retrieval: dense (Chroma, cosine) and keyword (SQLite FTS5, BM25) search fused with
reciprocal rank fusion. Published numbers put all-MiniLM-L6-v2 and plain BM25 level on
BEIR, and they fail on different questions, so neither is optional.

Keyword search's cost is the length of the posting lists it reads. In a large archive a word
like "year" sits in most chunks: ranking them all took over a second at a million chunks while
adding almost nothing to BM25 (its IDF is near zero). So the query uses the rarest terms whose
postings fit a budget, the idea behind Lucene's cutoff frequency; small indexes are unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.dates import DateRange
from rag.dedup import collapse
from rag.embed import Vectors
from rag.store import Store
from rag.text import terms
from rag.types import Passage


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), rank from 1."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def keyword_terms(query_terms: Sequence[str], df: dict[str, int], max_postings: int) -> list[str]:
    """The terms worth a keyword query: rarest first while their postings fit `max_postings`.

    Terms in no chunk are left out (they match nothing). Empty when even the rarest term is
    too common, and then dense search answers alone.
    """
    unique = list(dict.fromkeys(t for t in query_terms if t))
    by_rarity = sorted((df.get(t, 0), i) for i, t in enumerate(unique) if df.get(t, 0) > 0)
    chosen: list[int] = []
    used = 0
    for n, i in by_rarity:
        if used + n > max_postings:
            break
        chosen.append(i)
        used += n
    return [unique[i] for i in sorted(chosen)]


class HybridRetriever:
    def __init__(self, store: Store, candidate_k: int, rrf_k: int,
                 max_postings: int = 50_000) -> None:
        self.store = store
        self.candidate_k = candidate_k
        self.rrf_k = rrf_k
        self.max_postings = max_postings

    def retrieve(self, query: str, query_vec: Vectors, top_k: int,
                 dates: DateRange | None = None) -> list[Passage]:
        """The best `top_k` passages from articles dated inside `dates` (all when None)."""
        return self.search(query, query_vec, top_k, dates).passages

    def search(self, query: str, query_vec: Vectors, top_k: int,
               dates: DateRange | None = None) -> Retrieved:
        """The best `top_k` passages inside `dates`, and how many undated articles a date
        filter kept out of them: those among the best `top_k` had they been searched too."""
        k = max(self.candidate_k, top_k)
        q_terms = terms(query)
        df, _ = self.store.document_frequencies(q_terms)
        kw_terms = keyword_terms(q_terms, df, self.max_postings)
        dense = self.store.dense_search(query_vec, k, dates)
        keyword = self.store.keyword_search(kw_terms, k, dates)
        if dates is None or not dates.active or dates.only_undated:
            return Retrieved(self._passages(dense, keyword, top_k), 0)
        # The store filters on one interval of date numbers; undated articles (0) lie outside
        # it and are searched apart. Cosines and BM25 scores of one index compare, so each
        # search's two lists merge by score.
        undated = dates.undated()
        both_dense = _merge(dense, self.store.dense_search(query_vec, k, undated), k)
        both_kw = _merge(keyword, self.store.keyword_search(kw_terms, k, undated), k)
        with_undated = self._passages(both_dense, both_kw, top_k)
        if dates.include_undated:
            return Retrieved(with_undated, 0)
        left_out = len({p.chunk.article_id for p in with_undated if p.date is None})
        return Retrieved(self._passages(dense, keyword, top_k), left_out)

    def _passages(self, dense: list[tuple[str, float]], keyword: list[tuple[str, float]],
                  top_k: int) -> list[Passage]:
        # Copies fold into one passage below, so take enough candidates to fill top_k after.
        fused = reciprocal_rank_fusion([[c for c, _ in dense], [c for c, _ in keyword]],
                                       self.rrf_k)[:top_k * 3]
        chunks = self.store.get_chunks([c for c, _ in fused])
        meta = self.store.article_meta(sorted({c.article_id for c in chunks.values()}))
        dense_s, kw_s = dict(dense), dict(keyword)
        passages: list[Passage] = []
        for cid, score in fused:
            chunk = chunks.get(cid)
            if chunk is None or chunk.article_id not in meta:
                continue  # deleted between the searches and this read
            m = meta[chunk.article_id]
            passages.append(Passage(
                chunk=chunk, title=m.title, date=m.date, source=m.source, score=score,
                dense_score=dense_s.get(cid), keyword_score=kw_s.get(cid), rank=len(passages),
                date_inferred=m.date_inferred, url=m.url, group_id=m.group_id,
            ))
        return collapse(passages, top_k)


@dataclass(frozen=True)
class Retrieved:
    """Passages of a search, and the undated articles its date filter left out of them."""

    passages: list[Passage]
    undated_left_out: int


def _merge(a: list[tuple[str, float]], b: list[tuple[str, float]],
           k: int) -> list[tuple[str, float]]:
    """Two (id, score) lists of one search as one, best first (higher is better)."""
    return sorted(a + b, key=lambda kv: -kv[1])[:k]
