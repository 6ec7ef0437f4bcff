"""The page's adapters (ui/chat.py, ui/history_panel.py, ui/articles.py) without a
browser: kept conversations, feedback, and the Articles tab's search, pages and reader, on
the real store with the fake embedder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from rag.collections import Collections
from rag.history import History
from rag.pipeline import Pipeline
from rag.types import Article, ArticleSummary
from tests.conftest import SAMPLE_DIR
from ui import articles, chat, history_panel, render

ME, OTHER = "client-aaaaaaaaaaaaaaaaaaaa", "client-bbbbbbbbbbbbbbbbbbbb"
QUESTIONS = ["When must US troops leave Niger?", "How many US troops are in Niger?"]
CRICKET = ("Cricket final\n\nThe cricket final was won by Zanzibar on 3 March 2024 at the "
           "national stadium in Stone Town. The captain said it was the best day of his life.\n")


@pytest.fixture
def pipe(fake_pipeline: Pipeline) -> Pipeline:
    fake_pipeline.ingest([SAMPLE_DIR])
    return fake_pipeline


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "chats.sqlite")
    yield h
    h.close()


def _chat(pipe: Pipeline, history: History, client: str | None,
          questions: list[str], collection: str = "main") -> dict[str, Any]:
    state = chat.new_state(collection)
    for q in questions:
        *_, last = chat.respond(pipe, pipe.settings, q, state,
                               keep=history_panel.keeper(history, client, collection))
        state = last[3]
    return state


def _reopen(pipes: Any, history: History, client: str, conversation: str | None,
            state: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """Open a kept conversation from the page, leaving `state` (a new chat unless given)."""
    return history_panel.reopen(pipes, history, client, conversation,
                                chat.new_state() if state is None else state)


def _only(pipe: Pipeline) -> Any:
    """The page's collection lookup when `pipe` is its one archive."""
    return lambda name: pipe


def test_each_answer_is_kept_and_the_conversation_reopens_exactly_as_shown(
        pipe: Pipeline, history: History) -> None:
    shown = _chat(pipe, history, ME, QUESTIONS)
    assert shown["conversation"]
    (kept,) = history.conversations(ME)
    assert (kept.id, kept.title, kept.turns) == (shown["conversation"], QUESTIONS[0], 2)

    chat, sources, copy, state, status, coll = _reopen(_only(pipe), history, ME, kept.id)
    assert chat == shown["display"]  # the same bubbles, [n] links to each answer's own cards
    assert state == shown
    assert sources == render.sources_panel(shown["panels"])
    assert 'id="nr-a2-sources"' in sources and 'id="nr-a1-sources"' in sources
    assert copy == render.copy_text(history.conversation(ME, kept.id).turns[-1].answer)
    assert "Reopened" in status
    assert coll == "main"


def test_a_chat_on_another_collection_reopens_on_it_with_its_own_sources(
        pipe: Pipeline, history: History, tmp_path: Path) -> None:
    colls = Collections(pipe.settings, main=pipe)
    sports = colls.get("sports", create=True)
    (tmp_path / "cricket.txt").write_text(CRICKET)
    sports.ingest([tmp_path / "cricket.txt"])
    shown = _chat(sports, history, ME, ["Who won the cricket final?"], collection="sports")
    (kept,) = history.conversations(ME)
    assert kept.collection == "sports"
    listed = history_panel.past_choices(history, ME)["choices"]
    assert "sports" in listed[0][0]  # the list names it

    chat, sources, _copy, state, status, coll = _reopen(colls.get, history, ME, kept.id)
    assert coll == "sports"  # the page puts its selector back on the chat's archive
    assert chat == shown["display"] and state == shown
    assert "nr-article" in sources and "no longer in the index" not in sources
    history.rate(ME, kept.id, 0, 1)
    assert [f.to_dict()["collection"] for f in history.feedback()] == ["sports"]
    colls.close()


def test_a_chat_whose_collection_is_gone_says_so_and_changes_nothing(
        pipe: Pipeline, history: History) -> None:
    conv = history.start(ME, QUESTIONS[0], first=pipe.ask(QUESTIONS[0]), collection="gone")
    colls = Collections(pipe.settings, main=pipe)
    *skipped, status, coll = _reopen(colls.get, history, ME, conv)
    assert "no collection 'gone'" in status
    assert not (pipe.settings.index_dir / "collections" / "gone").exists()


