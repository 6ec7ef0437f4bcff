"""The Articles tab's handlers: a page of the list (with search), the reader view, uploads and
delete with its confirmation. Each takes the pipeline of the collection on screen and returns
what the page shows (`ui.render` strings, Gradio updates); the store does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import gradio as gr

from rag.errors import (
    IngestCancelledError,
    InputError,
    NewsragError,
    UploadRejectedError,
)
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.text import require_unicode
from rag.types import IngestReport
from ui import render

log = logging.getLogger(__name__)


ARTICLES_PER_PAGE = 25


def list_view(pipeline: Pipeline, query: str = "", offset: int = 0) -> tuple[str, Any]:
    """A page of the article list (those whose title or source contains `query`): the table
    and the dropdown's choices."""
    table, choices, _label, _offset = articles_view(pipeline, query, offset)
    return table, choices


def articles_view(pipeline: Pipeline, query: str | None, offset: int | None
                  ) -> tuple[str, Any, str, int]:
    """(table, dropdown choices, page label, offset) for the page at `offset`; an offset past
    the last page shows the last page."""
    query = (query or "").strip()
    try:
        require_unicode(query, "The search")
    except InputError as exc:
        return render.esc(str(exc)), gr.skip(), "", 0
    offset = max(0, int(offset or 0))
    rows, total = pipeline.find_articles(query, ARTICLES_PER_PAGE, offset)
    if not rows and total and offset:
        offset = (total - 1) // ARTICLES_PER_PAGE * ARTICLES_PER_PAGE
        rows, total = pipeline.find_articles(query, ARTICLES_PER_PAGE, offset)
    choices = gr.update(choices=[render.article_choice(r) for r in rows], value=None)
    return (render.articles_page(rows, total, offset, query), choices,
            render.page_label(total, offset, ARTICLES_PER_PAGE), offset)


def read_article(pipeline: Pipeline, article_id: str | None) -> str:
    """The reader view of one article (the list's click, which adds `#<counter>`, or the
    dropdown)."""
    article_id = (article_id or "").split("#", 1)[0].strip()
    if not article_id:
        return render.article_reader(None)
    try:
        return render.article_reader(pipeline.get_article(article_id))
    except NewsragError as exc:
        return f'<p class="nr-empty">{render.esc(str(exc))}</p>'


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
