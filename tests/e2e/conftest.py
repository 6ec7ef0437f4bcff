"""A real newsrag server (real pipeline, tmp index) and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.generate import Generator
from rag.pipeline import Pipeline
from rag.serve import BackgroundServer, free_port, prepare
from rag.settings import Settings
from tests.e2e.held import HeldLLM
from ui.server import create_server_app

CHROMIUM = "/usr/bin/chromium"
# No sandbox/GPU in containers; no network calls of chromium's own (updates, sync, QUIC).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BackgroundServer, Pipeline]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings.load({"index_dir": tmp_path_factory.mktemp("index")}, env={})
    pipeline = prepare(settings)
    with BackgroundServer(create_server_app(pipeline, settings, api_key=""), free_port()) as srv:
        yield srv, pipeline
    pipeline.close()


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[tuple[BackgroundServer, Pipeline, HeldLLM]]:
    """A real server whose LLM backend is `HeldLLM` (every collection's pipeline shares the
    main one's generator), its first reply held. Not `prepare`: its warm-up would be held.
    One server per test module: a test after the first calls `llm.hold()`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings.load({"index_dir": tmp_path_factory.mktemp("index"),
                              "backend": "openai-compatible", "llm_model": "held",
                              "llm_base_url": "http://127.0.0.1:9/v1"}, env={})
    pipeline = Pipeline(settings)
    pipeline.ensure_sample_corpus()
    pipeline.retrieve("warm-up", top_k=1)
    llm = HeldLLM("15 September", "[1]")
    pipeline._generator = Generator(llm, n_sources=settings.llm_sources,  # type: ignore[arg-type]
                                    min_confidence=settings.llm_min_confidence)
    with BackgroundServer(create_server_app(pipeline, settings, api_key=""), free_port()) as srv:
        yield srv, pipeline, llm
    llm.release.set()
    pipeline.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(60_000)
    yield p
    context.close()
