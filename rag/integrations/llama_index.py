"""newsrag inside llama-index: a retriever and a query engine over a newsrag `Pipeline`.

For newsroom developers who build with llama-index (0.14):

- `NewsragRetriever` is a `BaseRetriever`: newsrag's hybrid retrieval (dense + BM25, fused,
  copies folded), each passage a `NodeWithScore` whose node is the chunk's text with
  `start_char_idx`/`end_char_idx` and metadata `title`, `date`, `source`, `url`, `article_id`,
  `chunk_id`, `start`, `end` (`article.text[start:end] == node.text`). It composes with
  llama-index's own parts (`RetrieverQueryEngine`, `QueryFusionRetriever`, postprocessors).
- `NewsragQueryEngine` is a `CustomQueryEngine` that runs newsrag's whole answer: the
  `Response.response` is newsrag's answer text with its `[n]` markers and
  `Response.source_nodes` are its verified citations, one node per `[n]` whose text is the
  exact cited quote (`article.text[start:end]`). It abstains like newsrag does.
- `newsrag_nodes` gives every stored chunk as the same kind of node, so a llama-index index
  built over them (a `VectorStoreIndex`, a BM25 retriever) returns nodes that fuse with
  `NewsragRetriever`'s: equal chunks have equal ids, text and metadata.

newsrag's types are converted to llama-index's here and nowhere else. No llama-index model is
used or looked up (no `Settings.llm`, no `Settings.embed_model`): newsrag embeds and answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)
from pydantic import Field

from rag.pipeline import Pipeline
from rag.types import Answer, Citation, Passage

__all__ = ["NewsragQueryEngine", "NewsragRetriever", "citation_node", "newsrag_nodes",
           "passage_node"]

# Offsets and ids locate the text; they are not something a model should read or embed.
_HIDDEN = ["article_id", "chunk_id", "start", "end", "url", "n", "date_inferred"]


def _node(node_id: str, text: str, article_id: str, start: int, end: int,
          metadata: dict[str, Any]) -> TextNode:
    return TextNode(
        id_=node_id, text=text, start_char_idx=start, end_char_idx=end,
        metadata={**metadata, "article_id": article_id, "start": start, "end": end},
        excluded_llm_metadata_keys=list(_HIDDEN), excluded_embed_metadata_keys=list(_HIDDEN),
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=article_id)},
    )


def _article_meta(title: str, date: str | None, source: str, url: str | None,
                  date_inferred: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"title": title, "date": date, "source": source, "url": url}
    if date_inferred:  # as in the JSON contract: present only when set
        meta["date_inferred"] = True
    return meta


def passage_node(p: Passage) -> NodeWithScore:
    """A retrieved passage as a llama-index node, scored with newsrag's fused score."""
    c = p.chunk
    meta = {**_article_meta(p.title, p.date, p.source, p.url, p.date_inferred),
            "chunk_id": c.id}
    return NodeWithScore(node=_node(c.id, c.text, c.article_id, c.start, c.end, meta),
                         score=p.score)


def citation_node(c: Citation) -> NodeWithScore:
    """A verified citation as a node: its text is the cited quote, `n` its `[n]` marker, and
    `url` the deep link that opens the web article at the quote (when the article has one)."""
    meta = {**_article_meta(c.title, c.date, c.source, c.url, c.date_inferred),
            "chunk_id": c.chunk_id, "n": c.n}
    if c.also_reported_by:
        meta["also_reported_by"] = list(c.also_reported_by)
    node = _node(f"{c.article_id}:{c.start}-{c.end}", c.quote, c.article_id, c.start, c.end,
                 meta)
    return NodeWithScore(node=node, score=c.score)


def newsrag_nodes(pipeline: Pipeline) -> list[TextNode]:
    """Every stored chunk, article by article (newest first), as the node `NewsragRetriever`
    returns for it: same id, text and metadata, so results of an index over them fuse."""
    store = pipeline.store
    summaries = store.list_articles()
    meta = store.article_meta([s.id for s in summaries])
    nodes: list[TextNode] = []
    for s in summaries:
        m = meta.get(s.id)
        if m is None:  # deleted while we read
            continue
        chunks = store.get_chunks([f"{s.id}:{i}" for i in range(s.chunks)])
        art = _article_meta(m.title, m.date, m.source, m.url, m.date_inferred)
        for c in sorted(chunks.values(), key=lambda c: c.index):
            nodes.append(_node(c.id, c.text, c.article_id, c.start, c.end,
                               {**art, "chunk_id": c.id}))
    return nodes


class NewsragRetriever(BaseRetriever):
    """newsrag's hybrid retrieval as a llama-index retriever.

    `top_k` defaults to the pipeline's `top_k` setting; `since`/`until` (YYYY-MM-DD) keep only
    articles dated inside the range, as in `newsrag ask`. An empty or over-long question raises
    newsrag's `InputError`.
    """

    def __init__(self, pipeline: Pipeline, top_k: int | None = None, since: str | None = None,
                 until: str | None = None, callback_manager: CallbackManager | None = None,
                 verbose: bool = False) -> None:
        self._pipeline = pipeline
        self._top_k = top_k
        self._since = since
        self._until = until
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        passages = self._pipeline.retrieve(query_bundle.query_str, top_k=self._top_k,
                                           since=self._since, until=self._until)
        return [passage_node(p) for p in passages]


class NewsragQueryEngine(CustomQueryEngine):
    """newsrag's cited answer as a llama-index query engine.

    `Response.response` is the answer text (with `[n]` markers), `Response.source_nodes` the
    citations (`citation_node`), in `[n]` order, and `Response.metadata` holds `abstained`,
    `confidence` and the whole `answer` in newsrag's JSON contract (`Answer.to_dict()`), whose
    `nearest_passages` say what came closest when it abstained.
    """

    pipeline: Pipeline = Field(description="The newsrag Pipeline that answers.")
    top_k: int | None = Field(default=None, description="Passages handed to the answerer.")
    since: str | None = Field(default=None, description="Only articles dated on or after.")
    until: str | None = Field(default=None, description="Only articles dated on or before.")
    as_of: str | None = Field(default=None, description="The day 'now' and 'latest' mean.")

    def custom_query(self, query_str: str) -> Response:
        answer = self.pipeline.ask(query_str, top_k=self.top_k, since=self.since,
                                           until=self.until, as_of=self.as_of)
        return to_response(answer)


def to_response(answer: Answer) -> Response:
    """newsrag's `Answer` as a llama-index `Response` (see `NewsragQueryEngine`)."""
    return Response(
        response=answer.text,
        source_nodes=_citation_nodes(answer.citations),
        metadata={"abstained": answer.abstained, "confidence": answer.confidence,
                  "answer": answer.to_dict()},
    )


def _citation_nodes(citations: Sequence[Citation]) -> list[NodeWithScore]:
    return [citation_node(c) for c in sorted(citations, key=lambda c: c.n)]
