"""Hybrid retrieval: the keyword-term budget and the store's cached document frequencies."""

from pathlib import Path

import numpy as np
import pytest

from rag.chunk import chunk_article, split_sentences
from rag.manifest import BuildInfo
from rag.pipeline import Pipeline
from rag.retrieve import keyword_terms, reciprocal_rank_fusion
from rag.store import Store
from rag.types import Article, Chunk, Sentence
from tests.conftest import FakeEmbedder, make_settings

BUILD = BuildInfo(embed_model="fake", embed_dim=4, chunking={"target_words": 1})


def test_keyword_terms_takes_the_rarest_terms_that_fit_the_budget() -> None:
    df = {"year": 900_000, "plan": 650_000, "agadez": 4, "drone": 2, "base": 6_000}
    assert keyword_terms(["year", "drone", "base", "agadez", "plan"], df, 50_000) == [
        "drone", "base", "agadez"]  # query order kept; the two common words left out
    assert keyword_terms(["year", "drone", "base"], df, 5_000) == ["drone"]
    assert keyword_terms(["year", "plan"], df, 50_000) == []  # all common: dense alone
    assert keyword_terms(["unseen", "drone", "drone"], df, 10) == ["drone"]  # no matches, dupes
    assert keyword_terms([], df, 10) == []


def _article(i: int, text: str) -> tuple[Article, list[Chunk], np.ndarray, list[Sentence],
                                          np.ndarray]:
    art = Article(id=f"art{i}", title=f"Title {i}", text=text, origin=f"/o/{i}")
    chunks = [Chunk(id=f"art{i}:0", article_id=art.id, index=0, text=text, start=0,
                    end=len(text))]
    sents = [Sentence(art.id, 0, 0, len(text), text)]
    vec = np.eye(4, dtype=np.float32)[[i % 4]]
    return art, chunks, vec, sents, vec


def test_document_frequencies_follow_writes_from_this_and_other_connections(
        tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    store.add_article(*_article(0, "harbour cranes idle"))
    assert store.document_frequencies(["harbor", "crane", "absent"]) == ({"harbor": 1,
                                                                           "crane": 1}, 1)
    store.add_article(*_article(1, "harbour pilots strike"))  # this connection writes
    assert store.document_frequencies(["harbor"]) == ({"harbor": 2}, 2)
    other = Store(tmp_path, BUILD)  # another connection, as another process would hold
    other.add_article(*_article(2, "harbour fees rise"))
    assert store.document_frequencies(["harbor", "crane"]) == ({"harbor": 3, "crane": 1}, 3)
    other.delete_article("art0")
    assert store.document_frequencies(["harbor", "crane"]) == ({"harbor": 2}, 2)
    other.close()
    store.close()


def test_dense_search_on_an_empty_or_small_collection(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    assert store.dense_search(np.eye(4, dtype=np.float32)[0], 10) == []
    store.add_article(*_article(0, "one text"))
    assert [c for c, _ in store.dense_search(np.eye(4, dtype=np.float32)[0], 10)] == ["art0:0"]
    store.close()


def test_a_common_word_is_left_out_of_keyword_search_in_a_large_index(tmp_path: Path) -> None:
    """With a budget of 100 postings, a word in 150 chunks is not read; the rare word still
    finds its chunk, and the same question over a small budget-free index ranks it first too."""
    pipe = Pipeline(make_settings(tmp_path / "ix", sample_dir="", keyword_max_postings=100),
                    embedder=FakeEmbedder())
    rows = []
    for i in range(150):
        text = (f"The council discussed the budget again on day {i}. Residents asked about "
                f"roads, schools and parks in district number {i}.")
        if i == 77:
            text += " A lighthouse keeper named Quillon spoke."
        art = Article(id=f"a{i}", title=f"Council day {i}", text=text, origin=f"gen:{i}")
        rows.append(art)
    pipe.store.write_manifest()
    for art in rows:
        sents = split_sentences(art)
        chunks = chunk_article(art, pipe.chunk_params, sents)
        emb = pipe.embedder
        pipe.store.add_article(art, chunks, emb.embed([c.text for c in chunks]), sents,
                               emb.embed([s.text for s in sents]))
    seen: list[list[str]] = []
    real = pipe.store.keyword_search

    def spy(query_terms: list[str], k: int, dates: object = None) -> list[tuple[str, float]]:
        seen.append(list(query_terms))
        return real(query_terms, k)

    pipe.store.keyword_search = spy  # type: ignore[method-assign]
    top = pipe.retrieve("What did Quillon say about the council budget?", 3)
    assert seen == [["quillon"]]  # 'council' and 'budget' are in all 150 chunks
    assert top[0].chunk.article_id == "a77"
    pipe.close()


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    assert [i for i, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
