"""The date bench's denominator: which first lines state when the article appeared.

bench/date_accuracy.py decides it by its own rules, independent of rag/dates.py; these are
hand-worked lines, a dateline or a date the text only talks about.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "date_accuracy.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("date_accuracy", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("line", [
    "Oct. 20, 2025, 11:53 a.m. ET",
    "Updated 3:05 PM EDT, Tue March 4, 2025",
    "Published: April 21, 2024",
    "date 2024-06-02",
    "Mon 4 Mar 2025 10.30 GMT",
    "Posted 2 hours ago",
    "The Valley Herald | April 14, 2016",
    "Story by Jane Doe | Photos and video by Tom Poe | Dec. 10, 2015",
])
def test_a_line_that_states_when_is_a_dateline(line: str) -> None:
    assert _bench()._is_dateline(line)


@pytest.mark.parametrize("line", [
    "Birth date: January 25, 1978",  # a profile's field
    "Nov. 5, 2024: Election Day",  # a timeline entry
    "Primary Election: March 12, 2024",  # a label's date
    "1. 15 May 2020",  # a numbered entry
    "Leap Day is Thursday, Feb. 29, 2024.",  # a sentence
    "Who won the jackpot on Jan. 13, 2016?",  # a question
    "This story was first told on Feb. 4, 2014, by a reader.",
])
def test_a_line_that_mentions_a_date_is_no_dateline(line: str) -> None:
    assert not _bench()._is_dateline(line)


def test_the_denominator_reads_only_the_first_lines() -> None:
    bench = _bench()
    assert bench.head_has_dateline("Headline\nBy Jane Doe\nMay 2, 2024\nThe body.")
    assert not bench.head_has_dateline("\n".join(["A line of the body, told."] * 6)
                                       + "\nMay 2, 2024")
