"""The chat a journalist keeps using, in a real browser: conversations kept across reloads,
👍/👎 stored and exported by `newsrag feedback export`, and the Articles tab's search, pages and
reader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.pipeline import Pipeline
from rag.serve import BackgroundServer
from tests.e2e.held import HeldLLM, ask_held, kept_chats, reopen, wait_kept

pytestmark = [pytest.mark.slow, pytest.mark.browser]
FIRST = "When must US troops leave Niger?"
SECOND = "Why did Niger end its military agreement with the US?"


def _ask(page: Any, question: str) -> Any:
    """Send a question and wait for its final bubble (cited or not: each carries its copy
    text), and for the list of kept conversations to be refreshed after it."""
    before = page.locator("#nr-chat .nr-copy-src").count()
    page.fill("#nr-question textarea", question)
    page.click("#nr-ask")
    page.wait_for_function(
        "n => document.querySelectorAll('#nr-chat .nr-copy-src').length > n", arg=before)
    page.wait_for_function("document.querySelector('#nr-past input').value !== ''")
    return page.locator("#nr-chat .message-content").last


def _past_options(page: Any, typed: str = "") -> list[str]:
    """The labels the list of kept conversations offers (for `typed`), left open."""
    box = page.locator("#nr-past input")
    box.click()
    box.fill(typed)
    page.wait_for_timeout(300)  # the list filters as one types
    options = page.locator("#nr-past-box [role=option]")
    return [options.nth(i).get_attribute("aria-label") or "" for i in range(options.count())]


def _choose_past(page: Any, title: str) -> None:
    labels = _past_options(page, title[:12])
    assert labels and labels[0].startswith(title), labels
    page.locator("#nr-past-box [role=option]").first.click()
    page.wait_for_function("t => document.querySelector('#nr-past input').value.startsWith(t)",
                           arg=title)


def _export(index_dir: Path) -> list[dict[str, Any]]:
    """The real command line, in its own process, on the server's index folder."""
    newsrag = Path(sys.executable).with_name("newsrag")
    done = subprocess.run([str(newsrag), "--index-dir", str(index_dir), "feedback", "export"],
                          capture_output=True, text=True, timeout=120, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def _asked(page: Any) -> list[str]:
    """The questions the chat on screen shows."""
    return [q.strip() for q in page.locator("#nr-chat .user-row").all_inner_texts()]


def test_after_a_reload_the_conversation_is_listed_and_reopens_with_its_citations(
        live: tuple[BackgroundServer, Pipeline], browser: Any) -> None:
    server, pipeline = live
    first = pipeline.ask(FIRST)
    assert first.citations
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(server.url + "/")
        _ask(page, FIRST)
        _ask(page, SECOND)
        page.reload()  # the chat on screen is gone ...
        page.wait_for_selector("#nr-past input")
        assert page.locator("#nr-chat a.nr-cite").count() == 0
        labels = _past_options(page)  # ... but kept, and listed
        assert any(label.startswith(FIRST) and "2 answers" in label for label in labels)
        page.locator("#nr-past-box input").blur()
        page.wait_for_timeout(300)

        _choose_past(page, FIRST)
        page.click("#nr-past-open")
        page.wait_for_function(
            "document.querySelectorAll('#nr-chat .message-content').length === 4")
        page.wait_for_function("document.querySelectorAll('#nr-chat .nr-copy-src').length === 2")
        assert "Reopened" in page.locator("#nr-past-status").inner_text()
        bubbles = page.locator("#nr-chat .message-content")
        assert bubbles.nth(0).inner_text().strip() == FIRST
        link = bubbles.nth(1).locator("a.nr-cite").first  # the first answer's [1] ...
        link.click()
        target = link.get_attribute("href") or ""
        assert target == "#nr-a1-src-1"
        page.wait_for_function("id => document.getElementById(id).open", arg=target[1:])
        card = page.locator(target)  # ... opens its own source, highlighted
        assert card.locator(".nr-quote").inner_text().strip() == first.citations[0].quote.strip()
        assert card.locator("mark.nr-hl").is_visible()

        # it goes on in the same conversation
        _ask(page, "Who leads Niger's military junta?")
        page.wait_for_function(
            "document.querySelector('#nr-past input').value.includes('3 answers')")

        other = browser.new_context()  # another browser: none of it
        try:
            p2 = other.new_page()
            p2.goto(server.url + "/")
            p2.wait_for_selector("#nr-past input")
            p2.wait_for_timeout(1000)  # the list is filled on load
            assert not any(FIRST in label for label in _past_options(p2))
        finally:
            other.close()

        _choose_past(page, FIRST)
        page.click("#nr-past-delete")
        page.wait_for_function(
            "document.querySelector('#nr-past-status').innerText.includes('Deleted')")
        page.reload()
        page.wait_for_selector("#nr-past input")
        page.wait_for_timeout(1000)
        assert not any(FIRST in label for label in _past_options(page))
    finally:
        context.close()


def test_a_thumbs_up_is_stored_and_newsrag_feedback_export_shows_it(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, pipeline = live
    question = "Who leads Niger's military junta?"
    before = [r for r in _export(pipeline.settings.index_dir) if r["question"] == question]
    page.goto(server.url + "/")
    _ask(page, question)
    page.locator("#nr-chat button[aria-label='Like']").last.click()
    page.wait_for_function(
        "document.querySelector('#nr-feedback-status').innerText.includes('kept for answer 1')")
    rows = [r for r in _export(pipeline.settings.index_dir) if r["question"] == question]
    assert len(rows) == len(before) + 1
    row = rows[-1]
    answer = pipeline.ask(question)
    assert row["rating"] == "up"
    assert row["answer"] == answer.text
    assert [c["quote"] for c in row["citations"]] == [c.quote for c in answer.citations]
    assert row["citations"] and row["turn"] == 0

    page.locator("#nr-chat button[aria-label='Dislike']").last.click()  # a change of mind
    page.wait_for_function(
        "document.querySelector('#nr-feedback-status').innerText.includes('👎')")
    page.fill("#nr-feedback-comment textarea, #nr-feedback-comment input", "Name missing.")
    page.click("#nr-feedback-send")
    page.wait_for_function(
        "document.querySelector('#nr-feedback-status').innerText.includes('Comment kept')")
    rows = [r for r in _export(pipeline.settings.index_dir) if r["question"] == question]
    assert len(rows) == len(before) + 1
    assert (rows[-1]["rating"], rows[-1]["comment"]) == ("down", "Name missing.")


def test_articles_tab_searches_pages_and_opens_an_article_in_the_reader(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, pipeline = live
    stories = [(f"bridge{i}.txt", f"Bridge {i} over the Qelt river opens\n\nThe bridge number {i} "
                f"over the Qelt river opened on Monday with {10 + i} lanes.\n")
               for i in range(30)]
    r = httpx.post(server.url + "/api/articles", timeout=120,
                   files=[("file", (name, text.encode())) for name, text in stories[:10]])
    assert r.status_code == 201, r.text
    added = list(r.json()["added"])
    for start in (10, 20):
        r = httpx.post(server.url + "/api/articles", timeout=120, files=[
            ("file", (name, text.encode())) for name, text in stories[start:start + 10]])
        assert r.status_code == 201, r.text
        added += r.json()["added"]
    try:
        page.goto(server.url + "/")
        page.get_by_role("tab", name="Articles").click()
        page.wait_for_selector("#nr-articles table")
        page.fill("#nr-article-search input, #nr-article-search textarea", "qelt river")
        page.click("#nr-article-search-go")
        page.wait_for_function(
            "document.querySelector('#nr-articles').innerText.includes('of 30 matching')")
        assert page.locator("#nr-articles tr[data-read]").count() == 25
        assert "Page 1 of 2" in page.locator("#nr-page").inner_text()
        page.click("#nr-next")
        page.wait_for_function("document.querySelector('#nr-page').innerText.includes('2 of 2')")
        assert page.locator("#nr-articles tr[data-read]").count() == 5
        row = page.locator("#nr-articles tr[data-read]").first
        article = pipeline.get_article(row.get_attribute("data-read") or "")
        row.locator("a.nr-read").click()
        page.wait_for_function(
            "t => document.querySelector('#nr-reader .nr-reader-title') && "
            "document.querySelector('#nr-reader .nr-reader-title').innerText === t",
            arg=article.title)
        assert page.locator("#nr-reader .nr-reader-text").inner_text().strip() == \
            article.text.strip()
        page.click("#nr-prev")
        page.wait_for_function("document.querySelector('#nr-page').innerText.includes('1 of 2')")
        other = page.locator("#nr-articles tr[data-read]").nth(3)
        other_article = pipeline.get_article(other.get_attribute("data-read") or "")
        other.click()  # anywhere on the row
        page.wait_for_function(
            "t => document.querySelector('#nr-reader .nr-reader-title').innerText === t",
            arg=other_article.title)
        row_again = page.locator("#nr-articles tr[data-read]").first
        again = pipeline.get_article(row_again.get_attribute("data-read") or "")
        row_again.click()
        page.wait_for_function(
            "t => document.querySelector('#nr-reader .nr-reader-title').innerText === t",
            arg=again.title)
    finally:
        for article_id in added:
            httpx.delete(f"{server.url}/api/articles/{article_id}", timeout=60)


def test_new_chat_while_an_answer_streams_keeps_it_off_the_new_chat(
        held: tuple[BackgroundServer, Pipeline, HeldLLM], page: Any) -> None:
    # "New chat" clicked before the answer is done: the new chat stays empty; the answer
    # finishes in the background, is kept in the conversation it was asked in, and reopens.
    server, pipeline, llm = held
    llm.hold()
    index_dir = pipeline.settings.index_dir
    page.goto(server.url + "/")
    page.wait_for_selector("#nr-past input")
    ask_held(page, llm, FIRST)

    page.click("#nr-clear")
    page.wait_for_function("document.querySelectorAll('#nr-chat .message-row').length === 0")
    llm.release.set()  # the answer may finish now
    wait_kept(index_dir, page, FIRST)
    chat = page.locator("#nr-chat").inner_text()
    rows = page.locator("#nr-chat .message-row").count()
    assert (rows, "September" in chat) == (0, False), chat
    assert kept_chats(index_dir, page) == [("main", [FIRST])]

    _ask(page, SECOND)  # the new chat is one of its own: its first answer, kept apart
    assert _asked(page) == [SECOND]
    assert kept_chats(index_dir, page) == [("main", [SECOND]), ("main", [FIRST])]

    reopen(page, FIRST, answers=1)  # the answer finished meanwhile
    assert _asked(page) == [FIRST]
    assert "September" in page.locator("#nr-chat .bot-row").last.inner_text()


def test_opening_a_past_conversation_while_an_answer_streams_keeps_it_off_that_chat(
        held: tuple[BackgroundServer, Pipeline, HeldLLM], page: Any) -> None:
    # A kept conversation opened before a new chat's answer is done: the reopened chat shows
    # its own answers only and goes on in its own conversation; the streaming answer is kept
    # as a conversation of its own.
    server, pipeline, llm = held
    index_dir = pipeline.settings.index_dir
    llm.release.set()  # the first answer goes straight through
    page.goto(server.url + "/")
    page.wait_for_selector("#nr-past input")
    _ask(page, FIRST)
    page.click("#nr-clear")
    page.wait_for_function("document.querySelectorAll('#nr-chat .message-row').length === 0")
    llm.hold()
    ask_held(page, llm, SECOND)

    reopen(page, FIRST, answers=1)
    assert _asked(page) == [FIRST]
    llm.release.set()
    wait_kept(index_dir, page, SECOND)
    rows = page.locator("#nr-chat .message-row").count()
    assert (_asked(page), rows) == ([FIRST], 2), page.locator("#nr-chat").inner_text()
    assert sorted(kept_chats(index_dir, page)) == [("main", [FIRST]), ("main", [SECOND])]

    third = "Who leads Niger's military government?"
    _ask(page, third)  # a follow-up in the reopened conversation, not in the streamed one
    assert _asked(page) == [FIRST, third]
    assert sorted(kept_chats(index_dir, page)) == [("main", [FIRST, third]),
                                                   ("main", [SECOND])]
    reopen(page, SECOND, answers=1)  # the answer finished meanwhile
    assert _asked(page) == [SECOND]
