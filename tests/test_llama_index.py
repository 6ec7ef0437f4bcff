"""The llama-index adapter, driven through llama-index's own APIs over the real sample index.

`real_pipeline` is the sample corpus in a real Chroma + SQLite index with the packaged model.
No llama-index model is looked up: the query engines get `MockLLM` explicitly (it echoes the
prompt, so a test can read what an LLM would have been shown), the vector index the packaged
embedding model through llama-index's `HuggingFaceEmbedding`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import NodeWithScore

from rag.errors import InputError
from rag.integrations.llama_index import NewsragQueryEngine, NewsragRetriever, newsrag_nodes
from rag.pipeline import Pipeline
from tests.conftest import REPO

pytestmark = pytest.mark.slow

NIGER = "When must US troops leave Niger?"
SPAN_KEYS = {"title", "date", "source", "url", "article_id", "chunk_id", "start", "end"}


def _assert_exact_span(pipe: Pipeline, hit: NodeWithScore) -> None:
    node, meta = hit.node, hit.node.metadata
    assert set(meta) >= SPAN_KEYS
    art = pipe.get_article(meta["article_id"])
    assert art.text[meta["start"]:meta["end"]] == node.get_content()
    assert (node.start_char_idx, node.end_char_idx) == (meta["start"], meta["end"])
    assert node.ref_doc_id == art.id
    assert (meta["title"], meta["date"], meta["source"]) == (art.title, art.date, art.source)


def test_the_retriever_gives_newsrag_passages_as_nodes_with_exact_spans(
        real_pipeline: Pipeline) -> None:
    hits = NewsragRetriever(real_pipeline).retrieve(NIGER)
    passages = real_pipeline.retrieve(NIGER)
    assert [h.node.node_id for h in hits] == [p.chunk.id for p in passages]
    assert [h.score for h in hits] == [p.score for p in passages]
    assert len(hits) == real_pipeline.settings.top_k
    for hit in hits:
        _assert_exact_span(real_pipeline, hit)


def test_the_retriever_keeps_top_k_and_the_date_range(real_pipeline: Pipeline) -> None:
    hits = NewsragRetriever(real_pipeline, top_k=2, since="2024-05-20").retrieve(NIGER)
    assert 1 <= len(hits) <= 2
    assert all(h.node.metadata["date"] >= "2024-05-20" for h in hits)


def test_the_retriever_raises_newsrag_input_errors(real_pipeline: Pipeline) -> None:
    with pytest.raises(InputError, match="empty"):
        NewsragRetriever(real_pipeline).retrieve("   ")


def test_a_retriever_query_engine_shows_the_llm_titles_and_dates_but_not_offsets(
        real_pipeline: Pipeline) -> None:
    retriever = NewsragRetriever(real_pipeline, top_k=3)
    # MockLLM echoes its prompt: the response is what an LLM would have read.
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query(NIGER)
    assert [n.node.node_id for n in response.source_nodes] == [
        h.node.node_id for h in retriever.retrieve(NIGER)]
    prompt = str(response.response)
    assert NIGER in prompt
    for hit in response.source_nodes:
        assert f"title: {hit.node.metadata['title']}" in prompt
        assert f"source: {hit.node.metadata['source']}" in prompt
        assert hit.node.get_content()[:200] in prompt
    assert "article_id:" not in prompt and "start:" not in prompt


@pytest.fixture(scope="module")
def vector_retriever(real_pipeline: Pipeline) -> Any:
    """llama-index's own dense retrieval over newsrag's chunks (the packaged model)."""
    from rag.baseline import default_embedding

    index = VectorStoreIndex(newsrag_nodes(real_pipeline), embed_model=default_embedding())
    return index.as_retriever(similarity_top_k=5)


def test_newsrag_nodes_are_every_stored_chunk_with_its_span(real_pipeline: Pipeline) -> None:
    nodes = newsrag_nodes(real_pipeline)
    assert len(nodes) == real_pipeline.stats()["chunks"]
    assert len({n.node_id for n in nodes}) == len(nodes)
    for node in nodes:
        _assert_exact_span(real_pipeline, NodeWithScore(node=node, score=None))


@pytest.mark.parametrize("use_async", [False, True])  # aretrieve() as well as retrieve()
def test_query_fusion_merges_newsrag_with_a_vector_index_by_reciprocal_rank(
        real_pipeline: Pipeline, vector_retriever: Any, use_async: bool) -> None:
    newsrag = NewsragRetriever(real_pipeline)
    fusion = QueryFusionRetriever([newsrag, vector_retriever], llm=MockLLM(), num_queries=1,
                                  mode="reciprocal_rerank", similarity_top_k=5,
                                  use_async=use_async)
    fused = fusion.retrieve(NIGER)

    # The oracle: reciprocal rank fusion (k = 60, ranks from 0) of the two lists by node id.
    lists = [newsrag.retrieve(NIGER), vector_retriever.retrieve(NIGER)]
    expected: dict[str, float] = {}
    for hits in lists:
        for rank, hit in enumerate(hits):
            expected[hit.node.node_id] = expected.get(hit.node.node_id, 0.0) + 1 / (60 + rank)
    both = {h.node.node_id for h in lists[0]} & {h.node.node_id for h in lists[1]}
    assert both, "the two retrievers should agree on some chunk of the Niger question"

    got = {h.node.node_id: h.score for h in fused}
    assert len(fused) == 5
    assert got == pytest.approx({i: expected[i] for i in got})  # equal chunks were merged
    assert min(got.values()) >= sorted(expected.values(), reverse=True)[4] - 1e-12
    assert fused[0].node.node_id in both
    for hit in fused:
        _assert_exact_span(real_pipeline, hit)


def test_the_query_engine_answers_with_newsrag_citations_as_source_nodes(
        real_pipeline: Pipeline) -> None:
    response = NewsragQueryEngine(pipeline=real_pipeline).query(NIGER)
    answer = real_pipeline.ask(NIGER)
    assert response.response == answer.text
    assert "September" in str(response)
    assert response.metadata is not None and response.metadata["abstained"] is False
    assert response.metadata["answer"]["citations"] == [c.to_dict() for c in answer.citations]
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert {h.node.metadata["n"] for h in response.source_nodes} == markers
    for hit, cite in zip(response.source_nodes, answer.citations, strict=True):
        assert hit.node.get_content() == cite.quote
        assert hit.score == cite.score
        _assert_exact_span(real_pipeline, hit)


def test_the_query_engine_abstains_without_sources(real_pipeline: Pipeline) -> None:
    response = NewsragQueryEngine(pipeline=real_pipeline).query(
        "Who won the 1998 football World Cup final?")
    assert response.source_nodes == []
    assert response.metadata is not None and response.metadata["abstained"] is True
    assert response.metadata["answer"]["nearest_passages"]


def test_importing_rag_does_not_load_llama_index() -> None:
    code = ("import sys, rag, rag.pipeline, rag.api, rag.cli, rag.integrations; "
            "print(sorted(m for m in sys.modules if m.startswith('llama_index')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"
