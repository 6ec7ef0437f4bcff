"""`newsrag eval --dataset realtimeqa PATH`: RealTimeQA as an open-ended, cited-answer eval.

Each selected week's distinct articles become a newsrag index (per week, the default, or one
archive of all selected weeks with `--archive`), cached by `rag.eval.rtqa_cache` so a re-run after a
change to the answerer only asks. Every question is asked open-ended (the choices are never
shown to a system), as of its quiz date, and scored with RealTimeQA's own normalisation
(`rag.eval.rtqa`): right = the answer holds the gold choice and no other choice.

With `--backend local|ollama|openai-compatible` the questions are also asked of the default
(extractive) backend on the same indexes in the same run, reported side by side as
`extractive`; `--baseline-llm` adds llama-index's stock CitationQueryEngine with the same model
(`baseline-llm`, rag/baseline.py), on its own llama-index index of the same articles.

A question that raised counts as wrong (and the run exits 1), so the shares always add up:
right + wrong + abstained = 1.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.errors import InputError
from rag.eval import metrics as m
from rag.eval import rtqa
from rag.eval.realtimeqa_report import GOLD_AT, METRICS, ingest_totals, write_report
from rag.eval.report import compare_table, load_report, ratio, summary_rows, text_table
from rag.eval.rtqa_cache import cache_root, cached_stats, ensure_index, index_settings
from rag.settings import Settings
from rag.types import Answer, Passage

RETRIEVE_K = 30


class RtqaSystem(Protocol):
    name: str

    def ask(self, q: rtqa.RtqaQuestion) -> Answer: ...

    def retrieve(self, question: str, top_k: int) -> list[Passage]: ...


class NewsragRtqa:
    name = "newsrag"

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline

    def ask(self, q: rtqa.RtqaQuestion) -> Answer:
        answer: Answer = self._pipeline.ask(q.question, as_of=q.date)
        return answer

    def retrieve(self, question: str, top_k: int) -> list[Passage]:
        return list(self._pipeline.retrieve(question, top_k=top_k))


class BaselineRtqa:
    """The stock llama-index pipeline: no dates, no `as_of`, never abstains."""

    name = "baseline"

    def __init__(self, baseline: Any) -> None:
        self._baseline = baseline

    def ask(self, q: rtqa.RtqaQuestion) -> Answer:
        answer: Answer = self._baseline.ask(q.question)
        return answer

    def retrieve(self, question: str, top_k: int) -> list[Passage]:
        return list(self._baseline.retrieve(question, top_k))


# ---------------------------------------------------------------------------------------------
# one question


@dataclass
class Record:
    id: str
    week: str
    source: str
    question: str
    gold: str
    findable: bool
    date: str | None = None  # the quiz date, asked as `as_of`
    choices: list[str] = field(default_factory=list)  # never shown to a system; for analysis
    answer: str = ""
    short_answer: str | None = None
    abstained: bool = False
    right: bool = False
    right_short: bool = False
    confidence: float = 0.0
    short_confidence: float = 0.0
    short_f1: float = 0.0
    gold_rank: int | None = None  # 1-based rank of the first retrieved passage holding the gold
    citation_precision: float | None = None  # answered questions only
    citations: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float = 0.0
    error: str | None = None


def gold_rank(passages: Sequence[Passage], gold: str) -> int | None:
    g = rtqa.normalize_answer(gold)
    return next((i for i, p in enumerate(passages, start=1)
                 if rtqa.contains(p.chunk.text, g, normalized=True)), None)


def score_answer(record: Record, answer: Answer, q: rtqa.RtqaQuestion) -> None:
    """Fill `record` from one answer. An abstention is neither right nor wrong and scores 0."""
    record.answer, record.abstained = answer.text, answer.abstained
    record.confidence = answer.confidence
    record.short_answer = answer.short_answer.text if answer.short_answer else None
    record.short_confidence = answer.short_answer.confidence if answer.short_answer else 0.0
    if answer.abstained:
        return
    text = m.strip_citation_markers(answer.text)
    record.right = rtqa.judge(text, q)
    record.right_short = record.short_answer is not None and rtqa.judge(record.short_answer, q)
    record.short_f1 = rtqa.token_f1(record.short_answer or text, q.gold)
    has_gold = [rtqa.contains(c.quote, q.gold) for c in answer.citations]
    record.citation_precision = m.citation_precision(has_gold)
    record.citations = [{"n": c.n, "title": c.title, "date": c.date, "source": c.source,
                         "quote": c.quote, "has_gold": g}
                        for c, g in zip(answer.citations, has_gold, strict=True)]


def score_question(system: RtqaSystem, q: rtqa.RtqaQuestion) -> Record:
    record = Record(q.id, q.week, q.source, q.question, q.gold, q.findable, q.date,
                    list(q.choices))
    try:
        started = time.perf_counter()
        answer = system.ask(q)
        record.latency_ms = (time.perf_counter() - started) * 1000
        score_answer(record, answer, q)
        record.gold_rank = gold_rank(system.retrieve(q.question, RETRIEVE_K), q.gold)
    except Exception as exc:  # one bad question must not lose the run; it counts as wrong
        record.error = f"{type(exc).__name__}: {exc}"
    return record


def warm_up(system: RtqaSystem, questions: Sequence[rtqa.RtqaQuestion]) -> None:
    """Ask the first question once untimed: a fresh pipeline loads its reader's models on its
    first question, which is no warm question's latency."""
    if questions:
        with contextlib.suppress(Exception):  # scored, and recorded, when asked for real
            system.ask(questions[0])


