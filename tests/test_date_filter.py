"""`since`/`until` filter retrieval in the store (Chroma `where` + SQL), so every edge shares it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.dates import DateRange, date_range
from rag.errors import InputError
from rag.pipeline import Pipeline


def _corpus(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    rows = [
        {"title": "April talks on troops", "date": "2024-04-20",
         "text": "Officials met to discuss the troops. No timeline has been set for the exit."},
        {"title": "May deal on troops", "date": "2024-05-20",
         "text": "Officials agreed the troops leave no later than September 15 under the deal."},
        {"title": "Undated column on troops",
         "text": "A columnist wrote about the troops and their exit from the country."},
    ]
    (d / "feed.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    return d


def _dates_of(pipe: Pipeline, **kw: str) -> set[str | None]:
    return {p.date for p in pipe.retrieve("troops exit timeline", top_k=10, **kw)}


def test_since_and_until_keep_only_articles_dated_in_range(fake_pipeline: Pipeline,
                                                          tmp_path: Path) -> None:
    fake_pipeline.ingest([_corpus(tmp_path)])
    assert _dates_of(fake_pipeline) == {"2024-04-20", "2024-05-20", None}
    assert _dates_of(fake_pipeline, since="2024-05-01") == {"2024-05-20"}
    assert _dates_of(fake_pipeline, until="2024-04-30") == {"2024-04-20"}
    assert _dates_of(fake_pipeline, since="2024-04-01", until="2024-05-31") == {
        "2024-04-20", "2024-05-20"}
    assert _dates_of(fake_pipeline, since="2025-01-01") == set()


def test_the_answer_respects_the_range(fake_pipeline: Pipeline, tmp_path: Path) -> None:
    fake_pipeline.ingest([_corpus(tmp_path)])
    answer = fake_pipeline.ask("What timeline was set for the troops?", until="2024-04-30")
    assert all(c.date == "2024-04-20" for c in answer.citations)


@pytest.mark.parametrize(("since", "until"), [("yesterday", None), ("2024-05-02", "2024-05-01")])
def test_bad_ranges_are_input_errors(since: str, until: str | None) -> None:
    with pytest.raises(InputError):
        date_range(since, until)


def test_a_range_leaves_out_undated_articles() -> None:
    assert DateRange().contains(None)
    assert not DateRange(since="2024-01-01").contains(None)
    assert not DateRange(until="2024-01-01").contains(None)
    assert DateRange("2024-01-01", "2024-01-31").contains("2024-01-31")
