"""The whole pipeline with a real Chroma and SQLite on disk and the fake embedder."""

import re
import threading
from pathlib import Path

import pytest

from rag.errors import InputError, NotFoundError
from rag.pipeline import Pipeline
from rag.types import Turn
from tests.conftest import SAMPLE_DIR


def test_first_use_ingests_the_sample_corpus_once(fake_pipeline: Pipeline) -> None:
    report = fake_pipeline.ensure_sample_corpus()
    assert report is not None and len(report.added) == 5
    assert fake_pipeline.ensure_sample_corpus() is None  # not on later uses
    for a in list(fake_pipeline.list_articles()):
        fake_pipeline.delete_article(a.id)
    assert fake_pipeline.ensure_sample_corpus() is None  # an emptied index stays empty


def test_reingesting_the_same_content_adds_nothing(fake_pipeline: Pipeline) -> None:
    first = fake_pipeline.ingest([SAMPLE_DIR])
    stats = fake_pipeline.stats()
    second = fake_pipeline.ingest([SAMPLE_DIR])
    assert len(first.added) == 5 and first.chunks_added == stats["chunks"]
    assert second.added == () and len(second.unchanged) == 5 and second.chunks_added == 0
    assert fake_pipeline.stats() == stats
    assert fake_pipeline.store.vector_count() == stats["chunks"]


def test_changed_content_from_the_same_file_replaces_the_old_version(
    fake_pipeline: Pipeline, tmp_path: Path
) -> None:
    f = tmp_path / "story.txt"
    f.write_text("Mayor Ada Brown opened the new bridge on Monday.")
    old = fake_pipeline.ingest([f]).added[0]
    f.write_text("Mayor Ada Brown closed the new bridge on Tuesday after cracks appeared.")
    report = fake_pipeline.ingest([f])
    assert report.removed == (old,) and len(report.replaced) == 1
    assert [a.id for a in fake_pipeline.list_articles()] == list(report.replaced)
    with pytest.raises(NotFoundError):
        fake_pipeline.get_article(old)


def test_a_bad_file_among_good_ones_writes_nothing(fake_pipeline: Pipeline,
                                                    tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("A perfectly good article sentence.")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="Nothing was ingested.*malformed JSON"):
        fake_pipeline.ingest([tmp_path])
    assert fake_pipeline.list_articles() == []
    report = fake_pipeline.ingest([tmp_path], skip_errors=True)
    assert len(report.added) == 1 and report.errors[0][0].endswith("bad.json")


