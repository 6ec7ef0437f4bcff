"""Main text and metadata from an HTML page, with the standard library's parser.

Navigation, scripts, share widgets and related-link boxes are skipped by tag and by class/id
words; block elements become line breaks so the cleaner sees one paragraph per line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from rag.dates import parse_date

_SKIP_TAGS = {"script", "style", "noscript", "nav", "footer", "header", "aside", "form",
              "button", "svg", "iframe", "template", "select", "figure"}
_BLOCK_TAGS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "section",
               "article", "blockquote", "tr", "td", "th", "pre", "ul", "ol", "dd", "dt",
               "main", "time", "figcaption", "hr", "table"}
_VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "source", "wbr", "area", "base",
              "col", "embed", "param", "track"}
_CHROME = re.compile(
    r"(^|[\s_-])(share|social|related|newsletter|subscribe|advert|ad|ads|promo|sidebar|menu|"
    r"nav|navigation|breadcrumb|comment|comments|cookie|footer|header|tags|popup|modal)"
    r"($|[\s_-])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Page:
    text: str
    title: str | None = None
    date: str | None = None
    url: str | None = None
    author: str | None = None


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.stack: list[tuple[str, bool]] = []  # (tag, started a skipped region)
        self.title: str | None = None
        self.h1: str | None = None
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.time: str | None = None
        self.jsonld: list[str] = []
        self._in: str | None = None  # title / h1 / json-ld capture
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta":
            key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if key and "content" in a:
                self.meta.setdefault(key, a["content"])
            return
        if tag == "link" and "canonical" in a.get("rel", "").lower():
            self.canonical = a.get("href") or None
            return
        if tag == "time" and self.time is None and a.get("datetime"):
            self.time = a["datetime"]
        if tag in _VOID_TAGS:
            if tag == "br" and not self.skip_depth:
                self.parts.append("\n")
            return
        marks = f"{a.get('class', '')} {a.get('id', '')}"
        chrome = tag in _SKIP_TAGS or bool(_CHROME.search(marks))
        if tag == "script" and a.get("type", "").lower() == "application/ld+json":
            self._in, self._buf = "jsonld", []
        elif tag == "title":
            self._in, self._buf = "title", []
        elif tag == "h1" and self.h1 is None and not self.skip_depth:
            self._in, self._buf = "h1", []
        self.stack.append((tag, chrome))
        if chrome:
            self.skip_depth += 1
        if tag in _BLOCK_TAGS and not self.skip_depth:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            return
        if self._in and tag in ("title", "h1", "script"):
            captured = "".join(self._buf).strip()
            if self._in == "title":
                self.title = self.title or captured
            elif self._in == "h1":
                self.h1 = captured
            elif self._in == "jsonld":
                self.jsonld.append(captured)
            self._in = None
        # Pop to the matching tag; tolerate unclosed tags as browsers do.
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for _, chrome in self.stack[i:]:
                    if chrome:
                        self.skip_depth -= 1
                del self.stack[i:]
                break
        if tag in _BLOCK_TAGS and not self.skip_depth:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in:
            self._buf.append(data)
        if not self.skip_depth and self._in != "title":
            self.parts.append(data)


def _jsonld_fields(blobs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for blob in blobs:
        try:
            data = json.loads(blob)
        except (json.JSONDecodeError, RecursionError):
            continue
        items = data if isinstance(data, list) else data.get("@graph", [data]) if isinstance(
            data, dict) else []
        for item in items:
            if not isinstance(item, dict):
                continue
            for key in ("datePublished", "headline", "url"):
                if isinstance(item.get(key), str):
                    out.setdefault(key, item[key])
            author = item.get("author")
            if isinstance(author, dict) and isinstance(author.get("name"), str):
                out.setdefault("author", author["name"])
            elif isinstance(author, list) and author and isinstance(author[0], dict):
                name = author[0].get("name")
                if isinstance(name, str):
                    out.setdefault("author", name)
    return out


def extract_html(html: str) -> Page:
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = "\n".join(re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    ld = _jsonld_fields(parser.jsonld)
    m = parser.meta
    title = m.get("og:title") or ld.get("headline") or parser.h1 or parser.title
    raw_date = (m.get("article:published_time") or ld.get("datePublished") or parser.time
                or m.get("date") or m.get("pubdate") or m.get("dc.date"))
    return Page(
        text=text,
        title=title.strip() if title else None,
        date=parse_date(raw_date),
        url=parser.canonical or m.get("og:url") or ld.get("url"),
        author=m.get("author") or ld.get("author"),
    )
