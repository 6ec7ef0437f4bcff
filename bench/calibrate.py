"""Calibrate the abstain threshold on the gold DEV split (never on test).

Answers every dev item with abstention switched off, records the answerer's confidence and
whether the answer would be right, then sweeps the threshold and prints, for each value, the
share of items handled right (answerable: answered and containing an accepted answer;
unanswerable: abstained), refusal recall and the false-refusal rate.

    .venv/bin/python bench/calibrate.py [--split dev] [--verbose] [--embed-model NAME]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.eval import metrics  # noqa: E402
from rag.eval.gold import load_gold, select  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.settings import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="dev")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--embed-model", default=None,
                    help="embedding model to calibrate with (default: the setting's default)")
    args = ap.parse_args()
    items = select(load_gold(REPO / "eval" / "gold.jsonl"), args.split)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load({"index_dir": tmp, "abstain_threshold": 0.0,
                                  "embed_model": args.embed_model}, env={})
        pipe = Pipeline(settings)
        pipe.ingest([REPO / "data" / "articles"])
        rows = []
        for it in items:
            ans = pipe.ask(it.question, history=list(it.turns))
            plain = metrics.strip_citation_markers(ans.text)
            right = bool(it.answers) and metrics.contains_alias(plain, it.answers)
            rows.append((it, ans.confidence, right))
            if args.verbose:
                flag = "ok " if right else ("-- " if it.answers else "UNA")
                print(f"{flag} {ans.confidence:.3f} {it.category:13} {it.question[:70]}")
                print(f"            {ans.text[:150]}")
    print(f"\n{'threshold':>9} {'right':>6} {'refusal_recall':>14} {'false_refusal':>13}")
    for t in [x / 100 for x in range(20, 71, 2)]:
        ok = sum((c >= t and r) if it.answers else (c < t) for it, c, r in rows)
        una = [c for it, c, _ in rows if not it.answers]
        ans_ = [c for it, c, _ in rows if it.answers]
        rr = sum(c < t for c in una) / max(1, len(una))
        fr = sum(c < t for c in ans_) / max(1, len(ans_))
        print(f"{t:9.2f} {ok / len(rows):6.3f} {rr:14.3f} {fr:13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
