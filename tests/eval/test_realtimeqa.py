"""The RealTimeQA eval: scoring on hand-worked examples, the index cache on a real store with the
fake embedder, then one real week end to end when ../shared/realtimeqa exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag.errors import InputError
from rag.eval import realtimeqa as er
from rag.eval import realtimeqa_report as rr
from rag.eval import rtqa, rtqa_cache
from rag.settings import Settings
from rag.types import Answer, Chunk, Citation, Passage, ShortAnswer

REPO = Path(__file__).resolve().parents[2]
SHARED_RTQA = REPO.parent / "shared" / "realtimeqa"


def _q(choices: tuple[str, ...], answer: int = 0, qid: str = "20250103_0",
       articles: tuple[rtqa.RtqaArticle, ...] = ()) -> rtqa.RtqaQuestion:
    return rtqa.RtqaQuestion(qid, qid[:8], "2025-01-01", "CNN", "Which states?", choices,
                             (answer,), articles)


STATES = _q(("Missouri and Texas", "Texas", "Ohio", "Iowa"))


# --- RealTimeQA's scoring ---------------------------------------------------------------------


def test_a_gold_that_contains_another_choice_is_right_alone() -> None:
    assert rtqa.judge("Storms hit Missouri and Texas on Sunday.", STATES)
    assert not rtqa.judge("Storms hit Texas on Sunday.", STATES)  # only a part of the gold


def test_an_answer_naming_another_choice_too_is_not_right() -> None:
    assert not rtqa.judge("Missouri and Texas, and later Ohio.", STATES)


def test_judging_normalises_case_punctuation_and_articles() -> None:
    q = _q(("The White House", "Congress"))
    assert rtqa.judge("a statement from the white-house... no: the WHITE HOUSE!", q)


def test_token_f1_on_a_hand_worked_example() -> None:
    # pred {ice, agents, arrived}, gold {ice, agents}: P = 2/3, R = 1, F1 = 0.8
    assert rtqa.token_f1("The ICE agents arrived", "ICE agents") == pytest.approx(0.8)
    assert rtqa.token_f1("Ohio", "Texas") == 0.0
    assert rtqa.token_f1("", "") == 1.0


@pytest.fixture
def weeks_root(tmp_path: Path) -> Path:
    for year, week in (("2024", "20241227"), ("2025", "20250103"), ("2025", "20250110"),
                       ("2025", "20250207")):
        folder = tmp_path / "past" / year
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{week}_qa.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "past" / "2025" / "notes_qa.jsonl").write_text("", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("spec", "expected"), [
    (None, ["20241227", "20250103", "20250110", "20250207"]),
    ("2025", ["20250103", "20250110", "20250207"]),
    ("2025-01", ["20250103", "20250110"]),
    ("2024-12..2025-01", ["20241227", "20250103", "20250110"]),
    ("20250104..20250207", ["20250110", "20250207"]),
    ("20250110", ["20250110"]),
])
def test_week_ranges_select_whole_years_months_and_days(weeks_root: Path, spec: str | None,
                                                        expected: list[str]) -> None:
    assert [w for w, _ in rtqa.select_weeks(weeks_root, spec)] == expected


@pytest.mark.parametrize("spec", ["25", "2025-1-1..", "2026"])
def test_a_bad_or_empty_week_range_is_an_input_error(weeks_root: Path, spec: str) -> None:
    with pytest.raises(InputError):
        rtqa.select_weeks(weeks_root, spec)


# --- scoring one answer -----------------------------------------------------------------------


def _passage(text: str, n: int = 0) -> Passage:
    return Passage(Chunk(f"a:{n}", "a", n, text, 0, len(text)), "T", None, "cnn.com", 1.0)


def _citation(quote: str, n: int = 1) -> Citation:
    return Citation(n, "a", "T", None, "cnn.com", "a:0", quote, 0, len(quote), 1.0)


def test_a_right_answer_with_one_of_two_citations_holding_the_gold() -> None:
    record = er.Record(STATES.id, STATES.week, STATES.source, STATES.question, STATES.gold, True)
    answer = Answer("q", "Storms hit Missouri and Texas. [1] They moved east. [2]", False,
                    (_citation("Storms hit Missouri and Texas."), _citation("They moved east.", 2)),
                    confidence=0.7,
                    short_answer=ShortAnswer("Missouri and Texas", "a", 11, 29, 1))
    er.score_answer(record, answer, STATES)
    assert record.right and record.right_short
    assert record.short_f1 == 1.0
    assert record.citation_precision == 0.5
    assert [c["has_gold"] for c in record.citations] == [True, False]


def test_a_citation_marker_is_not_read_as_a_numeric_choice() -> None:
    q = _q(("2", "1"), answer=0)
    record = er.Record(q.id, q.week, q.source, q.question, q.gold, True)
    er.score_answer(record, Answer("q", "Two of them: 2 [1]", False, (_citation("2"),)), q)
    assert record.right


def test_an_abstention_is_neither_right_nor_wrong_and_scores_zero() -> None:
    record = er.Record(STATES.id, STATES.week, STATES.source, STATES.question, STATES.gold, True)
    er.score_answer(record, Answer("q", "The articles don't say. Missouri and Texas", True),
                    STATES)
    assert record.abstained and not record.right and record.short_f1 == 0.0
    assert record.citation_precision is None


def test_the_gold_rank_is_the_first_passage_holding_the_gold_text() -> None:
    passages = [_passage("Ohio voted.", 0), _passage("In Missouri and Texas, storms.", 1)]
    assert er.gold_rank(passages, "Missouri and Texas") == 2
    assert er.gold_rank(passages, "Iowa") is None


class ScriptedSystem:
    """Answers each question id with a scripted answer; raises for the id 'boom'."""

    name = "scripted"

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers

    def ask(self, q: rtqa.RtqaQuestion) -> Answer:
        if q.id == "boom":
            raise RuntimeError("reader failed")
        return self.answers[q.id]

    def retrieve(self, question: str, top_k: int) -> list[Passage]:
        return [_passage("Storms in Missouri and Texas.")]


def test_shares_add_up_and_a_question_that_raised_counts_as_wrong() -> None:
    qs = [_q(STATES.choices, qid=i) for i in ("right", "wrong", "abstain", "boom")]
    system = ScriptedSystem({
        "right": Answer("q", "Missouri and Texas [1]", False, (_citation("Missouri and Texas"),)),
        "wrong": Answer("q", "Ohio [1]", False, (_citation("Ohio"),)),
        "abstain": Answer("q", "The articles don't say.", True),
    })
    records = [er.score_question(system, q) for q in qs]
    agg = er.aggregate(records)
    assert agg["n"] == 4
    assert (agg["right"], agg["wrong"], agg["abstained"]) == (0.25, 0.5, 0.25)
    assert agg["right"] + agg["wrong"] + agg["abstained"] == pytest.approx(1.0)
    assert agg["gold@1"] == 1.0  # over the three that did not raise
    assert agg["citation_precision"] == 0.5  # the two answers: one cites the gold, one not
    assert records[3].error == "RuntimeError: reader failed"


# --- planning and the cache -------------------------------------------------------------------


def _write_week(folder: Path, week: str, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    qa, gcs = [], []
    for i in range(n):
        qid = f"{week}_{i}"
        qa.append({"question_id": qid, "question_date": "2025/01/01", "question_source": "CNN",
                   "question_sentence": f"Question {i}?", "choices": ["Ohio", "Iowa"],
                   "answer": ["0"]})
        gcs.append({"question_id": qid, "search_result": [
            {"url": f"https://www.example.com/{week}/{i}", "title": f"Story {i}",
             "text": f"Ohio voters went to the polls in story {i} of week {week}.",
             "publish_date": "2024/12/31"}]})
    for suffix, rows in (("_qa", qa), ("_gcs", gcs)):
        (folder / f"{week}{suffix}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_limit_asks_the_first_questions_but_indexes_whole_weeks(tmp_path: Path) -> None:
    _write_week(tmp_path, "20250103", 3)
    _write_week(tmp_path, "20250110", 3)
    archives = er.plan(tmp_path, None, archive=False, limit=4)
    assert [(a.label, len(a.articles), len(a.questions)) for a in archives] == [
        ("20250103", 3, 3), ("20250110", 3, 1)]
    (one,) = er.plan(tmp_path, "2025", archive=True, limit=None)
    assert (one.label, len(one.articles), len(one.questions)) == ("archive", 6, 6)


def test_the_cache_key_follows_the_articles_and_the_chunking() -> None:
    a = [rtqa.RtqaArticle("https://x.org/1", "T", "Some text.", "2025-01-01")]
    s = Settings.load({}, env={})
    key = rtqa_cache.index_key(a, s)
    assert key == rtqa_cache.index_key(list(a), s)
    assert key != rtqa_cache.index_key([rtqa.RtqaArticle("https://x.org/1", "T", "Other.",
                                                         "2025-01-01")], s)
    assert key != rtqa_cache.index_key(a, s.model_copy(update={"chunk_target_words": 100}))


def test_an_index_is_built_once_and_an_interrupted_build_leaves_nothing(
        tmp_path: Path, fake_embedder: object) -> None:
    _write_week(tmp_path / "data", "20250103", 2)
    articles = rtqa.week_articles(rtqa.load(tmp_path / "data"))
    settings = Settings.load({}, env={})
    root = tmp_path / "cache"
    key = rtqa_cache.index_key(articles, settings)
    stale = root / f"{key}.tmp-999999999"  # a build whose process is gone
    stale.mkdir(parents=True)
    index_dir, stats = rtqa_cache.ensure_index(articles, settings, fake_embedder, root)
    assert stats is not None and stats.added == 2 and stats.chunks >= 2
    assert index_dir == root / key / "index" and index_dir.is_dir()
    assert sorted(p.name for p in root.iterdir()) == [key]  # no tmp folder left
    assert not (root / key / "src").exists()  # the article texts live only in the index
    again, cached = rtqa_cache.ensure_index(articles, settings, fake_embedder, root)
    assert (again, cached) == (index_dir, None)
    _, rebuilt = rtqa_cache.ensure_index(articles, settings, fake_embedder, root, rebuild=True)
    assert rebuilt is not None


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_real_week_runs_end_to_end(tmp_path: Path) -> None:
    if not SHARED_RTQA.is_dir():
        pytest.skip(f"no RealTimeQA files at {SHARED_RTQA}")
    weeks = [w for w, _ in rtqa.select_weeks(SHARED_RTQA)]
    week = "20250103" if "20250103" in weeks else weeks[0]
    # The eval's own cache: content-addressed, so the week is built at most once per machine.
    cache = rtqa_cache.cache_root()
    code = er.run(Settings.load({}, env={}), SHARED_RTQA, weeks=week, limit=5,
                  out=tmp_path / "reports", cache_dir=cache)
    (run_dir,) = (tmp_path / "reports").iterdir()
    assert {"report.json", "report.md"} <= {p.name for p in run_dir.iterdir()}
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    s = report["systems"]["newsrag"]
    assert code == (1 if s["errors"] else 0)
    assert report["n_items"] == s["n_items"] == len(s["items"]) == 5
    o = s["overall"]
    assert o["right"] + o["wrong"] + o["abstained"] == pytest.approx(1.0)
    assert sum(g["n"] for g in s["by_findable"].values()) == 5
    assert sum(g["n"] for g in s["by_source"].values()) == 5
    by_id = {q.id: q for q in rtqa.load(SHARED_RTQA, week)}
    for item in s["items"]:
        assert not (item["right"] and item["abstained"])
        if item["right"]:
            assert rtqa.contains(item["answer"], by_id[item["id"]].gold)
        if item["gold_rank"] is not None:
            assert 1 <= item["gold_rank"] <= er.RETRIEVE_K


def test_a_report_renders_its_tables_and_compares_with_itself() -> None:
    from rag.eval.report import compare_table

    qs = [_q(STATES.choices, qid=i) for i in ("right", "wrong")]
    system = ScriptedSystem({
        "right": Answer("q", "Missouri and Texas [1]", False, (_citation("Missouri and Texas"),)),
        "wrong": Answer("q", "Ohio [1]", False, (_citation("Ohio"),)),
    })
    records = [er.score_question(system, q) for q in qs]
    report = {"run_id": "r1", "created": "now", "gold": "rtqa", "split": "2025",
              "mode": "per-week", "n_items": 2, "weeks": ["20250103"],
              "ingest": rr.ingest_totals({"w": {"cached": True}}),
              "systems": {"newsrag": er.summarise(records, 1.0)}}
    md = rr.render_markdown(report, [])
    assert "## By findable" in md and "| not findable | 2 | 0.500 | 0.500 | 0.000 |" in md
    assert "**wrong**" in md  # gold in the top passage, answer not right: lost by the reader
    deltas = compare_table(report, report, rr.METRICS)
    assert "right" in deltas and "better" not in deltas and "worse" not in deltas


def test_the_runner_builds_once_and_reports_per_week_and_over_an_archive(
        tmp_path: Path, fake_embedder: object, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import rag.embed

    monkeypatch.setattr(rag.embed, "load_embedder", lambda *a, **k: fake_embedder)
    _write_week(tmp_path / "data", "20250103", 2)
    _write_week(tmp_path / "data", "20250110", 2)
    settings = Settings.load({}, env={})
    def run(**kw: Any) -> int:
        return er.run(settings, tmp_path / "data", out=tmp_path / "reports",
                      cache_dir=tmp_path / "cache", **kw)

    assert run() == 0
    assert capsys.readouterr().err.count("built ") == 2  # one index per week
    assert run(limit=3) == 0
    assert "built " not in capsys.readouterr().err  # both weeks from the cache
    assert run(archive=True) == 0
    assert capsys.readouterr().err.count("built ") == 1
    reports = sorted((tmp_path / "reports").iterdir())
    got = [json.loads((d / "report.json").read_text(encoding="utf-8")) for d in reports]
    assert [(r["mode"], r["n_items"], r["ingest"]["n_cached"]) for r in got] == [
        ("per-week", 4, 0), ("per-week", 3, 2), ("archive", 4, 0)]
    for r in got:
        s = r["systems"]["newsrag"]
        assert s["errors"] == 0 and len(s["items"]) == r["n_items"]
        assert sum(g["n"] for g in s["by_week"].values()) == r["n_items"]
        assert (tmp_path / "reports" / r["run_id"] / "report.md").is_file()
    assert len(list((tmp_path / "cache").iterdir())) == 3


def test_an_llm_backend_is_reported_beside_the_default_one_on_the_same_indexes(
        tmp_path: Path, fake_embedder: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.embed
    from tests.test_llm import FakeLLMServer

    monkeypatch.setattr(rag.embed, "load_embedder", lambda *a, **k: fake_embedder)
    _write_week(tmp_path / "data", "20250103", 2)
    with FakeLLMServer("NONE") as server:
        settings = Settings.load({"backend": "openai-compatible",
                                  "llm_base_url": server.url + "/v1"}, env={})
        assert er.run(settings, tmp_path / "data", out=tmp_path / "reports",
                      cache_dir=tmp_path / "cache") == 0
        asked = len(server.requests)
    (run_dir,) = (tmp_path / "reports").iterdir()
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert list(report["systems"]) == ["newsrag", "extractive"]
    llm, plain = report["systems"]["newsrag"], report["systems"]["extractive"]
    assert len(llm["items"]) == len(plain["items"]) == 2 and asked >= 2
    assert all(i["abstained"] for i in llm["items"])  # the model said NONE to everything
    assert [i["gold_rank"] for i in llm["items"]] == [i["gold_rank"] for i in plain["items"]]
    assert "| extractive" in (run_dir / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_stock_citation_engine_with_the_same_model_is_reported_as_baseline_llm(
        tmp_path: Path, fake_embedder: object, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 14 item 5: the LLM backend beside llama-index's CitationQueryEngine driven by the
    # same model (a loopback OpenAI-compatible server here), on the same articles.
    import rag.embed
    from tests.test_llm import FakeLLMServer

    monkeypatch.setattr(rag.embed, "load_embedder", lambda *a, **k: fake_embedder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _write_week(tmp_path / "data", "20250103", 2)

    def reply(body: dict[str, Any]) -> str:  # NONE to newsrag's prompt, "Ohio" to the engine's
        return "Ohio [1]" if "Source 1:" in json.dumps(body) else "NONE"

    with FakeLLMServer(reply_fn=reply) as server:
        settings = Settings.load({"backend": "openai-compatible",
                                  "llm_base_url": server.url + "/v1"}, env={})
        assert er.run(settings, tmp_path / "data", out=tmp_path / "reports",
                      cache_dir=tmp_path / "cache", baseline_llm=True) == 0
        prompts = [json.dumps(r["body"]) for r in server.requests]
    (run_dir,) = (tmp_path / "reports").iterdir()
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert list(report["systems"]) == ["newsrag", "extractive", "baseline-llm"]
    stock = report["systems"]["baseline-llm"]
    assert len(stock["items"]) == 2
    assert sum("Source 1:" in p for p in prompts) >= 2  # one per question (and a warm-up)
    for item in stock["items"]:  # it never abstains; its answer is the model's text
        assert not item["abstained"] and item["right"]
        assert item["answer"] == "Ohio [1]"
    assert all(i["abstained"] for i in report["systems"]["newsrag"]["items"])
    assert "| baseline-llm" in (run_dir / "report.md").read_text(encoding="utf-8")
