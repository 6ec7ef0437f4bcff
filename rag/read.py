"""The learned reader: the few words that answer, inside the sentence that says them.

    sentences of the retrieved passages
      -> ranker (rag/rank.py): how well each sentence answers, 0-1
      -> spans (rag/nlp.py): named entities and noun chunks of the best sentences
      -> span scorer: a logistic regression over general features, fitted on RealTimeQA's 2024
         weeks (rag/train/train_reader.py) and stored as plain numbers in rag/models/reader.json
      -> the best span, its sentence, and a calibrated probability that the answer is right.

The features say nothing about any particular article, name or phrasing: the sentence's ranker
score and rank, the span's entity label crossed with the question's asking word (the model learns
that "who" wants PERSON and "which city" GPE), how similar the span is to the noun the question
asks about ("which film" -> "film"), how many of the best sentences repeat the span, whether it
repeats the question's own words (an answer rarely does), its length, and how old its article
is on the day the question is asked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from rag.embed import Vectors
from rag.language import normalize_answer
from rag.nlp import SPAN_LABELS, WH_TYPES, QuestionInfo, SpanCandidate, span_candidates
from rag.text import terms

READER_PATH = Path(__file__).resolve().parent / "models" / "reader.json"
# Spans are read from this many of the best-ranked sentences: enough for the answer to be
# repeated across reports (a strong signal), few enough for spaCy to stay within ~20 ms.
SPAN_SENTENCES = 6
_AGE_CAP_DAYS = 3650


@dataclass(frozen=True)
class SentenceIn:
    """A sentence as the reader sees it: its text, ranker score and its article's date."""

    text: str
    score: float  # the ranker's 0-1 score
    date: str | None  # ISO date of its article
    group: str  # article id (or copy group): repeats within one report count once


@dataclass(frozen=True)
class ScoredSpan:
    sentence: int  # index into the sentences given
    span: SpanCandidate
    probability: float


def feature_names() -> list[str]:
    names = ["bias", "ce", "ce_logit", "inv_rank", "ce_gap", "q_overlap", "focus_sim",
             "has_focus", "support", "support_score", "n_tokens", "capitalised", "has_digit",
             "in_question_entity", "age_log", "undated"]
    names += [f"label={lab}" for lab in SPAN_LABELS]
    names += [f"wh={wh}" for wh in WH_TYPES]
    names += [f"label={lab}&wh={wh}" for lab in SPAN_LABELS for wh in WH_TYPES]
    return names


_INDEX = {name: i for i, name in enumerate(feature_names())}


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _age_days(article_date: str | None, as_of: str | None) -> float | None:
    if not article_date or not as_of:
        return None
    try:
        days = (date.fromisoformat(as_of[:10]) - date.fromisoformat(article_date[:10])).days
    except ValueError:
        return None
    return float(min(abs(days), _AGE_CAP_DAYS))


