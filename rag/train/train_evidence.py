"""Fit the learned reader's sentence chooser and answer-type model (rag/evidence.py) on 2024.

    python -m rag.train.train_evidence ../shared/realtimeqa/past      # ranker "none" (default)
    python -m rag.train.train_evidence ../shared/realtimeqa/past --ranker cross-encoder \\
        --fold-rankers /tmp/ce_a /tmp/ce_b        # -> rag/models/evidence-cross-encoder.json

For each 2024 question, its own articles' sentences stand in for retrieval: the 40 sharing the
most terms with the question, then rag/learned.py's own pre-filter (fused cosine and term
ranks) down to the sentences the ranker reads. A sentence is a positive when RealTimeQA's judge
calls it right (it holds the gold choice and no other).

Without a ranker (the default since it was measured: the fold cross-encoders' top sentence was
right on 20% of the questions with a right sentence in the pool, random 18%, the pre-filter's
first 33%, and the chooser was as good without their scores), the sentence features alone are
fitted. With `--ranker cross-encoder`, the ranker's scores must be ones it gives on questions
it did not train on, or the chooser learns to trust it too much: the two `--fold-rankers` are
cross-encoders trained by `rag.train.train_ranker --train-weeks` on 2024-01..06 and
2024-07..12; each scores the other half. The answer-type model is cross-fitted on the same
halves. Figures are printed out of fold (fit on one half, measured on the other); the shipped
models are fitted on all of 2024.
2025 is never read here.
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.eval import rtqa
from rag.evidence import (
    AnswerTypeModel,
    EvidenceIn,
    EvidenceModel,
    answer_probability,
    evidence_path,
    feature_names,
    features,
    model_feature_names,
    null_features,
    question_tokens,
)
from rag.language import normalize_answer
from rag.nlp import SPAN_LABELS, QuestionInfo, SpanCandidate, analyse_question, span_candidates
from rag.read import SpanModel, read_span, span_features
from rag.text import sentence_spans, terms

SEED = 13
WEEKS = "2024"
FOLDS = ("2024-01..2024-06", "2024-07..2024-12")
KEYWORD_POOL = 40
L2 = 1.0
SPAN_L2 = 1.0
TYPE_C = 0.5


@dataclass
class Sent:
    text: str
    title: str
    index: int
    date: str | None
    cosine: float
    right: bool
    spans: tuple[SpanCandidate, ...]
    logit: float = 0.0


@dataclass
class Q:
    qid: str
    week: str
    date: str | None
    question: str
    info: QuestionInfo
    findable: bool
    gold: str
    fold: int
    sents: list[Sent] = field(default_factory=list)


def _pool(q: rtqa.RtqaQuestion) -> list[tuple[str, str, int, str | None]]:
    seen: set[str] = set()
    out = []
    for a in q.articles:
        for i, (s, e) in enumerate(sentence_spans(a.text)):
            text = a.text[s:e]
            if len(text.split()) < 4 or len(text) > 1000 or text in seen:
                continue
            seen.add(text)
            out.append((text, a.title, i, a.date))
    qt = set(terms(q.question))
    out.sort(key=lambda x: -len(qt & set(terms(x[0]))))
    return out[:KEYWORD_POOL]


def build(root: Path, cache: Path) -> list[Q]:
    if cache.exists():
        with cache.open("rb") as f:
            rows: list[Q] = pickle.load(f)  # our own scratch file, never shipped
            return rows
    from rag.embed import load_embedder
    from rag.learned import fused_order
    from rag.settings import Settings

    emb = load_embedder(Settings.load().embed_model)
    questions = rtqa.load(root, WEEKS)
    lo_b = FOLDS[1].split("..")[0].replace("-", "")
    out: list[Q] = []
    t0 = time.time()
    for n, q in enumerate(questions):
        pool = _pool(q)
        if not pool:
            continue
        vecs = emb.embed([q.question, *[p[0] for p in pool]])
        cos = vecs[1:] @ vecs[0]
        keep = fused_order(q.question, cos, [p[0] for p in pool])  # rag/learned.py's
        spans = span_candidates([pool[i][0] for i in keep])
        row = Q(q.id, q.week, q.date, q.question, analyse_question(q.question), q.findable,
                q.gold, int(q.week[:6] >= lo_b[:6]))
        for i, sp in zip(keep, spans, strict=True):
            text, title, idx, d = pool[i]
            row.sents.append(Sent(text, title, idx, d, float(cos[i]), rtqa.judge(text, q),
                                  tuple(sp)))
        out.append(row)
        if n % 100 == 0:
            print(f"built {n}/{len(questions)} {time.time() - t0:.0f}s", flush=True)
    with cache.open("wb") as f:
        pickle.dump(out, f)
    return out


def score_with(rows: Sequence[Q], folders: Sequence[Path]) -> None:
    """Each half's sentences get the logits of the ranker trained on the other half."""
    from rag.rank import CrossEncoderRanker

    rankers = [CrossEncoderRanker(f) for f in folders]
    for r in rows:
        ranker = rankers[1 - r.fold]
        for s, logit in zip(r.sents, ranker.logits(r.question, [s.text for s in r.sents]),
                            strict=True):
            s.logit = logit


