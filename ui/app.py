"""The Gradio page: a thin adapter from events to `Pipeline` calls and `ui.render` strings.

No retrieval or answer logic lives here. Citations are read from `Answer.citations`; the chat
history handed back to the pipeline is the raw answer text kept in session state, never the
rendered bubbles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.dates import undated_note
from rag.errors import (
    IngestCancelledError,
    InputError,
    NewsragError,
    NotFoundError,
    UploadRejectedError,
)
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.text import require_unicode
from rag.types import Answer, Article, IngestReport, Turn
from ui import render
from ui.clients import ClientRegistry, client_id

log = logging.getLogger(__name__)

EXAMPLES = [
    "When must US troops leave Niger?",
    "How many US troops are in Niger?",
    "Why did Niger end its military agreement with the US?",
    "Who leads Niger's military government?",
]
UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom"]

# Our own page script (passed as `head` when mounting): clicking a `[n]` marker opens the
# matching source card (each answer has its own: ui/render.py `source_anchor`) and scrolls its
# highlighted span into view; the copy button of a bubble copies the bubble's clean text (its
# hidden `.nr-copy-src`, ui/render.py `chat_message`) instead of its escaped markup. Event
# delegation on the document, because the chat bubbles are re-rendered on every streamed update.
HEAD = """
<script>
(function () {
  var pendingCopy = null;
  function openSource(details) {
    details.open = true;
    var target = details.querySelector('mark.nr-hl') || details;
    target.scrollIntoView({block: 'center'});
  }
  document.addEventListener('click', function (ev) {
    var t = ev.target && ev.target.closest ? ev.target : null;
    if (!t) return;
    var a = t.closest('a.nr-cite');
    if (a) {
      ev.preventDefault();
      ev.stopPropagation();
      var id = (a.getAttribute('href') || '').replace('#', '');
      var details = document.getElementById(id);
      if (details) openSource(details);
      return;
    }
    var buttons = t.closest('#nr-chat .message-buttons');
    if (buttons) {  // a bubble's own buttons sit just after its message row
      var row = buttons.previousElementSibling;
      while (row && !(row.classList && row.classList.contains('message-row'))) {
        row = row.previousElementSibling;
      }
      var src = row ? row.querySelector('.nr-copy-src') : null;
      pendingCopy = src ? src.getAttribute('title') : null;
    }
  }, true);
  if (navigator.clipboard && navigator.clipboard.writeText) {
    var write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = function (text) {
      var clean = pendingCopy;
      pendingCopy = null;
      return write(clean !== null ? clean : text);
    };
  }
  document.addEventListener('toggle', function (ev) {
    var d = ev.target;
    if (d && d.classList && d.classList.contains('nr-source') && d.open) {
      var m = d.querySelector('mark.nr-hl');
      if (m) m.scrollIntoView({block: 'nearest'});
    }
  }, true);
})();
</script>
"""

CSS = """
.nr-sources { font-size: 0.95em; }
.nr-source-list { padding-left: 0; list-style: none; margin: 0; }
.nr-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  margin: 0 0 8px 0; padding: 6px 10px; }
.nr-source summary { cursor: pointer; }
.nr-label { font-weight: 700; color: var(--color-accent); }
.nr-title { font-weight: 600; }
.nr-meta { color: var(--body-text-color-subdued); font-size: 0.9em; }
.nr-quote { margin: 6px 0; padding-left: 8px; border-left: 3px solid var(--color-accent);
  font-style: italic; }
.nr-article { white-space: pre-wrap; max-height: 340px; overflow-y: auto; font-size: 0.9em;
  border-top: 1px dashed var(--border-color-primary); padding-top: 6px; }
