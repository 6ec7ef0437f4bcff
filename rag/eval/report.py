"""Eval reports: the summary table, the Markdown report, the plots and `--compare` deltas.

Pure formatting over the report dict that `rag.eval.gold` builds; matplotlib is imported only
when plots are drawn.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.eval import metrics as m

# The figures the summary table prints, in order.
SUMMARY_METRICS = (
    "accuracy", "hit@1", "hit@5", "recall@5", "mrr", "ndcg@10", "exact_match", "f1", "contains",
    "answer_words", "citation_precision", "citation_recall", "citation_faithfulness",
    "span_validity",
    "refusal_precision", "refusal_recall", "false_refusal_rate", "latency_p50_ms",
    "latency_p95_ms",
)


# ---------------------------------------------------------------------------------------------
# rendering


def _fmt(value: float | None, name: str) -> str:
    if value is None:
        return "-"
    unit = m.metric_info(name).unit
    return f"{value:.0f}" if unit == "ms" else f"{value:.1f}" if unit else f"{value:.3f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summary_rows(report: dict[str, Any],
                 metrics: Sequence[str] = SUMMARY_METRICS) -> list[list[str]]:
    """Rows of metric | each system | ratio (first system / second), as strings."""
    systems = report["systems"]
    names = list(systems)
    rows = [["metric", *names] + (["ratio"] if len(names) == 2 else [])]
    for metric in metrics:
        values = [systems[n]["overall"].get(metric) for n in names]
        row = [metric, *(_fmt(v, metric) for v in values)]
        if len(names) == 2:
            r = ratio(values[0], values[1])
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


def short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def group_rows(report: dict[str, Any], groups_key: str,
               metrics: Sequence[str]) -> list[list[str]]:
    """Rows of group | n | each system's figures, for `system[groups_key][group]` dicts that
    carry an `n`; the groups are the first system's."""
    systems = report["systems"]
    rows = [["group", "n"] + [f"{s} {k}" for s in systems for k in metrics]]
    for group, figures in next(iter(systems.values()))[groups_key].items():
        row = [group, str(figures["n"])]
        for s in systems.values():
            got = s[groups_key].get(group, {})
            row += [_fmt(got.get(k), k) for k in metrics]
        rows.append(row)
    return rows


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
    rows = group_rows(report, "per_category",
                      ("accuracy", "f1", "hit@5", "citation_precision", "abstain_rate"))
    rows[0][0] = "category"
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
                f"{short(item['error'] or item['answer'])}",
                f"- F1 {_fmt(item['scores'].get('f1'), 'f1')}, hit@5 "
                f"{_fmt(item['scores'].get('hit@5'), 'hit@5')}",
            ]
            parts += [f"  - [{c['n']}] {c['title']} ({c['date'] or 'no date'}): "
                      f"“{short(c['quote'], 200)}”" for c in item["citations"]]
            parts.append("")
    return "\n".join(parts)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on servers and in CI
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install matplotlib).", file=sys.stderr)
        return None
    return plt


def write_bar_plot(report: dict[str, Any], out_dir: Path, groups_key: str, metric: str,
                   filename: str, title: str) -> list[str]:
    """Bars of one metric per group (`system[groups_key]`), one colour per system."""
    plt = _pyplot()
    if plt is None:
        return []
    systems = report["systems"]
    groups = list(next(iter(systems.values()))[groups_key])
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, (name, s) in enumerate(systems.items()):
        values = [s[groups_key].get(g, {}).get(metric) or 0.0 for g in groups]
        ax.bar([x + i * width for x in range(len(groups))], values, width, label=name)
    ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(groups))], groups,
                  rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / filename, dpi=100)
    plt.close(fig)
    return [filename]


def write_latency_plot(report: dict[str, Any], out_dir: Path) -> list[str]:
    """A histogram of every item's `latency_ms`, per system (items that raised left out)."""
    plt = _pyplot()
    if plt is None:
        return []
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, s in report["systems"].items():
        ax.hist([i["latency_ms"] for i in s["items"] if not i["error"]], bins=20, alpha=0.6,
                label=name)
    ax.set_xlabel("ms per question")
    ax.set_ylabel("items")
    ax.set_title("Latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "latency.png", dpi=100)
    plt.close(fig)
    return ["latency.png"]


def write_plots(report: dict[str, Any], out_dir: Path) -> list[str]:
    """Per-category accuracy bars and a latency histogram; [] when matplotlib is missing."""
    return write_bar_plot(report, out_dir, "per_category", "accuracy",
                          "accuracy_by_category.png",
                          f"Accuracy by category ({report['split']})") + \
        write_latency_plot(report, out_dir)


def compare_table(old: dict[str, Any], new: dict[str, Any],
                  metrics: Sequence[str] = SUMMARY_METRICS) -> str:
    """Deltas new - old for every system in both reports, marked better or worse."""
    rows = [["system", "metric", "old", "new", "delta", ""]]
    for name, s in new["systems"].items():
        if name not in old.get("systems", {}):
            continue
        before = old["systems"][name]["overall"]
        for metric in metrics:
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


def new_run_dir(out: Path, label: str) -> Path:
    """A new folder `out/<timestamp>-<label>[-n]` for one run's report: never an earlier run's
    (created with exist_ok=False, so two runs started in the same second get two folders)."""
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    out.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        run_dir = out / (base if n == 1 else f"{base}-{n}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise InputError(f"Too many reports named {base} in {out}.", hint="Pass another --out.")