# ---------------------------------------------------------------------------------------------
# aggregation


def _share(flags: Iterable[bool]) -> float | None:
    return m.mean(1.0 if f else 0.0 for f in flags)


def aggregate(records: Sequence[Record]) -> dict[str, Any]:
    ok = [r for r in records if r.error is None]
    answered = [r for r in ok if not r.abstained]
    latencies = [r.latency_ms for r in ok]
    out: dict[str, Any] = {
        "n": len(records),
        "right": _share(r.right for r in records),
        "right_short": _share(r.right_short for r in records),
        "wrong": _share(not r.abstained and not r.right for r in records),
        "abstained": _share(r.abstained for r in records),
        "short_rate": _share(r.short_answer is not None for r in answered),
        "short_f1": m.mean(r.short_f1 for r in records),
        **{f"gold@{k}": _share(r.gold_rank is not None and r.gold_rank <= k for r in ok)
           for k in GOLD_AT},
        "citation_precision": m.mean(r.citation_precision for r in answered),
        "latency_p50_ms": m.percentile(latencies, 50) if latencies else None,
        "latency_p95_ms": m.percentile(latencies, 95) if latencies else None,
    }
    for name in METRICS:
        m.metric_info(name)  # every reported figure is a registered metric
    return out


def _split(records: Sequence[Record], key: Callable[[Record], str]) -> dict[str, Any]:
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    return {k: aggregate(v) for k, v in sorted(groups.items())}


def summarise(records: Sequence[Record], seconds: float) -> dict[str, Any]:
    return {
        "n_items": len(records),
        "errors": sum(1 for r in records if r.error),
        "seconds": round(seconds, 2),
        "overall": aggregate(records),
        "by_findable": _split(records, lambda r: "findable" if r.findable else "not findable"),
        "by_source": _split(records, lambda r: r.source or "?"),
        "by_week": _split(records, lambda r: r.week),
        "items": [asdict(r) for r in records],
    }


# ---------------------------------------------------------------------------------------------
# running


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Archive:
    label: str  # the week, or "archive"
    articles: list[rtqa.RtqaArticle]  # always all of its weeks' articles, whatever --limit asks
    questions: list[rtqa.RtqaQuestion]  # the ones to ask


def plan(root: Path, weeks: str | None, archive: bool, limit: int | None) -> list[Archive]:
    by_week = [(w, rtqa.load_week(folder, w)) for w, folder in rtqa.select_weeks(root, weeks)]
    budget = limit if limit else sum(len(qs) for _, qs in by_week)
    asked: list[tuple[str, list[rtqa.RtqaQuestion], list[rtqa.RtqaQuestion]]] = []
    for w, qs in by_week:
        asked.append((w, qs, qs[:max(budget, 0)]))
        budget -= len(qs)
    if archive:
        return [Archive("archive", rtqa.week_articles([q for _, qs, _ in asked for q in qs]),
                        [q for _, _, chosen in asked for q in chosen])]
    return [Archive(w, rtqa.week_articles(qs), chosen) for w, qs, chosen in asked if chosen]


def _baseline_records(archive: Archive, embed: Any, tmp: Path,
                      llm: Any = None) -> list[Record]:
    from rag.baseline import LlamaIndexBaseline

    files = []
    for i, a in enumerate(archive.articles):  # plain text files for SimpleDirectoryReader
        path = tmp / "src" / f"{i:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{a.title}\n\n{a.text}\n", encoding="utf-8")
        files.append(path)
    started = time.perf_counter()
    base = LlamaIndexBaseline.build(files, tmp / "index", top_k=RETRIEVE_K, embed=embed,
                                    llm=llm)
    _log(f"baseline {archive.label}: indexed {len(files)} articles in "
         f"{time.perf_counter() - started:.1f}s")
    system = BaselineRtqa(base)
    warm_up(system, archive.questions)
    return [score_question(system, q) for q in archive.questions]


def _newsrag_records(archive: Archive, settings: Settings, embedder: Any) -> list[Record]:
    from rag.pipeline import Pipeline

    pipe = Pipeline(settings, embedder=embedder)
    try:
        system = NewsragRtqa(pipe)
        warm_up(system, archive.questions)
        return [score_question(system, q) for q in archive.questions]
    finally:
        pipe.close()


