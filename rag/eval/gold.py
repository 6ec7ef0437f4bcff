"""`newsrag eval` on the gold set: run a system over it and score it (`rag.eval.metrics`).

The runner builds its own Pipeline on a temporary index, so an eval never touches the user's
index. It speaks only newsrag's types (`Answer`, `Passage`, `Citation`): the llama-index baseline
converts its objects in `rag.baseline` and is scored by exactly the same code.

Gold evidence is located in each system's STORED article text (`str.find`, then a same-length
quote/space folding), so citation spans and retrieved chunks are compared in the same offsets.
Nothing here looks at a question's wording: every item goes through the same calls.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.errors import InputError, NewsragError
from rag.eval import metrics as m
from rag.eval.report import (
    SUMMARY_METRICS,
    compare_table,
    load_report,
    new_run_dir,
    ratio,
    render_markdown,
    summary_rows,
    text_table,
    write_plots,
)
from rag.settings import REPO_ROOT, Settings
from rag.types import Answer, Passage, Turn

CATEGORIES = (
    "factoid", "number", "date", "list", "multi_article", "paraphrase", "temporal",
    "unanswerable", "multi_turn", "conflict",
)
SPLITS = ("dev", "test", "all")
RETRIEVE_K = 10
# Per-item figures, averaged over the items where they are defined (see `score_item`).
ITEM_METRICS = (
    "hit@1", "hit@5", "recall@5", "mrr", "ndcg@10", "exact_match", "f1", "contains", "accuracy",
    "answer_words", "citation_precision", "citation_recall", "citation_faithfulness",
    "span_validity", "abstain_rate",
)

# ---------------------------------------------------------------------------------------------
# gold set


@dataclass(frozen=True)
class Evidence:
    doc: str  # file name in the articles folder
    text: str  # exact substring of one line of that file


@dataclass(frozen=True)
class GoldItem:
    id: str
    split: str
    category: str
    question: str
    answers: list[str] | list[list[str]]  # flat: any alias; nested: every group (lists)
    evidence: tuple[Evidence, ...]
    turns: tuple[Turn, ...] = ()

    @property
    def answerable(self) -> bool:
        return self.category != "unanswerable"


def _parse_item(raw: Any) -> GoldItem:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    missing = {"id", "split", "category", "question", "answers", "evidence"} - set(raw)
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    if raw["split"] not in ("dev", "test"):
        raise ValueError(f"split must be dev or test, got {raw['split']!r}")
    if raw["category"] not in CATEGORIES:
        raise ValueError(f"unknown category {raw['category']!r}; known: {', '.join(CATEGORIES)}")
    answers = raw["answers"]
    m.alias_groups(answers)  # rejects a mix of strings and lists
    evidence = tuple(Evidence(str(e["doc"]), str(e["text"])) for e in raw["evidence"])
    if raw["category"] == "unanswerable" and (answers or evidence):
        raise ValueError("an unanswerable item has no answers and no evidence")
    if raw["category"] != "unanswerable" and not (answers and evidence):
        raise ValueError("an answerable item needs answers and evidence")
    turns = tuple(Turn(str(t["role"]), str(t["content"])) for t in raw.get("turns", []))
    return GoldItem(str(raw["id"]), raw["split"], raw["category"], str(raw["question"]),
                    answers, evidence, turns)


def load_gold(path: Path) -> list[GoldItem]:
    """Parse and validate a gold JSONL file; errors name the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read gold file {path}: {exc.strerror}.",
                         hint="Pass --gold FILE (default eval/gold.jsonl).") from None
    items: list[GoldItem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = _parse_item(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}, line {lineno}: {exc}.",
                             hint="See eval/README.md for the item format.") from None
        if item.id in seen:
            raise InputError(f"{path}, line {lineno}: duplicate id {item.id!r}.")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise InputError(f"{path} holds no gold items.")
    return items


def select(items: Sequence[GoldItem], split: str, limit: int | None = None) -> list[GoldItem]:
    chosen = [i for i in items if split == "all" or i.split == split]
    return chosen[:limit] if limit else chosen


# ---------------------------------------------------------------------------------------------
# systems under test


