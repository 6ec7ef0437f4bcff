"""Warm latency of `Pipeline.ask` with the default (extractive) answerer, by stage.

Builds a fresh index of the sample corpus in a temp dir with the real packaged model, warms up,
then asks every question of the gold set (all splits) `--rounds` times and prints p50/p95 of
each stage. Target on 2 cores: p50 <= 150 ms total.

    .venv/bin/python bench/query_latency.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.pipeline import Pipeline  # noqa: E402
from rag.settings import Settings  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in
                 (REPO / "eval" / "gold.jsonl").read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        pipe = Pipeline(Settings.load({"index_dir": tmp}, env={}))
        pipe.ingest([REPO / "data" / "articles"])
        for q in questions[:5]:  # warm-up: model, caches, SQLite pages
            pipe.ask(q + " (warm-up)")
        stages: dict[str, list[float]] = {}
        wall: list[float] = []
        for r in range(args.rounds):
            for q in questions:
                # A new string each round so the query-embedding cache never answers.
                t0 = time.perf_counter()
                ans = pipe.ask(f"{q} #{r}")
                wall.append((time.perf_counter() - t0) * 1000)
                for k, v in ans.timings_ms.items():
                    stages.setdefault(k, []).append(v)
    print(f"{len(wall)} asks ({len(questions)} questions x {args.rounds} rounds), warm, "
          f"{os.cpu_count()} cores")
    print(f"{'stage':10} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for k in ("retrieve", "rerank", "answer", "total"):
        v = stages[k]
        print(f"{k:10} {pct(v, 50):8.1f} {pct(v, 95):8.1f} {statistics.mean(v):8.1f}")
    print(f"{'wall':10} {pct(wall, 50):8.1f} {pct(wall, 95):8.1f} {statistics.mean(wall):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