def span_features(
    question: str, info: QuestionInfo, sentences: Sequence[SentenceIn],
    spans: Sequence[Sequence[SpanCandidate]], as_of: str | None,
    embed: Callable[[Sequence[str]], Vectors],
) -> tuple[list[tuple[int, SpanCandidate]], np.ndarray]:
    """Every candidate span of `sentences` (ranked best first) with its feature row."""
    q_terms = set(terms(question))
    q_norm = f" {normalize_answer(question)} "
    q_entities = {normalize_answer(e) for e in info.entities}
    rows: list[tuple[int, SpanCandidate]] = [
        (i, sp) for i, group in enumerate(spans) for sp in group]
    feats = np.zeros((len(rows), len(_INDEX)), dtype=np.float32)
    if not rows:
        return rows, feats
    texts = [sp.text for _, sp in rows]
    focus_sims = np.zeros(len(rows), dtype=np.float32)
    if info.focus:
        vecs = embed([info.focus, *texts])
        focus_sims = vecs[1:] @ vecs[0]
    norms = [normalize_answer(t) for t in texts]
    sent_norms = [f" {normalize_answer(s.text)} " for s in sentences]
    best = sentences[0].score if sentences else 0.0
    wh = info.wh
    for r, ((i, sp), norm) in enumerate(zip(rows, norms, strict=True)):
        s = sentences[i]
        f = feats[r]
        f[_INDEX["bias"]] = 1.0
        f[_INDEX["ce"]] = s.score
        f[_INDEX["ce_logit"]] = _logit(s.score) / 10
        f[_INDEX["inv_rank"]] = 1.0 / (1 + i)
        f[_INDEX["ce_gap"]] = best - s.score
        s_terms = terms(sp.text)
        f[_INDEX["q_overlap"]] = (sum(t in q_terms for t in s_terms) / len(s_terms)
                                  if s_terms else 1.0)
        f[_INDEX["focus_sim"]] = float(focus_sims[r])
        f[_INDEX["has_focus"]] = 1.0 if info.focus else 0.0
        groups = {sentences[j].group for j, sn in enumerate(sent_norms)
                  if norm and f" {norm} " in sn}
        f[_INDEX["support"]] = math.log1p(len(groups))
        f[_INDEX["support_score"]] = sum(
            sentences[j].score for j, sn in enumerate(sent_norms) if norm and f" {norm} " in sn)
        f[_INDEX["n_tokens"]] = min(len(sp.text.split()), 10) / 10
        f[_INDEX["capitalised"]] = 1.0 if sp.text[:1].isupper() else 0.0
        f[_INDEX["has_digit"]] = 1.0 if any(c.isdigit() for c in sp.text) else 0.0
        f[_INDEX["in_question_entity"]] = 1.0 if (
            norm in q_entities or (norm and f" {norm} " in q_norm)) else 0.0
        age = _age_days(s.date, as_of)
        if age is None:
            f[_INDEX["undated"]] = 1.0
        else:
            f[_INDEX["age_log"]] = math.log1p(age) / math.log1p(_AGE_CAP_DAYS)
        f[_INDEX[f"label={sp.label}"]] = 1.0
        f[_INDEX[f"wh={wh}"]] = 1.0
        f[_INDEX[f"label={sp.label}&wh={wh}"]] = 1.0
    return rows, feats


@dataclass(frozen=True)
class SpanModel:
    """A logistic regression over `feature_names()`, then Platt calibration of its output."""

    weights: np.ndarray
    calib_a: float = 1.0
    calib_b: float = 0.0

    def probabilities(self, feats: np.ndarray) -> np.ndarray:
        z = feats @ self.weights
        z = self.calib_a * z + self.calib_b
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))), dtype=np.float64)

    @classmethod
    def load(cls, path: Path = READER_PATH) -> SpanModel:
        data = json.loads(path.read_text())
        names = data["features"]
        if names != feature_names():
            from rag.errors import ConfigError

            raise ConfigError(f"{path} was fitted on other features than this code computes.",
                              hint="Re-run python -m rag.train.train_reader.")
        return cls(np.asarray(data["weights"], dtype=np.float32),
                   float(data.get("calib_a", 1.0)), float(data.get("calib_b", 0.0)))

    def save(self, path: Path, meta: dict[str, object]) -> None:
        path.write_text(json.dumps({
            "features": feature_names(), "weights": [round(float(w), 6) for w in self.weights],
            "calib_a": self.calib_a, "calib_b": self.calib_b, **meta}, indent=1) + "\n")


def read_spans(question: str, info: QuestionInfo, sentences: Sequence[SentenceIn],
               as_of: str | None, model: SpanModel,
               embed: Callable[[Sequence[str]], Vectors]) -> list[ScoredSpan]:
    """Candidate spans of the best sentences, most probable first."""
    top = list(sentences[:SPAN_SENTENCES])
    spans = span_candidates([s.text for s in top])
    rows, feats = span_features(question, info, top, spans, as_of, embed)
    if not rows:
        return []
    probs = model.probabilities(feats)
    order = np.argsort(-probs, kind="stable")
    return [ScoredSpan(rows[k][0], rows[k][1], float(probs[k])) for k in order]
