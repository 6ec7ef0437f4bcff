"""RSS 2.0, RSS 1.0 (RDF) and Atom feeds -> one `RawDocument` per item.

Each item keeps its title, link (as URL and origin, so a re-fetched item replaces its older
version), publication date (`pubDate`, `dc:date`, `published`, `updated`) and author; HTML in
the item body goes through the same main-text extraction as web pages. The standard library's
parser resolves no external entities, and expat refuses entity-expansion bombs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from rag.dates import parse_date
from rag.errors import InputError
from rag.html import extract_html
from rag.types import RawDocument

_ATOM = "{http://www.w3.org/2005/Atom}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC = "{http://purl.org/dc/elements/1.1/}"
_RSS1 = "{http://purl.org/rss/1.0/}"


def looks_like_feed(text: str) -> bool:
    """Is this XML document a feed (sniffed from its first tags, not its file name)?"""
    head = re.sub(r"<\?xml[^>]*\?>|<!--.*?-->", "", text[:2000], flags=re.DOTALL).lstrip()
    return bool(re.match(r"<(rss|feed|rdf:RDF)\b", head))


def _text(el: ET.Element | None) -> str:
    return "".join(el.itertext()).strip() if el is not None else ""


def _first(item: ET.Element, *tags: str) -> str:
    for tag in tags:
        value = _text(item.find(tag))
        if value:
            return value
    return ""


def _body(raw: str) -> str:
    """Item bodies are usually HTML (escaped in the XML); plain text passes through."""
    if "<" in raw and ">" in raw:
        return extract_html(f"<html><body>{raw}</body></html>").text
    return raw.strip()


def _atom_link(entry: ET.Element) -> str:
    for link in entry.findall(f"{_ATOM}link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href", "")
    return ""


def parse_feed(filename: str, text: str, origin: str) -> list[RawDocument]:

    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InputError(f"{filename}: malformed feed XML ({exc}).") from None
    atom = root.tag == f"{_ATOM}feed"
    if atom:
        source = _text(root.find(f"{_ATOM}title")) or None
        items = root.findall(f"{_ATOM}entry")
    else:
        channel = root.find("channel") or root.find(f"{_RSS1}channel")
        source = _first(channel, "title", f"{_RSS1}title") if channel is not None else ""
        items = root.findall("./channel/item") or root.findall(f"{_RSS1}item")
    docs = []
    for i, item in enumerate(items, 1):
        if atom:
            title = _text(item.find(f"{_ATOM}title"))
            link = _atom_link(item)
            raw_date = _first(item, f"{_ATOM}published", f"{_ATOM}updated")
            body = _first(item, f"{_ATOM}content", f"{_ATOM}summary")
            author = _text(item.find(f"{_ATOM}author/{_ATOM}name"))
        else:
            title = _first(item, "title", f"{_RSS1}title")
            link = _first(item, "link", f"{_RSS1}link")
            raw_date = _first(item, "pubDate", f"{_DC}date")
            body = _first(item, _CONTENT, "description", f"{_RSS1}description")
            author = _first(item, "author", f"{_DC}creator")
        text = _body(body)
        if not text:
            continue  # a headline-only item has nothing to quote
        docs.append(RawDocument(
            text=text, origin=link or f"{origin}#item {i}", filename=filename,
            title=title or None, date=parse_date(raw_date), url=link or None,
            source=source or None, author=author or None,
        ))
    if not docs:
        raise InputError(f"{filename}: the feed has no items with text.")
    return docs

