"""Pure formatting helpers for the chat page: Answer/Article objects in, strings out.

No gradio import here, so every function is unit-tested without launching an app.

Safety rule: every string that comes from an article (title, source, text, quotes) or from an
answer goes through `html.escape` before it is put into markup. The chat bubble is additionally
rendered as Markdown by the Chatbot, so answer text is also Markdown-escaped there; otherwise an
article containing `![x](...)` or `**` could restyle or inject into the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from rag.dates import display_article_date, display_date
from rag.present import answer_as_text
from rag.types import Answer, Article, ArticleSummary, Citation, IngestReport, Passage

MARKER = re.compile(r"\[(\d+)\]")
# Characters that Markdown (and the Chatbot's LaTeX/emoji extensions) would interpret.
# `<`, `>`, `&` and quotes are left to HTML escaping: a backslash before an entity would break it.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$-])")

ABSTAIN_BANNER = "Not answered by the articles."


def esc(text: str | None) -> str:
    """HTML-escape, quotes included (values also land in attributes)."""
    return html.escape(text or "", quote=True)


def md_escape(text: str) -> str:
    """Backslash-escape Markdown syntax, then HTML-escape, so the text renders literally."""
    return esc(_MD_SPECIAL.sub(r"\\\1", text))


def source_anchor(n: int, k: int = 1) -> str:
    """The id of citation `n`'s card of the `k`-th answer: every answer keeps its own cards, so
    a `[1]` of an older answer opens that answer's source, not the latest one's."""
    return f"nr-a{k}-src-{n}"


def cite_link(n: int, k: int = 1, tip: str = "") -> str:
    """The clickable `[n]`: an in-page anchor to the source card (the page script opens it);
    `tip` (outlet and date) shows on hover."""
    title = f' title="{esc(tip)}"' if tip else ""
    return (f'<a class="nr-cite" href="#{source_anchor(n, k)}" data-n="{n}" data-k="{k}"'
            f"{title}>[{n}]</a>")


def answer_markdown(text: str, cited: Iterable[int] | Mapping[int, str], k: int = 1) -> str:
    """Answer text for the chat bubble: escaped, with each known `[n]` turned into a link
    (`cited` maps n to the link's hover text, or lists the known n).

    Markers without a citation (should not happen; the pipeline guarantees them) stay text.
    """
    tips = dict(cited) if isinstance(cited, Mapping) else dict.fromkeys(cited, "")
    out: list[str] = []
    pos = 0
    for m in MARKER.finditer(text):
        out.append(md_escape(text[pos : m.start()]))
        n = int(m.group(1))
        out.append(cite_link(n, k, tips[n]) if n in tips else md_escape(m.group(0)))
        pos = m.end()
    out.append(md_escape(text[pos:]))
    return "".join(out)


def partial_markdown(text: str) -> str:
    """A streaming answer: escaped only; markers become links once the citations exist."""
    return md_escape(text)


def citation_line(c: Citation) -> str:
    """Outlet and date of a citation, as shown beside it: 'apnews.com · 20 May 2024'."""
    when = display_article_date(c.date, c.date_inferred)
    return " · ".join(x for x in (outlet(c.source, c.url), when) if x)


def chat_message(answer: Answer, k: int = 1, inline_sources: str = "") -> str:
    """The final assistant bubble of the `k`-th answer. An abstention says so first, in plain
    words; so does a failed LLM backend (this is then the extractive answer), and the model's
    sentences that the verifier removed are listed under the answer, never silently dropped.
    `inline_sources` (the embed page) goes under the answer, inside the bubble. The bubble
    carries its clean text (`copy_text`) for the copy button, which would otherwise copy the
    escaped markup."""
    tips = {c.n: citation_line(c) for c in answer.citations}
    body = answer_markdown(answer.text, tips, k)
    if answer.short_answer and not answer.abstained:
        # The few words that answer first; the quote that says them, cited, below.
        short = answer.short_answer
        body = (f"**{md_escape(short.text)}** "
                f"{cite_link(short.citation, k, tips.get(short.citation, ''))}\n\n> {body}")
    if answer.abstained:
        where = "below" if inline_sources else "beside the chat"
        body = f"**{ABSTAIN_BANNER}** {body}\n\n*The nearest passages are listed {where}.*"
    if answer.backend_error:
        body = (f"**The LLM backend failed; this is the extractive answer.** "
                f"*{md_escape(answer.backend_error)}*\n\n{body}")
    if answer.removed:
        n = len(answer.removed)
        items = "\n".join(f"> ~~{md_escape(r)}~~" for r in answer.removed)
        body += (f"\n\n**{n} sentence{'s' if n > 1 else ''} the model wrote "
                 f"{'were' if n > 1 else 'was'} removed: the cited passages do not support "
                 f"{'them' if n > 1 else 'it'}.**\n{items}")
    if inline_sources:
        body += f"\n\n{inline_sources}"
    copy = _inert(copy_text(answer))
    # `title`: the one free-text attribute the Chatbot's sanitizer keeps (it drops data-*).
    return f'{body}\n\n<span class="nr-copy-src" hidden title="{copy}"></span>'


def _inert(text: str) -> str:
    """`text` for an attribute inside Markdown: every character that Markdown or HTML could
    read (and every newline) as a numeric entity, so the bubble's renderer leaves it alone and
    the browser decodes exactly `text`."""
    return "".join(ch if ch.isalnum() or ch in " .,:;" else f"&#{ord(ch)};" for ch in text)


# --- sources panel ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceItem:
    """One card of the sources panel: a citation or, for an abstention, a nearest passage."""

    label: str  # "[1]" or "~1"
    anchor: str
    article_id: str
    title: str
    date: str | None
    source: str
    quote: str
    start: int
    end: int
    also: tuple[str, ...] = ()  # other sources that carried the same passage
    url: str | None = None  # deep link to the quote on the web page
    date_inferred: bool = False

    @classmethod
    def from_citation(cls, c: Citation, k: int = 1) -> SourceItem:
        return cls(f"[{c.n}]", source_anchor(c.n, k), c.article_id, c.title, c.date, c.source,
                   c.quote, c.start, c.end, c.also_reported_by, c.url, c.date_inferred)

    @classmethod
    def from_passage(cls, i: int, p: Passage, k: int = 1) -> SourceItem:
        ch = p.chunk
        return cls(f"~{i}", f"nr-a{k}-near-{i}", ch.article_id, p.title, p.date, p.source,
                   ch.text, ch.start, ch.end)


def source_items(answer: Answer, k: int = 1) -> list[SourceItem]:
    if answer.citations:
        return [SourceItem.from_citation(c, k) for c in answer.citations]
    if answer.abstained:
        return [SourceItem.from_passage(i, p, k) for i, p in enumerate(answer.passages, 1)]
    return []


# A source that only names the file it was read from: the outlet is not known.
_FILE_NAME = re.compile(r"^[^/\\\s]+\.(txt|md|markdown|html?|json|jsonl|xml|rss|atom)$", re.I)


def outlet(source: str | None, url: str | None = None) -> str | None:
    """The outlet to show for an article: its named source, else the site of its URL; a bare
    file name (`002_6be8afa9a8b09b71.txt`) names no outlet."""
    named = (source or "").strip()
    named = "" if _FILE_NAME.match(named) else named.removeprefix("www.")
    host = urlsplit(url).hostname if url else None
    return named or (host.removeprefix("www.") if host else None)


def highlighted_article(text: str, start: int, end: int) -> str:
    """The whole article, escaped, with `text[start:end]` wrapped in <mark>.

    Offsets are clamped: a stale citation (article re-ingested) must not break the page.
    """
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    return (
        f"{esc(text[:start])}<mark class=\"nr-hl\">{esc(text[start:end])}</mark>{esc(text[end:])}"
    )


def source_card(item: SourceItem, article: Article | None) -> str:
    when = display_article_date(item.date, item.date_inferred)
    meta = " · ".join(esc(x) for x in (outlet(item.source, item.url), when) if x)
    if item.url and item.url.startswith(("http://", "https://")):
        meta += f' · <a href="{esc(item.url)}" target="_blank" rel="noopener">open</a>'
    also = (f'<p class="nr-also">Also reported by {esc(", ".join(item.also))}</p>'
            if item.also else "")
    if article is not None:
        body = (
            f'<div class="nr-article">{highlighted_article(article.text, item.start, item.end)}'
            "</div>"
        )
    else:  # deleted since the answer was given: the quote is all we still have
        body = '<p class="nr-missing">The article is no longer in the index.</p>'
    return (
        f'<details class="nr-source" id="{esc(item.anchor)}">'
        f'<summary><span class="nr-label">{esc(item.label)}</span> '
        f'<span class="nr-title">{esc(item.title)}</span> '
        f'<span class="nr-meta">{meta}</span></summary>'
        f'<blockquote class="nr-quote">{esc(item.quote)}</blockquote>'
        f"{also}{body}</details>"
    )


EMPTY_PANEL = (
    '<div class="nr-sources nr-empty">Sources appear here. Click a [n] marker or a '
    "source to read the article with the cited passage highlighted.</div>"
)


def sources_html(answer: Answer | None, articles: Mapping[str, Article | None], k: int = 1,
                 question: str = "") -> str:
    """The sources of the `k`-th answer. `articles` maps article ids to the stored article
    (None if gone); `question` names the answer when the panel lists several."""
    if answer is None:
        return EMPTY_PANEL
    items = source_items(answer, k)
    asked = f" · “{esc(question)}”" if question else ""
    if answer.abstained:
        head = (
            f'<p class="nr-abstain"><strong>{esc(ABSTAIN_BANNER)}</strong>{asked} '
            "Nearest passages (they do not answer the question):</p>"
        )
    else:
        count = f"{len(items)} source{'s' if len(items) != 1 else ''}"
        head = f'<p class="nr-sources-head">Answer {k}{asked} · {count}</p>'
    cards = "".join(
        f"<li>{source_card(it, articles.get(it.article_id))}</li>" for it in items
    )
    return (f'<div class="nr-sources" id="nr-a{k}-sources" data-k="{k}">{head}'
            f'<ol class="nr-source-list">{cards}</ol></div>')


def sources_panel(sections: Sequence[str]) -> str:
    """The panel beside the chat: every answer's sources (from `sources_html`), newest first,
    so each answer's `[n]` finds its own cards."""
    if not sections:
        return EMPTY_PANEL
    return '<div class="nr-panel">' + "".join(reversed(sections)) + "</div>"


def inline_sources(answer: Answer, articles: Mapping[str, Article | None], k: int = 1) -> str:
    """The sources inside the answer's bubble (the compact embed page has no side panel)."""
    items = source_items(answer, k)
    if not items:
        return ""
    cards = "".join(source_card(it, articles.get(it.article_id)) for it in items)
    # One line: Markdown reads a blank line inside an HTML block as the end of it and would
    # then render the article's own text as Markdown (images, links). `&#10;` keeps the
    # newlines for the article view's `pre-wrap`.
    return f'<div class="nr-sources nr-inline">{cards}</div>'.replace("\n", "&#10;")


def copy_text(answer: Answer) -> str:
    """Plain text for the clipboard: the same as `newsrag ask` prints, nearest passages whole,
    each source named by its outlet (never the file it was read from)."""
    named = replace(answer, citations=tuple(
        replace(c, source=outlet(c.source, c.url) or "") for c in answer.citations))
    return answer_as_text(named, nearest=len(answer.passages), snippet_chars=10_000)


# --- articles tab ----------------------------------------------------------------------------


def articles_table(rows: Sequence[ArticleSummary], total: int | None = None) -> str:
    """The articles, newest first; when `total` says there are more, a line saying how many
    are shown and where the rest are."""
    if not rows:
        return '<p class="nr-empty">No articles yet. Upload some below.</p>'
    more = ""
    if total is not None and total > len(rows):
        more = (f'<p class="nr-more">The newest {len(rows):,} of {total:,} articles. '
                "<code>newsrag list</code> or <code>GET /api/articles?offset=…</code> "
                "lists them all.</p>")
    body = "".join(
        "<tr>"
        f"<td>{esc(r.title)}</td><td>{esc(display_date(r.date))}</td>"
        f"<td>{esc(outlet(r.source, r.url) or '')}</td>"
        f'<td class="nr-num">{r.chunks}</td><td><code>{esc(r.id)}</code></td>'
        "</tr>"
        for r in rows
    )
    return (
        f'{more}<table class="nr-articles"><thead><tr><th>Title</th><th>Date</th><th>Source</th>'
        f"<th>Chunks</th><th>Id</th></tr></thead><tbody>{body}</tbody></table>"
    )


def article_choice(r: ArticleSummary) -> tuple[str, str]:
    """(label, value) for the delete dropdown; the dropdown renders labels as text."""
    return (f"{r.title} ({display_date(r.date)}) · {r.id}", r.id)


def delete_question(article: Article) -> str:
    """The confirmation asked before a delete (Markdown, escaped)."""
    when = display_article_date(article.date, article.date_inferred)
    return (f"Delete **{md_escape(article.title)}** ({md_escape(when)}, "
            f"`{esc(article.id)}`)? Its passages leave the index; answers already given keep "
            "only their quotes.")


def ingest_summary(reports: Sequence[IngestReport], problems: Sequence[str] = ()) -> str:
    """Plain-text status after an upload (shown in a Textbox, so no markup is interpreted)."""
    added = sum(len(r.added) for r in reports)
    replaced = sum(len(r.replaced) for r in reports)
    unchanged = sum(len(r.unchanged) for r in reports)
    chunks = sum(r.chunks_added for r in reports)
    errors = [*problems, *(f"{p}: {m}" for r in reports for p, m in r.errors)]
    if not reports and not errors:
        return "No files received."
    if not reports:  # an upload is stored whole or not at all
        return "Nothing was stored.\nRejected:\n" + "\n".join(f"- {e}" for e in errors)
    parts = [f"Added {added} article(s) ({chunks} chunks)"]
    if replaced:
        parts.append(f"replaced {replaced}")
    if unchanged:
        parts.append(f"{unchanged} already indexed")
    text = ", ".join(parts) + "."
    if errors:
        text += "\nRejected:\n" + "\n".join(f"- {e}" for e in errors)
    return text


# --- the Articles tab: a searchable page of articles and a reader ----------------------------


def articles_page(rows: Sequence[ArticleSummary], total: int, offset: int,
                  query: str = "") -> str:
    """One page of the Articles tab: which of how many are shown (matching `query`, if any),
    then the table. Each row carries its id (`data-read`): a click opens the reader."""
    if not rows:
        if query.strip():
            return f'<p class="nr-empty">No article title or source contains “{esc(query)}”.</p>'
        if offset:
            return f'<p class="nr-empty">No articles past number {offset:,}.</p>'
        return '<p class="nr-empty">No articles yet. Upload some below.</p>'
    matching = f" matching “{esc(query.strip())}”" if query.strip() else ""
    head = (f'<p class="nr-more">Articles {offset + 1:,}–{offset + len(rows):,} of '
            f"{total:,}{matching}. Click an article to read it.</p>")
    body = "".join(
        f'<tr class="nr-row" data-read="{esc(r.id)}" tabindex="0">'
        f'<td><a class="nr-read" href="#nr-reader" data-read="{esc(r.id)}">{esc(r.title)}</a></td>'
        f"<td>{esc(display_date(r.date))}</td>"
        f"<td>{esc(outlet(r.source, r.url) or '')}</td>"
        f'<td class="nr-num">{r.chunks}</td><td><code>{esc(r.id)}</code></td>'
        "</tr>"
        for r in rows
    )
    return (
        f'{head}<table class="nr-articles"><thead><tr><th>Title</th><th>Date</th>'
        f"<th>Source</th><th>Chunks</th><th>Id</th></tr></thead><tbody>{body}</tbody></table>"
    )


def page_label(total: int, offset: int, per_page: int) -> str:
    pages = max(1, -(-total // per_page))
    return f"Page {offset // per_page + 1} of {pages}"


READER_EMPTY = '<p class="nr-empty">Click an article in the list to read it here.</p>'


def article_reader(article: Article | None) -> str:
    """The reader view: title, outlet and date, id and link, then the whole stored text (as
    text: an article's markup is shown, never run)."""
    if article is None:
        return READER_EMPTY
    when = display_article_date(article.date, article.date_inferred)
    meta = " · ".join(x for x in (outlet(article.source, article.url), when) if x)
    link = ""
    if article.url and urlsplit(article.url).scheme in ("http", "https"):
        link = (f' · <a href="{esc(article.url)}" target="_blank" rel="noopener noreferrer">'
                "original</a>")
    return (f'<article class="nr-reader-view" data-id="{esc(article.id)}">'
            f'<h3 class="nr-reader-title">{esc(article.title)}</h3>'
            f'<p class="nr-meta">{esc(meta)} · <code>{esc(article.id)}</code>{link}</p>'
            f'<div class="nr-reader-text">{esc(article.text)}</div></article>')


# --- kept conversations ----------------------------------------------------------------------


def conversation_choice(conv_id: str, title: str, updated_at: float, turns: int,
                        collection: str = "main") -> tuple[str, str]:
    """(label, value) for the list of past conversations (the dropdown shows labels as text);
    a conversation on another archive than `main` names it."""
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(updated_at, UTC)
    stamp = f"{when.day} {when.strftime('%b %Y %H:%M')} UTC"
    where = "" if collection == "main" else f" · {collection}"
    return f"{title}{where} · {stamp} · {turns} answer{'' if turns == 1 else 's'}", conv_id


def feedback_note(rating: int | None, k: int) -> str:
    if rating is None:
        return f"Your verdict on answer {k} was withdrawn."
    return f"Thanks: {'👍' if rating > 0 else '👎'} kept for answer {k}."
