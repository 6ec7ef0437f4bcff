"""The Gradio pages' layout: the full page (`build_ui`: chat with its sources panel, the
kept conversations and feedback, the Articles tab, the collection selector) and the embed
page (`build_embed`), with each event wired to its handler in ui/chat.py,
ui/history_panel.py or ui/articles.py. Handlers return `ui.render` strings and Gradio
updates; no retrieval or answer logic lives here or there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from rag.collections import DEFAULT, Collections
from rag.errors import NewsragError
from rag.history import History
from rag.pipeline import Pipeline
from rag.settings import Settings
from ui import render
from ui.articles import (
    ARTICLES_PER_PAGE,
    articles_view,
    confirm_delete,
    delete_selected,
    read_article,
    upload_files,
)
from ui.assets import COPY_JS
from ui.chat import (
    EXAMPLES,
    Keeper,
    chat_api,
    chat_on,
    clear_chat,
    error_bubble,
    new_state,
    respond,
    switched,
)
from ui.clients import ClientRegistry, client_id
from ui.history_panel import comment, forget, keeper, past_choices, rate, reopen

UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom"]


def _chatbot(height: int, examples: bool, feedback: bool = False) -> gr.Chatbot:
    return gr.Chatbot(
        label="Chat", elem_id="nr-chat", height=height,
        examples=[{"text": q} for q in EXAMPLES] if examples else None,
        placeholder="Ask a question about the articles. Every claim is cited [n].",
        latex_delimiters=[], sanitize_html=True, buttons=["copy"],
        feedback_options=("Like", "Dislike") if feedback else None,
    )


def collection_choices(collections: Collections | None, selected: str | None = None,
                       choices_only: bool = False) -> Any:
    """The selector's choices: every collection with its article count, `selected` kept.
    `choices_only` leaves the value on the page alone while `selected` is still listed: the
    refresh on focus answers after the list has opened, so a pick made meanwhile is newer
    than the `selected` it was sent, and setting that back would show one archive while the
    chat and the Articles tab are on another."""
    if collections is None:
        return gr.update(choices=[(DEFAULT, DEFAULT)], value=DEFAULT)
    infos = collections.names()
    names = [i.name for i in infos]
    choices = [(f"{i.name} ({i.articles} articles)", i.name) for i in infos]
    if choices_only and selected in names:
        return gr.update(choices=choices)
    return gr.update(choices=choices, value=selected if selected in names else DEFAULT)


def build_ui(pipeline: Pipeline, settings: Settings,
             clients: ClientRegistry | None = None, history: History | None = None,
             collections: Collections | None = None) -> gr.Blocks:
    """The full page: chat with a sources panel, and the Articles tab. `clients` knows which
    uploads came from which client (ui/clients.py); without it only Gradio's own check runs.
    `history` keeps each browser's conversations and its 👍/👎 (rag/history.py); without it
    nothing is kept and the answers have no feedback buttons. `collections` (rag/collections.py)
    adds a selector: the chat and the Articles tab then work on the chosen archive; without it
    there is only `pipeline` (main)."""

    def pipe(name: str | None) -> Pipeline:
        return collections.get(name or DEFAULT) if collections is not None else pipeline

    demo: gr.Blocks
    with gr.Blocks(title="newsrag") as demo:
        gr.Markdown("## newsrag · cited answers from news articles")
        state = gr.State(new_state())
        with gr.Row(visible=collections is not None):
            coll = gr.Dropdown(label="Collection (archive)", choices=[(DEFAULT, DEFAULT)],
                               value=DEFAULT, elem_id="nr-collection", interactive=True,
                               scale=1)
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                with gr.Row(visible=history is not None, elem_id="nr-past-box",
                            equal_height=True):
                    past = gr.Dropdown(label="Past conversations (kept in this browser)",
                                       choices=[], elem_id="nr-past", scale=4)
                    past_open = gr.Button("Open", elem_id="nr-past-open", scale=1,
                                          min_width=80)
                    past_delete = gr.Button("Delete", variant="stop", elem_id="nr-past-delete",
                                            scale=1, min_width=80)
                past_status = gr.Markdown(elem_id="nr-past-status")
                chatbot = _chatbot(520, examples=True, feedback=history is not None)
                feedback_status = gr.Markdown(elem_id="nr-feedback-status")
                with gr.Row(visible=history is not None):
                    note = gr.Textbox(show_label=False, elem_id="nr-feedback-comment", scale=5,
                                      placeholder="Why? (optional, goes with your last 👍/👎)")
                    send_note = gr.Button("Send comment", size="sm", scale=1,
                                          elem_id="nr-feedback-send")
                with gr.Row():
                    box = gr.Textbox(show_label=False, placeholder="Ask about the articles…",
                                     elem_id="nr-question", scale=5, autofocus=True)
                    ask = gr.Button("Ask", variant="primary", elem_id="nr-ask", scale=1)
                with gr.Row():  # optional: only articles published in this range
                    since = gr.Textbox(label="Since (YYYY-MM-DD)", elem_id="nr-since", scale=1)
                    until = gr.Textbox(label="Until (YYYY-MM-DD)", elem_id="nr-until", scale=1)
                    undated = gr.Checkbox(label="Include undated articles",
                                          value=settings.include_undated, elem_id="nr-undated")
                with gr.Row():
                    clear = gr.Button("New chat" if history else "Clear chat", elem_id="nr-clear")
                    copy = gr.Button("Copy answer with sources", elem_id="nr-copy")
                with gr.Accordion("Answer with sources (plain text)", open=False):
                    copy_box = gr.Textbox(show_label=False, lines=5, interactive=False,
                                          buttons=["copy"], elem_id="nr-copy-text")
            with gr.Column(scale=2):
                sources = gr.HTML(render.sources_panel([]), elem_id="nr-sources")

        with gr.Tab("Articles"):
            with gr.Row():
                search = gr.Textbox(show_label=False, placeholder="Search titles and sources…",
                                    elem_id="nr-article-search", scale=5)
                search_go = gr.Button("Search", elem_id="nr-article-search-go", scale=1)
            offset = gr.State(0)
            table = gr.HTML(elem_id="nr-articles")
            with gr.Row():
                prev_page = gr.Button("← Newer", size="sm", elem_id="nr-prev")
                page_label = gr.Markdown(elem_id="nr-page")
                next_page = gr.Button("Older →", size="sm", elem_id="nr-next")
                refresh = gr.Button("Refresh list", size="sm")
            # The list's click handler (HEAD) writes the clicked article's id here.
            read_id = gr.Textbox(elem_id="nr-read-id", elem_classes=["nr-hidden"],
                                 show_label=False, container=False)
            reader = gr.HTML(render.article_reader(None), elem_id="nr-reader")
            files = gr.File(label="Upload articles (.txt .md .html .json .jsonl .xml .rss .atom)",
                            file_count="multiple", file_types=UPLOAD_TYPES, type="filepath",
                            elem_id="nr-upload")
            replace = gr.Checkbox(label="Replace earlier uploads with the same file name",
                                  value=False, elem_id="nr-replace")
            status = gr.Textbox(label="Status", interactive=False, elem_id="nr-status")
            with gr.Row():
                pick = gr.Dropdown(label="Article", choices=[], elem_id="nr-pick", scale=4)
                delete = gr.Button("Delete article", variant="stop", elem_id="nr-delete")
            pending = gr.State(None)  # the id the confirmation asks about
            with gr.Row(visible=False, elem_id="nr-confirm") as confirm_row:
                question = gr.Markdown(elem_id="nr-confirm-text")
                yes = gr.Button("Yes, delete it", variant="stop", elem_id="nr-delete-yes")
                no = gr.Button("Cancel", elem_id="nr-delete-no")

        def keep_for(request: gr.Request | None, name: str | None) -> Keeper | None:
            if history is None or request is None:
                return None
            return keeper(history, client_id(request.headers), name or DEFAULT)

        def on_ask(message: str, st: dict[str, Any], lo: str, hi: str, und: bool, name: str,
                   request: gr.Request) -> Iterator[tuple[Any, ...]]:
            name = name or DEFAULT  # as the page showed it: the switch may not have run yet
            yield from respond(pipe(name), settings, message, chat_on(st, name), lo, hi,
                               include_undated=und, keep=keep_for(request, name))

        def on_example(st: dict[str, Any], lo: str, hi: str, und: bool, name: str,
                       evt: gr.SelectData, request: gr.Request) -> Iterator[tuple[Any, ...]]:
            value = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)
            name = name or DEFAULT
            yield from respond(pipe(name), settings, value, chat_on(st, name), lo, hi,
                               include_undated=und, keep=keep_for(request, name))

        def on_past(st: dict[str, Any], request: gr.Request) -> Any:
            if history is None:
                return gr.skip()
            return past_choices(history, client_id(request.headers), st.get("conversation"))

        def on_reopen(conv: str | None, name: str, st: dict[str, Any],
                      request: gr.Request) -> tuple[Any, ...]:
            # The chat goes back on its own archive: the selector and, when that is another
            # one than shown, the Articles tab follow (as a switch by hand does).
            unchanged = (gr.skip(),) * 7
            if history is None:
                return *(gr.skip(),) * 4, "", *unchanged
            *shown, kept_on = reopen(pipe, history, client_id(request.headers), conv, st)
            if not isinstance(kept_on, str) or kept_on == (name or DEFAULT):
                return *shown, *unchanged
            return (*shown, collection_choices(collections, kept_on),
                    *articles_view(pipe(kept_on), "", 0), render.article_reader(None), "")

        def on_forget(conv: str | None, st: dict[str, Any],
                      request: gr.Request) -> tuple[Any, ...]:
            if history is None:
                return gr.skip(), "", gr.skip()
            client = client_id(request.headers)
            new_state, note = forget(history, client, conv, st)
            return new_state, note, past_choices(history, client)

        def on_like(st: dict[str, Any], evt: gr.LikeData,
                    request: gr.Request) -> tuple[Any, str]:
            if history is None:
                return gr.skip(), ""
            return rate(history, client_id(request.headers), st, evt.index, evt.liked)

        def on_note(st: dict[str, Any], text: str, request: gr.Request) -> tuple[Any, str]:
            if history is None:
                return gr.skip(), ""
            return comment(history, client_id(request.headers), st, text)

        chat_out = [chatbot, sources, copy_box, state, box]
        private: dict[str, Any] = {"api_visibility": "private"}
        box.submit(on_ask, [box, state, since, until, undated, coll], chat_out,
                   **private).then(on_past, [state], [past], **private)
        ask.click(on_ask, [box, state, since, until, undated, coll], chat_out,
                  **private).then(on_past, [state], [past], **private)
        chatbot.example_select(on_example, [state, since, until, undated, coll], chat_out,
                               **private).then(on_past, [state], [past], **private)
        clear.click(clear_chat, [state], chat_out, **private).then(
            on_past, [state], [past], **private)
        copy.click(None, [copy_box], None, js=COPY_JS, **private)
        past_open.click(on_reopen, [past, coll, state],
                        [chatbot, sources, copy_box, state, past_status, coll, table, pick,
                         page_label, offset, reader, search], **private)
        past_delete.click(on_forget, [past, state], [state, past_status, past], **private)
        chatbot.like(on_like, [state], [state, feedback_status], **private)
        send_note.click(on_note, [state, note], [note, feedback_status], **private)
        note.submit(on_note, [state, note], [note, feedback_status], **private)

        def on_page(query: str, at: int, name: str) -> tuple[Any, ...]:
            return articles_view(pipe(name), query, at)

        def on_search(query: str, name: str) -> tuple[Any, ...]:
            return articles_view(pipe(name), query, 0)

        def on_step(step: int) -> Callable[[str, int, str], tuple[Any, ...]]:
            def go(query: str, at: int, name: str) -> tuple[Any, ...]:
                return articles_view(pipe(name), query, max(0, int(at or 0) + step))
            return go

        def on_read(article_id: str | None, name: str) -> str:
            return read_article(pipe(name), article_id)

        def on_upload(paths: list[str] | None, replace_same: bool, name: str,
                      request: gr.Request) -> tuple[Any, ...]:
            pipeline = pipe(name)
            if clients is None:
                done = upload_files(pipeline, settings, paths, demo.upload_file_set,
                                    replace_same)
            else:
                registry, session = clients, request.session_hash
                mine = registry.files_of(client_id(request.headers)) & set(demo.upload_file_set)
                done = upload_files(pipeline, settings, paths, mine, replace_same,
                                    cancelled=lambda: registry.is_gone(session))
            return (*done, "", *articles_view(pipeline, "", 0)[2:])

        def on_confirm(article_id: str | None, name: str) -> tuple[Any, str, str | None, str]:
            return confirm_delete(pipe(name), article_id)

        def on_delete(article_id: str | None, name: str) -> tuple[Any, ...]:
            pipeline = pipe(name)
            return (*delete_selected(pipeline, article_id), gr.update(visible=False), None,
                    "", *articles_view(pipeline, "", 0)[2:], render.article_reader(None))

        def on_keep() -> tuple[Any, None, str]:
            return gr.update(visible=False), None, "Nothing was deleted."

        def on_pick(article_id: str | None, name: str) -> tuple[Any, None, Any]:
            reading = read_article(pipe(name), article_id) if article_id else gr.skip()
            return gr.update(visible=False), None, reading

        def on_collections(name: str | None) -> Any:
            return collection_choices(collections, name)

        def on_focus(name: str | None) -> Any:  # new archives made meanwhile
            return collection_choices(collections, name, choices_only=True)

        def on_switch(name: str) -> tuple[Any, ...]:
            # Another archive: its article list, no article open; then (`on_switched`) a new
            # chat, as a follow-up must not reach across archives.
            return (*articles_view(pipe(name), "", 0), render.article_reader(None), "")

        def on_switched(name: str, st: dict[str, Any]) -> tuple[Any, ...]:
            # `name` is the selector's value now, `st` the chat as the server has it now: a
            # question sent after the pick may have started the new chat already.
            return switched(st, name or DEFAULT)

        page_out = [table, pick, page_label, offset]
        demo.load(on_collections, [coll], [coll], **private).then(
            on_page, [search, offset, coll], page_out, **private).then(
            on_past, [state], [past], **private)
        coll.focus(on_focus, [coll], [coll], **private)
        coll.input(on_switch, [coll], [*page_out, reader, search], **private).then(
            on_switched, [coll, state], [chatbot, sources, copy_box, state], **private)
        refresh.click(on_page, [search, offset, coll], page_out, **private)
        search.submit(on_search, [search, coll], page_out, **private)
        search_go.click(on_search, [search, coll], page_out, **private)
        prev_page.click(on_step(-ARTICLES_PER_PAGE), [search, offset, coll], page_out,
                        **private)
        next_page.click(on_step(ARTICLES_PER_PAGE), [search, offset, coll], page_out,
                        **private)
        read_id.change(on_read, [read_id, coll], [reader], **private)
        files.upload(on_upload, [files, replace, coll],
                     [status, table, pick, search, page_label, offset], **private)
        delete.click(on_confirm, [pick, coll], [confirm_row, question, pending, status],
                     **private)
        yes.click(on_delete, [pending, coll], [status, table, pick, confirm_row, pending, search,
                                         page_label, offset, reader], **private)
        no.click(on_keep, None, [confirm_row, pending, status], **private)
        pick.change(on_pick, [pick, coll], [confirm_row, pending, reader], **private)

        def chat(message: str, history: list[dict[str, str]] | None = None,
                 collection: str | None = None) -> dict[str, Any]:
            """Answer a question about the articles of `collection` (default main). Returns
            the newsrag Answer JSON: answer text with [n] markers, citations (title, date,
            quote, span), abstained."""
            return chat_api(lambda: pipe(collection), message, history)

        gr.api(chat, api_name="chat")  # type: ignore[attr-defined]
    return demo


def build_embed(pipeline: Pipeline, settings: Settings,
                collections: Collections | None = None) -> gr.Blocks:
    """The page for an <iframe> on another site (/embed): the chat only, compact, each
    answer's sources inside its bubble, opening inline. `/embed/?collection=NAME` answers
    from that archive (`collections`; ui/server.py refuses the page for a bad or unknown
    name); none named, or no `collections`: `pipeline` (main)."""
    demo: gr.Blocks
    with gr.Blocks(title="newsrag", fill_height=True) as demo:
        state = gr.State(new_state())
        chatbot = _chatbot(460, examples=False)
        with gr.Row():
            box = gr.Textbox(show_label=False, placeholder="Ask about the articles…",
                             elem_id="nr-question", scale=5, autofocus=True)
            ask = gr.Button("Ask", variant="primary", elem_id="nr-ask", scale=1, min_width=60)

        def on_ask(message: str, st: dict[str, Any],
                   request: gr.Request) -> Iterator[tuple[Any, ...]]:
            # The page's own address names the archive: Gradio's client sends the page's
            # query string with every event.
            name = dict(request.query_params).get("collection") or DEFAULT
            try:
                pipe = collections.get(name) if collections is not None else pipeline
            except NewsragError as exc:  # deleted since the page was served
                yield [*st.get("display", []), error_bubble(exc)], gr.skip(), gr.skip()
                return
            for chat_, _sources, _copy, st_, box_ in respond(pipe, settings, message, st,
                                                           inline=True):
                yield chat_, st_, box_

        private: dict[str, Any] = {"api_visibility": "private"}
        box.submit(on_ask, [box, state], [chatbot, state, box], **private)
        ask.click(on_ask, [box, state], [chatbot, state, box], **private)
    return demo
