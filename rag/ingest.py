"""Ingest: find input files, parse each format, clean the text, attach metadata -> `Article`.

Cleaning works by general rules about web pages, not by a list of known files:
- a short line made only of widget words ("Share This", "CATEGORIES", "Updated On") is dropped;
- a slug-like token line ("author-image") is dropped, and a name right after an author marker
  becomes the byline;
- a line that repeats an earlier line (a headline printed three times) is kept once;
- a date line in the first lines ("Published: May 20, 2024", "Oct. 20, 2025, 11:53 a.m. ET",
  `date 2024-06-02` under the headline) becomes the date and leaves the body (rag/dates.py);
- a short first line without final punctuation is the headline, and so the title.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.dates import find_dateline, infer_date, parse_date
from rag.errors import InputError, TooLargeError, UnsupportedFormatError
from rag.feeds import looks_like_feed, parse_feed
from rag.fetch import FetchError, fetch, is_url
from rag.html import extract_html
from rag.text import normalize, require_unicode
from rag.types import Article, RawDocument

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".xml",
                      ".rss", ".atom")
_JSON_FIELDS = ("title", "text", "date", "url", "source", "author")


# --- finding and reading inputs ----------------------------------------------------------------


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """Expand files and folders into the list of supported files, in a stable order.

    A named file with an unsupported suffix is an error; inside a folder such files (images,
    hidden files) are passed over.
    """
    if not paths:
        raise InputError("No paths given.", hint="Name one or more files or folders to ingest.")
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"No such file or folder: {raw}")
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path)
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and not any(
                    part.startswith(".") for part in rel.parts
                ):
                    found.append(p)
        else:
            if not path.is_file():  # reading a pipe or a device could wait or run forever
                raise InputError(f"{raw} is not a regular file (a pipe, device or socket).",
                                 hint="Copy its content into a file and ingest that.")
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise UnsupportedFormatError(
                    f"Unsupported file type {path.suffix or '(none)'!r}: {raw}",
                    hint=f"Supported: {', '.join(SUPPORTED_SUFFIXES)}.",
                )
            found.append(path)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def read_file(path: Path, max_bytes: int) -> list[RawDocument]:
    size = path.stat().st_size
    if size > max_bytes:
        raise TooLargeError(f"{path} is {size:,} bytes; the limit is {max_bytes:,}.")
    return parse_bytes(path.name, path.read_bytes(), origin=str(path.resolve()))


def decode(filename: str, data: bytes) -> str:
    if not data.strip():
        raise InputError(f"{filename} is empty.")
    if b"\x00" in data:
        raise InputError(f"{filename} looks binary (it contains NUL bytes), not text.")
    if data.lstrip()[:5] == b"%PDF-":  # whatever its name says
        raise UnsupportedFormatError(f"{filename} is a PDF, not text.",
                                     hint="Save the article as text or HTML first.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{filename} is not valid UTF-8 (byte {exc.start}).",
            hint="Convert it to UTF-8, e.g. `iconv -f latin1 -t utf-8`.",
        ) from None
    # Control characters other than tab and newline are noise from copy-paste or binary junk.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)


def parse_bytes(filename: str, data: bytes, origin: str) -> list[RawDocument]:
    """Parse one input by its suffix. Raises `InputError` with the reason on bad content."""
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFormatError(
            f"Unsupported file type {suffix or '(none)'!r}: {filename}",
            hint=f"Supported: {', '.join(SUPPORTED_SUFFIXES)}.",
        )
    text = decode(filename, data)
    if suffix in (".xml", ".rss", ".atom"):
        if not looks_like_feed(text):
            raise UnsupportedFormatError(f"{filename} is XML but not an RSS or Atom feed.")
        return parse_feed(filename, text, origin)
    if suffix in (".json", ".jsonl"):
        return _parse_json_records(filename, text, origin, lines=suffix == ".jsonl")
    if suffix in (".html", ".htm"):
        page = extract_html(text)
        if not page.text.strip():
            raise InputError(f"{filename} has no article text.")
        return [RawDocument(text=page.text, origin=origin, filename=filename, title=page.title,
                            date=page.date, url=page.url, author=page.author)]
    if suffix in (".md", ".markdown"):
        text = _strip_markdown(text)
    if not text.strip():
        raise InputError(f"{filename} has no text.")
    return [RawDocument(text=text, origin=origin, filename=filename)]


def _strip_markdown(text: str) -> str:
    """Drop markdown syntax that is not content: heading hashes, emphasis, link targets."""
    text = re.sub(r"(?m)^\s{0,3}#{1,6}\s+", "", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    return re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)


def _parse_json_records(filename: str, text: str, origin: str, *, lines: bool) -> list[RawDocument]:
    records: list[tuple[str, Any]] = []
    if lines:
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                records.append((f"line {n}", json.loads(line)))
            except (json.JSONDecodeError, RecursionError) as exc:
                raise InputError(f"{filename}, line {n}: malformed JSON ({_why(exc)}).") from None
    else:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"{filename}: malformed JSON ({_why(exc)}).") from None
        items = data if isinstance(data, list) else [data]
        records = [(f"item {i}", item) for i, item in enumerate(items, 1)]
    if not records:
        raise InputError(f"{filename} holds no records.")
    docs = []
    multi = len(records) > 1
    for where, rec in records:
        if not isinstance(rec, dict):
            raise InputError(f"{filename}, {where}: expected an object with a 'text' field.")
        require_unicode(rec, f"{filename}, {where}:")
        body = rec.get("text")
        if not isinstance(body, str) or not body.strip():
            raise InputError(f"{filename}, {where}: 'text' is missing or empty.")
        for key in _JSON_FIELDS:
            if rec.get(key) is not None and not isinstance(rec[key], str):
                raise InputError(f"{filename}, {where}: '{key}' must be a string.")
        url = rec.get("url") or None
        docs.append(RawDocument(
            text=re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", body.replace("\r\n", "\n")),
            origin=url or (f"{origin}#{where}" if multi else origin),
            filename=filename,
            title=(rec.get("title") or "").strip() or None,
            date=rec.get("date") or None,
            url=url,
            source=(rec.get("source") or "").strip() or None,
            author=(rec.get("author") or "").strip() or None,
        ))
    return docs


def _why(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "nested too deeply"


# --- cleaning ----------------------------------------------------------------------------------

# Words that make up navigation and share widgets. A short line made only of these is chrome.
_WIDGET_WORDS = frozenset(
    """share this tweet categories category tags tag related advertisement ad ads subscribe
    newsletter read more comments comment updated update new on print email e-mail follow us
    sign up log in skip to content menu home facebook twitter whatsapp linkedin copy link
    top back next previous article story stories popular trending most video photo image
    images loading sponsored continue reading listen min mins save bookmark x reddit
    telegram pinterest also see view all posted published by topics latest news watch live
    click here sharethis""".split()
)
_SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)+$")
_NAME = re.compile(r"^(?:[A-Z][\w’'.-]*)(?:\s+[A-Z][\w’'.-]*){1,4}$")
_BYLINE = re.compile(r"^by\s+([A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*){0,4})$", re.IGNORECASE)


def _is_widget_line(line: str) -> bool:
    tokens = re.findall(r"[\w-]+", line.lower())
    if not tokens or len(tokens) > 4 or re.search(r"[.!?]$", line.strip()):
        return False
    return all(t in _WIDGET_WORDS for t in tokens)


def _line_key(line: str) -> str:
    return re.sub(r"\W+", " ", normalize(line)).strip()


def _looks_like_headline(line: str) -> bool:
    n = len(line.split())
    return 2 <= n <= 25 and not re.search(r"[.!;,:]$", line)


@dataclass(frozen=True)
class _Cleaned:
    text: str
    title: str | None
    date: str | None
    author: str | None
    latest: str | None = None  # an update date stated alone: the article is no newer


def clean_text(text: str, crawled: dt.datetime | None = None) -> _Cleaned:
    lines = [ln.strip() for ln in text.split("\n")]
    dateline = find_dateline(lines, crawled.date() if crawled else dt.date.today(), crawled)
    date = dateline.date if dateline else None
    if dateline:
        lines = [ln for i, ln in enumerate(lines) if i not in dateline.lines]
    kept: list[str] = []  # "" marks a paragraph break
    seen: set[str] = set()
    author: str | None = None
    expect_author = False
    for line in lines:
        if not line:
            if kept and kept[-1] != "":
                kept.append("")
            continue
        if _SLUG.match(line):
            expect_author = expect_author or "author" in line or "byline" in line
            continue
        if _is_widget_line(line):
            continue
        if expect_author and author is None and _NAME.match(line):
            author, expect_author = line, False
            continue
        expect_author = False
        by = _BYLINE.match(line)
        if by and author is None and len(line.split()) <= 6:
            author = by.group(1)
            continue
        key = _line_key(line)
        if key in seen and len(key.split()) >= 2:
            continue  # a repeated headline or paragraph: keep the first
        seen.add(key)
        kept.append(line)
    while kept and kept[-1] == "":
        kept.pop()
    body = "\n".join(kept)
    body = re.sub(r"\n\n+", "\n\n", body).strip()
    first = next((k for k in kept if k), "")
    title = first if _looks_like_headline(first) else None
    return _Cleaned(text=body, title=title, date=date, author=author,
                    latest=dateline.latest if dateline and dateline.date is None else None)


def _fallback_title(text: str, max_words: int = 14) -> str:
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    ws = first.split()
    return " ".join(ws[:max_words]) + ("…" if len(ws) > max_words else "")


def article_id(text: str, title: str) -> str:
    digest = hashlib.sha256(f"{title}\x00{normalize(text)}".encode()).hexdigest()
    return digest[:16]


def _crawl_time(raw: RawDocument) -> dt.datetime | None:
    if not raw.crawled:
        return None
    try:
        return dt.datetime.fromisoformat(raw.crawled)
    except ValueError:
        iso = parse_date(raw.crawled)
        return dt.datetime.fromisoformat(iso) if iso else None


def to_article(raw: RawDocument) -> Article:
    crawled = _crawl_time(raw)
    cleaned = clean_text(raw.text, crawled)
    # At least one real word: a file of escape codes or punctuation is not an article.
    if not re.search(r"[^\W\d_]{2,}", cleaned.text):
        raise InputError(f"{raw.filename} has no article text after removing boilerplate.")
    title = raw.title or cleaned.title or _fallback_title(cleaned.text)
    date = parse_date(raw.date) if raw.date else cleaned.date
    if raw.date and date is None:
        raise InputError(f"{raw.filename}: unreadable date {raw.date!r}.",
                         hint="Use YYYY-MM-DD or an ISO 8601 timestamp.")
    inferred = False
    if date is None:  # no date given: estimate one from the text, and say it is an estimate
        estimate = infer_date(cleaned.text, crawled.date() if crawled else None)
        date, inferred = (estimate.date, True) if estimate else (None, False)
        if date is None and cleaned.latest:
            # Only an update date is stated: the article is no newer than it, and usually
            # that old; shown as an estimate ("about ...") rather than left undated.
            date, inferred = cleaned.latest, True
    source = raw.source or (_host(raw.url) if raw.url else raw.filename)
    return Article(
        id=article_id(cleaned.text, title),
        title=title,
        text=cleaned.text,
        date=date,
        source=source,
        url=raw.url,
        author=raw.author or cleaned.author,
        origin=raw.origin,
        date_inferred=inferred,
    )


def _host(url: str) -> str:
    m = re.match(r"^[a-z][a-z0-9+.-]*://([^/:?#]+)", url, re.IGNORECASE)
    return m.group(1).removeprefix("www.") if m else url


def load_url(url: str, max_bytes: int) -> list[RawDocument]:
    """A web page (its main text) or a feed (one document per item) fetched from `url`."""
    got = fetch(url, max_bytes)
    name = _host(got.url) or url
    if looks_like_feed(got.text):
        return parse_feed(name, got.text, origin=url)
    if got.content_type in ("text/html", "application/xhtml+xml") or re.search(
            r"<html|<body|<p\b", got.text[:5000], re.IGNORECASE):
        page = extract_html(got.text)
        if not page.text.strip():
            raise FetchError(f"{url} has no article text.")
        return [RawDocument(text=page.text, origin=url, filename=name, title=page.title,
                            date=page.date, url=page.url or got.url, author=page.author)]
    raise FetchError(f"{url} is {got.content_type}, not a web page or an RSS/Atom feed.")


def load_sources(
    sources: Sequence[str | Path], max_bytes: int
) -> tuple[list[Article], list[tuple[str, str]]]:
    """Files, folders and http(s) URLs -> (articles, [(source, error message)])."""
    urls = [str(s) for s in sources if is_url(str(s))]
    paths = [s for s in sources if not is_url(str(s))]
    articles, errors = load_articles(discover(paths), max_bytes) if paths else ([], [])
    for url in urls:
        try:
            articles.extend(to_article(raw) for raw in load_url(url, max_bytes))
        except InputError as exc:
            errors.append((url, str(exc)))
    return articles, errors


def load_articles(
    paths: Iterable[Path], max_bytes: int
) -> tuple[list[Article], list[tuple[str, str]]]:
    """Read and clean every file; returns (articles, [(path, error message)])."""
    articles: list[Article] = []
    errors: list[tuple[str, str]] = []
    for path in paths:
        try:
            articles.extend(to_article(raw) for raw in read_file(path, max_bytes))
        except InputError as exc:
            errors.append((str(path), str(exc)))
        except OSError as exc:
            errors.append((str(path), f"cannot read {path}: {exc.strerror or exc}"))
    return articles, errors