def test_a_reopened_conversation_goes_on_in_the_same_kept_conversation(
        pipe: Pipeline, history: History) -> None:
    first = _chat(pipe, history, ME, QUESTIONS[:1])
    state = _reopen(_only(pipe), history, ME, first["conversation"])[3]
    *_, last = chat.respond(pipe, pipe.settings, QUESTIONS[1], state,
                           keep=history_panel.keeper(history, ME))
    assert last[3]["conversation"] == first["conversation"]
    assert [c.turns for c in history.conversations(ME)] == [2]


def test_a_question_sent_on_another_collection_than_its_chat_starts_a_new_chat_there(
        pipe: Pipeline, history: History) -> None:
    # The page sends the selector's value with the question; the switch that starts the new
    # chat may reach the server after it.
    on_main = _chat(pipe, history, ME, QUESTIONS[:1])
    assert chat.chat_on(on_main, "main") is on_main
    state = chat.chat_on(on_main, "sports")
    assert state == chat.new_state("sports")
    first, *_, last = chat.respond(pipe, pipe.settings, QUESTIONS[1], state,
                                   keep=history_panel.keeper(history, ME, "sports"))
    # stored at once, so a switch running meanwhile sees the chat is on sports already
    assert first[1:4] == (render.sources_panel([]), "", state)
    assert [m["content"] for m in last[0] if m["role"] == "user"] == [QUESTIONS[1]]
    assert last[3]["collection"] == "sports"
    assert len(last[3]["turns"]) == 2  # no follow-up on main's question
    kept = {c.collection: c.turns for c in history.conversations(ME)}
    assert kept == {"main": 1, "sports": 1}


def test_the_switch_starts_a_new_chat_unless_a_question_already_started_it_there(
        pipe: Pipeline, history: History) -> None:
    on_main = _chat(pipe, history, ME, QUESTIONS[:1])
    assert chat.switched(on_main, "sports") == (
        [], render.sources_panel([]), "", chat.new_state("sports"))
    asked_first = _chat(pipe, history, ME, QUESTIONS[1:], collection="sports")
    assert chat.switched(asked_first, "sports") == (gr.skip(),) * 4  # its answer stays


# Leaving a chat while its answer still streams (Gradio hands both events the session's one
# state): switching the collection, or clicking "New chat". What the leaving event yields for
# the chat's state, and what that state must be.
LEAVES = {
    "switch collection": (lambda s: chat.switched(s, "sports")[3], chat.new_state("sports")),
    "new chat": (lambda s: chat.clear_chat(s)[3], chat.new_state()),
}


@pytest.mark.parametrize("leave", sorted(LEAVES))
def test_an_answer_streaming_when_the_chat_is_left_is_kept_where_asked_and_not_shown(
        pipe: Pipeline, history: History, leave: str) -> None:
    on_main = _chat(pipe, history, ME, QUESTIONS[:1])
    stream = chat.respond(pipe, pipe.settings, QUESTIONS[1], on_main,
                          keep=history_panel.keeper(history, ME))
    next(stream), next(stream)  # the question echoed, the answer's first words
    left, fresh = LEAVES[leave]
    assert left(on_main) == fresh
    # Nothing the stream yields after it may reach the new chat, and its last output changes
    # nothing: Gradio sends a stream's last output again when it ends, so a partial answer
    # yielded last would come back.
    assert list(stream) == [(gr.skip(),) * 5]
    (kept,) = history.conversations(ME)  # finished, kept as the second answer where asked
    assert (kept.id, kept.collection, kept.turns) == (on_main["conversation"], "main", 2)


def test_an_answer_streaming_when_a_past_conversation_is_opened_is_kept_and_not_shown(
        pipe: Pipeline, history: History) -> None:
    # A kept conversation is opened while a new chat's first answer is still streaming: the
    # reopened chat shows its own answers only, the streaming one is kept as a conversation
    # of its own. A reopen that fails leaves the chat, and its stream, alone.
    past = _chat(pipe, history, ME, QUESTIONS[:1])["conversation"]
    fresh = chat.new_state("main")
    stream = chat.respond(pipe, pipe.settings, QUESTIONS[1], fresh,
                          keep=history_panel.keeper(history, ME))
    next(stream), next(stream)
    assert "Choose a conversation" in _reopen(_only(pipe), history, ME, None, fresh)[4]
    assert "left" not in fresh
    reopened = _reopen(_only(pipe), history, ME, past, fresh)[3]
    assert (reopened["conversation"], len(reopened["turns"])) == (past, 2)
    assert list(stream) == [(gr.skip(),) * 5]
    kept = {c.title: (c.id == past, c.turns) for c in history.conversations(ME)}
    assert kept == {QUESTIONS[0]: (True, 1), QUESTIONS[1]: (False, 1)}


