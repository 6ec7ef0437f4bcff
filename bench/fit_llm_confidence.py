"""Fits when an LLM's supported short answer should stand: a logistic model of P(the answer is
right) over the extractive reader's confidence and the reply's own token probabilities
(rag/generate.py `ReplyConfidence`), from the per-question records of
`bench/llm_latency.py --rtqa ... --jsonl` on the weeks trained on (2024), and the threshold
curve there and on records it did not see (`--check`, the dev weeks).

    .venv/bin/python bench/fit_llm_confidence.py TRAIN.jsonl [TRAIN2.jsonl ...] \
        [--check DEV.jsonl] [--write rag/models/llm-confidence.json]

The threshold is chosen on the training records by the rule of `abstain_threshold`: the lowest
whose wrong answers stay within 15% of the questions. The outcome of each question under a
policy is recomputed from its record: NONE abstains; an unsupported answer gives the extractive
reader's answer (or its abstention); a supported one stands when its probability reaches the
threshold, else abstains. Out-of-fold figures on the training records hold one week out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.confidence import ANSWER_FEATURES, ReplyConfidence, answer_features  # noqa: E402

WRONG_CAP = 0.15
THRESHOLDS = [round(x, 2) for x in np.arange(0.0, 0.91, 0.05)]


def load(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    return rows


def features(row: dict[str, Any]) -> list[float] | None:
    c = row.get("llm_confidence")
    if not row["supported"] or c is None:
        return None
    return answer_features(row["ext_confidence"], ReplyConfidence(**c))


def fit(rows: list[dict[str, Any]], c: float) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    xs = [(features(r), bool(r["llm_right"])) for r in rows]
    x = np.array([f for f, _ in xs if f is not None])
    y = np.array([t for f, t in xs if f is not None])
    model = LogisticRegression(C=c, max_iter=1000).fit(x, y)
    return model.coef_[0], float(model.intercept_[0])


def prob(row: dict[str, Any], w: np.ndarray, b: float) -> float | None:
    f = features(row)
    return None if f is None else float(1 / (1 + np.exp(-(np.dot(w, f) + b))))


def outcome(row: dict[str, Any], p: float | None, threshold: float) -> str:
    if row["none"]:
        return "abstained"
    if not row["supported"]:
        if row["ext_abstained"]:
            return "abstained"
        return "right" if row["ext_right"] else "wrong"
    if p is not None and p < threshold:
        return "abstained"
    return "right" if row["llm_right"] else "wrong"


def floor_outcome(row: dict[str, Any], floor: float) -> str:
    """Today's policy: the supported answer stands when the reader's confidence >= floor."""
    p = 1.0 if row["ext_confidence"] >= floor else 0.0
    return outcome(row, p, 0.5)


def summary(outs: list[str], rows: list[dict[str, Any]]) -> tuple[float, float, str]:
    n = len(outs)
    right = outs.count("right") / n
    wrong = outs.count("wrong") / n
    nf = sum(r["findable"] for r in rows)
    rf = sum(o == "right" and r["findable"] for o, r in zip(outs, rows, strict=True))
    return right, wrong, (f"right {right:6.1%}  wrong {wrong:6.1%}  abstained "
                          f"{1 - right - wrong:6.1%}  right of findable {rf}/{nf} "
                          f"({rf / max(nf, 1):.1%})")


def curve(label: str, rows: list[dict[str, Any]], probs: list[float | None]) -> None:
    print(f"\n{label} ({len(rows)} questions)")
    for floor in (0.0, 0.15, 0.2):
        print(f"  reader floor {floor:<5}      "
              + summary([floor_outcome(r, floor) for r in rows], rows)[2])
    for t in THRESHOLDS:
        print(f"  P(right) >= {t:<5}      "
              + summary([outcome(r, p, t) for r, p in zip(rows, probs, strict=True)], rows)[2])


def choose(rows: list[dict[str, Any]], probs: list[float | None]) -> float:
    for t in THRESHOLDS:
        _, wrong, _ = summary([outcome(r, p, t) for r, p in zip(rows, probs, strict=True)], rows)
        if wrong <= WRONG_CAP:
            return t
    return THRESHOLDS[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("train", nargs="+", type=Path)
    ap.add_argument("--check", nargs="*", type=Path, default=[])
    ap.add_argument("--c", type=float, default=1.0, help="Inverse L2 strength.")
    ap.add_argument("--write", type=Path, default=None)
    ap.add_argument("--llm", default=None,
                    help="The model the records came from (default: the llm_model_path "
                    "setting's file name).")
    args = ap.parse_args()
    train = load(args.train)
    n_fit = sum(features(r) is not None for r in train)
    w, b = fit(train, args.c)
    print(f"fitted on {n_fit} supported answers of {len(train)} questions "
          f"({', '.join(p.name for p in args.train)})")
    print("weights: " + ", ".join(f"{n} {v:+.3f}" for n, v in zip(ANSWER_FEATURES, w,
                                                                   strict=True))
          + f", intercept {b:+.3f}")
    # out of fold: each week's questions scored by a model fitted without that week
    weeks = sorted({r["week"] for r in train})
    oof: dict[str, float | None] = {}
    for week in weeks:
        rest = [r for r in train if r["week"] != week]
        wk, bk = fit(rest, args.c)
        for r in train:
            if r["week"] == week:
                oof[r["id"]] = prob(r, wk, bk)
    oof_probs = [oof[r["id"]] for r in train]
    curve("trained on, out of fold (one week held out)", train, oof_probs)
    threshold = choose(train, oof_probs)
    print(f"\nchosen on the training weeks, out of fold: P(right) >= {threshold}")
    if args.check:
        check = load(args.check)
        curve(f"check ({', '.join(p.name for p in args.check)}), not trained on", check,
              [prob(r, w, b) for r in check])
    if args.write:
        from rag.settings import Settings

        llm = args.llm or Path(Settings.load({}).llm_model_path).name
        args.write.write_text(json.dumps({
            "llm": llm,
            "features": list(ANSWER_FEATURES), "weights": [round(float(v), 6) for v in w],
            "intercept": round(b, 6), "threshold": threshold,
            "fitted_on_weeks": weeks, "questions": len(train),
            "supported_answers": n_fit, "C": args.c,
            "how": "bench/fit_llm_confidence.py over bench/llm_latency.py --rtqa --jsonl "
                   "records; threshold: the lowest whose out-of-fold wrong answers stay "
                   f"within {WRONG_CAP:.0%}",
        }, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
