"""`newsrag serve`: one server with the HTTP API and, when installed, the pages mounted on it.

FastAPI routes (/api, /v1, /docs) are registered first, so pages mounted afterwards (the
Gradio chat at "/" and "/embed") only receive the paths they do not claim. Around them,
outermost first: CORS for the allowed origins (on every response, not only the preflight), the
frame-ancestors policy, whatever the pages add (the page clients' cookie), then the key and
size guard (rag/http_guard.py).

The library never imports its UI: the pages are found by the `newsrag.pages` entry point
(pyproject.toml: `ui = "ui.server:mount_pages"`), a function given the app, the pipeline, the
settings and the API key. An install without one serves the API alone and says so.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable
from importlib.resources import files

import uvicorn
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from rag.api import API_KEY_ENV, api_key_from_env, create_app
from rag.errors import NewsragError
from rag.http_guard import FramePolicy, parse_origins
from rag.pipeline import Pipeline
from rag.settings import Settings

# Mounts pages on the app: (app, pipeline, settings, API key or None).
Pages = Callable[[FastAPI, Pipeline, Settings, str | None], None]
PAGES_GROUP = "newsrag.pages"


def installed_pages() -> Pages | None:
    """The pages an installed package offers under the `newsrag.pages` entry point. Every
    distribution is read, not only the first of a name: a stale `newsrag.egg-info` left in a
    checkout would otherwise hide the installed metadata."""
    from importlib.metadata import distributions

    for dist in distributions():
        for ep in dist.entry_points:
            if ep.group == PAGES_GROUP:
                pages: Pages = ep.load()
                return pages
    return None


def create_server_app(pipeline: Pipeline, settings: Settings, api_key: str | None = None,
                      pages: Pages | None = None) -> FastAPI:
    """The API, with `pages` mounted on it (none: the API alone). `api_key` defaults to
    NEWSRAG_API_KEY."""
    key = (api_key if api_key is not None else api_key_from_env()) or None
    origins = parse_origins(settings.allowed_origins)
    app = create_app(pipeline, settings, api_key=key)
    _offline_docs(app)
    if pages is not None:
        pages(app, pipeline, settings, key)
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
    pages = installed_pages()
    if pages is None:
        print(f"No pages are installed (entry point group {PAGES_GROUP!r}): serving the API "
              "alone.", file=sys.stderr, flush=True)
    pipeline = prepare(settings)
    app = create_server_app(pipeline, settings, api_key=key, pages=pages)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))

    def announce() -> None:  # once the socket is bound, not before
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            where = f"chat at http://{host}:{port}/ , " if pages else ""
            print(f"newsrag ready in {time.perf_counter() - t0:.1f}s: {where}API docs at "
                  f"http://{host}:{port}/docs", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    finally:
        app.state.collections.close()  # main's pipeline and every other opened collection


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