class System(Protocol):
    """What the runner needs from a QA system; newsrag and the baseline both provide it."""

    name: str

    def retrieve(self, question: str, top_k: int) -> list[Passage]: ...

    def ask(self, question: str, history: Sequence[Turn]) -> Answer: ...

    def article_id_for(self, doc: str) -> str | None:
        """The stored article id of an input file name, None when it was not ingested."""

    def article_text(self, article_id: str) -> str:
        """The stored text every offset of this system points into."""


class NewsragSystem:
    """Adapts a `Pipeline` to `System`. Articles are matched to file names by their source,
    falling back to the origin's file name (a publisher may be known as the source)."""

    name = "newsrag"

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        self._ids: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        for summary in pipeline.list_articles():
            article = pipeline.get_article(summary.id)
            self._texts[summary.id] = article.text
            for key in (summary.source, Path(article.origin).name if article.origin else ""):
                if key:
                    self._ids.setdefault(key, summary.id)

    def retrieve(self, question: str, top_k: int) -> list[Passage]:
        return list(self._pipeline.retrieve(question, top_k=top_k))

    def ask(self, question: str, history: Sequence[Turn]) -> Answer:
        answer: Answer = self._pipeline.ask(question, history=list(history))
        return answer

    def article_id_for(self, doc: str) -> str | None:
        return self._ids.get(doc)

    def article_text(self, article_id: str) -> str:
        return self._texts[article_id]


# ---------------------------------------------------------------------------------------------
# scoring one item

# Same-length replacements, so an offset found in the folded text is valid in the original.
_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                       "\u00a0": " ", "\u2013": "-", "\u2014": "-"})


def locate(text: str, quote: str) -> int:
    """Offset of `quote` in `text` (exact first, then quote-folded); -1 when absent."""
    pos = text.find(quote)
    return pos if pos >= 0 else text.translate(_FOLD).find(quote.translate(_FOLD))


@dataclass
class ItemResult:
    id: str
    category: str
    question: str
    answerable: bool
    expected: list[str] | list[list[str]]
    answer: str = ""
    abstained: bool = False
    standalone_question: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[str, float | None] = field(default_factory=dict)
    latency_ms: float = 0.0
    evidence_missing: int = 0
    error: str | None = None


def _gold_spans(system: System, item: GoldItem) -> tuple[dict[str, m.Span], int]:
    spans: dict[str, m.Span] = {}
    missing = 0
    for i, ev in enumerate(item.evidence):
        article_id = system.article_id_for(ev.doc)
        pos = -1 if article_id is None else locate(system.article_text(article_id), ev.text)
        if article_id is None or pos < 0:
            missing += 1  # stays in the relevant set: gold the system cannot show is a miss
            continue
        spans[f"e{i}"] = m.Span(article_id, pos, pos + len(ev.text))
    return spans, missing


def _span_ok(system: System, article_id: str, start: int, end: int, quote: str) -> bool:
    try:
        text = system.article_text(article_id)
    except (KeyError, NewsragError):
        return False
    return m.span_valid(text, start, end, quote)


