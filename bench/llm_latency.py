"""Time to first token and total latency per backend, over the gold questions of one split.

The eval (`newsrag eval --backend ...`) reports quality and total latency; this adds the time
to the first streamed token, which is what a reader waits for. Each backend answers every
question through `Pipeline.ask_stream` on one temporary index of the sample articles; the first
question is a warm-up (model load, prompt cache) and is not counted. The machine's load average
is printed before and after, since other jobs on a 2-core machine move every figure.

For the `local` backend it also breaks the first token down, from llama.cpp's own timings:
retrieval and the extractive answer (`pre`, which includes `condense`: the model rewriting a
follow-up as a standalone question), prompt tokens
in all (`prompt`), read for this question (`read`) and reused from the KV cache (`cached`), the
time reading them (`read ms`) and the rest until the first token (`decode ms`: the first decode
step and the streaming hand-over). Model load is reported once: it is paid once per process.

    .venv/bin/python bench/llm_latency.py --backends extractive local [--split test] [--limit N]
                                          [--per-question]
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["extractive", "local"])
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    ap.add_argument("--per-question", action="store_true",
                    help="Print the local backend's breakdown for every question.")
    args = ap.parse_args()

    from rag.embed import load_embedder
    from rag.llm import LocalLLM
    from rag.pipeline import Pipeline
    from rag.settings import Settings
    from rag.types import Answer, Turn

    items = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    items = [i for i in items if args.split == "all" or i.get("split") == args.split]
    items = items[:args.limit] if args.limit else items
    print(f"load average before: {_loadavg()}")
    with tempfile.TemporaryDirectory(prefix="newsrag-latency-") as tmp:
        base = Settings.load({"index_dir": Path(tmp) / "index", "sample_dir": None})
        embedder = load_embedder(base.embed_model, base.embed_batch_size)
        Pipeline(base, embedder=embedder).ingest([ROOT / "data" / "articles"])
        rows: list[str] = []
        breakdowns: dict[str, list[dict[str, float]]] = {}
        for backend in args.backends:
            pipe = Pipeline(base.model_copy(update={"backend": backend}), embedder=embedder)
            started = time.perf_counter()
            pipe.ask("When must US troops leave Niger?")  # warm-up, not counted
            warm_ms = (time.perf_counter() - started) * 1000
            llm = pipe.generator.llm if backend != "extractive" else None
            local = llm if isinstance(llm, LocalLLM) else None
            if local is not None:
                print(f"local: model load {local.load_ms:.0f} ms (once per process), warm-up "
                      f"question {warm_ms:.0f} ms; {base.llm_sources} sources, "
                      f"{base.llm_threads or os.cpu_count()} threads")
            firsts, totals, by_llm = [], [], 0
            rows_b = breakdowns.setdefault(backend, [])
            for item in items:
                history = [Turn(t["role"], t["content"]) for t in item.get("turns") or []]
                if local is not None:
                    local.timings.clear()
                started = time.perf_counter()
                first = None
                answer: Answer | None = None
                for part in pipe.ask_stream(item["question"], history or None):
                    if first is None:
                        first = (time.perf_counter() - started) * 1000
                    if isinstance(part, Answer):
                        answer = part
                        by_llm += part.backend == backend
                totals.append((time.perf_counter() - started) * 1000)
                firsts.append(first or totals[-1])
                if local is not None and answer is not None:
                    row = _breakdown(list(local.timings), answer.timings_ms, firsts[-1],
                                     totals[-1])
                    rows_b.append(row)
                    if args.per_question:
                        print(_format_row(item["question"][:48], row))
            pipe.close()
            rows.append(f"{backend:<20}{statistics.median(firsts):>16.0f}{_p95(firsts):>8.0f}"
                        f"{statistics.median(totals):>12.0f}{_p95(totals):>8.0f}"
                        f"{by_llm:>8}/{len(items)}")
        print(f"{len(items)} questions ({args.split}); p50 / p95 in ms")
        print(f"{'backend':<20}{'first token p50':>16}{'p95':>8}{'total p50':>12}{'p95':>8}"
              f"{'LLM answered':>14}")
        print("\n".join(rows))
        for backend, bd in breakdowns.items():
            if not bd:
                continue
            print(f"\n{backend}: first-token breakdown, median (p95) over the questions "
                  "the model was asked")
            asked = [r for r in bd if r["prompt"] > 0]
            for key in ("pre", "condense", "prompt", "read", "cached", "read_ms", "decode_ms",
                        "first", "total"):
                xs = [r[key] for r in asked] or [0.0]
                print(f"  {key:<10}{statistics.median(xs):>9.0f}  ({_p95(xs):.0f})")
            reads = sum(r["read"] for r in asked)
            read_ms = sum(r["read_ms"] for r in asked)
            if read_ms:
                print(f"  prompt reading: {reads / read_ms * 1000:.1f} tokens/s")
    print(f"load average after: {_loadavg()}")
    return 0


def _breakdown(timings: list[dict[str, Any]], answer_ms: dict[str, float], first: float,
               total: float) -> dict[str, float]:
    """The answer request is llama.cpp's last; any before it condensed a follow-up."""
    last = timings[-1] if timings else {}
    condense = sum(float(t.get("prompt_ms", 0)) + float(t.get("predicted_ms", 0))
                   for t in timings[:-1])
    # "retrieve" runs from the start of the question, so it includes condensing
    pre = sum(answer_ms.get(k, 0.0) for k in ("retrieve", "rerank", "answer"))
    read = float(last.get("prompt_n", 0))
    cached = float(last.get("cache_n", 0))
    read_ms = float(last.get("prompt_ms", 0))
    return {"pre": pre, "condense": condense, "prompt": read + cached, "read": read,
            "cached": cached, "read_ms": read_ms,
            "decode_ms": max(0.0, first - pre - read_ms) if last else 0.0,
            "first": first, "total": total}


def _format_row(label: str, r: dict[str, float]) -> str:
    return (f"  {label:<50} first {r['first']:>6.0f}  pre {r['pre']:>5.0f}  condense "
            f"{r['condense']:>5.0f}  prompt {r['prompt']:>4.0f} = read {r['read']:>4.0f} + "
            f"cached {r['cached']:>4.0f}  read {r['read_ms']:>5.0f} ms  total {r['total']:>6.0f}")


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(0.95 * len(s)))]


if __name__ == "__main__":
    sys.exit(main())
