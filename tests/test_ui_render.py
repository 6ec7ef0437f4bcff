"""The page's formatting helpers and chat handler, without launching an app."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from typing import Any

import pytest

from rag.errors import InputError, NotFoundError
from rag.types import Answer, Article, ArticleSummary, Chunk, Citation, IngestReport, Passage, Turn
from ui import render

EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)">'
ARTICLE = Article(
    "a1", f"Troops {EVIL} leave", f"Intro. US troops must leave by September 15. {EVIL} End.",
    "2024-05-20", "AP <b>wire</b>",
)
SPAN = (7, ARTICLE.text.index(" " + EVIL))  # "US troops must leave by September 15."


def _citation(n: int = 1, article: Article = ARTICLE, span: tuple[int, int] = SPAN) -> Citation:
    s, e = span
    return Citation(n, article.id, article.title, article.date, article.source, f"{article.id}:0",
                    article.text[s:e], s, e, 0.8)


def _answer(text: str = "They must leave by September 15 [1].",
            citations: Sequence[Citation] = ()) -> Answer:
    return Answer("When?", text, False, tuple(citations) or (_citation(),))


def _abstention() -> Answer:
    chunk = Chunk("a1:0", "a1", 0, ARTICLE.text[:20], 0, 20)
    passage = Passage(chunk, ARTICLE.title, ARTICLE.date, ARTICLE.source, 0.1)
    return Answer("Zebras?", "The articles don't answer this.", True, (), (passage,))


# --- escaping --------------------------------------------------------------------------------


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.handlers += [k for k, _ in attrs if k.lower().startswith("on")]


def _has_live_markup(fragment: str) -> bool:
    """True if an injected element or event handler survived as markup (not as escaped text)."""
    parser = _TagCollector()
    parser.feed(fragment)
    return bool(parser.tags & {"script", "img", "b", "i"} or parser.handlers)


def test_sources_panel_escapes_everything_from_the_article() -> None:
    out = render.sources_html(_answer(), {"a1": ARTICLE})
    assert not _has_live_markup(out)
    assert html.escape(EVIL, quote=True) in out  # shown as text, not dropped


def test_chat_message_escapes_html_and_markdown_from_answers() -> None:
    out = render.chat_message(_answer(text=f"{EVIL} ![x](http://e/x.png) **b** [1]"))
    assert not _has_live_markup(out)
    assert "![x](" not in out  # would be an image in Markdown
    assert "\\*\\*b\\*\\*" in out


def test_markdown_escaping_keeps_html_entities_intact() -> None:
    # A backslash inserted inside "&amp;" would print the entity literally.
    assert render.md_escape("AT&T <x> #1") == "AT&amp;T &lt;x&gt; \\#1"


def test_articles_table_and_choices_escape_titles() -> None:
    row = ArticleSummary("a1", ARTICLE.title, "2024-05-20", ARTICLE.source, 3)
    assert not _has_live_markup(render.articles_table([row]))
    assert "<td class=\"nr-num\">3</td>" in render.articles_table([row])


# --- citations ---------------------------------------------------------------------------------


def test_known_markers_become_links_to_their_source_card() -> None:
    out = render.answer_markdown("A [1] and B [2] and C [7].", cited=[1, 2])
    assert out.count('class="nr-cite"') == 2
    assert 'href="#nr-a1-src-1"' in out
    assert 'href="#nr-a1-src-2"' in out
    assert "\\[7\\]" in out  # a marker with no citation stays text


def test_each_citation_gets_a_card_with_the_anchor_its_marker_points_to() -> None:
    cites = [_citation(1), _citation(2, span=(0, 6))]
    out = render.sources_html(_answer("X [1] Y [2].", cites), {"a1": ARTICLE})
    for n in (1, 2):
        assert f'id="{render.source_anchor(n)}"' in out
    assert out.count("<details") == 2
    assert "20 May 2024" in out


def test_highlight_wraps_exactly_the_cited_span() -> None:
    out = render.highlighted_article(ARTICLE.text, *SPAN)
    marked = re.search(r'<mark class="nr-hl">(.*?)</mark>', out, re.S)
    assert marked is not None
    assert html.unescape(marked.group(1)) == ARTICLE.text[SPAN[0]:SPAN[1]]
    assert html.unescape(re.sub(r"</?mark[^>]*>", "", out)) == ARTICLE.text  # nothing lost


@pytest.mark.parametrize(("start", "end"), [(-5, 3), (10, 10_000), (50, 10)])
def test_highlight_survives_stale_offsets(start: int, end: int) -> None:
    out = render.highlighted_article("short text", start, end)
    assert html.unescape(re.sub(r"</?mark[^>]*>", "", out)) == "short text"


def test_a_deleted_article_still_shows_the_quote() -> None:
    out = render.sources_html(_answer(), {"a1": None})
    assert "no longer in the index" in out
    assert html.escape(ARTICLE.text[SPAN[0]:SPAN[1]]) in out


def test_abstention_says_so_and_lists_nearest_passages() -> None:
    ans = _abstention()
    msg = render.chat_message(ans)
    assert msg.startswith(f"**{render.ABSTAIN_BANNER}**")
    panel = render.sources_html(ans, {"a1": ARTICLE})
    assert "Nearest passages" in panel
    assert panel.count("<details") == 1
    assert "nr-cite" not in msg


def test_copy_text_has_the_answer_and_numbered_sources() -> None:
    text = render.copy_text(_answer())
    lines = text.splitlines()
    assert lines[0] == "They must leave by September 15 [1]."
    assert lines[-1].startswith(f"[1] {ARTICLE.title} (20 May 2024, {ARTICLE.source}): “US troops")
    assert "Nearest passages" in render.copy_text(_abstention())


def test_ingest_summary_counts_and_lists_rejections() -> None:
    reports = [IngestReport(added=("x",), chunks_added=4), IngestReport(unchanged=("y",))]
    text = render.ingest_summary(reports, ["bad.pdf: unsupported"])
    assert text.startswith("Added 1 article(s) (4 chunks), 1 already indexed.")
    assert "- bad.pdf: unsupported" in text


# --- the chat handler -------------------------------------------------------------------------


class StreamingFake:
    def __init__(self, answer: Answer | Exception) -> None:
        self.answer = answer
        self.histories: list[list[Turn]] = []

    def ask_stream(self, question: str, history: Sequence[Turn] | None = None,
                   top_k: int | None = None, since: str | None = None,
                   until: str | None = None) -> Iterator[str | Answer]:
        self.histories.append(list(history or []))
        if isinstance(self.answer, Exception):
            raise self.answer
        yield from ("They must ", "leave [1].")
        yield self.answer

    def get_article(self, article_id: str) -> Article:
        if article_id != ARTICLE.id:
            raise NotFoundError(article_id)
        return ARTICLE


def _run(fake: StreamingFake, message: str, state: dict[str, Any]) -> list[tuple[Any, ...]]:
    from rag.settings import Settings
    from ui.chat import respond

    return list(respond(fake, Settings.load(env={}), message, state))  # type: ignore[arg-type]


def test_chat_streams_then_shows_linked_answer_sources_and_keeps_raw_history() -> None:
    from ui.chat import new_state

    fake = StreamingFake(_answer())
    updates = _run(fake, "When must they leave?", new_state())
    assert len(updates) >= 3  # placeholder, streamed deltas, final
    partial = updates[2][0][-1]["content"]
    assert "They must" in partial
    assert "nr-cite" not in partial
    chat, sources, copy, state, _ = updates[-1]
    assert 'class="nr-cite"' in chat[-1]["content"]
    assert "<mark" in sources
    assert copy.startswith("They must leave by September 15 [1].")
    assert state["turns"] == [
        {"role": "user", "content": "When must they leave?"},
        {"role": "assistant", "content": "They must leave by September 15 [1]."},
    ]
    _run(fake, "Who?", state)  # the follow-up gets the raw turns, not rendered HTML
    assert fake.histories[-1] == [Turn("user", "When must they leave?"),
                                  Turn("assistant", "They must leave by September 15 [1].")]


def test_chat_turns_pipeline_errors_into_a_message() -> None:
    from ui.chat import new_state

    updates = _run(StreamingFake(InputError("The question is too long.")), "x" * 10, new_state())
    assert "The question is too long." in updates[-1][0][-1]["content"]


def test_chat_ignores_an_empty_message() -> None:
    from ui.chat import new_state

    fake = StreamingFake(_answer())
    assert len(_run(fake, "   ", new_state())) == 1
    assert fake.histories == []


def test_a_source_card_shows_other_reporters_an_inferred_date_and_a_deep_link() -> None:
    cite = Citation(1, ARTICLE.id, ARTICLE.title, "2024-05-19", "a.com", f"{ARTICLE.id}:0",
                    ARTICLE.text[:10], 0, 10, 0.9, also_reported_by=("b.com (20 May 2024)",),
                    url="https://a.com/x#:~:text=abc", date_inferred=True)
    answer = Answer("q", "Text [1]", False, (cite,))
    page = render.sources_html(answer, {ARTICLE.id: ARTICLE})
    assert "Also reported by b.com (20 May 2024)" in page
    assert "about 19 May 2024" in page and 'href="https://a.com/x#:~:text=abc"' in page
    assert "2024-05-19" not in page  # one date format: the one the answers use
    assert "also reported by b.com" in render.copy_text(answer)


def test_chat_message_shows_removed_sentences_and_a_failed_backend() -> None:
    from dataclasses import replace

    ans = replace(_answer(), backend="local",
                  removed=(f"The base cost {EVIL} $1 billion [1].",))
    out = render.chat_message(ans)
    assert "1 sentence the model wrote was removed" in out
    assert "~~The base cost" in out and "<script>" not in out and "&lt;script&gt;" in out
    assert "backend failed" not in out
    failed = replace(_answer(), backend_error=f"Connection refused {EVIL}")
    out = render.chat_message(failed)
    assert out.startswith("**The LLM backend failed; this is the extractive answer.**")
    assert "Connection refused" in out and "<script>" not in out
    assert "removed" not in render.chat_message(_answer())


def test_articles_table_says_how_many_of_how_many_are_shown() -> None:
    rows = [ArticleSummary("a1", "T", "2024-05-20", "AP", 3)]
    assert "The newest 1 of 1,234 articles" in render.articles_table(rows, 1234)
    assert "nr-more" not in render.articles_table(rows, 1)


def test_the_short_answer_comes_first_escaped_and_linked_to_its_citation() -> None:
    from dataclasses import replace

    from rag.types import ShortAnswer

    start = ARTICLE.text.index("September 15")
    short = ShortAnswer("September 15", "a1", start, start + len("September 15"), 1)
    out = render.chat_message(replace(_answer(), short_answer=short))
    assert out.startswith("**September 15** ")
    assert out.index("September 15") < out.index("They must leave")
    assert 'data-n="1"' in out.split("\n\n")[0]
    evil = replace(short, text=EVIL)
    assert "<script>" not in render.chat_message(replace(_answer(), short_answer=evil))


# --- issue 16: each answer's own sources, the outlet, one date format, clean copy ------------


def test_each_answers_markers_open_that_answers_own_cards() -> None:
    first, second = _answer("First [1]."), _answer("Second [1].")
    bubbles = [render.chat_message(first, k=1), render.chat_message(second, k=2)]
    panel = render.sources_panel([render.sources_html(first, {"a1": ARTICLE}, k=1),
                                  render.sources_html(second, {"a1": ARTICLE}, k=2)])
    hrefs = [re.findall(r'class="nr-cite" href="#([^"]+)"', b) for b in bubbles]
    assert hrefs[0] != hrefs[1]  # the same [1] of two answers: two different cards
    for (target,) in hrefs:
        assert panel.count(f'id="{target}"') == 1
    assert panel.index(f'id="{hrefs[1][0]}"') < panel.index(f'id="{hrefs[0][0]}"')  # newest first


@pytest.mark.parametrize(("source", "url", "outlet"), [
    ("002_6be8afa9a8b09b71.txt", None, None),  # a file name is not an outlet
    ("upload.JSONL", None, None),
    ("www.aljazeera.com", "https://www.aljazeera.com/news/x", "aljazeera.com"),
    ("002_6be8afa9a8b09b71.txt", "https://www.apnews.com/a#:~:text=x", "apnews.com"),
    ("Al Jazeera", "https://www.aljazeera.com/news/x", "Al Jazeera"),  # a named outlet wins
    ("AP <b>wire</b>", None, "AP <b>wire</b>"),
])
def test_the_outlet_comes_from_the_source_or_the_url_never_a_file_name(
        source: str, url: str | None, outlet: str | None) -> None:
    assert render.outlet(source, url) == outlet


def test_a_card_and_its_marker_show_the_outlet_and_the_date_as_answers_write_it() -> None:
    cite = replace_citation(source="002_6be8afa9a8b09b71.txt", url="https://www.apnews.com/x")
    answer = Answer("q", "Text [1].", False, (cite,))
    card = render.sources_html(answer, {ARTICLE.id: ARTICLE})
    assert "apnews.com" in card and "20 May 2024" in card
    assert ".txt" not in card and "2024-05-20" not in card
    bubble = render.chat_message(answer)
    assert 'title="apnews.com · 20 May 2024"' in bubble  # inline with the citation
    table = render.articles_table([ArticleSummary("a1", "T", "2024-05-20", "x.txt", 3)])
    assert "20 May 2024" in table and "x.txt" not in table


def test_the_bubbles_copy_is_the_clean_text_with_sources() -> None:
    cite = replace_citation(source="002_6be8afa9a8b09b71.txt", url="https://www.apnews.com/x")
    answer = Answer("q", "They must leave by September 15 [1].", False, (cite,))
    bubble = render.chat_message(answer)
    (raw,) = re.findall(r'class="nr-copy-src" hidden title="([^"]*)"', bubble)
    text = html.unescape(raw)
    assert text == render.copy_text(answer)
    assert text.startswith("They must leave by September 15 [1].")
    assert "Sources:" in text and "apnews.com" in text and ".txt" not in text
    assert "\\" not in text and "<a " not in text


def replace_citation(**changes: Any) -> Citation:
    from dataclasses import replace

    return replace(_citation(), **changes)


def test_inline_sources_are_one_html_block_so_article_text_is_never_markdown() -> None:
    article = Article("a1", "T", "First line.\n\n![x](http://e/x.png) **b**\n\nEnd.", None, "s")
    cite = Citation(1, "a1", "T", None, "s", "a1:0", "First line.", 0, 11, 0.9)
    out = render.inline_sources(Answer("q", "A [1].", False, (cite,)), {"a1": article})
    assert "\n" not in out and "&#10;&#10;![x](http://e/x.png) **b**" in out
    assert 'id="nr-a1-src-1"' in out
