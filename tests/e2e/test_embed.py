"""newsrag inside other sites' pages, and its API docs offline, in a real browser.

A newsroom page served from another loopback origin (another port) frames /embed and calls
/api/ask with `fetch`; an origin that NEWSRAG_ALLOWED_ORIGINS does not list gets neither.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.serve import BackgroundServer, free_port, prepare
from rag.settings import Settings
from ui.server import create_server_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

QUESTION = "When must US troops leave Niger?"
HOST_PAGE = """<!doctype html><html><head><title>Newsroom CMS</title></head><body>
<h1>Our story</h1>
<iframe id="nr" src="{newsrag}/embed/" title="Ask the archive"
        style="width: 520px; height: 700px; border: 0"></iframe>
<script>
window.asked = fetch("{newsrag}/api/ask", {{
  method: "POST", headers: {{"Content-Type": "application/json"}},
  body: JSON.stringify({{question: "{question}"}}),
}}).then(r => r.json()).then(
  j => ({{ok: true, answer: j.answer, citations: j.citations.length}}),
  e => ({{ok: false, error: String(e)}}));
</script></body></html>"""


class _Site:
    """Another origin: one static page, on its own loopback port."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(newsrag url, allowed site url, other site url)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    port = free_port()
    newsrag = f"http://127.0.0.1:{port}"
    page = HOST_PAGE.format(newsrag=newsrag, question=QUESTION)
    allowed, other = _Site(page), _Site(page)
    settings = Settings.load({"index_dir": tmp_path_factory.mktemp("index"),
                              "allowed_origins": allowed.url}, env={})
    pipeline = prepare(settings)
    try:
        with BackgroundServer(create_server_app(pipeline, settings, api_key=""), port):
            yield newsrag, allowed.url, other.url
    finally:
        allowed.close()
        other.close()
        pipeline.close()


def test_an_allowed_site_frames_the_embed_page_and_fetches_answers(
        sites: tuple[str, str, str], page: Any, tmp_path: Path) -> None:
    newsrag, allowed, _ = sites
    page.goto(allowed + "/")
    asked = page.evaluate("window.asked")
    assert asked["ok"], asked  # the real response carries Access-Control-Allow-Origin
    assert "[1]" in asked["answer"] and asked["citations"] >= 1

    frame = page.frame_locator("#nr")
    frame.locator("#nr-question textarea").fill(QUESTION)
    frame.locator("#nr-ask").click()
    link = frame.locator("#nr-chat a.nr-cite").first
    link.wait_for()
    assert frame.locator("#nr-sources, .tab-container").count() == 0  # chat only
    card = frame.locator("#nr-chat details.nr-source").first  # the source is in the bubble
    assert card.get_attribute("open") is None
    link.click()
    frame.locator("#nr-chat details.nr-source[open] mark.nr-hl").first.wait_for()
    assert "September" in card.locator("mark.nr-hl").inner_text()
    page.screenshot(path=str(tmp_path / "embed.png"), full_page=True)


def test_a_site_not_allowed_can_neither_frame_nor_fetch(
        sites: tuple[str, str, str], page: Any) -> None:
    newsrag, _, other = sites
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text))
    page.goto(other + "/")
    asked = page.evaluate("window.asked")
    assert not asked["ok"] and "Failed to fetch" in asked["error"]
    page.wait_for_timeout(1000)
    frame = next(f for f in page.frames if f != page.main_frame)
    assert not frame.url.startswith(newsrag) or frame.locator("#nr-question").count() == 0
    assert any("frame-ancestors" in m for m in refused), refused


def test_cors_headers_are_on_real_api_and_v1_responses_for_allowed_origins_only(
        sites: tuple[str, str, str]) -> None:
    newsrag, allowed, other = sites
    with httpx.Client(base_url=newsrag, timeout=60) as c:
        ask = c.post("/api/ask", json={"question": QUESTION}, headers={"Origin": allowed})
        assert ask.headers.get("access-control-allow-origin") == allowed
        v1 = c.post("/v1/chat/completions", headers={"Origin": allowed},
                    json={"messages": [{"role": "user", "content": QUESTION}]})
        assert v1.status_code == 200 and v1.headers["access-control-allow-origin"] == allowed
        bad = c.post("/api/ask", json={"question": ""}, headers={"Origin": allowed})
        assert bad.status_code == 400 and bad.headers["access-control-allow-origin"] == allowed
        pre = c.options("/api/ask", headers={"Origin": allowed,
                                             "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "content-type"})
        assert pre.headers.get("access-control-allow-origin") == allowed
        for path in ("/api/health", "/v1/models"):
            r = c.get(path, headers={"Origin": other})
            assert "access-control-allow-origin" not in r.headers
        pre = c.options("/api/ask", headers={"Origin": other,
                                             "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers
        for path in ("/", "/embed/"):
            csp = c.get(path).headers["content-security-policy"]
            assert csp == f"frame-ancestors 'self' {allowed}"


@pytest.mark.parametrize(("path", "rendered"), [
    ("/docs", ".opblock-summary-path"),  # Swagger UI: one row per operation
    ("/redoc", "[data-section-id^='tag/']"),  # ReDoc: a section per tag
])
def test_the_api_docs_render_with_no_network_beyond_the_server(
        sites: tuple[str, str, str], browser: Any, tmp_path: Path, path: str,
        rendered: str) -> None:
    newsrag, _, _ = sites
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    elsewhere: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(newsrag + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(newsrag + path)
        page.wait_for_selector(rendered)
        text = page.locator("body").inner_text()
        assert "/api/ask" in text and "/v1/chat/completions" in text
        assert "Answer a question with citations" in text
        page.screenshot(path=str(tmp_path / f"{path.strip('/')}.png"), full_page=False)
        assert elsewhere == []
    finally:
        context.close()


EVIL = ("Zorblax festival <img src=x onerror=\"window.__pwned=1\">\n\n"
        "The Zorblax festival in Timbuktu was cancelled on 3 June because of sandstorms.\n\n"
        "![pixel](http://127.0.0.1:9/pixel.png) **loud** <script>window.__pwned=2</script>\n\n"
        "Organisers said it will return next year.\n")


def test_inline_sources_of_the_embed_page_show_article_markup_as_text(
        sites: tuple[str, str, str], page: Any) -> None:
    newsrag, _, _ = sites
    r = httpx.post(newsrag + "/api/articles", files={"file": ("evil.txt", EVIL.encode())},
                   timeout=60)
    assert r.status_code == 201, r.text
    (evil_id,) = r.json()["added"]
    try:
        page.goto(newsrag + "/embed/")
        page.fill("#nr-question textarea", "When was the Zorblax festival cancelled?")
        page.click("#nr-ask")
        page.locator("#nr-chat a.nr-cite").first.wait_for()
        page.locator("#nr-chat a.nr-cite").first.click()
        article = page.locator("#nr-chat details.nr-source[open] .nr-article").first
        article.wait_for()
        text = article.inner_text()
        assert "![pixel](http://127.0.0.1:9/pixel.png) **loud**" in text  # not Markdown
        assert "<script>window.__pwned=2</script>" in text
        page.wait_for_timeout(500)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#nr-chat img, #nr-chat strong:has-text('loud')").count() == 0
    finally:
        httpx.delete(f"{newsrag}/api/articles/{evil_id}", timeout=60)
