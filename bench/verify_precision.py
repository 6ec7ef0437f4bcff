"""Precision and recall of the answer verifier (rag/verify.py) on hand-made claim/source pairs.

Each line of tests/data/verify_pairs.jsonl is a claim, the article sentence it cites, and
whether that sentence supports it (paraphrases; number, date and name swaps; negations;
unsupported additions). "Positive" = the verifier lets the sentence stand. Precision is the
share of sentences let through that are supported: the figure that matters, since a false
positive is a wrong claim shown with a citation. Recall is the share of supported sentences
kept. Uses the packaged embedding model, as the pipeline does.

    .venv/bin/python bench/verify_precision.py [--pairs FILE] [--errors]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=ROOT / "tests" / "data" / "verify_pairs.jsonl")
    ap.add_argument("--errors", action="store_true", help="List every misjudged pair.")
    ap.add_argument("--split", choices=["all", "tuning", "heldout", "heldout2"], default="all",
                    help="'tuning': the pairs the thresholds were set on; 'heldout': pairs "
                    "written afterwards and never tuned on.")
    ap.add_argument("--no-embeddings", action="store_true",
                    help="Judge without embedding similarity (hard checks and coverage only).")
    ap.add_argument("--no-question", action="store_true",
                    help="Judge without the question a pair's claim answers (where it has one).")
    args = ap.parse_args()

    from rag.verify import Source, support

    rows = [json.loads(line) for line in args.pairs.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if args.split != "all":
        rows = [r for r in rows if r.get("split", "tuning") == args.split]
    claim_vecs = source_vecs = None
    if not args.no_embeddings:
        from rag.embed import load_embedder
        from rag.settings import Settings

        embedder = load_embedder(Settings.load().embed_model, 32)
        claim_vecs = embedder.embed([r["claim"] for r in rows])
        source_vecs = embedder.embed([r["source"] for r in rows])
    tp = fp = fn = tn = 0
    wrong_by_kind: Counter[str] = Counter()
    total_by_kind: Counter[str] = Counter()
    for i, r in enumerate(rows):
        source = Source(r["source"], r.get("title", ""), r.get("date"),
                        None if source_vecs is None else source_vecs[i])
        question = "" if args.no_question else r.get("question", "")
        s = support(r["claim"], source, None if claim_vecs is None else claim_vecs[i], question)
        gold = bool(r["supported"])
        total_by_kind[r["kind"]] += 1
        if s.ok and gold:
            tp += 1
        elif s.ok:
            fp += 1
        elif gold:
            fn += 1
        else:
            tn += 1
        if s.ok != gold:
            wrong_by_kind[r["kind"]] += 1
            if args.errors:
                print(f"{'FALSE POSITIVE' if s.ok else 'false negative'} [{r['kind']}] "
                      f"cov={s.coverage:.2f} sim={s.similarity:.2f} {s.reason}: {r['claim']}")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    print(f"split: {args.split}; pairs: {len(rows)} ({tp + fn} supported, {fp + tn} unsupported)")
    print(f"precision: {precision:.3f}  ({tp} of {tp + fp} kept sentences are supported)")
    print(f"recall:    {recall:.3f}  ({tp} of {tp + fn} supported sentences kept)")
    print("misjudged by kind: " + ", ".join(
        f"{k} {wrong_by_kind[k]}/{n}" for k, n in sorted(total_by_kind.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
