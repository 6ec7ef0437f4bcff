"""`newsrag serve`: one server with the HTTP API and the Gradio pages mounted on it.

FastAPI routes (/api, /v1, /docs) are registered first, so the Gradio apps mounted at "/embed"
and "/" only receive the paths they do not claim. Around them, outermost first: CORS for the
allowed origins (on every response, not only the preflight), the frame-ancestors policy, the
page clients' cookie (ui/clients.py), then the key and size guard (rag/http_guard.py).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from rag.api import API_KEY_ENV, api_key_from_env, create_app
from rag.errors import NewsragError
from rag.history import History
from rag.http_guard import FramePolicy, parse_origins
from rag.pipeline import Pipeline
from rag.settings import Settings
from ui.app import CSS, EMBED_CSS, HEAD, build_embed, build_ui
from ui.clients import ClientRegistry, ClientTracker

# Events running at once across all sessions. The pipeline is thread-safe; the cap keeps a burst
# of users from starving the 2-4 cores a newsroom box has (CPU-bound embedding + reranking).
CONCURRENCY = 4


def create_server_app(pipeline: Pipeline, settings: Settings,
                      api_key: str | None = None) -> FastAPI:
    """The API with the chat page mounted at "/" and the embeddable chat at "/embed".
    `api_key` defaults to NEWSRAG_API_KEY."""
    key = (api_key if api_key is not None else api_key_from_env()) or None
    origins = parse_origins(settings.allowed_origins)
    app = create_app(pipeline, settings, api_key=key)
    _offline_docs(app)
    clients = ClientRegistry()
    page: dict[str, Any] = {
        "auth": _login_check(key) if key else None,
        "auth_message": "Sign in with any user name and the newsroom's API key as password.",
        "head": HEAD, "ssr_mode": False, "mcp_server": False,
        "max_file_size": settings.max_file_bytes,
    }
    app.add_api_route("/embed", lambda: RedirectResponse("/embed/"), include_in_schema=False)
    embed = build_embed(pipeline, settings)
    embed.queue(default_concurrency_limit=CONCURRENCY)
    gr.mount_gradio_app(app, embed, path="/embed", css=CSS + EMBED_CSS, footer_links=[], **page)
    # Conversations and feedback beside the index, kept per browser (the clients' cookie).
    history = History.beside(settings.index_dir)
    blocks = build_ui(pipeline, settings, clients, history)
    blocks.queue(default_concurrency_limit=CONCURRENCY)
    gr.mount_gradio_app(app, blocks, path="/", css=CSS, footer_links=["api"], **page)
    # Gradio checks the paths an event hands to a file component (only files it received in
    # its upload folder) only once `has_launched` is set, which `launch()` does and mounting
    # does not: without this, a forged `{"path": "/any/file"}` is read, copied and served.
    blocks.has_launched = embed.has_launched = True
    app.add_middleware(ClientTracker, registry=clients)
    app.add_middleware(FramePolicy, origins=origins)
    # Starlette's CORS on the parent app: Gradio then leaves CORS to it (its own middleware
    # steps aside), so one policy covers /api, /v1 and the pages, on real responses too.
    app.add_middleware(CORSMiddleware, allow_origins=origins,
                       allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type"], max_age=600)
    return app


DOCS_ASSETS = "/docs/assets"  # under /docs: locked by the key like the pages that use them
# The docs pages load nothing from other hosts: ReDoc would fetch its logo from its CDN.
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
               "'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
               "worker-src 'self' blob:; connect-src 'self'")


def _offline_docs(app: FastAPI) -> None:
    """/docs and /redoc from assets bundled in the fastapi-offline wheel: FastAPI's own pages
    load Swagger UI and ReDoc (and fonts) from a CDN, and show nothing offline."""
    pages = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in pages]
    assets = files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    schema = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + schema, title=f"{app.title} · API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png")
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + schema, title=f"{app.title} · API",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False)
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page


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
    parse_origins(settings.allowed_origins)  # a wrong value fails now, not after the models load
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
