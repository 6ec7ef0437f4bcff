"""The date filter in a real browser: it says how many undated articles it left out, and the
"Include undated articles" box takes them in (issue 15 item 3)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from rag.pipeline import Pipeline
from rag.serve import BackgroundServer, free_port, prepare
from rag.settings import Settings
from ui.server import create_server_app

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# No date in its text or metadata: ingest leaves it undated.
UNDATED = ("Qelt lake regatta\n\nThe Varnholt rowing club won the Qelt lake regatta, its "
           "organisers said, beating six other crews over two kilometres.\n")
QUESTION = "Who won the Qelt lake regatta?"


@pytest.fixture(scope="module")
def live_undated(tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[BackgroundServer, Pipeline]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = tmp_path_factory.mktemp("undated")
    settings = Settings.load({"index_dir": folder / "index"}, env={})
    pipeline = prepare(settings)
    story = folder / "regatta.txt"
    story.write_text(UNDATED, encoding="utf-8")
    pipeline.ingest([story])
    (article,) = [a for a in pipeline.list_articles() if "Qelt" in a.title]
    assert article.date is None  # the premise: nothing dates it
    with BackgroundServer(create_server_app(pipeline, settings, api_key=""), free_port()) as srv:
        yield srv, pipeline
    pipeline.close()


def test_a_date_filter_says_it_left_an_undated_article_out_and_the_box_takes_it_in(
        live_undated: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, _ = live_undated
    page.goto(server.url + "/")
    page.fill("#nr-since textarea, #nr-since input", "2000-01-01")
    undated_box = page.locator("#nr-undated input[type=checkbox]")
    assert not undated_box.is_checked()  # the setting's default

    page.fill("#nr-question textarea", QUESTION)
    page.click("#nr-ask")
    page.wait_for_function(
        "document.querySelector('#nr-chat').innerText.includes('left out')")
    first = page.locator("#nr-chat").inner_text()
    # the regatta story, and any undated sample article the search also found
    assert re.search(r"\b\d+ undated articles? (?:was|were) left out", first)
    assert "Varnholt" not in first  # it was not read

    undated_box.check()
    page.fill("#nr-question textarea", QUESTION)
    page.click("#nr-ask")
    page.wait_for_function(
        "document.querySelectorAll('#nr-chat a.nr-cite').length > 0")
    chat = page.locator("#nr-chat").inner_text()
    assert "Varnholt" in chat  # answered from the undated article, cited
    assert chat.count("left out") == 1  # the second answer leaves nothing out
    assert "Qelt" in page.locator("#nr-sources").inner_text()


def test_without_a_date_filter_no_undated_article_is_left_out(
        live_undated: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, _ = live_undated
    page.goto(server.url + "/")
    page.fill("#nr-question textarea", "When must US troops leave Niger?")
    page.click("#nr-ask")  # no date filter: undated articles are searched like any other
    page.wait_for_function("document.querySelectorAll('#nr-chat a.nr-cite').length > 0")
    assert "left out" not in page.locator("#nr-chat").inner_text()

