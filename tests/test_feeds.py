"""More sources: RSS/Atom feeds from files and URLs, web pages by URL, and each way a fetch
fails -- against a local HTTP server on 127.0.0.1 that the test starts and stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.errors import InputError, TooLargeError, UnsupportedFormatError
from rag.feeds import looks_like_feed, parse_feed
from rag.fetch import FetchError, fetch
from rag.ingest import load_sources, load_url, parse_bytes, to_article
from rag.pipeline import Pipeline

BODY = ("Officials in Lisbon said the new bridge will open to traffic on 3 June after "
        "seven years of work. The project cost 1.2 billion euros.")
RSS = f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>Daily Wire</title>
<item><title>Bridge to open in June</title><link>https://news.example/bridge</link>
<pubDate>Mon, 20 May 2024 10:00:00 GMT</pubDate><dc:creator>Ana Silva</dc:creator>
<description>&lt;p&gt;{BODY}&lt;/p&gt;&lt;div class="share"&gt;Share this&lt;/div&gt;
</description></item>
<item><title>Headline only</title><link>https://news.example/empty</link></item>
</channel></rss>"""
ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Times</title>
<entry><title>Bridge to open in June</title>
<link rel="alternate" href="https://atom.example/bridge"/>
<updated>2024-05-21T08:00:00Z</updated><published>2024-05-20T08:00:00Z</published>
<author><name>Rui Costa</name></author><summary>{BODY}</summary></entry></feed>"""
PAGE = f"""<html><head><title>Bridge | Site</title>
<link rel="canonical" href="https://site.example/2024/bridge">
<meta property="article:published_time" content="2024-05-20T09:00:00Z"></head>
<body><nav>Home News Sport</nav><article><h1>Bridge to open in June</h1><p>{BODY}</p></article>
<aside class="related-links">Read more: other stories</aside></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes]] = {
        "/feed.xml": (200, "application/rss+xml", RSS.encode()),
        "/atom": (200, "application/atom+xml", ATOM.encode()),
        "/page.html": (200, "text/html; charset=utf-8", PAGE.encode()),
        "/big": (200, "text/html", b"<p>" + b"x" * 5000 + b"</p>"),
        "/image.png": (200, "image/png", b"\x89PNG\r\n\x1a\n\x00\x00binary"),
        "/data.csv": (200, "text/csv", b"a,b\n1,2\n"),
    }

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/slow":
            time.sleep(2)
        status, ctype, body = self.routes.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_an_rss_file_gives_one_article_per_item_with_its_date_and_link() -> None:
    docs = parse_bytes("feed.xml", RSS.encode(), origin="/f/feed.xml")
    assert len(docs) == 1  # the headline-only item has nothing to quote
    art = to_article(docs[0])
    assert (art.title, art.date, art.url, art.author, art.source) == (
        "Bridge to open in June", "2024-05-20", "https://news.example/bridge", "Ana Silva",
        "Daily Wire")
    assert art.text == BODY and art.origin == "https://news.example/bridge"


def test_an_atom_feed_prefers_published_over_updated() -> None:
    art = to_article(parse_feed("a.atom", ATOM, "a")[0])
    assert (art.date, art.url, art.author) == ("2024-05-20", "https://atom.example/bridge",
                                               "Rui Costa")


def test_xml_that_is_not_a_feed_and_broken_feeds_are_rejected() -> None:
    assert looks_like_feed(RSS) and looks_like_feed(ATOM) and not looks_like_feed("<a/>")
    with pytest.raises(UnsupportedFormatError):
        parse_bytes("x.xml", b"<note>hi</note>", origin="x")
    with pytest.raises(InputError, match="malformed"):
        parse_bytes("x.rss", b"<rss><channel><item>", origin="x")


def test_feeds_and_pages_by_url(server: str) -> None:
    assert [d.title for d in load_url(f"{server}/feed.xml", 10**6)] == ["Bridge to open in June"]
    assert load_url(f"{server}/atom", 10**6)[0].date == "2024-05-20"
    page = to_article(load_url(f"{server}/page.html", 10**6)[0])
    assert page.url == "https://site.example/2024/bridge" and page.date == "2024-05-20"
    assert "Home News" not in page.text and "Read more" not in page.text


@pytest.mark.parametrize(("path", "error", "message"), [
    ("/missing", FetchError, "HTTP 404"),
    ("/big", TooLargeError, "limit"),
    ("/image.png", FetchError, "binary"),
    ("/data.csv", FetchError, "not a web page"),
])
def test_each_fetch_failure_has_a_clear_error(server: str, path: str, error: type[Exception],
                                              message: str) -> None:
    with pytest.raises(error, match=message):
        load_url(f"{server}{path}", 1000)


def test_a_slow_server_times_out(server: str) -> None:
    with pytest.raises(FetchError, match="did not answer within"):
        fetch(f"{server}/slow", 10**6, timeout=0.3)


def test_a_refused_connection_and_a_bad_scheme_are_clear_errors(server: str) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError, match="Cannot reach"):
        fetch(f"http://127.0.0.1:{port}/", 10**6, timeout=2)
    with pytest.raises(FetchError, match="Not an http"):
        fetch("ftp://example.com/x", 10**6)


def test_sources_mix_files_and_urls_and_collect_url_errors(server: str, tmp_path: Path) -> None:
    f = tmp_path / "feed.rss"
    f.write_text(RSS)
    arts, errors = load_sources([f, f"{server}/page.html", f"{server}/missing"], 10**6)
    assert len(arts) == 2 and [e[0] for e in errors] == [f"{server}/missing"]


def test_ingest_by_url_and_status_report_dates(fake_pipeline: Pipeline, server: str) -> None:
    report = fake_pipeline.ingest([f"{server}/feed.xml", f"{server}/page.html"])
    assert len(report.added) == 2
    stats = fake_pipeline.stats()
    assert stats["articles"] == 2 and stats["oldest_date"] == stats["newest_date"] == (
        "2024-05-20")
    assert stats["last_changed"] and "copy_groups" in stats
    with pytest.raises(InputError, match="HTTP 404"):
        fake_pipeline.ingest([f"{server}/missing"])
