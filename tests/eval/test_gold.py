"""The eval runner: exact figures on a fake system, then end to end on the real pipeline."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rag.eval import gold as ev
from rag.settings import Settings
from rag.types import Answer, Article, ArticleSummary, Chunk, Citation, IngestReport, Passage, Turn

TEXT = (
    "Niger ordered US troops to leave.\n"
    "The military government turned to the Russian mercenary group Wagner.\n"
    "Troops will leave no later than September 15.\n"
)
LINES = TEXT.splitlines(keepends=True)


def _chunks(article_id: str, text: str) -> list[Chunk]:
    """One chunk per line, with offsets into the text."""
    out, pos = [], 0
    for i, line in enumerate(text.splitlines(keepends=True)):
        out.append(Chunk(f"{article_id}:{i}", article_id, i, line.strip(), pos,
                         pos + len(line.strip())))
        pos += len(line)
    return out


class FakePipeline:
    """Keyword overlap over line chunks; abstains below two shared words. Deterministic."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.articles: dict[str, Article] = {}

    def ingest(self, paths: Sequence[Path]) -> IngestReport:
        for path in paths:
            text = Path(path).read_text(encoding="utf-8")
            aid = f"id-{Path(path).stem}"
            self.articles[aid] = Article(aid, Path(path).stem, text, "2024-05-20",
                                         source=Path(path).name, origin=str(path))
        return IngestReport(added=tuple(self.articles))

    def list_articles(self) -> list[ArticleSummary]:
        return [ArticleSummary(a.id, a.title, a.date, a.source, 3) for a in self.articles.values()]

    def get_article(self, article_id: str) -> Article:
        return self.articles[article_id]

    def _scored(self, question: str) -> list[tuple[int, Chunk]]:
        words = set(re.findall(r"\w+", question.lower()))
        scored = [(len(words & set(re.findall(r"\w+", c.text.lower()))), c)
                  for a in self.articles.values() for c in _chunks(a.id, a.text)]
        return sorted(scored, key=lambda sc: -sc[0])

    def retrieve(self, question: str, top_k: int | None = None) -> list[Passage]:
        return [Passage(c, "t", None, "s", float(s), rank=i)
                for i, (s, c) in enumerate(self._scored(question)[: top_k or 5])]

    def ask(self, question: str, history: Sequence[Turn] | None = None,
            top_k: int | None = None) -> Answer:
        score, chunk = self._scored(question)[0]
        if score < 2:
            return Answer(question, "The articles don't say.", True)
        cite = Citation(1, chunk.article_id, "t", "2024-05-20", "s", chunk.id, chunk.text,
                        chunk.start, chunk.end, float(score))
        return Answer(question, f"{chunk.text} [1]", False, (cite,))

    def close(self) -> None:
        pass


def _gold(tmp_path: Path, items: list[dict[str, Any]]) -> Path:
    (tmp_path / "articles").mkdir(exist_ok=True)
    (tmp_path / "articles" / "a.txt").write_text(TEXT, encoding="utf-8")
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return gold


ITEMS: list[dict[str, Any]] = [
    {"id": "t1", "split": "test", "category": "factoid",
     "question": "Which Russian mercenary group did the government turn to?",
     "answers": ["Wagner"], "evidence": [{"doc": "a.txt", "text": "mercenary group Wagner"}]},
    {"id": "t2", "split": "test", "category": "date",
     "question": "When must the ordered US troops leave?", "answers": ["September 15"],
     "evidence": [{"doc": "a.txt", "text": "no later than September 15"}]},
    {"id": "t3", "split": "test", "category": "unanswerable",
     "question": "How many French soldiers?", "answers": [], "evidence": []},
    {"id": "t4", "split": "dev", "category": "factoid", "question": "Who ordered US troops?",
     "answers": ["Niger"], "evidence": [{"doc": "a.txt", "text": "Niger ordered US troops"}]},
]


def _system(tmp_path: Path) -> ev.NewsragSystem:
    gold = _gold(tmp_path, ITEMS)
    pipeline = FakePipeline(Settings.load(env={}))
    pipeline.ingest([gold.parent / "articles" / "a.txt"])
    return ev.NewsragSystem(pipeline)