def test_every_marker_has_a_citation_whose_span_round_trips(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest([SAMPLE_DIR])
    questions = ["When will US troops leave Niger?", "How many American troops are in Niger?",
                 "Where is the drone base?", "Which countries did Niger turn away from?"]
    answered = 0
    for q in questions:
        ans = fake_pipeline.ask(q)
        markers = {int(n) for n in re.findall(r"\[(\d+)\]", ans.text)}
        assert markers == {c.n for c in ans.citations}
        for c in ans.citations:
            art = fake_pipeline.get_article(c.article_id)
            assert art.text[c.start:c.end] == c.quote
            assert c.title == art.title and c.date == art.date
        answered += not ans.abstained
        assert set(ans.timings_ms) >= {"retrieve", "rerank", "answer", "total"}
    assert answered >= 2


def test_empty_index_abstains_with_a_hint(fake_pipeline: Pipeline) -> None:
    ans = fake_pipeline.ask("When must US troops leave Niger?")
    assert ans.abstained and "newsrag ingest" in ans.text and ans.citations == ()


@pytest.mark.parametrize("question", ["", "   \n\t", "x" * 2001, "\x00\x01"])
def test_bad_questions_are_rejected(fake_pipeline: Pipeline, question: str) -> None:
    with pytest.raises(InputError):
        fake_pipeline.ask(question)


def test_ask_stream_yields_the_text_then_the_answer(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest([SAMPLE_DIR])
    events = list(fake_pipeline.ask_stream("Where is the drone base?"))
    *deltas, final = events
    assert all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == final.text  # type: ignore[union-attr]


def test_follow_up_uses_the_history(fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest([SAMPLE_DIR])
    history = [Turn("user", "Where is the US drone base in Niger?"),
               Turn("assistant", "In Agadez [1].")]
    ans = fake_pipeline.ask("How much did it cost?", history=history)
    assert ans.standalone_question and "drone base" in ans.standalone_question


def test_concurrent_asks_and_an_ingest_do_not_interfere(fake_pipeline: Pipeline,
                                                          tmp_path: Path) -> None:
    fake_pipeline.ingest([SAMPLE_DIR])
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            for _ in range(5):
                assert fake_pipeline.ask("When will US troops leave Niger?").text
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    (tmp_path / "extra.txt").write_text("An unrelated story about a village fair and its cakes.")
    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    fake_pipeline.ingest([tmp_path / "extra.txt"])
    for t in threads:
        t.join()
    assert errors == []
    assert len(fake_pipeline.list_articles()) == 6


def _stories(n: int) -> bytes:
    import json

    return "\n".join(json.dumps({"title": f"Story {i}", "text": f"Harbour crane {i} was "
                                 f"repaired on day {i}. " * 30}) for i in range(n)).encode()


def _whole(pipe: Pipeline) -> bool:
    """Every stored article has all its chunks, and Chroma holds exactly those chunks."""
    stats = pipe.stats()
    return (sum(a.chunks for a in pipe.list_articles()) == stats["chunks"]
            == pipe.store.vector_count())


def test_a_cancelled_upload_stops_between_articles_and_stores_them_whole(
        fake_pipeline: Pipeline) -> None:
    from rag.errors import IngestCancelledError

    def cancelled() -> bool:  # the client leaves once two articles are stored
        return fake_pipeline.article_count() >= 2

    with pytest.raises(IngestCancelledError, match="2 of 10 article") as err:
        fake_pipeline.ingest_uploads([("feed.jsonl", _stories(10))], cancelled=cancelled)
    assert len(err.value.report.added) == 2
    assert {a.id for a in fake_pipeline.list_articles()} == set(err.value.report.added)
    assert _whole(fake_pipeline)
    again = fake_pipeline.ingest_uploads([("feed.jsonl", _stories(10))])  # the rest, later
    assert len(again.added) == 8 and len(again.unchanged) == 2 and _whole(fake_pipeline)


def test_a_cancel_inside_one_large_article_stores_nothing_of_it(
        fake_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.pipeline
    from rag.errors import IngestCancelledError

    monkeypatch.setattr(rag.pipeline, "_CANCEL_SLICE", 4)
    looks = 0

    def cancelled() -> bool:  # past the look before the article: during its embedding
        nonlocal looks
        looks += 1
        return looks > 2

    big = ("Big story\n\n" + " ".join(f"Sentence {i} is here." for i in range(200))).encode()
    with pytest.raises(IngestCancelledError, match="0 of 1"):
        fake_pipeline.ingest_uploads([("big.txt", big)], cancelled=cancelled)
    assert fake_pipeline.list_articles() == [] and _whole(fake_pipeline)


def test_find_articles_matches_title_or_source_in_any_case_a_page_at_a_time(
        fake_pipeline: Pipeline) -> None:
    fake_pipeline.ingest([SAMPLE_DIR])
    every = fake_pipeline.list_articles()
    page, total = fake_pipeline.find_articles("", limit=2)
    assert (page, total) == (every[:2], len(every))  # no query: all, newest first
    niger = [a for a in every if "niger" in a.title.lower()]
    assert niger and fake_pipeline.find_articles("NIGER", limit=100) == (niger, len(niger))
    by_file = fake_pipeline.find_articles(every[0].source[:8], limit=100)[0]
    assert every[0] in by_file
    second, total = fake_pipeline.find_articles("niger", limit=1, offset=1)
    assert second == niger[1:2] and total == len(niger)
    assert fake_pipeline.find_articles("zzz-no-such-thing", limit=10) == ([], 0)
