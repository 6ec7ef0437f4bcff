"""Sentence rankers: how well a sentence answers a question, as a probability.

One component behind the `Ranker` protocol, chosen by the `ranker` setting (the default,
`none`, runs no ranker: measured on 2024's held-out folds, the learned reader's chooser was as
right without this ranker's scores as with them, and it costs ~100 ms a question):
- `cross-encoder`: all-MiniLM-L6-v2 fine-tuned here on RealTimeQA's 2024 weeks to score
  (question, sentence) pairs (rag/train/train_ranker.py), shipped in the repository as an int8
  ONNX file (rag/models/ranker/) whose sha256 is checked on load. It reads both texts together,
  so it sees which words of the sentence answer which words of the question.

Only this module runs the ranker model.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import ConfigError

MODELS_DIR = Path(__file__).resolve().parent / "models"
RANKER_DIR = MODELS_DIR / "ranker"
MAX_TOKENS = 96  # as trained (rag/train/train_ranker.py)
BATCH = 16


class Ranker(Protocol):
    name: str

    def logits(self, question: str, sentences: Sequence[str]) -> list[float]:
        """Raw scores, one per sentence, higher = answers better."""
        ...

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        """The logits as probability-like scores in 0-1."""
        ...


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))


def verify_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest, after checking every listed file's sha256."""
    import hashlib

    path = folder / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"The model manifest {path} is missing or unreadable ({exc}).",
                          hint="Restore rag/models/ from the repository.") from None
    for name, digest in (manifest.get("files") or {}).items():
        h = hashlib.sha256()
        try:
            with (folder / name).open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            raise ConfigError(f"The model file {folder / name} is missing.",
                              hint="Restore rag/models/ from the repository.") from None
        if h.hexdigest() != digest:
            raise ConfigError(f"The model file {folder / name} does not match its sha256 in "
                              f"{path}.", hint="Restore rag/models/ from the repository.")
    return manifest


class CrossEncoderRanker:
    """The fine-tuned cross-encoder on onnxruntime, one intra-op thread (like the embedder:
    two requests score on the two cores at once)."""

    name = "cross-encoder"

    def __init__(self, folder: Path = RANKER_DIR) -> None:
        verify_manifest(folder)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ConfigError(f"Cannot run the cross-encoder ranker: {exc}.",
                              hint="pip install onnxruntime (a dependency of newsrag).") from None
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")
        self._tokenizer.no_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(folder / "model_int8.onnx"), opts,
                                             providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()  # the tokenizer's truncation state is shared

    def logits(self, question: str, sentences: Sequence[str]) -> list[float]:
        if not sentences:
            return []
        with self._lock:
            encoded = self._tokenizer.encode_batch([(question, s) for s in sentences])
        # Shortest first, so a batch pads to like lengths; results go back in input order.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        scores = [0.0] * len(encoded)
        for b in range(0, len(order), BATCH):
            idx = order[b:b + BATCH]
            width = max(len(encoded[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for row, i in enumerate(idx):
                e = encoded[i]
                ids[row, :len(e.ids)] = e.ids
                mask[row, :len(e.ids)] = 1
                types[row, :len(e.ids)] = e.type_ids
            logits = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask,
                                                    "token_type_ids": types})[0]
            for row, i in enumerate(idx):
                scores[i] = float(logits[row][0])
        return scores

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        return [_sigmoid(x) for x in self.logits(question, sentences)]


_RANKERS: dict[str, Ranker] = {}
_RANKERS_LOCK = threading.Lock()


def load_ranker(name: str) -> Ranker:
    """The named ranker, loaded once per process."""
    with _RANKERS_LOCK:
        if name not in _RANKERS:
            if name == "cross-encoder":
                _RANKERS[name] = CrossEncoderRanker()
            else:
                raise ConfigError(f"Unknown ranker {name!r}.", hint="Use 'cross-encoder'.")
        return _RANKERS[name]
