"""Choose the learned reader's abstain threshold from a RealTimeQA eval run, and print the curve.

    newsrag eval --dataset realtimeqa ../shared/realtimeqa/past --weeks 2024-11..2024-12 \
        --out /tmp/cal    # run with NEWSRAG_ANSWER_THRESHOLD=0, so every question is answered
    python bench/calibrate_rtqa.py /tmp/cal/report.json [--max-wrong 0.15]

For every threshold t on the answer's calibrated confidence, a question is answered when its
confidence >= t: the table gives right / wrong / abstained shares over all questions and right
over the findable ones. The chosen threshold is the lowest t whose wrong share is within
`--max-wrong` (most right answers at that bound). Run it on 2024 weeks only: 2025 is the dev
split that measures the choice.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _items(report: dict[str, Any], system: str) -> list[dict[str, Any]]:
    for key in ("systems", "results"):
        block = report.get(key)
        if isinstance(block, dict) and system in block:
            items = block[system].get("items")
            if isinstance(items, list):
                return items
    if isinstance(report.get("items"), list):
        return list(report["items"])
    raise SystemExit(f"no per-question items for system {system!r} in the report")


def curve(items: list[dict[str, Any]], thresholds: list[float]) -> list[dict[str, float]]:
    n = len(items)
    findable = [it for it in items if it.get("findable")]
    rows = []
    for t in thresholds:
        answered = [it for it in items if not it.get("error") and it["confidence"] >= t
                    and not (it.get("abstained") and it["confidence"] == 0)]
        right = sum(1 for it in answered if it["right"])
        right_f = sum(1 for it in answered if it["right"] and it.get("findable"))
        rows.append({"t": t, "right": right / n, "wrong": (len(answered) - right) / n,
                     "abstained": 1 - len(answered) / n,
                     "right_findable": right_f / max(len(findable), 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--system", default="newsrag")
    ap.add_argument("--max-wrong", type=float, default=0.15)
    args = ap.parse_args()
    items = _items(json.loads(args.report.read_text()), args.system)
    thresholds = [round(0.02 * i, 2) for i in range(0, 50)]
    rows = curve(items, thresholds)
    print(f"{len(items)} questions, {sum(1 for it in items if it.get('findable'))} findable")
    print(f"{'t':>5} {'right':>6} {'wrong':>6} {'abst':>6} {'right|findable':>15}")
    for r in rows:
        print(f"{r['t']:5.2f} {r['right']:6.3f} {r['wrong']:6.3f} {r['abstained']:6.3f} "
              f"{r['right_findable']:15.3f}")
    ok = [r for r in rows if r["wrong"] <= args.max_wrong]
    if ok:
        best = max(ok, key=lambda r: (r["right"], -r["t"]))
        print(f"chosen threshold {best['t']:.2f}: right {best['right']:.3f}, wrong "
              f"{best['wrong']:.3f}, right of findable {best['right_findable']:.3f}")
    else:
        print(f"no threshold keeps wrong within {args.max_wrong}")


if __name__ == "__main__":
    main()
