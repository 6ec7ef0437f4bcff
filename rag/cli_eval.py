"""`newsrag eval`: its arguments, and the eval they run.

`--dataset gold` (the default) runs `rag.eval.gold` on `--gold` and `--articles`;
`--dataset realtimeqa PATH` runs `rag.eval.realtimeqa` on the RealTimeQA files at PATH. This is
the only eval module that reads argparse: the harnesses take typed arguments, so scripts
(`bench/`) call them directly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rag.errors import InputError
from rag.eval.gold import SPLITS
from rag.settings import REPO_ROOT, Settings

DATASETS = ("gold", "realtimeqa")


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
    parser.add_argument("--baseline-llm", action="store_true",
                        help="RealTimeQA with --backend local|ollama|openai-compatible: also "
                        "ask llama-index's stock CitationQueryEngine with the same model "
                        "(reported as 'baseline-llm'; slow: its prompts are ~2,000 tokens).")
    parser.add_argument("--compare", type=Path, default=None, metavar="OLD_REPORT_JSON",
                        help="Print the deltas against an earlier report.json.")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="Only the first N items of the split (RealTimeQA: the first N "
                        "questions, in week order).")
    parser.add_argument("--dataset", nargs="+", default=["gold"], metavar=("NAME", "PATH"),
                        help="'gold' (default: --gold and --articles) or 'realtimeqa PATH' (a "
                        "RealTimeQA checkout or its past/ folder).")
    parser.add_argument("--weeks", default=None, metavar="RANGE",
                        help="RealTimeQA weeks: YYYY, YYYY-MM, YYYYMMDD or A..B (default all).")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--per-week", dest="archive", action="store_false", default=False,
                      help="RealTimeQA: one index per week, its questions asked of it (default).")
    mode.add_argument("--archive", dest="archive", action="store_true",
                      help="RealTimeQA: one index of all selected weeks.")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="RealTimeQA: where built indexes are kept (default "
                        "$XDG_CACHE_HOME/newsrag/rtqa or ~/.cache/newsrag/rtqa).")
    parser.add_argument("--rebuild", action="store_true",
                        help="RealTimeQA: rebuild cached indexes (after an ingest change).")


def _dataset(args: argparse.Namespace) -> tuple[str, Path | None]:
    name, *rest = getattr(args, "dataset", None) or ["gold"]
    if name not in DATASETS or len(rest) > 1:
        raise InputError(f"Unknown dataset {' '.join(args.dataset)!r}.",
                         hint="Use --dataset gold or --dataset realtimeqa PATH.")
    if name == "realtimeqa" and not rest:
        raise InputError("--dataset realtimeqa needs the path of the RealTimeQA files.",
                         hint="e.g. --dataset realtimeqa ../shared/realtimeqa")
    return name, Path(rest[0]) if rest else None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the eval `args` name on a temporary (gold) or cached (RealTimeQA) index; 1 if any
    item raised."""
    dataset, rtqa_root = _dataset(args)
    if dataset == "realtimeqa" and rtqa_root is not None:
        from rag.eval import realtimeqa

        return realtimeqa.run(settings, rtqa_root, out=args.out, weeks=args.weeks,
                              archive=args.archive, limit=args.limit, baseline=args.baseline,
                              baseline_llm=args.baseline_llm, compare=args.compare,
                              cache_dir=args.cache_dir, rebuild=args.rebuild)
    if args.baseline_llm:
        raise InputError("--baseline-llm is for --dataset realtimeqa.",
                         hint="e.g. newsrag eval --dataset realtimeqa PATH --backend local "
                         "--baseline-llm --limit 20")
    from rag.eval import gold

    return gold.run(settings, gold=args.gold, split=args.split, out=args.out,
                    articles=args.articles, baseline=args.baseline, compare=args.compare,
                    limit=args.limit)