def score_item(system: System, item: GoldItem) -> ItemResult:
    """Ask (timed), retrieve, and score one item. Undefined figures are None: retrieval and
    answer figures exist only for answerable items, citation figures only for answers."""
    result = ItemResult(item.id, item.category, item.question, item.answerable, item.answers)
    spans, result.evidence_missing = _gold_spans(system, item)
    started = time.perf_counter()
    answer = system.ask(item.question, item.turns)
    result.latency_ms = (time.perf_counter() - started) * 1000
    result.answer, result.abstained = answer.text, answer.abstained
    result.standalone_question = answer.standalone_question
    result.citations = [c.to_dict() for c in answer.citations]
    # Retrieval sees the question as the system understood it after follow-up handling.
    passages = system.retrieve(answer.standalone_question or item.question, RETRIEVE_K)
    ranked = [
        {eid for eid, g in spans.items()
         if m.spans_overlap(m.Span(p.chunk.article_id, p.chunk.start, p.chunk.end), g)}
        for p in passages
    ]
    result.retrieved = [{"chunk_id": p.chunk.id, "gold": sorted(r)}
                        for p, r in zip(passages, ranked, strict=True)]
    s: dict[str, float | None] = dict.fromkeys(ITEM_METRICS)
    s["abstain_rate"] = 1.0 if answer.abstained else 0.0
    if not item.answerable:
        s["accuracy"] = 1.0 if answer.abstained else 0.0
    else:
        relevant = [f"e{i}" for i in range(len(item.evidence))]
        s["hit@1"] = m.hit_at_k(ranked, relevant, 1)
        s["hit@5"] = m.hit_at_k(ranked, relevant, 5)
        s["recall@5"] = m.recall_at_k(ranked, relevant, 5)
        s["mrr"] = m.reciprocal_rank(ranked, relevant)
        s["ndcg@10"] = m.ndcg_at_k(ranked, relevant, 10)
        # An abstention gives the user no answer: it scores 0, whatever its wording.
        text = "" if answer.abstained else m.strip_citation_markers(answer.text)
        s["exact_match"] = m.exact_match(text, item.answers)
        s["f1"] = m.token_f1(text, item.answers)
        s["contains"] = 1.0 if m.contains_alias(text, item.answers) else 0.0
        s["accuracy"] = s["contains"]
        if not answer.abstained:
            supports = [
                m.citation_supports(m.Span(c.article_id, c.start, c.end), c.quote,
                                    spans.values(), item.answers)
                for c in answer.citations
            ]
            s["citation_precision"] = m.citation_precision(supports)
            s["citation_recall"] = m.citation_recall(supports)
    if not answer.abstained:
        s["citation_faithfulness"] = _faithfulness(answer)
        s["answer_words"] = float(m.answer_length_words(answer.text))
        if answer.citations:
            valid = [_span_ok(system, c.article_id, c.start, c.end, c.quote)
                     for c in answer.citations]
            s["span_validity"] = sum(valid) / len(valid)
    result.scores = s
    return result


def _faithfulness(answer: Answer) -> float | None:
    """Share of the answer's (claim, [n]) pairs whose citation states the claim; a marker with
    no citation behind it counts against. None when nothing is cited."""
    by_n = {c.n: c for c in answer.citations}
    judged = []
    for claim, numbers in m.cited_claims(answer.text):
        for n in numbers:
            c = by_n.get(n)
            judged.append(c is not None and m.claim_supported(
                claim, c.quote, f"{c.title} {c.source} {_date_words(c.date)}"))
    return sum(judged) / len(judged) if judged else None


def _date_words(iso: str | None) -> str:
    """'2024-05-19' -> '19 May 2024' (how answers state dates); '' when unknown."""
    from datetime import date

    try:
        d = date.fromisoformat(iso or "")
    except ValueError:
        return ""
    return f"{d.day} {d:%B %Y}"


def _failed_item(item: GoldItem, exc: Exception) -> ItemResult:
    """An item whose call raised: it counts as wrong, and the run's exit code says so."""
    result = ItemResult(item.id, item.category, item.question, item.answerable, item.answers)
    result.error = f"{type(exc).__name__}: {exc}"
    result.scores = dict.fromkeys(ITEM_METRICS)
    result.scores["accuracy"] = 0.0
    return result


# ---------------------------------------------------------------------------------------------
# aggregation


def aggregate(results: Sequence[ItemResult]) -> dict[str, float | None]:
    out: dict[str, float | None] = {
        name: m.mean(r.scores.get(name) for r in results) for name in ITEM_METRICS
    }
    answered = [r for r in results if r.error is None]
    refusal = m.refusal_scores([r.abstained for r in answered], [r.answerable for r in answered])
    out["refusal_precision"] = refusal.precision
    out["refusal_recall"] = refusal.recall
    out["false_refusal_rate"] = refusal.false_refusal_rate
    latencies = [r.latency_ms for r in answered]
    out["latency_p50_ms"] = m.percentile(latencies, 50) if latencies else None
    out["latency_p95_ms"] = m.percentile(latencies, 95) if latencies else None
    for name in out:
        m.metric_info(name)  # every reported figure is a registered metric
    return out


