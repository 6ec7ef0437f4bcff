"""`newsrag serve`: one server with the HTTP API and the Gradio page mounted on it.

FastAPI routes (/api, /v1, /docs) are registered first, so the Gradio app mounted at "/" only
receives the paths they do not claim.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable

import gradio as gr
import uvicorn
from fastapi import FastAPI

from rag.api import API_KEY_ENV, api_key_from_env, create_app
from rag.errors import NewsragError
from rag.pipeline import Pipeline
from rag.settings import Settings
from ui.app import CSS, HEAD, build_ui

# Events running at once across all sessions. The pipeline is thread-safe; the cap keeps a burst
# of users from starving the 2-4 cores a newsroom box has (CPU-bound embedding + reranking).
CONCURRENCY = 4


def create_server_app(pipeline: Pipeline, settings: Settings,
                      api_key: str | None = None) -> FastAPI:
    """The API with the chat page mounted at "/". `api_key` defaults to NEWSRAG_API_KEY."""
    key = (api_key if api_key is not None else api_key_from_env()) or None
    app = create_app(pipeline, settings, api_key=key)
    blocks = build_ui(pipeline, settings)
    blocks.queue(default_concurrency_limit=CONCURRENCY)
    mounted: FastAPI = gr.mount_gradio_app(
        app, blocks, path="/",
        auth=_login_check(key) if key else None,
        auth_message="Sign in with any user name and the newsroom's API key as password.",
        css=CSS, head=HEAD, ssr_mode=False, mcp_server=False,
        footer_links=["api"], max_file_size=settings.max_file_bytes,
    )
    # Gradio checks the paths an event hands to a file component (only files it received in
    # its upload folder) only once `has_launched` is set, which `launch()` does and mounting
    # does not: without this, a forged `{"path": "/any/file"}` is read, copied and served.
    blocks.has_launched = True
    return mounted


def _login_check(key: str) -> Callable[[str, str], bool]:
    def check(_username: str, password: str) -> bool:
        return hmac.compare_digest(password.encode(), key.encode())

    return check


def _print_progress(done: int, total: int, label: str) -> None:
    print(f"  indexing sample corpus: {done}/{total} {label}", flush=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare(settings: Settings) -> Pipeline:
    """Open the index, ingest the sample corpus on first start, and load the models now so
    the first question is not the one that pays for it."""
    t0 = time.perf_counter()
    pipeline = Pipeline(settings)
    report = pipeline.ensure_sample_corpus(_print_progress)
    if report is not None:
        print(f"Indexed the sample corpus: {len(report.added)} articles, "
              f"{report.chunks_added} chunks.", flush=True)
    pipeline.retrieve("warm-up", top_k=1)  # loads the embedding model and the keyword index
    if settings.backend != "extractive":
        t1 = time.perf_counter()
        try:
            pipeline.generator.warm_up()
            print(f"LLM backend '{settings.backend}' ready ({time.perf_counter() - t1:.1f}s).",
                  flush=True)
        except NewsragError as exc:  # the page still serves extractive answers
            print(f"Warning: LLM backend '{settings.backend}' is not ready: {exc} "
                  "Answers fall back to the extractive answerer until it is.", flush=True)
    stats = pipeline.stats()
    print(f"Index ready: {stats.get('articles')} articles, {stats.get('chunks')} chunks "
          f"({time.perf_counter() - t0:.1f}s).", flush=True)
    return pipeline


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    t0 = time.perf_counter()
    key = api_key_from_env()
    if not _is_loopback(host) and not key:
        print(f"Warning: listening on {host} without {API_KEY_ENV}: anyone on the network can "
              "use and change this index.", file=sys.stderr, flush=True)
    pipeline = prepare(settings)
    app = create_server_app(pipeline, settings, api_key=key)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))

    def announce() -> None:  # once the socket is bound, not before
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            print(f"newsrag ready in {time.perf_counter() - t0:.1f}s: chat at "
                  f"http://{host}:{port}/ , API docs at http://{host}:{port}/docs", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    finally:
        pipeline.close()


class BackgroundServer:
    """uvicorn in a daemon thread, for tests and benchmarks: `with BackgroundServer(app, port)`."""

    def __init__(self, app: FastAPI, port: int, host: str = "127.0.0.1") -> None:
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The server at {self.url} did not start.")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
