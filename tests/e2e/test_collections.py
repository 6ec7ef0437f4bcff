"""The collection selector in a real browser: switching archive changes what the chat answers
from and what the Articles tab lists."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from rag.pipeline import Pipeline
from rag.serve import BackgroundServer
from tests.e2e.test_browser import _ask

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CRICKET = ("Cricket final\n\nThe cricket final was won by Zanzibar on 3 March 2024 at the "
           "national stadium in Stone Town. The captain said it was the best day of his life.\n")


def _choose(page: Any, name: str) -> None:
    page.click("#nr-collection input")
    page.get_by_role("option", name=re.compile(rf"^{name} \(")).click()


def test_switching_collection_answers_and_lists_from_that_archive(
        live: tuple[BackgroundServer, Pipeline], page: Any) -> None:
    server, _ = live
    r = httpx.post(server.url + "/api/articles", params={"collection": "sports"},
                   files={"file": ("cricket.txt", CRICKET.encode())}, timeout=60)
    assert r.status_code == 201, r.text
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
