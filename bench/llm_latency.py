"""Time to first token and total latency per backend, over the gold questions of one split.

The eval (`newsrag eval --backend ...`) reports quality and total latency; this adds the time
to the first streamed token, which is what a reader waits for. Each backend answers every
question through `Pipeline.ask_stream` on one temporary index of the sample articles; the first
question is a warm-up (model load, prompt cache) and is not counted.

    .venv/bin/python bench/llm_latency.py --backends extractive local [--split test] [--limit N]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["extractive", "local"])
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    args = ap.parse_args()

    from rag.embed import load_embedder
    from rag.pipeline import Pipeline
    from rag.settings import Settings
    from rag.types import Answer, Turn

    items = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    items = [i for i in items if args.split == "all" or i.get("split") == args.split]
    items = items[:args.limit] if args.limit else items
    with tempfile.TemporaryDirectory(prefix="newsrag-latency-") as tmp:
        base = Settings.load({"index_dir": Path(tmp) / "index", "sample_dir": None})
        embedder = load_embedder(base.embed_model, base.embed_batch_size)
        Pipeline(base, embedder=embedder).ingest([ROOT / "data" / "articles"])
        print(f"{len(items)} questions ({args.split}); p50 / p90 in ms")
        print(f"{'backend':<20}{'first token p50':>16}{'p90':>8}{'total p50':>12}{'p90':>8}"
              f"{'LLM answered':>14}")
        for backend in args.backends:
            pipe = Pipeline(base.model_copy(update={"backend": backend}), embedder=embedder)
            pipe.ask("When must US troops leave Niger?")  # warm-up, not counted
            firsts, totals, by_llm = [], [], 0
            for item in items:
                history = [Turn(t["role"], t["content"]) for t in item.get("turns") or []]
                started = time.perf_counter()
                first = None
                for part in pipe.ask_stream(item["question"], history or None):
                    if first is None:
                        first = (time.perf_counter() - started) * 1000
                    if isinstance(part, Answer):
                        by_llm += part.backend == backend
                totals.append((time.perf_counter() - started) * 1000)
                firsts.append(first or totals[-1])
            pipe.close()
            print(f"{backend:<20}{statistics.median(firsts):>16.0f}{_p90(firsts):>8.0f}"
                  f"{statistics.median(totals):>12.0f}{_p90(totals):>8.0f}"
                  f"{by_llm:>8}/{len(items)}")
    return 0


def _p90(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(0.9 * len(s)))]


if __name__ == "__main__":
    sys.exit(main())
