"""The collection selector in a real browser: switching archive changes what the chat answers
from and what the Articles tab lists."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from rag.pipeline import Pipeline
from rag.serve import BackgroundServer
from tests.e2e.held import HeldLLM, ask_held, kept_chats, reopen, wait_kept
from tests.e2e.test_browser import _ask

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CRICKET = ("Cricket final\n\nThe cricket final was won by Zanzibar on 3 March 2024 at the "
           "national stadium in Stone Town. The captain said it was the best day of his life.\n")


def _upload(server: BackgroundServer, collection: str, name: str, text: str) -> None:
    """One article into `collection` (a new name creates it), through the real API."""
    r = httpx.post(server.url + "/api/articles", params={"collection": collection},
                   files={"file": (name, text.encode())}, timeout=60)
    assert r.status_code == 201, r.text


def _loaded(page: Any) -> None:
    """The page's load event has set the selector (to main, with its article count): a
    choice made before it would be undone."""
    page.wait_for_function(
        "(document.querySelector('#nr-collection input') || {value: ''})"
        ".value.startsWith('main (')")


def _choose(page: Any, name: str, listed: str | None = None) -> None:
    """Switch the selector to `name`; with `listed` (a title in that archive), from the
    Articles tab, waiting for it to list that title: the switch starts a new chat, which
    would wipe an answer asked before it is done."""
    if listed is not None:
        page.get_by_role("tab", name="Articles").click()
    page.click("#nr-collection input")
    page.get_by_role("option", name=re.compile(rf"^{name} \(")).click()
    if listed is not None:
        page.wait_for_function(
            "t => document.querySelector('#nr-articles').innerText.includes(t)", arg=listed)
        page.get_by_role("tab", name="Chat").click()


def test_switching_collection_answers_and_lists_from_that_archive(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, _ = live
    _upload(server, "sports", "cricket.txt", CRICKET)
    page.goto(server.url + "/")
    page.get_by_role("tab", name="Articles").click()
    page.wait_for_function("document.querySelector('#nr-articles').innerText.includes('Niger')")
    page.get_by_role("tab", name="Chat").click()

    _choose(page, "sports")
    bubble = _ask(page, "Who won the cricket final?")
    assert "Zanzibar" in bubble.inner_text()
    assert "Cricket final" in page.locator("#nr-sources").inner_text()
    page.get_by_role("tab", name="Articles").click()
    page.wait_for_function(
        "document.querySelector('#nr-articles').innerText.includes('Cricket final')")
    assert "Niger" not in page.locator("#nr-articles").inner_text()

    page.get_by_role("tab", name="Chat").click()
    _choose(page, "main")  # a new chat on the other archive
    page.wait_for_function("document.querySelectorAll('#nr-chat a.nr-cite').length === 0")
    bubble = _ask(page, "When must US troops leave Niger?")
    assert "September" in bubble.inner_text()
    assert "Zanzibar" not in page.locator("#nr-sources").inner_text()
    page.get_by_role("tab", name="Articles").click()
    page.wait_for_function("document.querySelector('#nr-articles').innerText.includes('Niger')")
    assert "Cricket final" not in page.locator("#nr-articles").inner_text()


OPERA = ("Opera house reopens\n\nThe Qelt opera house reopened on 12 April 2024 after a "
         "restoration that took six years. Its first production was Aida, conducted by "
         "Mira Tolan.\n")


def test_a_chat_on_another_collection_reopens_on_it_after_a_reload_and_its_feedback_says_so(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    from tests.e2e.test_history import _ask as ask_kept
    from tests.e2e.test_history import _choose_past, _export

    server, pipeline = live
    _upload(server, "culture", "opera.txt", OPERA)
    question = "Who conducted the first production at the reopened opera house?"
    page.goto(server.url + "/")
    _loaded(page)
    _choose(page, "culture", listed="Opera house reopens")
    assert "Mira Tolan" in ask_kept(page, question).inner_text()
    page.locator("#nr-chat button[aria-label='Like']").last.click()
    page.wait_for_function(
        "document.querySelector('#nr-feedback-status').innerText.includes('kept for answer 1')")

    page.reload()  # the page starts on main again ...
    page.wait_for_selector("#nr-past input")
    page.wait_for_function(
        "document.querySelector('#nr-collection input').value.startsWith('main')")
    _choose_past(page, question)
    page.click("#nr-past-open")  # ... and the chat reopens on its own archive
    page.wait_for_function("document.querySelectorAll('#nr-chat .nr-copy-src').length === 1")
    page.wait_for_function(
        "document.querySelector('#nr-collection input').value.startsWith('culture')")
    card = page.locator("#nr-sources .nr-source").first
    assert card.locator(".nr-article").count() == 1  # the article is found, not "gone"
    assert "no longer in the index" not in page.locator("#nr-sources").inner_text()
    page.get_by_role("tab", name="Articles").click()  # the Articles tab follows
    page.wait_for_function(
        "document.querySelector('#nr-articles').innerText.includes('Opera house reopens')")
    page.get_by_role("tab", name="Chat").click()
    bubble = ask_kept(page, "When did the opera house reopen?")  # a follow-up, same archive
    assert "April" in bubble.inner_text()
    page.wait_for_function(
        "document.querySelector('#nr-past input').value.includes('2 answers')")

    rows = [row for row in _export(pipeline.settings.index_dir) if row["question"] == question]
    assert [(row["rating"], row["collection"]) for row in rows] == [("up", "culture")]


TIDES = ("Harbour tides\n\nThe spring tide at Qelt harbour reached 7.4 metres on 9 April "
         "2024, the highest since records began, the harbour master Ilse Varn said.\n")


def test_the_embed_page_answers_from_the_collection_its_address_names(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, _ = live
    _upload(server, "harbour", "tides.txt", TIDES)
    page.goto(server.url + "/embed?collection=harbour")  # the redirect keeps the name
    assert page.url.endswith("/embed/?collection=harbour")
    page.fill("#nr-question textarea", "How high did the spring tide reach at Qelt harbour?")
    page.click("#nr-ask")
    page.locator("#nr-chat a.nr-cite").first.wait_for()
    bubble = page.locator("#nr-chat .message-content").last
    assert "7.4 metres" in bubble.inner_text()
    page.locator("#nr-chat a.nr-cite").first.click()
    article = page.locator("#nr-chat details.nr-source[open] .nr-article").first
    article.wait_for()  # its source opens inline, read from that archive
    assert "harbour master Ilse Varn" in article.inner_text()


def test_the_embed_page_refuses_an_unknown_or_bad_collection_and_creates_nothing(
        live: tuple[BackgroundServer, Pipeline]) -> None:
    server, pipeline = live
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.get("/embed/", params={"collection": "nope"})
        assert r.status_code == 404
        assert "There is no collection 'nope'" in r.text
        r = c.get("/embed", params={"collection": "nope"}, follow_redirects=True)
        assert r.status_code == 404
        for bad in ("../main", "Sports", "a/b"):
            r = c.get("/embed/", params={"collection": bad})
            assert r.status_code == 400, bad
            assert "not a valid collection name" in r.text
        assert c.get("/embed/").status_code == 200  # none named: main, as before
    folder = pipeline.settings.index_dir / "collections"
    assert not (folder / "nope").exists() and not (folder.parent / "main").exists()


REGATTA = ("Lake regatta\n\nThe Qelt lake regatta was won on 18 May 2024 by the rowing club of "
           "Varnholt, whose eight beat the favourites by two lengths.\n")
# (collection, a question only its own articles answer, a word of that answer)
ASKED_AT_ONCE = [("regatta", "Who won the Qelt lake regatta?", "Varnholt"),
                 ("main", "When must US troops leave Niger?", "September"),
                 ("regatta", "By how much did the Varnholt eight win the regatta?", "two lengths")]


def _pick_and_send(page: Any, name: str, question: str) -> None:
    """Type `question`, open the selector, then pick `name` and click Ask in one go: the
    question leaves while the switch is still on its way (step by step, Playwright is slow
    enough for the switch to finish first)."""
    page.fill("#nr-question textarea", question)
    page.click("#nr-collection input")
    page.get_by_role("option", name=re.compile(rf"^{name} \(")).wait_for()
    page.evaluate("""name => {
        const pick = [...document.querySelectorAll('#nr-collection [role=option]')]
            .find(o => o.getAttribute('aria-label').startsWith(name + ' ('));
        for (const type of ['mousedown', 'mouseup', 'click'])
            pick.dispatchEvent(new MouseEvent(type, {bubbles: true}));
        document.querySelector('#nr-ask').click();
    }""", name)


def test_a_question_sent_while_the_collection_switches_is_answered_and_kept_on_the_new_one(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    # A user who picks an archive and types at once: the question goes out while the switch
    # (a new chat, the archive's article list) is still running. It must neither be wiped by
    # the switch nor be answered from, or kept under, the archive left.
    server, pipeline = live
    _upload(server, "regatta", "regatta.txt", REGATTA)
    page.goto(server.url + "/")
    _loaded(page)
    _ask(page, "Who leads Niger's military government?")  # a chat on main to switch away from
    for name, question, fact in ASKED_AT_ONCE:
        _pick_and_send(page, name, question)

        title = "Lake regatta" if name == "regatta" else "Niger"
        page.get_by_role("tab", name="Articles").click()  # the switch is done ...
        page.wait_for_function(
            "t => document.querySelector('#nr-articles').innerText.includes(t)", arg=title)
        page.get_by_role("tab", name="Chat").click()
        try:  # ... and the question's answer is there, not wiped by it
            page.wait_for_function(
                "q => { const rows = [...document.querySelectorAll('#nr-chat .message-row')];"
                " return rows.length > 1 && rows.at(-2).innerText.includes(q)"
                " && rows.at(-1).querySelector('.nr-copy-src') !== null; }",
                arg=question, timeout=30_000)
        except Exception:
            shown = page.locator("#nr-chat").inner_text()
            pytest.fail(f"{question!r} sent while switching to {name}: not answered in the "
                        f"chat, which shows {shown!r}")
        page.wait_for_timeout(500)  # anything still due from the switch has landed
        shown = page.locator("#nr-collection input").input_value().split(" (")[0]
        asked = [q.strip() for q in page.locator("#nr-chat .user-row").all_inner_texts()]
        answered = fact in page.locator("#nr-chat .bot-row").last.inner_text()
        kept = [c for c in kept_chats(pipeline.settings.index_dir, page) if question in c[1]]
        # A new chat on the archive shown, with this question, answered from that archive and
        # kept as a conversation of its own on it.
        assert (shown, asked, answered, kept) == (name, [question], True, [(name, [question])])


def test_switching_collection_while_an_answer_streams_keeps_it_off_the_new_chat(
        held: tuple[BackgroundServer, Pipeline, HeldLLM], page: Any) -> None:
    # A journalist asks on main, then switches to sports before the answer is done. The
    # sports chat must show sports only; the main answer finishes in the background, is kept
    # under main, and reopens from the kept conversations.
    server, pipeline, llm = held
    _upload(server, "sports", "cricket.txt", CRICKET)
    question = "When must US troops leave Niger?"
    page.goto(server.url + "/")
    _loaded(page)
    ask_held(page, llm, question)  # streaming: its first words on screen, the rest held

    _choose(page, "sports", listed="Cricket final")
    page.wait_for_function("document.querySelectorAll('#nr-chat .message-row').length === 0")
    llm.release.set()  # the main answer may finish now
    wait_kept(pipeline.settings.index_dir, page, question)
    shown = page.locator("#nr-collection input").input_value().split(" (")[0]
    chat = page.locator("#nr-chat").inner_text()
    rows = page.locator("#nr-chat .message-row").count()
    assert (shown, rows, "September" in chat) == ("sports", 0, False), chat
    assert kept_chats(pipeline.settings.index_dir, page) == [("main", [question])]

    # The sports chat is a chat of its own: its first answer, kept on sports.
    cricket = "Who won the cricket final?"
    bubble = _ask(page, cricket)
    assert "Zanzibar" in bubble.inner_text()
    asked = [q.strip() for q in page.locator("#nr-chat .user-row").all_inner_texts()]
    assert asked == [cricket]
    assert sorted(kept_chats(pipeline.settings.index_dir, page)) == [("main", [question]),
                                                                ("sports", [cricket])]

    reopen(page, question, answers=1)  # the main answer, finished meanwhile, reopens on main
    page.wait_for_function(
        "document.querySelector('#nr-collection input').value.startsWith('main')")
    assert "September" in page.locator("#nr-chat .bot-row").last.inner_text()