mark.nr-hl { background: #ffe066; color: #000; padding: 0 1px; }
.nr-abstain { background: var(--background-fill-secondary); padding: 6px 10px;
  border-radius: 6px; }
a.nr-cite { text-decoration: none; font-weight: 700; }
.nr-panel > .nr-sources + .nr-sources { border-top: 2px solid var(--border-color-primary);
  margin-top: 10px; padding-top: 6px; opacity: 0.85; }
.nr-sources-head { font-weight: 600; }
.nr-copy-src { display: none; }
.nr-articles { width: 100%; border-collapse: collapse; }
.nr-articles td, .nr-articles th { border-bottom: 1px solid var(--border-color-primary);
  padding: 4px 6px; text-align: left; vertical-align: top; }
.nr-num { text-align: right; }
"""


# The embed page: narrow iframes, so less padding and a smaller article view.
EMBED_CSS = """
.gradio-container { padding: 4px !important; }
.nr-inline .nr-source { margin: 6px 0 0 0; }
.nr-inline .nr-article { max-height: 200px; }
footer { display: none !important; }
"""


def _new_state() -> dict[str, Any]:
    # turns: raw text for the pipeline; display: rendered bubbles for the Chatbot; panels: the
    # sources of every answer so far (answer k's cards are panels[k-1]), so an older answer's
    # [n] still opens its own source
    return {"turns": [], "display": [], "panels": []}


def _articles_for(pipeline: Pipeline, answer: Answer) -> dict[str, Article | None]:
    found: dict[str, Article | None] = {}
    for item in render.source_items(answer):
        if item.article_id not in found:
            try:
                found[item.article_id] = pipeline.get_article(item.article_id)
            except NotFoundError:
                found[item.article_id] = None
    return found


def respond(
    pipeline: Pipeline, settings: Settings, message: str, state: dict[str, Any],
    since: str | None = None, until: str | None = None, inline: bool = False,
    include_undated: bool | None = None,
) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """The chat event: yields (chatbot, sources, copy text, state, textbox) as the answer grows.
    `inline` (the embed page) puts each answer's sources inside its bubble instead."""
    message = (message or "").strip()
    if not message:
        yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    turns = [Turn(t["role"], t["content"]) for t in state.get("turns", [])]
    try:  # before the message is echoed: a lone surrogate cannot be sent back to the page
        require_unicode(message, "The question")
    except InputError as exc:
        bubble = {"role": "assistant", "content": f"**Error:** {render.md_escape(str(exc))}"}
        yield [*state.get("display", []), bubble], gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    display = [*state.get("display", []), {"role": "user", "content": render.md_escape(message)}]
    bubble = {"role": "assistant", "content": "…"}
    yield [*display, bubble], gr.skip(), gr.skip(), gr.skip(), ""

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
                bubble = {"role": "assistant", "content": render.partial_markdown(text)}
                yield [*display, bubble], gr.skip(), gr.skip(), gr.skip(), gr.skip()
    except NewsragError as exc:  # an expected failure becomes a chat message
        bubble = {"role": "assistant", "content": f"**Error:** {render.md_escape(str(exc))}"}
        yield [*display, bubble], gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return
    if answer is None:
        raise gr.Error("The answer stream ended without an answer.")

    panels = list(state.get("panels", []))
    k = len(panels) + 1  # this answer's number: its cards' ids are its own
    articles = _articles_for(pipeline, answer)
    if inline:
        content = render.chat_message(answer, k, render.inline_sources(answer, articles, k))
    else:
        content = render.chat_message(answer, k)
    note = undated_note(answer.undated_left_out)
    if note:
        content += f"\n\n*{render.md_escape(note)}*"
    panels.append("" if inline else render.sources_html(answer, articles, k, message))
    bubble = {"role": "assistant", "content": content}
    new_state = {
        "turns": [*state.get("turns", []), {"role": "user", "content": message},
                  {"role": "assistant", "content": answer.text}],
        "display": [*display, bubble],
        "panels": panels,
    }
    sources = render.sources_panel([p for p in panels if p])
    yield new_state["display"], sources, render.copy_text(answer), new_state, gr.skip()


def clear_chat() -> tuple[Any, ...]:
    return [], render.sources_panel([]), "", _new_state(), ""


def chat_api(pipeline: Pipeline, message: str,
             history: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The pinned `/chat` endpoint for gradio_client: the Answer JSON of the CLI contract."""
    turns = [Turn(str(t.get("role", "")), str(t.get("content", ""))) for t in history or []]
    try:
        require_unicode([message, history], "The request")
        return pipeline.ask(message, history=turns).to_dict()
    except NewsragError as exc:
        raise gr.Error(str(exc)) from exc


# --- articles tab ----------------------------------------------------------------------------


ARTICLES_SHOWN = 200  # the newest; a large archive is browsed through the API or the CLI


def list_view(pipeline: Pipeline) -> tuple[str, Any]:
    rows = pipeline.list_articles(ARTICLES_SHOWN)
    return render.articles_table(rows, pipeline.article_count()), gr.update(
        choices=[render.article_choice(r) for r in rows], value=None
    )


def upload_files(pipeline: Pipeline, settings: Settings, paths: list[str] | None,
                 received: Collection[str], replace: bool = False,
                 cancelled: Callable[[], bool] | None = None) -> tuple[str, str, Any]:
    """Ingest the files of an upload event, all or none; `received` are the paths Gradio itself
    wrote for this client's uploads (a path in the event is client data: refused unless Gradio
    wrote it for the same client). `cancelled()` turns true when the client is gone: the
    ingest then stops with whole articles stored, and says so."""
    files: list[tuple[str, bytes]] = []
    problems: list[str] = []
    for p in paths or []:
        path = Path(p)
        try:
            if p not in received:
                raise InputError(f"{path.name} was not uploaded to this server.",
                                 hint="Upload the file again with the upload button.")
            with path.open("rb") as f:  # one byte over the limit says it is too large
                files.append((path.name, f.read(settings.max_file_bytes + 1)))
        except NewsragError as exc:
            problems.append(f"{path.name}: {exc}")
    reports: list[IngestReport] = []
    note = ""
    if files and not problems:
        try:
            reports.append(pipeline.ingest_uploads(files, replace=replace, cancelled=cancelled))
        except IngestCancelledError as exc:  # nobody may read the status: the log says it too
            log.warning("Upload of %s: %s", ", ".join(n for n, _ in files), exc)
            reports.append(exc.report)
            note = f"\n{exc}"
        except UploadRejectedError as exc:
            problems += [f"{name}: {e}" for name, e in exc.problems]
        except NewsragError as exc:
            problems.append(f"{files[0][0]}: {exc}" if len(files) == 1 else str(exc))
    status = render.ingest_summary(reports, problems) + note
    table, choices = list_view(pipeline)
    return status, table, choices


def confirm_delete(pipeline: Pipeline, article_id: str | None) -> tuple[Any, str, str | None, str]:
    """The first click on Delete: (confirm row, its question, the id it asks about, status).
    The id is kept apart from the dropdown, so "Yes" deletes what the question named."""
    if not article_id:
        return gr.update(visible=False), "", None, "Choose an article to delete first."
    try:
        article = pipeline.get_article(article_id)
    except NewsragError as exc:
        return gr.update(visible=False), "", None, str(exc)
    return gr.update(visible=True), render.delete_question(article), article_id, ""


def delete_selected(pipeline: Pipeline, article_id: str | None) -> tuple[str, str, Any]:
    if not article_id:
        status = "Choose an article to delete first."
    else:
        try:
            title = pipeline.get_article(article_id).title
            pipeline.delete_article(article_id)
            status = f"Deleted “{title}” ({article_id})."
        except NewsragError as exc:
            status = str(exc)
    table, choices = list_view(pipeline)
    return status, table, choices


# --- the page --------------------------------------------------------------------------------


def _chatbot(height: int, examples: bool) -> gr.Chatbot:
    return gr.Chatbot(
        label="Chat", elem_id="nr-chat", height=height,
        examples=[{"text": q} for q in EXAMPLES] if examples else None,
        placeholder="Ask a question about the articles. Every claim is cited [n].",
        latex_delimiters=[], sanitize_html=True, buttons=["copy"],
        feedback_options=None,
    )


def build_ui(pipeline: Pipeline, settings: Settings,
             clients: ClientRegistry | None = None) -> gr.Blocks:
    """The full page: chat with a sources panel, and the Articles tab. `clients` knows which
    uploads came from which client (ui/clients.py); without it only Gradio's own check runs."""
    demo: gr.Blocks
    with gr.Blocks(title="newsrag") as demo:
        gr.Markdown("## newsrag · cited answers from news articles")
        state = gr.State(_new_state())
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = _chatbot(520, examples=True)
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
                    clear = gr.Button("Clear chat", elem_id="nr-clear")
                    copy = gr.Button("Copy answer with sources", elem_id="nr-copy")
                with gr.Accordion("Answer with sources (plain text)", open=False):
                    copy_box = gr.Textbox(show_label=False, lines=5, interactive=False,
                                          buttons=["copy"], elem_id="nr-copy-text")
            with gr.Column(scale=2):
                sources = gr.HTML(render.sources_panel([]), elem_id="nr-sources")

        with gr.Tab("Articles"):
            table = gr.HTML(elem_id="nr-articles")
            refresh = gr.Button("Refresh list", size="sm")
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

        def on_ask(message: str, st: dict[str, Any], lo: str, hi: str, und: bool
                   ) -> Iterator[tuple[Any, ...]]:
            yield from respond(pipeline, settings, message, st, lo, hi, include_undated=und)

        def on_example(st: dict[str, Any], lo: str, hi: str, und: bool,
                       evt: gr.SelectData) -> Iterator[tuple[Any, ...]]:
            value = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)
            yield from respond(pipeline, settings, value, st, lo, hi, include_undated=und)

        chat_out = [chatbot, sources, copy_box, state, box]
        private: dict[str, Any] = {"api_visibility": "private"}
        box.submit(on_ask, [box, state, since, until, undated], chat_out, **private)
        ask.click(on_ask, [box, state, since, until, undated], chat_out, **private)
        chatbot.example_select(on_example, [state, since, until, undated], chat_out, **private)
        clear.click(clear_chat, None, chat_out, **private)
        copy.click(None, [copy_box], None, js=_COPY_JS, **private)

        def on_list() -> tuple[str, Any]:
            return list_view(pipeline)

        def on_upload(paths: list[str] | None, replace_same: bool,
                      request: gr.Request) -> tuple[str, str, Any]:
            if clients is None:
                return upload_files(pipeline, settings, paths, demo.upload_file_set,
                                    replace_same)
            registry, session = clients, request.session_hash
            mine = registry.files_of(client_id(request.headers)) & set(demo.upload_file_set)
            return upload_files(pipeline, settings, paths, mine, replace_same,
                                cancelled=lambda: registry.is_gone(session))

        def on_confirm(article_id: str | None) -> tuple[Any, str, str | None, str]:
            return confirm_delete(pipeline, article_id)

        def on_delete(article_id: str | None) -> tuple[str, str, Any, Any, None]:
            return (*delete_selected(pipeline, article_id), gr.update(visible=False), None)

        def on_keep() -> tuple[Any, None, str]:
            return gr.update(visible=False), None, "Nothing was deleted."

        demo.load(on_list, None, [table, pick], **private)
        refresh.click(on_list, None, [table, pick], **private)
        files.upload(on_upload, [files, replace], [status, table, pick], **private)
        delete.click(on_confirm, [pick], [confirm_row, question, pending, status], **private)
        yes.click(on_delete, [pending], [status, table, pick, confirm_row, pending], **private)
        no.click(on_keep, None, [confirm_row, pending, status], **private)
        pick.change(lambda: (gr.update(visible=False), None), None, [confirm_row, pending],
                    **private)

        def chat(message: str, history: list[dict[str, str]] | None = None) -> dict[str, Any]:
            """Answer a question about the articles. Returns the newsrag Answer JSON:
            answer text with [n] markers, citations (title, date, quote, span), abstained."""
            return chat_api(pipeline, message, history)

        gr.api(chat, api_name="chat")  # type: ignore[attr-defined]
    return demo


def build_embed(pipeline: Pipeline, settings: Settings) -> gr.Blocks:
    """The page for an <iframe> on another site (/embed): the chat only, compact, each
    answer's sources inside its bubble, opening inline."""
    demo: gr.Blocks
    with gr.Blocks(title="newsrag", fill_height=True) as demo:
        state = gr.State(_new_state())
        chatbot = _chatbot(460, examples=False)
        with gr.Row():
            box = gr.Textbox(show_label=False, placeholder="Ask about the articles…",
                             elem_id="nr-question", scale=5, autofocus=True)
            ask = gr.Button("Ask", variant="primary", elem_id="nr-ask", scale=1, min_width=60)

        def on_ask(message: str, st: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
            for chat_, _sources, _copy, st_, box_ in respond(pipeline, settings, message, st,
                                                           inline=True):
                yield chat_, st_, box_

        private: dict[str, Any] = {"api_visibility": "private"}
        box.submit(on_ask, [box, state], [chatbot, state, box], **private)
        ask.click(on_ask, [box, state], [chatbot, state, box], **private)
    return demo


_COPY_JS = """
(text) => {
  if (text && navigator.clipboard) { navigator.clipboard.writeText(text); }
  return [];
}
"""
