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


# --- issue 15 item 3: the undated articles a filter leaves out are counted, and can be let in ---

QUESTION = "What did the columnist write about the troops and their exit?"


def test_a_filtered_answer_says_how_many_undated_articles_it_left_out(
        fake_pipeline: Pipeline, tmp_path: Path) -> None:
    fake_pipeline.ingest([_corpus(tmp_path)])
    answer = fake_pipeline.ask(QUESTION, since="2024-04-01")
    assert answer.undated_left_out == 1
    assert answer.to_dict()["undated_left_out"] == 1
    assert all(c.date for c in answer.citations)
    unfiltered = fake_pipeline.ask(QUESTION)
    assert unfiltered.undated_left_out == 0 and "undated_left_out" not in unfiltered.to_dict()


def test_undated_articles_can_be_included_in_a_filtered_search(
        fake_pipeline: Pipeline, tmp_path: Path) -> None:
    fake_pipeline.ingest([_corpus(tmp_path)])
    assert _dates_of(fake_pipeline, since="2024-05-01") == {"2024-05-20"}
    got = {p.date for p in fake_pipeline.retrieve("troops exit timeline", top_k=10,
                                                  since="2024-05-01", include_undated=True)}
    assert got == {"2024-05-20", None}  # the April article stays out
    answer = fake_pipeline.ask(QUESTION, since="2024-04-01", include_undated=True)
    assert answer.undated_left_out == 0


def test_the_include_undated_setting_is_the_default_of_a_pipeline(tmp_path: Path) -> None:
    from rag.settings import Settings
    from tests.conftest import FakeEmbedder, make_settings

    assert Settings.load({}, env={"NEWSRAG_INCLUDE_UNDATED": "true"}).include_undated
    pipe = Pipeline(make_settings(tmp_path / "index", include_undated=True),
                    embedder=FakeEmbedder())
    try:
        pipe.ingest([_corpus(tmp_path)])
        assert None in {p.date for p in pipe.retrieve("troops exit", top_k=10, since="2024-05-01")}
        assert pipe.ask(QUESTION, since="2024-04-01", include_undated=False).undated_left_out == 1
    finally:
        pipe.close()


def test_a_range_with_undated_articles_included_contains_them() -> None:
    rng = date_range("2024-01-01", None, include_undated=True)
    assert rng.contains(None) and rng.contains("2024-02-01") and not rng.contains("2023-12-31")
    assert DateRange(since="2024-01-01").undated().bounds() == (0, 0)


def test_the_rendered_answer_names_the_undated_articles_left_out(
        fake_pipeline: Pipeline, tmp_path: Path) -> None:
    from rag.present import answer_as_text

    fake_pipeline.ingest([_corpus(tmp_path)])
    text = answer_as_text(fake_pipeline.ask(QUESTION, since="2024-04-01"))
    assert "1 undated article was left out: nothing says when it appeared." in text
    assert "left out" not in answer_as_text(fake_pipeline.ask(QUESTION, until="2024-12-31",
                                                             include_undated=True))


def test_the_api_takes_include_undated_and_reports_the_count(
        fake_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from rag.api import create_app

    fake_pipeline.ingest([_corpus(tmp_path)])
    monkeypatch.delenv("NEWSRAG_API_KEY", raising=False)
    client = TestClient(create_app(fake_pipeline, fake_pipeline.settings))
    body = {"question": QUESTION, "since": "2024-04-01"}
    assert client.post("/api/ask", json=body).json()["undated_left_out"] == 1
    r = client.post("/api/ask", json={**body, "include_undated": True})
    assert r.status_code == 200 and "undated_left_out" not in r.json()


def test_the_cli_says_what_it_left_out_and_includes_it_on_request(
        fake_pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from rag import cli

    fake_pipeline.ingest([_corpus(tmp_path)])
    monkeypatch.setattr(cli, "_pipeline", lambda s: fake_pipeline)
    monkeypatch.setattr(fake_pipeline, "close", lambda: None)
    argv = ["--index-dir", str(fake_pipeline.settings.index_dir), "ask", QUESTION,
            "--since", "2024-04-01"]
    assert cli.main(argv) == 0
    assert "1 undated article was left out" in capsys.readouterr().out
    assert cli.main([*argv, "--include-undated", "--json"]) == 0
    assert "undated_left_out" not in json.loads(capsys.readouterr().out)


def test_the_chat_says_what_it_left_out_and_its_checkbox_takes_undated_articles_in(
        fake_pipeline: Pipeline, tmp_path: Path) -> None:
    from ui.chat import new_state, respond

    fake_pipeline.ingest([_corpus(tmp_path)])

    def last_bubble(include: bool) -> str:
        *_, (chat, *_rest) = respond(fake_pipeline, fake_pipeline.settings, QUESTION,
                                     new_state(), "2024-04-01", None, include_undated=include)
        return str(chat[-1]["content"])

    assert "1 undated article was left out" in last_bubble(False)
    assert "left out" not in last_bubble(True)
