"""Sentence splitting and chunking time against text size: the growth must be linear.

Texts of 50 KB .. 5 MB are built by repeating the sample articles (paragraphs, abbreviations
such as "U.S." and "Col.", initials, quotes), so every size has the same mix of full stops.
For each size: the best of `--rounds` runs of `sentence_spans` (rag/text.py) and of
`chunk_article` (rag/chunk.py) on the spans, and the time per MB, which stays flat when the
growth is linear (before issue 13 it grew with the size: 0.56 s at 50 KB, 37 s at 400 KB).
A text with no full stop at all (one 1 MB "sentence") is timed too.

    .venv/bin/python bench/split_speed.py [--rounds 3] [--max-mb 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.chunk import ChunkParams, chunk_article, split_sentences  # noqa: E402
from rag.types import Article  # noqa: E402

SIZES_KB = [50, 100, 200, 400, 1000, 2000, 5000]


def text_of(size: int) -> str:
    parts = [p.read_text() for p in sorted((REPO / "data" / "articles").glob("*.txt"))]
    base = "\n\n".join(parts) + "\n\n"
    return (base * (size // len(base) + 1))[:size]


def best_of(rounds: int, fn: object) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-mb", type=float, default=5.0)
    args = ap.parse_args()
    params = ChunkParams()
    print(f"{'size':>14} {'sentences':>10} {'split s':>9} {'split s/MB':>11} "
          f"{'chunk s':>9} {'chunks':>7}")
    cases = [(f"{kb} KB", text_of(kb * 1000)) for kb in SIZES_KB if kb <= args.max_mb * 1000]
    cases.append(("1 MB, no stop", "word " * 200_000))
    for label, text in cases:
        art = Article("bench", "Bench", text, None, "bench.txt")
        split = best_of(args.rounds, lambda a=art: split_sentences(a))
        sents = split_sentences(art)
        chunk = best_of(args.rounds, lambda a=art, s=sents: chunk_article(a, params, s))
        chunks = chunk_article(art, params, sents)
        mb = len(text.encode()) / 1e6
        print(f"{label:>14} {len(sents):>10,} {split:>9.3f} {split / mb:>11.3f} "
              f"{chunk:>9.3f} {len(chunks):>7,}", flush=True)


if __name__ == "__main__":
    main()