def test_reopening_the_conversation_whose_answer_is_streaming_keeps_it_on_screen(
        pipe: Pipeline, history: History) -> None:
    # The chat on screen is a kept conversation and its second answer is streaming; the user
    # picks that same conversation in the history and clicks Reopen. Reopening it would show
    # it without the answer on its way (not kept yet) and drop the stream from the page: the
    # chat stays as it is, the stream still ends in it, and the status says why.
    on_main = _chat(pipe, history, ME, QUESTIONS[:1])
    conv = on_main["conversation"]
    stream = chat.respond(pipe, pipe.settings, QUESTIONS[1], on_main,
                          keep=history_panel.keeper(history, ME))
    next(stream), next(stream)
    *outputs, status, collection = _reopen(_only(pipe), history, ME, conv, on_main)
    assert outputs == [gr.skip()] * 4 and collection == gr.skip()
    assert "open already" in status and "left" not in on_main
    *_, last = list(stream)
    shown, _, _, state, _ = last
    assert (state["conversation"], len(state["turns"])) == (conv, 4)
    assert shown == state["display"] and len(shown) == 4
    # Once the answer has arrived, Reopen opens it again as usual, both answers in it.
    reopened = _reopen(_only(pipe), history, ME, conv, state)[3]
    assert (reopened["conversation"], len(reopened["turns"])) == (conv, 4)


def test_the_selectors_refresh_on_focus_leaves_a_pick_made_meanwhile_alone(
        pipe: Pipeline, tmp_path: Path) -> None:
    from ui.app import collection_choices

    colls = Collections(pipe.settings, main=pipe)
    (tmp_path / "cricket.txt").write_text(CRICKET)
    colls.get("sports", create=True).ingest([tmp_path / "cricket.txt"])
    refreshed = collection_choices(colls, "main", choices_only=True)
    assert "value" not in refreshed
    assert [name for _, name in refreshed["choices"]] == ["main", "sports"]
    assert collection_choices(colls, "gone", choices_only=True)["value"] == "main"
    assert collection_choices(colls, "sports")["value"] == "sports"
    colls.close()


def test_another_browser_cannot_reopen_or_delete_it(pipe: Pipeline, history: History) -> None:
    conv = _chat(pipe, history, ME, QUESTIONS[:1])["conversation"]
    *skipped, status, _ = _reopen(_only(pipe), history, OTHER, conv)
    assert "No conversation" in status
    state, status = history_panel.forget(history, OTHER, conv, chat.new_state())
    assert "No conversation" in status
    assert history.conversations(ME)
    assert history_panel.past_choices(history, OTHER)["choices"] == []


def test_a_chat_without_a_client_cookie_is_answered_but_not_kept(
        pipe: Pipeline, history: History) -> None:
    state = _chat(pipe, history, None, QUESTIONS[:1])
    assert state["conversation"] is None and state["display"]
    assert "not kept" in history_panel.rate(history, None, state, 1, True)[1]


def test_deleting_the_open_conversation_unlinks_the_chat(pipe: Pipeline,
                                                         history: History) -> None:
    state = _chat(pipe, history, ME, QUESTIONS[:1])
    new_state, status = history_panel.forget(history, ME, state["conversation"], state)
    assert "Deleted the conversation" in status and QUESTIONS[0] in status
    assert new_state["conversation"] is None and new_state["display"] == state["display"]
    assert history.conversations(ME) == []


