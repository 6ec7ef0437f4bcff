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
from dataclasses import dataclass

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


def source_anchor(n: int) -> str:
    return f"nr-src-{n}"


def cite_link(n: int) -> str:
    """The clickable `[n]`: an in-page anchor to the source card (the page script opens it)."""
    return f'<a class="nr-cite" href="#{source_anchor(n)}" data-n="{n}">[{n}]</a>'


def answer_markdown(text: str, cited: Iterable[int]) -> str:
    """Answer text for the chat bubble: escaped, with each known `[n]` turned into a link.

    Markers without a citation (should not happen; the pipeline guarantees them) stay text.
    """
    known = set(cited)
    out: list[str] = []
    pos = 0
    for m in MARKER.finditer(text):
        out.append(md_escape(text[pos : m.start()]))
        n = int(m.group(1))
        out.append(cite_link(n) if n in known else md_escape(m.group(0)))
        pos = m.end()
    out.append(md_escape(text[pos:]))
    return "".join(out)


def partial_markdown(text: str) -> str:
    """A streaming answer: escaped only; markers become links once the citations exist."""
    return md_escape(text)


def chat_message(answer: Answer) -> str:
    """The final assistant bubble. An abstention says so first, in plain words; so does a
    failed LLM backend (this is then the extractive answer), and the model's sentences that
    the verifier removed are listed under the answer, never silently dropped."""
    body = answer_markdown(answer.text, (c.n for c in answer.citations))
    if answer.short_answer and not answer.abstained:
        # The few words that answer first; the quote that says them, cited, below.
        short = answer.short_answer
        body = f"**{md_escape(short.text)}** {cite_link(short.citation)}\n\n> {body}"
    if answer.abstained:
        body = f"**{ABSTAIN_BANNER}** {body}\n\n*The nearest passages are listed beside the chat.*"
    if answer.backend_error:
        body = (f"**The LLM backend failed; this is the extractive answer.** "
                f"*{md_escape(answer.backend_error)}*\n\n{body}")
    if answer.removed:
        n = len(answer.removed)
        items = "\n".join(f"> ~~{md_escape(r)}~~" for r in answer.removed)
        body += (f"\n\n**{n} sentence{'s' if n > 1 else ''} the model wrote "
                 f"{'were' if n > 1 else 'was'} removed: the cited passages do not support "
                 f"{'them' if n > 1 else 'it'}.**\n{items}")
    return body


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
    def from_citation(cls, c: Citation) -> SourceItem:
        return cls(f"[{c.n}]", source_anchor(c.n), c.article_id, c.title, c.date, c.source,
                   c.quote, c.start, c.end, c.also_reported_by, c.url, c.date_inferred)

    @classmethod
    def from_passage(cls, i: int, p: Passage) -> SourceItem:
        ch = p.chunk
        return cls(f"~{i}", f"nr-near-{i}", ch.article_id, p.title, p.date, p.source,
                   ch.text, ch.start, ch.end)


def source_items(answer: Answer) -> list[SourceItem]:
    if answer.citations:
        return [SourceItem.from_citation(c) for c in answer.citations]
    if answer.abstained:
        return [SourceItem.from_passage(i, p) for i, p in enumerate(answer.passages, 1)]
    return []


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
    when = f"about {item.date}" if item.date and item.date_inferred else item.date
    meta = " · ".join(esc(x) for x in (when or "undated", item.source) if x)
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


def sources_html(answer: Answer | None, articles: Mapping[str, Article | None]) -> str:
    """The sources panel. `articles` maps article ids to the stored article (None if gone)."""
    if answer is None:
        return (
            '<div class="nr-sources nr-empty">Sources appear here. Click a [n] marker or a '
            "source to read the article with the cited passage highlighted.</div>"
        )
    items = source_items(answer)
    if answer.abstained:
        head = (
            f'<p class="nr-abstain"><strong>{esc(ABSTAIN_BANNER)}</strong> '
            "Nearest passages (they do not answer the question):</p>"
        )
    else:
        head = f'<p class="nr-sources-head">Sources ({len(items)})</p>'
    cards = "".join(
        f"<li>{source_card(it, articles.get(it.article_id))}</li>" for it in items
    )
    return f'<div class="nr-sources">{head}<ol class="nr-source-list">{cards}</ol></div>'


def copy_text(answer: Answer) -> str:
    """Plain text for the clipboard: the same as `newsrag ask` prints, nearest passages whole."""
    return answer_as_text(answer, nearest=len(answer.passages), snippet_chars=10_000)


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
        f"<td>{esc(r.title)}</td><td>{esc(r.date or '')}</td><td>{esc(r.source)}</td>"
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
    return (f"{r.title} ({r.date or 'undated'}) · {r.id}", r.id)


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