def evaluate_system(system: System, items: Sequence[GoldItem],
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    results: list[ItemResult] = []
    started = time.perf_counter()
    for n, item in enumerate(items, start=1):
        try:
            results.append(score_item(system, item))
        except Exception as exc:  # one bad item must not lose the whole run
            results.append(_failed_item(item, exc))
        if log and (n % 10 == 0 or n == len(items)):
            log(f"{system.name}: {n}/{len(items)} items")
    categories = [c for c in CATEGORIES if any(r.category == c for r in results)]
    return {
        "n_items": len(results),
        "errors": sum(1 for r in results if r.error),
        "evidence_missing": sum(r.evidence_missing for r in results),
        "seconds": round(time.perf_counter() - started, 2),
        "overall": aggregate(results),
        "per_category": {
            c: {"n": sum(1 for r in results if r.category == c),
                **aggregate([r for r in results if r.category == c])}
            for c in categories
        },
        "items": [asdict(r) for r in results],
    }


# ---------------------------------------------------------------------------------------------
# running


def _articles_dir(gold: Path, articles: Path | None) -> Path:
    if articles is not None:
        return articles
    beside = gold.parent / "articles"
    return beside if beside.is_dir() else REPO_ROOT / "data" / "articles"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)



def run(settings: Settings, *, gold: Path, split: str, out: Path, articles: Path | None = None,
        baseline: bool = False, compare: Path | None = None, limit: int | None = None) -> int:
    """Evaluate on a temporary index; write report.json, report.md and plots; 1 if items erred.

    `articles` defaults to the folder 'articles' beside the gold file, else data/articles;
    `limit` takes the first items of the split; `compare` prints deltas against that report."""
    from rag.pipeline import Pipeline  # heavy: models load here, not at `newsrag --help`

    items = select(load_gold(gold), split, limit)
    if not items:
        raise InputError(f"No gold items in split {split!r}.", hint="Try --split all.")
    old = load_report(compare) if compare else None
    folder = _articles_dir(gold, articles)
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if not files:
        raise InputError(f"No articles in {folder}.", hint="Pass --articles DIR.")
    systems: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="newsrag-eval-", ignore_cleanup_errors=True) as tmp:
        local = settings.model_copy(update={
            "index_dir": Path(tmp) / "index", "sample_dir": None, "chroma_url": None})
        pipeline = Pipeline(local)
        try:
            started = time.perf_counter()
            ingest = pipeline.ingest(files)
            for path, message in ingest.errors:
                _log(f"ingest error: {path}: {message}")
            _log(f"newsrag: ingested {len(files)} files in {time.perf_counter() - started:.1f}s")
            systems["newsrag"] = evaluate_system(NewsragSystem(pipeline), items, _log)
        finally:
            pipeline.close()
        if baseline:
            from rag.baseline import LlamaIndexBaseline

            started = time.perf_counter()
            stock = LlamaIndexBaseline.build(files, Path(tmp) / "baseline", top_k=RETRIEVE_K)
            _log(f"baseline: indexed {len(files)} files in {time.perf_counter() - started:.1f}s")
            systems["baseline"] = evaluate_system(stock, items, _log)
    report: dict[str, Any] = {
        "run_id": "",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "gold": str(gold),
        "split": split,
        "n_items": len(items),
        "settings": settings.model_dump(mode="json"),
        "systems": systems,
    }
    run_dir = new_run_dir(out, split)
    report["run_id"] = run_dir.name
    if baseline:
        new, base = systems["newsrag"]["overall"], systems["baseline"]["overall"]
        report["ratios"] = {k: ratio(new.get(k), base.get(k)) for k in SUMMARY_METRICS}
    plots = write_plots(report, run_dir)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
    (run_dir / "report.md").write_text(render_markdown(report, plots), encoding="utf-8")
    print(text_table(summary_rows(report)))
    print(f"\nreport: {run_dir / 'report.md'}")
    if old is not None:
        print("\n" + compare_table(old, report))
    errors = sum(s["errors"] for s in systems.values())
    if errors:
        _log(f"{errors} items raised an error: see report.md.")
    return 1 if errors else 0
