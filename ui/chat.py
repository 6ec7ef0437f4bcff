"""The chat's handlers: a question streamed into an answer bubble with its sources, the chat's
session state, and the pinned `/chat` endpoint for gradio_client.

No retrieval or answer logic lives here. Citations are read from `Answer.citations`; the chat
history handed back to the pipeline is the raw answer text kept in session state, never the
rendered bubbles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from rag.dates import undated_note
from rag.errors import InputError, NewsragError, NotFoundError
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.text import require_unicode
from rag.types import Answer, Article, Turn
from ui import render

log = logging.getLogger(__name__)


EXAMPLES = [
    "When must US troops leave Niger?",
    "How many US troops are in Niger?",
    "Why did Niger end its military agreement with the US?",
    "Who leads Niger's military government?",
]


def new_state(collection: str | None = None) -> dict[str, Any]:
    # turns: raw text for the pipeline; display: rendered bubbles for the Chatbot (a user and
    # an assistant bubble per answer); panels: the sources of every answer so far (answer k's
    # cards are panels[k-1]), so an older answer's [n] still opens its own source;
    # conversation: its id in the kept history once its first answer is stored; collection:
    # the archive the chat is on (None: on none yet; always None on the embed page, whose
    # address names its archive)
    return {"turns": [], "display": [], "panels": [], "conversation": None,
            "collection": collection}


# Switching collection starts a new chat, but the switch and a question sent right after it
# are two events that the server runs side by side, in either order. So neither trusts the
# other to have run: the question goes to the chat of the collection the page sent with it
# (`chat_on`), and the switch leaves a chat that is on its collection already (`switched`).
#
# A switch, "New chat" or a reopened past conversation can also come while an answer is still
# streaming into the chat on screen. That answer goes on in the background, is kept in the
# conversation it was asked in (reopened from the kept conversations) and is not cancelled:
# the journalist asked for it, and a cancel would also hit a question sent with the switch.
# But it must not write into the chat that replaced it. Gradio hands every event of a session
# the one state object it keeps, uncopied, so each of those marks the chat it leaves (`leave`)
# and the stream, holding that same object, stops showing itself once it sees the mark.


def leave(state: dict[str, Any]) -> None:
    """Marks `state` as the chat the page has left for another one: an answer still streaming
    into it stops showing itself (`respond`), and is still kept."""
    state["left"] = True


def chat_on(state: dict[str, Any], collection: str) -> dict[str, Any]:
    """The chat a question sent with `collection` on the page belongs to: `state` when that
    chat is on it, else a new chat on it (the switch has not reached the server yet): never a
    follow-up across archives, nor an answer kept in the other archive's conversation."""
    return state if state.get("collection") == collection else new_state(collection)


def switched(state: dict[str, Any], collection: str) -> tuple[Any, Any, Any, Any]:
    """The chat after a switch to `collection` (chatbot, sources, copy text, state): a new one,
    unless the chat is on `collection` already because a question sent after the pick got
    there first (clearing it would wipe that question and its answer). The question box is not
    touched: a question typed meanwhile stays in it."""
    if state.get("collection") == collection:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    leave(state)
    return [], render.sources_panel([]), "", new_state(collection)


# Stores an answer in the kept history: (conversation id or None, question, answer) -> the
# conversation's id (a new one for the first answer).
Keeper = Callable[[str | None, str, Answer], str | None]


def error_bubble(exc: NewsragError) -> dict[str, str]:
    """An expected failure as the assistant's chat message."""
    return {"role": "assistant", "content": f"**Error:** {render.md_escape(str(exc))}"}


def _articles_for(pipeline: Pipeline, answer: Answer) -> dict[str, Article | None]:
    found: dict[str, Article | None] = {}
    for item in render.source_items(answer):
        if item.article_id not in found:
            try:
                found[item.article_id] = pipeline.get_article(item.article_id)
            except NotFoundError:
                found[item.article_id] = None
    return found


def answer_bubble(pipeline: Pipeline, answer: Answer, k: int, question: str,
            inline: bool = False) -> tuple[str, str]:
    """The `k`-th answer's bubble and its sources panel section ("" when `inline`)."""
    articles = _articles_for(pipeline, answer)
    if inline:
        content = render.chat_message(answer, k, render.inline_sources(answer, articles, k))
    else:
        content = render.chat_message(answer, k)
    note = undated_note(answer.undated_left_out)
    if note:
        content += f"\n\n*{render.md_escape(note)}*"
    return content, "" if inline else render.sources_html(answer, articles, k, question)


def _unshown() -> Iterator[tuple[Any, ...]]:
    """The last output of a stream whose chat was left: Gradio sends a generator's last output
    again when it ends, and that must not be the partial answer it showed before it was left."""
    yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()