def mismatched(rows: Sequence[Q], folders: Sequence[Path] | None) -> list[Q]:
    """Each question again, over the candidates of a question from another week: questions
    about things an archive does not hold, which must go to "none". RealTimeQA's own articles
    were found by searching for the question, so without these the chooser would rarely see
    a question its candidates don't answer at all."""
    import random
    from dataclasses import replace

    from rag.rank import CrossEncoderRanker

    rankers = [CrossEncoderRanker(f) for f in folders] if folders else []
    rng = random.Random(SEED)
    out = []
    for r in rows:
        other = rng.choice(rows)
        while other.week == r.week:
            other = rng.choice(rows)
        sents = [replace(s, right=False, logit=0.0) for s in other.sents]
        logits = (rankers[1 - r.fold].logits(r.question, [s.text for s in sents]) if rankers
                  else [0.0] * len(sents))
        for s, logit in zip(sents, logits, strict=True):
            s.logit = logit
        out.append(Q(f"{r.qid}~{other.qid}", r.week, r.date, r.question, r.info, False, r.gold,
                     r.fold, sents))
    return out


def gold_label(r: Q) -> str | None:
    """The entity label of the gold answer as the NER model tags it inside a right sentence."""
    g = normalize_answer(r.gold)
    found: list[str] = []
    for s in r.sents:
        if not s.right:
            continue
        for sp in s.spans:
            if normalize_answer(sp.text) == g:
                found.append(sp.label)
    if not found:
        return None
    entities = [lab for lab in found if lab != "NOUN_CHUNK"]
    return entities[0] if entities else found[0]


def fit_types(rows: Sequence[Q]) -> AnswerTypeModel:
    from sklearn.linear_model import LogisticRegression

    data = [(question_tokens(r.question, r.info), lab) for r in rows
            if (lab := gold_label(r)) is not None]
    counts: dict[str, int] = {}
    for toks, _ in data:
        for t in set(toks):
            counts[t] = counts.get(t, 0) + 1
    vocab = {t: i for i, t in enumerate(sorted(t for t, c in counts.items() if c >= 2))}
    x = np.zeros((len(data), len(vocab)), dtype=np.float32)
    for i, (toks, _) in enumerate(data):
        for t in toks:
            if t in vocab:
                x[i, vocab[t]] = 1.0
    y = [lab for _, lab in data]
    lr = LogisticRegression(C=TYPE_C, max_iter=3000)
    lr.fit(x, y)
    labels = tuple(str(c) for c in lr.classes_)
    coef = np.zeros((len(SPAN_LABELS), len(vocab)), dtype=np.float32)
    intercept = np.full(len(SPAN_LABELS), -20.0, dtype=np.float32)  # never seen as an answer
    for k, lab in enumerate(labels):
        j = SPAN_LABELS.index(lab)
        coef[j] = lr.coef_[k] if len(labels) > 2 else (lr.coef_[0] if k else -lr.coef_[0])
        intercept[j] = lr.intercept_[k] if len(labels) > 2 else 0.0
    return AnswerTypeModel(tuple(SPAN_LABELS), vocab, coef, intercept)


