"""Test-only helpers shared by the browser tests: an LLM backend that holds its answer
mid-stream (`HeldLLM`, served by conftest's `held` fixture, and `ask_held` to send a question
to it), what the server kept for the browser under test (`kept_chats`, `wait_kept`), and
reopening a kept conversation (`reopen`)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.history import History
from ui.clients import COOKIE


class HeldLLM:
    """A model that streams the first words of its reply, then holds the rest until the test
    lets it go: the answer is on its way, for as long as the test needs."""

    name = "held"

    def __init__(self, first: str, rest: str) -> None:
        self.first, self.rest = first, rest
        self.holding = threading.Event()  # the first words are out
        self.release = threading.Event()

    def hold(self) -> None:
        """The next reply is held again (after an earlier test released one)."""
        self.holding.clear()
        self.release.clear()

    def complete(self, messages: Sequence[dict[str, str]], max_tokens: int) -> Iterator[str]:
        words = self.first.split(" ")
        yield from (w if i == 0 else " " + w for i, w in enumerate(words))
        if not self.release.is_set():
            self.holding.set()
            self.release.wait(timeout=120)  # never a server thread stuck for good
        yield from (" " + w for w in self.rest.split(" "))


def kept_chats(index_dir: Path, page: Any) -> list[tuple[str, list[str]]]:
    """This browser's kept conversations, as the server stored them: (collection, questions),
    newest first."""
    client = next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)
    history = History.beside(index_dir)
    try:
        return [(c.collection, [t.question for t in history.conversation(client, c.id).turns])
                for c in history.conversations(client)]
    finally:
        history.close()


def ask_held(page: Any, llm: HeldLLM, question: str) -> None:
    """Send `question` and wait until its answer is streaming: its first words on screen, the
    rest held."""
    page.fill("#nr-question textarea", question)
    page.click("#nr-ask")
    page.wait_for_function(
        "t => [...document.querySelectorAll('#nr-chat .bot-row')].at(-1)?.innerText.includes(t)",
        arg=llm.first)
    # The words are on screen a moment before the server resumes the stream and the model
    # marks itself held (seen once on a loaded machine): wait for that, do not race it.
    assert llm.holding.wait(timeout=30) and not llm.release.is_set()


def wait_kept(index_dir: Path, page: Any, question: str) -> None:
    """Wait until the answer to `question` is kept, then a little more: anything its finished
    stream still sends to the page has landed."""
    deadline = time.monotonic() + 60
    while not [c for c in kept_chats(index_dir, page) if question in c[1]]:
        assert time.monotonic() < deadline, f"the answer to {question!r} was never kept"
        time.sleep(0.2)
    page.wait_for_timeout(1500)


def reopen(page: Any, title: str, answers: int) -> None:
    """Open the kept conversation `title`, and wait for its `answers` answers on screen."""
    page.click("#nr-past input")
    page.get_by_role("option", name=re.compile("^" + re.escape(title))).click()
    page.wait_for_function("t => document.querySelector('#nr-past input').value.startsWith(t)",
                           arg=title)
    page.click("#nr-past-open")
    page.wait_for_function(
        "document.querySelector('#nr-past-status').innerText.includes('Reopened')")
    page.wait_for_function(
        "n => document.querySelectorAll('#nr-chat .nr-copy-src').length === n", arg=answers)
