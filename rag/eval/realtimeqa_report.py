"""The RealTimeQA eval's report: ingest totals, report.json, report.md and its plots.

Pure formatting over the report dict `rag.eval.realtimeqa` builds, reusing `rag.eval.report`'s
tables and plots.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.eval.report import (
    group_rows,
    md_table,
    new_run_dir,
    short,
    summary_rows,
    write_bar_plot,
    write_latency_plot,
)
from rag.eval.rtqa_cache import BuildStats

GOLD_AT = (1, 5, 30)
METRICS = (
    "right", "right_short", "wrong", "abstained", "short_rate", "short_f1",
    *(f"gold@{k}" for k in GOLD_AT), "citation_precision", "latency_p50_ms", "latency_p95_ms",
)
_BY = ("by_findable", "by_source", "by_week")


_FIELDS = ("articles", "added", "chunks", "errors", "seconds")


def _total(builds: Iterable[dict[str, Any]]) -> dict[str, Any]:
    stats = [BuildStats(**{k: b[k] for k in _FIELDS}) for b in builds if "seconds" in b]
    total = BuildStats(*(sum(getattr(s, f) for s in stats) for f in _FIELDS))
    return {"indexes": len(stats), **asdict(total),
            "articles_per_s": round(total.articles_per_s, 2),
            "chunks_per_s": round(total.chunks_per_s, 2)}


def ingest_totals(builds: dict[str, Any]) -> dict[str, Any]:
    """What this run built, and what the cached indexes it used cost when they were built."""
    return {"built": _total(b for b in builds.values() if not b["cached"]),
            "cached": _total(b for b in builds.values() if b["cached"]),
            "n_cached": sum(1 for b in builds.values() if b["cached"])}


def _ingest_line(t: dict[str, Any]) -> str:
    return (f"{t['added']}/{t['articles']} articles, {t['chunks']} chunks in "
            f"{t['seconds']:.1f}s, {t['articles_per_s']:.2f} articles/s, "
            f"{t['chunks_per_s']:.1f} chunks/s")


def write_report(report: dict[str, Any], out: Path) -> Path:
    run_dir = new_run_dir(out, f"rtqa-{report['split'].replace('..', '-')}")
    report["run_id"] = run_dir.name
    plots = write_bar_plot(report, run_dir, "by_source", "right", "right_by_source.png",
                           "Right by question source")
    plots += write_bar_plot(report, run_dir, "by_findable", "right", "right_by_findable.png",
                            "Right, findable or not")
    plots += write_latency_plot(report, run_dir)
    (run_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
    (run_dir / "report.md").write_text(render_markdown(report, plots), encoding="utf-8")
    return run_dir


def lost_by_reader(items: Iterable[dict[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """Not right although a top-5 passage held the gold: the reader's failures, best ranked
    first."""
    lost = [i for i in items if not i["right"] and i["gold_rank"] is not None
            and i["gold_rank"] <= 5]
    return sorted(lost, key=lambda i: (i["gold_rank"], i["id"]))[:n]


def render_markdown(report: dict[str, Any], plots: Sequence[str]) -> str:
    ing = report["ingest"]
    parts = [
        f"# RealTimeQA eval {report['run_id']}", "",
        f"`{report['gold']}`, weeks `{report['split']}` ({len(report['weeks'])} weeks), "
        f"{report['mode']} indexes, {report['n_items']} questions asked open-ended, created "
        f"{report['created']}. Right = holds the gold choice and no other; right_short judges "
        f"the short answer alone; short_f1 is RealTimeQA's token F1; gold@k = the gold text is "
        f"in the top k retrieved passages.", "",
        f"Ingest: {ing['built']['indexes']} indexes built"
        + (f" ({_ingest_line(ing['built'])})" if ing["built"]["indexes"] else "")
        + f", {ing['n_cached']} from the cache"
        + (f" (their first build: {_ingest_line(ing['cached'])})"
           if ing["cached"]["indexes"] else "") + ".", "",
        "## Overall", "", md_table(summary_rows(report, METRICS)), "",
    ]
    cols = ("right", "wrong", "abstained", "short_f1", "gold@5")
    for key, title in zip(_BY, ("By findable", "By question source", "By week"), strict=True):
        parts += [f"## {title}", "", md_table(group_rows(report, key, cols)), ""]
    parts += [f"![{p}]({p})\n" for p in plots]
    for name, s in report["systems"].items():
        parts += [f"## Lost by the reader: {name} (gold in the top 5, answer not right)", ""]
        for item in lost_by_reader(s["items"]):
            parts += [
                f"- **{item['id']}** {item['question']} — gold *{item['gold']}*, rank "
                f"{item['gold_rank']}; {'abstained' if item['abstained'] else 'answered'}: "
                f"{short(item['error'] or item['answer'], 240)}"
                + (f" (short: *{item['short_answer']}*)" if item["short_answer"] else "")]
        parts.append("")
    return "\n".join(parts)