def matrices(rows: Sequence[Q], types: AnswerTypeModel | Sequence[AnswerTypeModel]
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(sentence features, null features, sentence labels) per question."""
    out = []
    for r in rows:
        model = types if isinstance(types, AnswerTypeModel) else types[1 - r.fold]
        tp = model.probabilities(r.question, r.info)
        ins = [EvidenceIn(s.text, s.logit, s.cosine, s.title, s.index, s.date, s.spans,
                          f"{s.title}|{s.date}") for s in r.sents]
        out.append((features(r.question, r.info, tp, ins, r.date), null_features(r.info, ins),
                    np.array([s.right for s in r.sents], dtype=bool)))
    return out


def fit_softmax(groups: Sequence[tuple[np.ndarray, np.ndarray]], l2: float) -> np.ndarray:
    """A conditional logit: per group, options `x` (rows) of which `target` are right;
    maximise log P(a right option) under the softmax of `x @ w`, with an L2 penalty."""
    from scipy.optimize import minimize

    d = groups[0][0].shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.5 * l2 * float(w @ w), l2 * w
        for x, target in groups:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            pt = p * target
            mass = max(float(pt.sum()), 1e-12)
            total -= float(np.log(mass))
            grad = grad + (p - pt / mass) @ x  # expected minus posterior features
        return total, grad

    res = minimize(loss, np.zeros(d), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return np.asarray(res.x, dtype=np.float32)


def fit_evidence(mats: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 types: AnswerTypeModel, spans: SpanModel, ranker: bool,
                 l2: float = L2) -> EvidenceModel:
    """Maximise log P(a right sentence, or "none" when there is none) under the softmax."""
    used = model_feature_names(ranker)
    cols = [feature_names().index(n) for n in used]
    d, dn = len(cols), mats[0][1].shape[0]
    groups = []
    for x, xn, y in mats:
        rows = np.zeros((len(x) + 1, d + dn), dtype=np.float64)
        rows[:-1, :d] = x[:, cols]
        rows[-1, d:] = xn
        groups.append((rows, np.append(y, not y.any()).astype(np.float64)))
    w = fit_softmax(groups, l2)
    return EvidenceModel(w[:d], w[d:], types, spans, tuple(used))


def span_label(span: str, gold: str) -> bool:
    """A span answers when it is the gold choice, or holds it with at most two words more."""
    s, g = normalize_answer(span), normalize_answer(gold)
    if not s or not g:
        return False
    return s == g or (f" {g} " in f" {s} " and len(s.split()) <= len(g.split()) + 2)


def span_groups(rows: Sequence[Q], types: Sequence[AnswerTypeModel], embed: Any
                ) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per question: (span features, which spans answer) for each of its right sentences."""
    out = []
    for r in rows:
        tp = types[1 - r.fold].probabilities(r.question, r.info)
        groups = []
        for s in r.sents:
            if not s.right or not s.spans:
                continue
            y = np.array([span_label(sp.text, r.gold) for sp in s.spans], dtype=np.float64)
            if not y.any():
                continue
            others = [o.text for o in r.sents if o is not s]
            groups.append((span_features(r.question, r.info, tp, s.text, s.spans, others,
                                         embed).astype(np.float64), y))
        out.append(groups)
    return out


@dataclass(frozen=True)
class Outcome:
    p: float  # P(the chosen sentence answers)
    right: bool  # RealTimeQA's judge on the chosen sentence
    findable: bool
    ranker_right: bool  # the judge on the ranker's top sentence
    p_short: float  # P(the short answer is right): p x P(span | sentence)
    short_right: bool


def outcomes(model: EvidenceModel, rows: Sequence[Q],
             mats: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
             types: Sequence[AnswerTypeModel], embed: Any) -> list[Outcome]:
    out = []
    for r, (x, xn, y) in zip(rows, mats, strict=True):
        p, _ = model.probabilities(x, xn)
        k = int(np.argmax(p))
        ce_top = int(np.argmax([s.logit for s in r.sents]))
        s = r.sents[k]
        tp = types[1 - r.fold].probabilities(r.question, r.info)
        span = read_span(r.question, r.info, tp, s.text, s.spans,
                         [o.text for o in r.sents if o is not s], model.spans, embed)
        conf = answer_probability(p, k, [o.text for o in r.sents],
                                  span.span.text if span else None)
        out.append(Outcome(conf, bool(y[k]), r.findable, bool(y[ce_top]),
                           conf * (span.probability if span else 0.0),
                           bool(span and span_label(span.span.text, r.gold))))
    return out


def report(name: str, res: Sequence[Outcome]) -> None:
    n = len(res)
    nf = max(sum(o.findable for o in res), 1)
    print(f"{name}: {n} questions, {nf} findable; chosen sentence right "
          f"{np.mean([o.right for o in res]):.3f} (findable "
          f"{sum(o.right and o.findable for o in res) / nf:.3f}); the ranker's (without one, "
          f"the pre-filter's) top right "
          f"{np.mean([o.ranker_right for o in res]):.3f}; short answer right "
          f"{np.mean([o.short_right for o in res]):.3f}")
    print("abstain threshold (answer shown when P >= t):")
    for t in [0.05 * i for i in range(0, 16)]:
        ans = [o for o in res if o.p >= t]
        right = sum(o.right for o in ans)
        print(f"  t={t:.2f} right {right / n:.3f} wrong {(len(ans) - right) / n:.3f} "
              f"abstained {1 - len(ans) / n:.3f} right|findable "
              f"{sum(o.right and o.findable for o in ans) / nf:.3f}")
    print("short answer threshold (shown when P >= t): shown share, right among shown")
    for t in [0.05 * i for i in range(0, 12)]:
        shown = [o for o in res if o.p_short >= t]
        prec = np.mean([o.short_right for o in shown]) if shown else 0.0
        print(f"  t={t:.2f} shown {len(shown) / n:.3f} right {prec:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--ranker", choices=("none", "cross-encoder"), default="none")
    ap.add_argument("--fold-rankers", type=Path, nargs=2,
                    help="the two fold cross-encoders (needed with --ranker cross-encoder)")
    ap.add_argument("--out", type=Path, help="default: rag/models/evidence[-RANKER].json")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/newsrag-evidence-cache.pkl"))
    args = ap.parse_args()
    with_ranker = args.ranker != "none"
    if with_ranker and not args.fold_rankers:
        ap.error("--ranker cross-encoder needs --fold-rankers A B")
    out = args.out or evidence_path(args.ranker)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rag.embed import load_embedder
    from rag.settings import Settings

    embed = load_embedder(Settings.load().embed_model).embed
    if with_ranker:
        rows, neg_rows = _scored(args)
    else:  # the ranker's columns are never read: no scores needed
        rows = build(args.root, args.cache)
        neg_rows = mismatched(rows, None)
    _fit(rows, neg_rows, embed, with_ranker, out)


def _scored(args: argparse.Namespace) -> tuple[list[Q], list[Q]]:
    """The questions and mismatched questions with the fold rankers' out-of-fold scores."""
    scored = args.cache.with_suffix(".scored.pkl")
    if scored.exists():
        with scored.open("rb") as f:
            rows: list[Q] = pickle.load(f)  # our own scratch file, never shipped
    else:
        rows = build(args.root, args.cache)
        score_with(rows, args.fold_rankers)
        with scored.open("wb") as f:
            pickle.dump(rows, f)
    negatives = args.cache.with_suffix(".mismatched.pkl")
    if negatives.exists():
        with negatives.open("rb") as f:
            neg_rows: list[Q] = pickle.load(f)  # our own scratch file, never shipped
    else:
        neg_rows = mismatched(rows, args.fold_rankers)
        with negatives.open("wb") as f:
            pickle.dump(neg_rows, f)
    return rows, neg_rows


def _fit(rows: list[Q], neg_rows: list[Q], embed: Any,
         with_ranker: bool, out: Path) -> None:
    halves = [[r for r in rows if r.fold == k] for k in (0, 1)]
    fold_types = [fit_types(h) for h in halves]
    mats = matrices(rows, fold_types)  # out-of-fold answer types
    neg_mats = matrices(neg_rows, fold_types)
    sgroups = span_groups(rows, fold_types, embed)
    res: list[Outcome] = []
    for k in (0, 1):
        idx = [i for i, r in enumerate(rows) if r.fold == k]
        test = [i for i, r in enumerate(rows) if r.fold != k]
        spans = SpanModel(fit_softmax([g for i in idx for g in sgroups[i]], SPAN_L2))
        model = fit_evidence([mats[i] for i in idx] + [neg_mats[i] for i in idx],
                             fold_types[k], spans, with_ranker)
        res += outcomes(model, [rows[i] for i in test], [mats[i] for i in test], fold_types,
                        embed)
    report("2024 out of fold", res)
    spans = SpanModel(fit_softmax([g for gs in sgroups for g in gs], SPAN_L2))
    model = fit_evidence(mats + neg_mats, fit_types(rows), spans, with_ranker)
    meta = {"seed": SEED, "weeks": WEEKS, "folds": list(FOLDS), "l2": L2, "span_l2": SPAN_L2,
            "keyword_pool": KEYWORD_POOL, "questions": len(rows),
            "mismatched_questions": len(neg_rows),
            "out_of_fold": {"sentence_right": float(np.mean([o.right for o in res])),
                            "ranker_top_right": float(np.mean([o.ranker_right for o in res])),
                            "short_right": float(np.mean([o.short_right for o in res]))},
            "ranker": ("scores from fold rankers (rag.train.train_ranker --train-weeks)"
                       if with_ranker else "none")}
    model.save(out, meta)
    from rag.read import span_feature_names
    for name, w in zip(model.used, model.weights, strict=True):
        print(f"  {name:16s} {w:+.3f}")
    print("  null:", [round(float(x), 2) for x in model.null_weights])
    for name, w in zip(span_feature_names(), model.spans.weights, strict=True):
        print(f"  span {name:16s} {w:+.3f}")


if __name__ == "__main__":
    main()
