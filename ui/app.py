"""The Gradio page: a thin adapter from events to `Pipeline` calls and `ui.render` strings.

No retrieval or answer logic lives here. Citations are read from `Answer.citations`; the chat
history handed back to the pipeline is the raw answer text kept in session state, never the
rendered bubbles.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from rag.errors import (
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

EXAMPLES = [
    "When must US troops leave Niger?",
    "How many US troops are in Niger?",
    "Why did Niger end its military agreement with the US?",
    "Who leads Niger's military government?",
]
UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom"]

# Our own page script (passed as `head` when mounting): clicking a `[n]` marker opens the
# matching source card and scrolls its highlighted span into view. Event delegation on the
# document, because the chat bubbles are re-rendered on every streamed update.
HEAD = """
<script>
(function () {
  function openSource(details) {
    details.open = true;
    var target = details.querySelector('mark.nr-hl') || details;
    target.scrollIntoView({block: 'center'});
  }
  document.addEventListener('click', function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest('a.nr-cite') : null;
    if (!a) return;
    ev.preventDefault();
    ev.stopPropagation();
    var id = (a.getAttribute('href') || '').replace('#', '');
    var details = document.getElementById(id);
    if (details) openSource(details);
  }, true);
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
.nr-articles { width: 100%; border-collapse: collapse; }
.nr-articles td, .nr-articles th { border-bottom: 1px solid var(--border-color-primary);
  padding: 4px 6px; text-align: left; vertical-align: top; }
.nr-num { text-align: right; }
"""


def _new_state() -> dict[str, Any]:
    # turns: raw text for the pipeline; display: rendered bubbles for the Chatbot
    return {"turns": [], "display": []}


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
    since: str | None = None, until: str | None = None,
) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """The chat event: yields (chatbot, sources, copy text, state, textbox) as the answer grows."""
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
    try:
        for item in pipeline.ask_stream(message, history=turns, top_k=settings.top_k,
                                        since=(since or "").strip() or None,
                                        until=(until or "").strip() or None):
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

    bubble = {"role": "assistant", "content": render.chat_message(answer)}
    new_state = {
        "turns": [*state.get("turns", []), {"role": "user", "content": message},
                  {"role": "assistant", "content": answer.text}],
        "display": [*display, bubble],
    }
    sources = render.sources_html(answer, _articles_for(pipeline, answer))
    yield new_state["display"], sources, render.copy_text(answer), new_state, gr.skip()


def clear_chat() -> tuple[Any, ...]:
    return [], render.sources_html(None, {}), "", _new_state(), ""


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
                 received: Collection[str], replace: bool = False) -> tuple[str, str, Any]:
    """Ingest the files of an upload event, all or none; `received` are the paths Gradio itself
    wrote for uploads (a path in the event is client data: refused unless Gradio wrote it)."""
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
    if files and not problems:
        try:
            reports.append(pipeline.ingest_uploads(files, replace=replace))
        except UploadRejectedError as exc:
            problems += [f"{name}: {e}" for name, e in exc.problems]
        except NewsragError as exc:
            problems.append(f"{files[0][0]}: {exc}" if len(files) == 1 else str(exc))
    status = render.ingest_summary(reports, problems)
    table, choices = list_view(pipeline)
    return status, table, choices


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


def build_ui(pipeline: Pipeline, settings: Settings) -> gr.Blocks:
    demo: gr.Blocks
    with gr.Blocks(title="newsrag") as demo:
        gr.Markdown("## newsrag · cited answers from news articles")
        state = gr.State(_new_state())
        with gr.Tab("Chat"), gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat", elem_id="nr-chat", height=520,
                    examples=[{"text": q} for q in EXAMPLES],
                    placeholder="Ask a question about the articles. Every claim is cited [n].",
                    latex_delimiters=[], sanitize_html=True, buttons=["copy"],
                    feedback_options=None,
                )
                with gr.Row():
                    box = gr.Textbox(show_label=False, placeholder="Ask about the articles…",
                                     elem_id="nr-question", scale=5, autofocus=True)
                    ask = gr.Button("Ask", variant="primary", elem_id="nr-ask", scale=1)
                with gr.Row():  # optional: only articles published in this range
                    since = gr.Textbox(label="Since (YYYY-MM-DD)", elem_id="nr-since", scale=1)
                    until = gr.Textbox(label="Until (YYYY-MM-DD)", elem_id="nr-until", scale=1)
                with gr.Row():
                    clear = gr.Button("Clear chat", elem_id="nr-clear")
                    copy = gr.Button("Copy answer with sources", elem_id="nr-copy")
                with gr.Accordion("Answer with sources (plain text)", open=False):
                    copy_box = gr.Textbox(show_label=False, lines=5, interactive=False,
                                          buttons=["copy"], elem_id="nr-copy-text")
            with gr.Column(scale=2):
                sources = gr.HTML(render.sources_html(None, {}), elem_id="nr-sources")

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

        def on_ask(message: str, st: dict[str, Any], lo: str, hi: str
                   ) -> Iterator[tuple[Any, ...]]:
            yield from respond(pipeline, settings, message, st, lo, hi)

        def on_example(st: dict[str, Any], lo: str, hi: str,
                       evt: gr.SelectData) -> Iterator[tuple[Any, ...]]:
            value = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value)
            yield from respond(pipeline, settings, value, st, lo, hi)

        chat_out = [chatbot, sources, copy_box, state, box]
        private: dict[str, Any] = {"api_visibility": "private"}
        box.submit(on_ask, [box, state, since, until], chat_out, **private)
        ask.click(on_ask, [box, state, since, until], chat_out, **private)
        chatbot.example_select(on_example, [state, since, until], chat_out, **private)
        clear.click(clear_chat, None, chat_out, **private)
        copy.click(None, [copy_box], None, js=_COPY_JS, **private)

        def on_list() -> tuple[str, Any]:
            return list_view(pipeline)

        def on_upload(paths: list[str] | None, replace_same: bool) -> tuple[str, str, Any]:
            return upload_files(pipeline, settings, paths, demo.upload_file_set, replace_same)

        def on_delete(article_id: str | None) -> tuple[str, str, Any]:
            return delete_selected(pipeline, article_id)

        demo.load(on_list, None, [table, pick], **private)
        refresh.click(on_list, None, [table, pick], **private)
        files.upload(on_upload, [files, replace], [status, table, pick], **private)
        delete.click(on_delete, [pick], [status, table, pick], **private)

        def chat(message: str, history: list[dict[str, str]] | None = None) -> dict[str, Any]:
            """Answer a question about the articles. Returns the newsrag Answer JSON:
            answer text with [n] markers, citations (title, date, quote, span), abstained."""
            return chat_api(pipeline, message, history)

        gr.api(chat, api_name="chat")  # type: ignore[attr-defined]
    return demo


_COPY_JS = """
(text) => {
  if (text && navigator.clipboard) { navigator.clipboard.writeText(text); }
  return [];
}
"""