def test_score_item_right_answer_with_exact_citation(tmp_path: Path) -> None:
    item = ev.load_gold(_gold(tmp_path, ITEMS))[0]
    r = ev.score_item(_system(tmp_path), item)
    assert r.scores["hit@1"] == 1.0
    assert r.scores["mrr"] == 1.0
    assert r.scores["ndcg@10"] == pytest.approx(1.0)
    assert r.scores["contains"] == 1.0
    assert r.scores["exact_match"] == 0.0  # the whole sentence is not the alias
    assert r.scores["citation_precision"] == 1.0
    assert r.scores["span_validity"] == 1.0
    assert r.retrieved[0]["gold"] == ["e0"]


def test_score_item_gold_at_rank_two(tmp_path: Path) -> None:
    # The question shares ordered/us/troops/leave (4 words) with line 1 but only troops/leave
    # (2) with the gold line 3, so gold ranks second: MRR 1/2, hit@1 0, hit@5 1, and the answer
    # (line 1) is wrong and cites a passage that supports nothing.
    item = ev.load_gold(_gold(tmp_path, ITEMS))[1]
    r = ev.score_item(_system(tmp_path), item)
    assert r.scores["hit@1"] == 0.0
    assert r.scores["hit@5"] == 1.0
    assert r.scores["mrr"] == 0.5
    assert r.scores["contains"] == 0.0
    assert r.scores["citation_precision"] == 0.0
    assert r.scores["citation_recall"] == 0.0


def test_unanswerable_item_scores_the_abstention(tmp_path: Path) -> None:
    item = ev.load_gold(_gold(tmp_path, ITEMS))[2]
    r = ev.score_item(_system(tmp_path), item)
    assert r.abstained
    assert r.scores["accuracy"] == 1.0
    assert r.scores["hit@5"] is None  # no gold evidence: retrieval is undefined
    assert r.scores["citation_precision"] is None


def test_evidence_missing_from_stored_text_is_counted_and_still_relevant(tmp_path: Path) -> None:
    items = [dict(ITEMS[0], evidence=[{"doc": "a.txt", "text": "not in the article"}])]
    item = ev.load_gold(_gold(tmp_path, items))[0]
    r = ev.score_item(_system(tmp_path), item)
    assert r.evidence_missing == 1
    assert r.scores["recall@5"] == 0.0
    assert r.scores["citation_precision"] == 1.0  # the quote still contains the alias


def test_locate_folds_curly_quotes_without_shifting_offsets() -> None:
    text = "He said \u201cillegal\u201d troops."
    pos = ev.locate(text, 'said "illegal" troops')
    assert pos == 3
    assert text[pos:pos + len('said "illegal" troops')] == "said \u201cillegal\u201d troops"


class Exploding(ev.NewsragSystem):
    def ask(self, question: str, history: Sequence[Turn]) -> Answer:
        raise RuntimeError("boom")


def test_an_item_that_raises_counts_as_wrong(tmp_path: Path) -> None:
    gold = _gold(tmp_path, ITEMS)
    pipeline = FakePipeline(Settings.load(env={}))
    pipeline.ingest([tmp_path / "articles" / "a.txt"])
    out = ev.evaluate_system(Exploding(pipeline), ev.load_gold(gold))
    assert out["errors"] == 4
    assert out["overall"]["accuracy"] == 0.0
    assert out["overall"]["latency_p50_ms"] is None


def _check_report(run_dirs: list[Path]) -> dict[str, Any]:
    assert len(run_dirs) == 1
    run_dir = run_dirs[0]
    for name in ("report.json", "report.md", "accuracy_by_category.png", "latency.png"):
        assert (run_dir / name).stat().st_size > 0, name
    report: dict[str, Any] = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    for system in report["systems"].values():
        for name, value in system["overall"].items():
            if value is not None and not name.endswith("_ms") and name != "answer_words":
                assert 0.0 <= value <= 1.0, name
    return report


