"""The chat page in a real browser: cited answers, opening a source, and no injected HTML runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.pipeline import Pipeline
from rag.serve import BackgroundServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

EVIL_ARTICLE = (
    'Zorblax <script>window.__pwned=1</script> festival <img src=x onerror="window.__pwned=2">\n\n'
    "The Zorblax festival in Timbuktu was cancelled on 3 June because of sandstorms "
    '<img src=x onerror="window.__pwned=3;alert(3)"> and heat. '
    "<script>window.__pwned=4</script> Organisers said it will return next year.\n"
)


def _ask(page: Any, question: str) -> Any:
    """Type a question, send it, and wait for the final (linked) answer bubble."""
    before = page.locator("#nr-chat a.nr-cite").count()
    page.fill("#nr-question textarea", question)
    page.click("#nr-ask")
    page.wait_for_function(
        "n => document.querySelectorAll('#nr-chat a.nr-cite').length > n", arg=before)
    return page.locator("#nr-chat .message-content").last


def test_ask_see_cited_answer_open_source_see_highlight(
        live: tuple[BackgroundServer, Pipeline], page: Any, tmp_path: Path) -> None:
    server, _ = live
    page.goto(server.url + "/")
    bubble = _ask(page, "When must US troops leave Niger?")
    assert "[1]" in bubble.inner_text()
    assert "September" in bubble.inner_text()

    card = page.locator("#nr-a1-src-1")
    assert card.get_attribute("open") is None  # closed until asked for
    bubble.locator("a.nr-cite").first.click()  # the [1] marker opens its source
    page.wait_for_function("document.getElementById('nr-a1-src-1').open")
    mark = card.locator("mark.nr-hl")
    assert mark.is_visible()
    # the highlighted span of the full article is exactly the quoted passage
    assert mark.inner_text().strip() == card.locator(".nr-quote").inner_text().strip()
    assert "September" in mark.inner_text()
    title = card.locator(".nr-title").inner_text()
    assert "Niger" in title
    meta = card.locator(".nr-meta").inner_text()  # outlet and date, as the answers write them
    assert meta and ".txt" not in meta and not re.search(r"\d{4}-\d\d-\d\d", meta)

    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_follow_up_examples_and_clear(live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, _ = live
    page.goto(server.url + "/")
    page.get_by_text("How many US troops are in Niger?").click()  # an example question
    page.wait_for_selector("#nr-chat a.nr-cite")
    _ask(page, "Who leads Niger's military junta?")
    follow = _ask(page, "Who did he meet in Washington?")
    assert follow.inner_text().strip()
    assert page.locator("#nr-chat .message-content").count() >= 6  # three questions, three answers
    page.click("#nr-clear")
    page.wait_for_function("document.querySelectorAll('#nr-chat a.nr-cite').length === 0")
    assert "Sources appear here" in page.locator("#nr-sources").inner_text()


def test_injected_html_in_an_article_renders_as_text_and_runs_nothing(
        live: tuple[BackgroundServer, Pipeline], page: Any, tmp_path: Path) -> None:
    server, _ = live
    r = httpx.post(server.url + "/api/articles",
                   files={"file": ("evil.txt", EVIL_ARTICLE.encode())}, timeout=60)
    assert r.status_code == 201, r.text
    (evil_id,) = r.json()["added"]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(server.url + "/")
        bubble = _ask(page, "When was the Zorblax festival cancelled?")
        assert "<img src=x onerror=" in bubble.inner_text()  # shown as text
        bubble.locator("a.nr-cite").first.click()
        card = page.locator("#nr-a1-src-1")
        page.wait_for_function("document.getElementById('nr-a1-src-1').open")
        assert "<script>window.__pwned=1</script>" in card.locator(".nr-title").inner_text()
        assert "<script>window.__pwned=4</script>" in card.locator(".nr-article").inner_text()

        page.get_by_role("tab", name="Articles").click()
        page.wait_for_function(
            "document.querySelector('#nr-articles') && "
            "document.querySelector('#nr-articles').innerText.includes('Zorblax')")
        assert "<img src=x" in page.locator("#nr-articles").inner_text()
        page.screenshot(path=str(tmp_path / "injection.png"), full_page=True)

        page.wait_for_timeout(500)  # give any (wrongly) created <img onerror> time to fire
        assert page.evaluate("window.__pwned") is None
        assert dialogs == []
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("#nr-sources script, #nr-chat script, #nr-articles script").count() == 0
    finally:
        httpx.delete(f"{server.url}/api/articles/{evil_id}", timeout=60)


def test_articles_tab_uploads_lists_and_deletes(
        live: tuple[BackgroundServer, Pipeline], page: Any, tmp_path: Path) -> None:
    server, pipeline = live
    story = tmp_path / "harbour.txt"
    story.write_text("Harbour crane collapse in Port Qelt\n\nA crane collapsed at the port of Qelt "
                     "on Monday; nobody was hurt, the harbour master said.\n")
    page.goto(server.url + "/")
    page.get_by_role("tab", name="Articles").click()
    page.wait_for_selector("#nr-articles table")
    page.locator("#nr-upload input[type=file]").set_input_files(str(story))
    page.wait_for_function(
        "document.querySelector('#nr-status textarea').value.startsWith('Added 1')")
    page.wait_for_function("document.querySelector('#nr-articles').innerText.includes('Qelt')")
    (new,) = [a for a in pipeline.list_articles() if "Qelt" in a.title]

    page.locator("#nr-pick input").click()
    page.locator("#nr-pick input").fill("Qelt")
    page.get_by_role("option", name=re.compile("Qelt")).click()
    page.click("#nr-delete")  # asks first: nothing is deleted yet
    page.wait_for_selector("#nr-confirm-text", state="visible")
    assert "Harbour crane collapse" in page.locator("#nr-confirm-text").inner_text()
    page.click("#nr-delete-no")
    page.wait_for_function(
        "document.querySelector('#nr-status textarea').value === 'Nothing was deleted.'")
    assert new.id in {a.id for a in pipeline.list_articles()}
    page.click("#nr-delete")
    page.wait_for_selector("#nr-delete-yes", state="visible")
    page.click("#nr-delete-yes")
    page.wait_for_function("!document.querySelector('#nr-articles').innerText.includes('Qelt')")
    assert "Deleted" in page.locator("#nr-status textarea").input_value()
    assert new.id not in {a.id for a in pipeline.list_articles()}  # the index agrees


def test_copy_answer_puts_answer_and_sources_on_the_clipboard(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, _ = live
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.goto(server.url + "/")
    _ask(page, "When must US troops leave Niger?")
    page.click("#nr-copy")
    page.wait_for_function("navigator.clipboard.readText().then(t => t.includes('Sources:'))")
    text = page.evaluate("navigator.clipboard.readText()")
    assert text.splitlines()[0].endswith("[1]")
    assert re.search(r"^\[1\] .+ \(.+\): “.+”$", text, re.M)


def test_an_older_answers_citation_opens_that_answers_own_source(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, pipeline = live
    first_q, second_q = "When must US troops leave Niger?", "Who leads Niger's military government?"
    first, second = pipeline.ask(first_q), pipeline.ask(second_q)
    assert first.citations[0].quote != second.citations[0].quote  # else the test proves nothing
    page.goto(server.url + "/")
    _ask(page, first_q)
    _ask(page, second_q)
    first_bubble = page.locator("#nr-chat .message-content").nth(1)  # question, answer, ...
    link = first_bubble.locator("a.nr-cite").first
    assert link.inner_text() == "[1]"
    link.click()
    target = link.get_attribute("href") or ""
    card = page.locator(target)
    page.wait_for_function("id => document.getElementById(id).open", arg=target[1:])
    assert card.locator(".nr-quote").inner_text().strip() == first.citations[0].quote.strip()
    assert card.locator("mark.nr-hl").is_visible()


def test_a_bubbles_copy_button_copies_clean_text_with_sources(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, pipeline = live
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.goto(server.url + "/")
    _ask(page, "When must US troops leave Niger?")
    page.locator("#nr-chat .message-buttons-left button[aria-label='Copy message']").last.click()
    page.wait_for_function("navigator.clipboard.readText().then(t => t.includes('Sources:'))")
    text = page.evaluate("navigator.clipboard.readText()")
    answer = pipeline.ask("When must US troops leave Niger?")
    assert text.startswith(answer.text)
    assert "\\" not in text and "<a " not in text and "&quot;" not in text and ".txt" not in text
