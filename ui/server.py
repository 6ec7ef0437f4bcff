"""The chat pages on newsrag's server: the Gradio chat at "/" and the embeddable chat at
"/embed", mounted by `mount_pages` on the app rag/serve.py builds (found through the
`newsrag.pages` entry point in pyproject.toml, so the library never imports the UI).
"""

from __future__ import annotations

import hmac
import html
from collections.abc import Callable
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.collections import resolve
from rag.errors import NewsragError
from rag.history import History
from rag.pipeline import Pipeline
from rag.serve import create_server_app as _create_server_app
from rag.settings import Settings
from ui.app import build_embed, build_ui
from ui.assets import CSS, EMBED_CSS, HEAD
from ui.clients import ClientRegistry, ClientTracker

# Events running at once across all sessions. The pipeline is thread-safe; the cap keeps a burst
# of users from starving the 2-4 cores a newsroom box has (CPU-bound embedding + reranking).
CONCURRENCY = 4


def mount_pages(app: FastAPI, pipeline: Pipeline, settings: Settings, key: str | None) -> None:
    """The chat page at "/" and the embeddable chat at "/embed", behind a login when the server
    has an API key."""
    clients = ClientRegistry()
    page: dict[str, Any] = {
        "auth": _login_check(key) if key else None,
        "auth_message": "Sign in with any user name and the newsroom's API key as password.",
        "head": HEAD, "ssr_mode": False, "mcp_server": False,
        "max_file_size": settings.max_file_bytes,
    }
    collections = getattr(app.state, "collections", None)
    app.add_api_route("/embed", _to_embed, include_in_schema=False)
    embed = build_embed(pipeline, settings, collections)
    embed.queue(default_concurrency_limit=CONCURRENCY)
    gr.mount_gradio_app(app, embed, path="/embed", css=CSS + EMBED_CSS, footer_links=[], **page)
    # Conversations and feedback beside the index, kept per browser (the clients' cookie).
    history = History.beside(settings.index_dir)
    blocks = build_ui(pipeline, settings, clients, history, collections=collections)
    blocks.queue(default_concurrency_limit=CONCURRENCY)
    gr.mount_gradio_app(app, blocks, path="/", css=CSS, footer_links=["api"], **page)
    # Gradio checks the paths an event hands to a file component (only files it received in
    # its upload folder) only once `has_launched` is set, which `launch()` does and mounting
    # does not: without this, a forged `{"path": "/any/file"}` is read, copied and served.
    blocks.has_launched = embed.has_launched = True
    app.add_middleware(ClientTracker, registry=clients)
    if not key:  # with a key the page is behind its login: no name is told before it
        app.add_middleware(EmbedCollectionCheck, settings=settings)


def _to_embed(request: Request) -> RedirectResponse:
    query = request.url.query  # `/embed?collection=sports` keeps its archive
    return RedirectResponse("/embed/" + (f"?{query}" if query else ""))


class EmbedCollectionCheck:
    """`/embed/?collection=NAME` is served only for a collection that exists: a bad name is a
    400 page, an unknown one a 404, each saying why, and neither creates anything. (Behind a
    key, the page's questions get the same error as a chat message instead.)"""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in ("/embed", "/embed/"):
            name = Request(scope).query_params.get("collection")
            if name is not None:
                try:
                    resolve(self.settings, name)
                except NewsragError as exc:
                    message = html.escape(str(exc), quote=False)
                    page = HTMLResponse(_ERROR_PAGE.format(message=message),
                                        status_code=exc.http_status)
                    await page(scope, receive, send)
                    return
        await self.app(scope, receive, send)


_ERROR_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>newsrag</title></head>
<body><p>{message}</p></body></html>"""


def create_server_app(pipeline: Pipeline, settings: Settings,
                      api_key: str | None = None) -> FastAPI:
    """The API with these pages mounted (what `newsrag serve` builds when the UI is installed)."""
    return _create_server_app(pipeline, settings, api_key=api_key, pages=mount_pages)


def _login_check(key: str) -> Callable[[str, str], bool]:
    def check(_username: str, password: str) -> bool:
        return hmac.compare_digest(password.encode(), key.encode())

    return check