def respond(
    pipeline: Pipeline, settings: Settings, message: str, state: dict[str, Any],
    since: str | None = None, until: str | None = None, inline: bool = False,
    include_undated: bool | None = None, keep: Keeper | None = None,
) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """The chat event: yields (chatbot, sources, copy text, state, textbox) as the answer grows.
    `inline` (the embed page) puts each answer's sources inside its bubble instead. `keep`
    stores the answer in the kept history; a failure there is logged, the answer still shown.
    A `state` without answers (a new chat, perhaps made by `chat_on`) is stored, and the
    sources panel emptied, with the first message: a switch running meanwhile then sees the
    chat is on its collection already. Once the page has left the chat (`leave`: a switch, New
    chat, a reopened conversation), nothing more is shown: the answer is still kept, in the
    conversation it was asked in."""
    message = (message or "").strip()
    if not message:
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    turns = [Turn(t["role"], t["content"]) for t in state.get("turns", [])]
    started: tuple[Any, Any, Any] = (
        (gr.skip(),) * 3 if state.get("display") else (render.sources_panel([]), "", state))
    try:  # before the message is echoed: a lone surrogate cannot be sent back to the page
        require_unicode(message, "The question")
    except InputError as exc:
        yield [*state.get("display", []), error_bubble(exc)], *started, gr.skip()
        return
    display = [*state.get("display", []), {"role": "user", "content": render.md_escape(message)}]
    bubble = {"role": "assistant", "content": "…"}
    state["streaming"] = True  # from the echo until the answer is in: see `streaming`
    try:
        yield [*display, bubble], *started, ""
        yield from _answer(pipeline, settings, message, state, turns, display, since, until,
                           inline, include_undated, keep)
    finally:
        state.pop("streaming", None)


def streaming(state: dict[str, Any]) -> bool:
    """Whether an answer is still on its way into the chat `state` (shown or not)."""
    return bool(state.get("streaming"))


def _answer(
    pipeline: Pipeline, settings: Settings, message: str, state: dict[str, Any],
    turns: list[Turn], display: list[dict[str, Any]], since: str | None, until: str | None,
    inline: bool, include_undated: bool | None, keep: Keeper | None,
) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """`respond` once the question is echoed: the answer as it grows, then kept and shown."""
    text, answer = "", None
    # Left unsaid, the include_undated setting decides.
    undated: dict[str, Any] = (
        {} if include_undated is None or include_undated == settings.include_undated
        else {"include_undated": include_undated})
    try:
        for item in pipeline.ask_stream(message, history=turns, top_k=settings.top_k,
                                        since=(since or "").strip() or None,
                                        until=(until or "").strip() or None, **undated):
            if isinstance(item, Answer):
                answer = item
            else:
                text += item
                if not state.get("left"):
                    bubble = {"role": "assistant", "content": render.partial_markdown(text)}
                    yield [*display, bubble], gr.skip(), gr.skip(), gr.skip(), gr.skip()
    except NewsragError as exc:  # an expected failure becomes a chat message
        if state.get("left"):
            yield from _unshown()
        else:
            yield [*display, error_bubble(exc)], gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    if answer is None:
        raise gr.Error("The answer stream ended without an answer.")

    panels = list(state.get("panels", []))
    k = len(panels) + 1  # this answer's number: its cards' ids are its own
    content, panel = answer_bubble(pipeline, answer, k, message, inline)
    panels.append(panel)
    bubble = {"role": "assistant", "content": content}
    conversation = state.get("conversation")
    if keep is not None:
        try:
            conversation = keep(conversation, message, answer)
        except NewsragError as exc:
            log.warning("The answer was not kept in the chat history: %s", exc)
    if state.get("left"):  # the page is on another chat now: kept, not shown (checked last)
        yield from _unshown()
        return
    new_state = {
        "turns": [*state.get("turns", []), {"role": "user", "content": message},
                  {"role": "assistant", "content": answer.text}],
        "display": [*display, bubble],
        "panels": panels,
        "conversation": conversation,
        "collection": state.get("collection"),
    }
    sources = render.sources_panel([p for p in panels if p])
    yield new_state["display"], sources, render.copy_text(answer), new_state, gr.skip()


def clear_chat(state: dict[str, Any]) -> tuple[Any, ...]:
    """New chat (chatbot, sources, copy text, state, textbox); `state`, the chat left, is
    marked (`leave`)."""
    leave(state)
    return [], render.sources_panel([]), "", new_state(), ""


def chat_api(pipeline: Callable[[], Pipeline], message: str,
             history: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The pinned `/chat` endpoint for gradio_client: the Answer JSON of the CLI contract.
    `pipeline` opens the asked collection's pipeline, so a bad or unknown name is the
    client's error like any other."""
    turns = [Turn(str(t.get("role", "")), str(t.get("content", ""))) for t in history or []]
    try:
        require_unicode([message, history], "The request")
        return pipeline().ask(message, history=turns).to_dict()
    except NewsragError as exc:
        raise gr.Error(str(exc)) from exc