def test_run_writes_reports_with_a_fake_pipeline(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("rag.pipeline.Pipeline", FakePipeline)
    gold = _gold(tmp_path, ITEMS)
    code = ev.run(Settings.load(env={}), gold=gold, out=tmp_path / "reports", split="all")
    assert code == 0
    report = _check_report(list((tmp_path / "reports").iterdir()))
    newsrag = report["systems"]["newsrag"]
    # t1, t3, t4 right; t2 wrong (see above): 3/4.
    assert newsrag["overall"]["accuracy"] == 0.75
    assert newsrag["per_category"]["factoid"]["n"] == 2
    assert newsrag["overall"]["refusal_recall"] == 1.0
    md = (next((tmp_path / "reports").iterdir()) / "report.md").read_text(encoding="utf-8")
    assert "### t2 (date)" in md  # the failure is shown with its question
    assert "When must the ordered US troops leave?" in md
    printed = capsys.readouterr().out
    assert "accuracy" in printed
    assert "report:" in printed


def test_compare_prints_deltas_against_an_old_report(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("rag.pipeline.Pipeline", FakePipeline)
    gold = _gold(tmp_path, ITEMS)
    old = json.loads(json.dumps({"systems": {"newsrag": {"overall": {"accuracy": 0.5}}}}))
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(old), encoding="utf-8")
    ev.run(Settings.load(env={}), gold=gold, out=tmp_path / "reports", split="all",
           compare=old_path)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("newsrag") and " accuracy " in line]
    assert lines
    assert "+0.250" in lines[0]
    assert lines[0].rstrip().endswith("better")


def test_unknown_split_items_and_bad_compare_file_are_input_errors(tmp_path: Path) -> None:
    from rag.errors import InputError

    gold = _gold(tmp_path, ITEMS[:1])
    with pytest.raises(InputError, match="No gold items"):
        ev.run(Settings.load(env={}), gold=gold, out=tmp_path / "r", split="dev")
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match="not an eval report"):
        ev.load_report(tmp_path / "bad.json")


# --- end to end with the real pipeline and the real packaged model ----------------------------

REAL = Path(__file__).resolve().parents[2] / "data" / "articles"


@pytest.mark.slow
def test_run_end_to_end_on_the_real_pipeline(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    wanted = {"q003", "q020", "q070", "q080"}
    lines = (REAL.parent.parent / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(line for line in lines if json.loads(line)["id"] in wanted) + "\n",
                    encoding="utf-8")
    code = ev.run(Settings.load(env={}), gold=gold, out=tmp_path / "reports", split="all",
                  articles=REAL)
    report = _check_report(list((tmp_path / "reports").iterdir()))
    newsrag = report["systems"]["newsrag"]
    assert code == 0
    assert newsrag["n_items"] == 4
    assert newsrag["errors"] == 0
    assert newsrag["evidence_missing"] == 0, "gold evidence must be findable in stored text"
    assert newsrag["overall"]["span_validity"] == 1.0


def test_baseline_runs_side_by_side_with_ratios(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    class FakeBaseline(ev.NewsragSystem):
        name = "baseline"

        def ask(self, question: str, history: Sequence[Turn]) -> Answer:
            # never abstains: the top passage is the answer
            p = self.retrieve(question, 1)[0]
            cite = Citation(1, p.chunk.article_id, "t", None, "s", p.chunk.id, p.chunk.text,
                            p.chunk.start, p.chunk.end, p.score)
            return Answer(question, f"{p.chunk.text} [1]", False, (cite,))

    def build(files: Sequence[Path], persist_dir: Path, top_k: int = 10) -> FakeBaseline:
        pipeline = FakePipeline(Settings.load(env={}))
        pipeline.ingest(files)
        return FakeBaseline(pipeline)

    monkeypatch.setattr("rag.pipeline.Pipeline", FakePipeline)
    monkeypatch.setattr("rag.baseline.LlamaIndexBaseline.build", build)
    gold = _gold(tmp_path, ITEMS)
    assert ev.run(Settings.load(env={}), gold=gold, out=tmp_path / "reports", split="all",
                  baseline=True) == 0
    report = _check_report(list((tmp_path / "reports").iterdir()))
    assert list(report["systems"]) == ["newsrag", "baseline"]
    # Same answers except t3, where the baseline answers instead of abstaining: 3/4 vs 2/4.
    assert report["systems"]["baseline"]["overall"]["accuracy"] == 0.5
    assert report["ratios"]["accuracy"] == pytest.approx(1.5)
    assert report["systems"]["baseline"]["overall"]["refusal_recall"] == 0.0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header == ["metric", "newsrag", "baseline", "ratio"]