def run(settings: Settings, root: Path, *, out: Path, weeks: str | None = None,
        archive: bool = False, limit: int | None = None, baseline: bool = False,
        baseline_llm: bool = False, compare: Path | None = None,
        cache_dir: Path | None = None, rebuild: bool = False) -> int:
    """Ask the selected weeks' questions (`weeks` as `rtqa.select_weeks` reads it, all when
    None) of per-week indexes, or of one index of them all with `archive`; write report.json
    and report.md under `out`; 1 if questions erred. `limit` asks only the first questions,
    `rebuild` rebuilds the cached indexes under `cache_dir` (default `cache_root()`).
    `baseline_llm` also asks the stock CitationQueryEngine with the settings' LLM backend."""
    from rag.embed import load_embedder

    if baseline_llm and settings.backend == "extractive":
        raise InputError("--baseline-llm needs an LLM backend.",
                         hint="Add --backend local (or ollama, openai-compatible).")
    archives = plan(root, weeks, archive, limit)
    if not any(a.questions for a in archives):
        raise InputError("No RealTimeQA questions selected.", hint="Check --weeks and --limit.")
    old = load_report(compare) if compare else None
    cache = cache_dir if cache_dir else cache_root()
    embedder = load_embedder(settings.embed_model, settings.embed_batch_size)
    records: dict[str, list[Record]] = {"newsrag": []}
    seconds = {"newsrag": 0.0, "baseline": 0.0}
    builds: dict[str, Any] = {}
    base_embed = None
    for n, part in enumerate(archives, start=1):
        index_dir, stats = ensure_index(part.articles, settings, embedder, cache,
                                        rebuild, _log)
        recorded = stats or cached_stats(index_dir.parent)  # a cached index: its first build
        builds[part.label] = {"index": str(index_dir), "cached": stats is None,
                                 **(asdict(recorded) if recorded else {})}
        started = time.perf_counter()
        got = _newsrag_records(part, index_settings(settings, index_dir), embedder)
        seconds["newsrag"] += time.perf_counter() - started
        records["newsrag"] += got
        if settings.backend != "extractive":
            # `--backend`: the default backend beside it, on the same index in the same run
            started = time.perf_counter()
            records.setdefault("extractive", []).extend(
                _newsrag_records(part, index_settings(
                    settings.model_copy(update={"backend": "extractive"}), index_dir),
                    embedder))
            seconds["extractive"] = seconds.get("extractive", 0.0) + time.perf_counter() - started
        _log(f"[{n}/{len(archives)}] {part.label}: {len(got)} questions, "
             f"{sum(r.right for r in got)} right, {sum(r.abstained for r in got)} abstained")
        for name, wanted in (("baseline", baseline), ("baseline-llm", baseline_llm)):
            if not wanted:
                continue
            from rag.baseline import default_embedding
            from rag.llm import make_llm

            base_embed = base_embed or default_embedding()
            started = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="newsrag-rtqa-base-",
                                             ignore_cleanup_errors=True) as tmp:
                records.setdefault(name, []).extend(_baseline_records(
                    part, base_embed, Path(tmp),
                    make_llm(settings) if name == "baseline-llm" else None))
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
    report = build_report(settings, root, archives, records, seconds, builds, weeks=weeks,
                          archive=archive)
    run_dir = write_report(report, out)
    print(text_table(summary_rows(report, METRICS)))
    print(f"\nreport: {run_dir / 'report.md'}")
    if old is not None:
        print("\n" + compare_table(old, report, METRICS))
    errors = sum(s["errors"] for s in report["systems"].values())
    if errors:
        _log(f"{errors} questions raised an error: see report.json.")
    return 1 if errors else 0


def build_report(settings: Settings, root: Path, archives: Sequence[Archive],
                 records: dict[str, list[Record]], seconds: dict[str, float],
                 builds: dict[str, Any], *, weeks: str | None, archive: bool) -> dict[str, Any]:
    systems = {name: summarise(recs, seconds[name]) for name, recs in records.items()}
    report: dict[str, Any] = {
        "run_id": "",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "dataset": "realtimeqa",
        "gold": str(root),
        "split": weeks or "all",
        "mode": "archive" if archive else "per-week",
        "n_items": sum(len(a.questions) for a in archives),
        "weeks": sorted({q.week for a in archives for q in a.questions}),
        "settings": settings.model_dump(mode="json"),
        "ingest": ingest_totals(builds),
        "builds": builds,
        "systems": systems,
    }
    if "baseline" in systems:
        new, base = systems["newsrag"]["overall"], systems["baseline"]["overall"]
        report["ratios"] = {k: ratio(new.get(k), base.get(k)) for k in METRICS}
    return report
