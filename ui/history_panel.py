"""The kept conversations and feedback panel's handlers: each answer stored for this browser,
the list of past conversations, Open (back in the chat, on its own collection), Delete, and
the 👍/👎 with a comment. rag/history.py stores them; these turn its types into what the
page shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from rag.collections import DEFAULT
from rag.errors import NewsragError, NotFoundError
from rag.history import History
from rag.pipeline import Pipeline
from rag.types import Answer
from ui import render
from ui.chat import Keeper, answer_bubble, leave, new_state, streaming


def keeper(history: History, client: str | None, collection: str = DEFAULT) -> Keeper:
    """Stores each answer of this client's chat, asked against `collection`: the first one
    starts a conversation on it."""

    def keep(conversation: str | None, question: str, answer: Answer) -> str | None:
        if client is None:  # no cookie (a script, cookies blocked): nothing to keep it under
            return None
        if conversation is None:
            return history.start(client, question, first=answer, collection=collection)
        history.add_turn(client, conversation, question, answer)
        return conversation

    return keep


def past_choices(history: History, client: str | None, value: str | None = None) -> Any:
    """The dropdown of this client's kept conversations, newest first."""
    rows = history.conversations(client) if client else []
    choices = [render.conversation_choice(c.id, c.title, c.updated_at, c.turns, c.collection)
               for c in rows]
    ids = {c.id for c in rows}
    return gr.update(choices=choices, value=value if value in ids else None)


def reopen(pipes: Callable[[str], Pipeline], history: History, client: str | None,
           conversation_id: str | None,
           state: dict[str, Any]) -> tuple[Any, Any, Any, Any, str, Any]:
    """A kept conversation back in the chat: (chatbot, sources, copy text, state, status, its
    collection's name). Each answer is rendered from its stored Answer, citations and source
    cards as before, the articles read from the collection it was asked against (`pipes`
    opens one by name). `state`, the chat it replaces, is marked (`leave`) once it opens: an
    answer still streaming there is kept, not shown in it."""
    nothing = (gr.skip(),) * 4
    if not conversation_id:
        return *nothing, "Choose a conversation first.", gr.skip()
    try:
        if client is None:
            raise NotFoundError("This browser has no kept conversations.",
                                hint="Allow cookies for this site.")
        conv = history.conversation(client, conversation_id)
        pipeline = pipes(conv.collection)
    except NewsragError as exc:
        return *nothing, str(exc), gr.skip()
    if state.get("conversation") == conv.id and streaming(state):
        # It is the chat on screen, its next answer on the way and not kept yet: reopened
        # now it would show without that answer, and the answer would not be shown.
        status = f"“{conv.title}” is open already; its answer is on its way."
        return *nothing, render.md_escape(status), gr.skip()
    leave(state)
    state = new_state(conv.collection)
    state["conversation"] = conv.id
    for k, turn in enumerate(conv.turns, start=1):
        content, panel = answer_bubble(pipeline, turn.answer, k, turn.question)
        state["turns"] += [{"role": "user", "content": turn.question},
                           {"role": "assistant", "content": turn.answer.text}]
        state["display"] += [{"role": "user", "content": render.md_escape(turn.question)},
                             {"role": "assistant", "content": content}]
        state["panels"].append(panel)
    copy = render.copy_text(conv.turns[-1].answer) if conv.turns else ""
    n = len(conv.turns)
    status = f"Reopened “{conv.title}” ({n} answer{'' if n == 1 else 's'})."
    return (state["display"], render.sources_panel(state["panels"]), copy, state,
            render.md_escape(status), conv.collection)


def forget(history: History, client: str | None, conversation_id: str | None,
           state: dict[str, Any]) -> tuple[Any, str]:
    """Deletes a kept conversation: (the chat's state, status). The chat on screen stays, but
    is no longer kept: its next answer starts a new conversation."""
    if not conversation_id:
        return gr.skip(), "Choose a conversation first."
    try:
        if client is None:
            raise NotFoundError("This browser has no kept conversations.",
                                hint="Allow cookies for this site.")
        title = next((c.title for c in history.conversations(client)
                      if c.id == conversation_id), conversation_id)
        history.delete(client, conversation_id)
    except NewsragError as exc:
        return gr.skip(), str(exc)
    if state.get("conversation") == conversation_id:
        state = {**state, "conversation": None}
    return state, render.md_escape(f"Deleted the conversation “{title}”.")


def rate(history: History, client: str | None, state: dict[str, Any], index: Any,
         liked: Any) -> tuple[dict[str, Any], str]:
    """A 👍/👎 on the chat's message `index` (a position in the Chatbot's list: a user and an
    assistant bubble per answer, so answer n sits at 2n+1); clicking it again withdraws it.
    Returns (state, status); the state remembers the verdict, for a comment on it."""
    conversation = state.get("conversation")
    position = index[0] if isinstance(index, list | tuple) else index
    if not isinstance(position, int) or position < 0 or position % 2 != 1 \
            or position >= len(state.get("display", [])):
        return state, "Only a kept answer can be rated."
    if client is None or conversation is None:
        return state, "This chat is not kept, so its feedback cannot be stored."
    turn = position // 2
    rating = {True: 1, "Like": 1, False: -1, "Dislike": -1}.get(liked)
    try:
        if rating is None:
            history.clear_rating(client, conversation, turn)
        else:
            history.rate(client, conversation, turn, rating)
    except NewsragError as exc:
        return state, str(exc)
    rated = None if rating is None else [conversation, turn, rating]
    return {**state, "rated": rated}, render.feedback_note(rating, turn + 1)


def comment(history: History, client: str | None, state: dict[str, Any],
            text: str | None) -> tuple[Any, str]:
    """A comment on the last 👍/👎 given in this chat: (comment box, status). The box keeps
    the text when it cannot be stored (too long, nothing rated yet), so nothing typed is lost."""
    rated = state.get("rated")
    if not rated or client is None:
        return gr.skip(), "Click 👍 or 👎 on an answer first; the comment goes with it."
    conversation, turn, rating = rated
    try:
        history.rate(client, conversation, turn, rating, comment=text or "")
    except NewsragError as exc:
        return gr.skip(), render.md_escape(str(exc))
    return "", f"Comment kept with your {'👍' if rating > 0 else '👎'} on answer {turn + 1}."
