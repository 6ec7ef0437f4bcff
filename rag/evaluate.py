"""`newsrag eval`: run a system over the gold set and score it (metrics live in `rag.metrics`).

The runner builds its own Pipeline on a temporary index, so an eval never touches the user's
index. It speaks only newsrag's types (`Answer`, `Passage`, `Citation`): the llama-index baseline
converts its objects in `rag.baseline` and is scored by exactly the same code.

Gold evidence is located in each system's STORED article text (`str.find`, then a same-length
quote/space folding), so citation spans and retrieved chunks are compared in the same offsets.
Nothing here looks at a question's wording: every item goes through the same calls.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag import metrics as m
from rag.errors import InputError, NewsragError
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
    "answer_words", "citation_precision", "citation_recall", "span_validity", "abstain_rate",
)
# The figures the summary table prints, in order.
SUMMARY_METRICS = (
    "accuracy", "hit@1", "hit@5", "recall@5", "mrr", "ndcg@10", "exact_match", "f1", "contains",
    "answer_words", "citation_precision", "citation_recall", "span_validity",
    "refusal_precision", "refusal_recall", "false_refusal_rate", "latency_p50_ms",
    "latency_p95_ms",
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
        s["answer_words"] = float(m.answer_length_words(answer.text))
        if answer.citations:
            valid = [_span_ok(system, c.article_id, c.start, c.end, c.quote)
                     for c in answer.citations]
            s["span_validity"] = sum(valid) / len(valid)
    result.scores = s
    return result


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
# rendering


def _fmt(value: float | None, name: str) -> str:
    if value is None:
        return "-"
    unit = m.metric_info(name).unit
    return f"{value:.0f}" if unit == "ms" else f"{value:.1f}" if unit else f"{value:.3f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    """Rows of metric | each system | ratio (first system / second), as strings."""
    systems = report["systems"]
    names = list(systems)
    rows = [["metric", *names] + (["ratio"] if len(names) == 2 else [])]
    for metric in SUMMARY_METRICS:
        values = [systems[n]["overall"].get(metric) for n in names]
        row = [metric, *(_fmt(v, metric) for v in values)]
        if len(names) == 2:
            r = _ratio(values[0], values[1])
            row.append("-" if r is None else f"{r:.2f}x")
        rows.append(row)
    return rows


def text_table(rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Plain-text table; the first `left` columns are labels (left-aligned), the rest figures."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def worst_failures(items: Iterable[dict[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """Wrong items, the least partially right first (by F1, then citation precision)."""
    wrong = [i for i in items if not i["scores"].get("accuracy")]
    return sorted(wrong, key=lambda i: (i["scores"].get("f1") or 0.0,
                                        i["scores"].get("citation_precision") or 0.0))[:n]


def render_markdown(report: dict[str, Any], plots: Sequence[str]) -> str:
    systems = report["systems"]
    parts = [
        f"# newsrag eval {report['run_id']}",
        "",
        f"Gold `{report['gold']}`, split `{report['split']}`, {report['n_items']} items, "
        f"created {report['created']}. Latency is the time of one `ask` call.",
        "",
        "## Overall",
        "",
        md_table(summary_rows(report)),
        "",
        "## Per category",
        "",
    ]
    per_cat_metrics = ("accuracy", "f1", "hit@5", "citation_precision", "abstain_rate")
    header = ["category", "n"] + [f"{s} {k}" for s in systems for k in per_cat_metrics]
    rows = [header]
    first = next(iter(systems.values()))
    for cat, figures in first["per_category"].items():
        row = [cat, str(figures["n"])]
        for s in systems.values():
            cat_figures = s["per_category"].get(cat, {})
            row += [_fmt(cat_figures.get(k), k) for k in per_cat_metrics]
        rows.append(row)
    parts += [md_table(rows), ""]
    for plot in plots:
        parts += [f"![{plot}]({plot})", ""]
    for name, s in systems.items():
        parts += [f"## Worst failures: {name}", ""]
        if s["errors"]:
            parts += [f"{s['errors']} items raised an error.", ""]
        for item in worst_failures(s["items"]):
            expected = "; ".join(" / ".join(g) for g in m.alias_groups(item["expected"])) or \
                "(abstain)"
            parts += [
                f"### {item['id']} ({item['category']})",
                "",
                f"- question: {item['question']}",
                f"- expected: {expected}",
                f"- answer{' (abstained)' if item['abstained'] else ''}: "
                f"{_short(item['error'] or item['answer'])}",
                f"- F1 {_fmt(item['scores'].get('f1'), 'f1')}, hit@5 "
                f"{_fmt(item['scores'].get('hit@5'), 'hit@5')}",
            ]
            parts += [f"  - [{c['n']}] {c['title']} ({c['date'] or 'no date'}): "
                      f"“{_short(c['quote'], 200)}”" for c in item["citations"]]
            parts.append("")
    return "\n".join(parts)


def write_plots(report: dict[str, Any], out_dir: Path) -> list[str]:
    """Per-category accuracy bars and a latency histogram; [] when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on servers and in CI
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install matplotlib).", file=sys.stderr)
        return []
    systems = report["systems"]
    cats = list(next(iter(systems.values()))["per_category"])
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, (name, s) in enumerate(systems.items()):
        values = [s["per_category"].get(c, {}).get("accuracy") or 0.0 for c in cats]
        ax.bar([x + i * width for x in range(len(cats))], values, width, label=name)
    ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(cats))], cats,
                  rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy by category ({report['split']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_by_category.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, s in systems.items():
        ax.hist([i["latency_ms"] for i in s["items"] if not i["error"]], bins=20, alpha=0.6,
                label=name)
    ax.set_xlabel("ms per question")
    ax.set_ylabel("items")
    ax.set_title("Latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "latency.png", dpi=100)
    plt.close(fig)
    return ["accuracy_by_category.png", "latency.png"]


def compare_table(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Deltas new - old for every system in both reports, marked better or worse."""
    rows = [["system", "metric", "old", "new", "delta", ""]]
    for name, s in new["systems"].items():
        if name not in old.get("systems", {}):
            continue
        before = old["systems"][name]["overall"]
        for metric in SUMMARY_METRICS:
            a, b = before.get(metric), s["overall"].get(metric)
            if a is None or b is None:
                delta, mark = "-", ""
            else:
                d = b - a
                better = d > 0 if m.metric_info(metric).higher_is_better else d < 0
                delta = f"{d:+.3f}"
                mark = "" if abs(d) < 1e-9 else "better" if better else "worse"
            rows.append([name, metric, _fmt(a, metric), _fmt(b, metric), delta, mark])
    notes = [
        f"note: {key} differs (old {old.get(key)!r}, new {new.get(key)!r}): not like for like."
        for key in ("gold", "split", "n_items") if old.get(key) != new.get(key)
    ]
    return "\n".join([text_table(rows, left=2), *notes])


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"Cannot read report {path}: {exc}.",
                         hint="Pass the report.json of an earlier run to --compare.") from None
    if not isinstance(data, dict) or "systems" not in data:
        raise InputError(f"{path} is not an eval report.json.")
    return data


# ---------------------------------------------------------------------------------------------
# command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gold", type=Path, default=REPO_ROOT / "eval" / "gold.jsonl",
                        help="Gold JSONL file (default eval/gold.jsonl).")
    parser.add_argument("--split", choices=SPLITS, default="test",
                        help="Which items to run; tune thresholds on dev only (default test).")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "eval" / "reports",
                        help="Reports go to OUT/<run-id>/ (default eval/reports).")
    parser.add_argument("--articles", type=Path, default=None,
                        help="Articles to ingest (default: 'articles' beside the gold file, "
                        "else data/articles).")
    parser.add_argument("--baseline", action="store_true",
                        help="Also evaluate a stock llama-index pipeline in the same run.")
    parser.add_argument("--compare", type=Path, default=None, metavar="OLD_REPORT_JSON",
                        help="Print the deltas against an earlier report.json.")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="Only the first N items of the split.")


def _articles_dir(args: argparse.Namespace) -> Path:
    if args.articles is not None:
        return Path(args.articles)
    beside = Path(args.gold).parent / "articles"
    return beside if beside.is_dir() else REPO_ROOT / "data" / "articles"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _new_run_dir(out: Path, split: str) -> Path:
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{split}"
    run_dir, n = out / base, 1
    while run_dir.exists():
        n += 1
        run_dir = out / f"{base}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate on a temporary index; write report.json, report.md and plots; 1 if items erred."""
    from rag.pipeline import Pipeline  # heavy: models load here, not at `newsrag --help`

    items = select(load_gold(Path(args.gold)), args.split, args.limit)
    if not items:
        raise InputError(f"No gold items in split {args.split!r}.", hint="Try --split all.")
    old = load_report(args.compare) if args.compare else None
    articles = _articles_dir(args)
    files = sorted(p for p in articles.iterdir() if p.is_file()) if articles.is_dir() else []
    if not files:
        raise InputError(f"No articles in {articles}.", hint="Pass --articles DIR.")
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
        if args.baseline:
            from rag.baseline import LlamaIndexBaseline

            started = time.perf_counter()
            baseline = LlamaIndexBaseline.build(files, Path(tmp) / "baseline", top_k=RETRIEVE_K)
            _log(f"baseline: indexed {len(files)} files in {time.perf_counter() - started:.1f}s")
            systems["baseline"] = evaluate_system(baseline, items, _log)
    report: dict[str, Any] = {
        "run_id": "",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "gold": str(args.gold),
        "split": args.split,
        "n_items": len(items),
        "settings": settings.model_dump(mode="json"),
        "systems": systems,
    }
    run_dir = _new_run_dir(Path(args.out), args.split)
    report["run_id"] = run_dir.name
    if args.baseline:
        new, base = systems["newsrag"]["overall"], systems["baseline"]["overall"]
        report["ratios"] = {k: _ratio(new.get(k), base.get(k)) for k in SUMMARY_METRICS}
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