def test_thumbs_on_an_answer_store_its_question_answer_and_citations(
        pipe: Pipeline, history: History) -> None:
    state = _chat(pipe, history, ME, QUESTIONS)
    state, note = history_panel.rate(history, ME, state, 3, True)
    assert "👍 kept for answer 2" in note
    state, note = history_panel.rate(history, ME, state, [1, 0], False)
    assert "👎 kept for answer 1" in note
    rows = {f.turn: f.to_dict() for f in history.feedback()}
    kept = history.conversation(ME, state["conversation"]).turns
    assert rows[1]["rating"] == "up" and rows[1]["question"] == QUESTIONS[1]
    assert rows[1]["citations"] == [c.to_dict() for c in kept[1].answer.citations]
    assert rows[0]["rating"] == "down"
    assert "withdrawn" in history_panel.rate(history, ME, state, 3, None)[1]
    assert [f.turn for f in history.feedback()] == [0]


@pytest.mark.parametrize("index", [0, 2, 4, 99, -1, "x"])
def test_thumbs_on_anything_but_a_kept_answer_store_nothing(
        pipe: Pipeline, history: History, index: Any) -> None:
    state = _chat(pipe, history, ME, QUESTIONS)
    assert "Only a kept answer" in history_panel.rate(history, ME, state, index, True)[1]
    assert list(history.feedback()) == []


# --- the Articles tab ------------------------------------------------------------------------


def test_the_article_list_pages_through_the_archive(pipe: Pipeline,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(articles, "ARTICLES_PER_PAGE", 2)
    every = pipe.list_articles()
    seen: list[str] = []
    for at in (0, 2, 4):
        table, choices, label, offset = articles.articles_view(pipe, "", at)
        assert offset == at and label == f"Page {at // 2 + 1} of 3"
        seen += [v for _, v in choices["choices"]]
        assert f"Articles {at + 1}–" in table
    assert seen == [a.id for a in every]
    # past the end: the last page
    assert articles.articles_view(pipe, "", 40)[3] == 4


def test_the_article_search_matches_titles_and_sources(pipe: Pipeline) -> None:
    table, choices, label, _ = articles.articles_view(pipe, "  withdraw ", 0)
    ids = [v for _, v in choices["choices"]]
    assert ids and all("withdraw" in pipe.get_article(i).title.lower() for i in ids)
    assert "matching “withdraw”" in table
    table, choices, *_ = articles.articles_view(pipe, "<b>nothing</b>", 0)
    assert choices["choices"] == [] and "&lt;b&gt;" in table and "<b>" not in table


def test_clicking_an_article_opens_its_whole_text_in_the_reader(pipe: Pipeline) -> None:
    first = pipe.list_articles()[0]
    table = articles.articles_view(pipe, "", 0)[0]
    assert f'data-read="{first.id}"' in table
    html = articles.read_article(pipe, f"{first.id}#3")  # the page script's counter is ignored
    article = pipe.get_article(first.id)
    assert render.esc(article.text) in html and render.esc(article.title) in html
    assert "No article" in articles.read_article(pipe, "nope#1")
    assert articles.read_article(pipe, "") == render.READER_EMPTY


def test_the_reader_shows_an_articles_markup_as_text() -> None:
    evil = Article("a1", '<img src=x onerror="alert(1)">', "<script>x()</script> body",
                   "2024-05-20", "x.txt", url="javascript:alert(1)")
    html = render.article_reader(evil)
    assert "<script>" not in html and "<img" not in html and "javascript:" not in html
    row = ArticleSummary("a1\" onclick=\"x", "<b>t</b>", None, "s.txt", 1)
    page = render.articles_page([row], 1, 0)
    assert "<b>t</b>" not in page and 'onclick="x' not in page


def test_a_comment_goes_with_the_last_verdict_and_a_huge_one_is_refused_and_kept(
        pipe: Pipeline, history: History) -> None:
    from rag.history import MAX_COMMENT_CHARS

    state = _chat(pipe, history, ME, QUESTIONS)
    box, status = history_panel.comment(history, ME, state, "Wrong date.")
    assert "first" in status and list(history.feedback()) == []  # nothing rated yet
    state, _ = history_panel.rate(history, ME, state, 3, False)
    box, status = history_panel.comment(history, ME, state, "x" * (MAX_COMMENT_CHARS + 1))
    assert "longer than" in status and not isinstance(box, str)  # the box keeps the text
    assert [f.comment for f in history.feedback()] == [""]
    box, status = history_panel.comment(history, ME, state, "  The source is a year old.  ")
    assert box == "" and "👎 on answer 2" in status
    (fb,) = history.feedback()
    assert (fb.turn, fb.rating, fb.comment) == (1, -1, "The source is a year old.")
