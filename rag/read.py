"""The short answer: which words of the chosen sentence answer the question.

    the sentence rag/evidence.py chose
      -> its named entities and noun chunks (rag/nlp.py)
      -> a softmax over them by a weight vector fitted on RealTimeQA's 2024 weeks
         (rag/train/train_evidence.py; weights in rag/models/evidence.json, "spans")
      -> the most probable span and P(it is the answer | the sentence answers).

Features are general: how likely the question's answer is of the span's entity label (the
answer-type model of rag/evidence.py), how similar the span is to the noun the question asks
about ("which film" -> "film"), whether the question already says it (an answer rarely does),
how many other reports among the candidates repeat it, its length, and where it sits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.embed import Vectors
from rag.language import normalize_answer
from rag.nlp import QuestionInfo, SpanCandidate
from rag.text import terms


@dataclass(frozen=True)
class ScoredSpan:
    span: SpanCandidate
    probability: float  # P(this span is the answer | its sentence answers)


def span_feature_names() -> list[str]:
    return ["log_type_prob", "focus_sim", "has_focus", "in_question", "q_overlap", "n_tokens",
            "noun_chunk", "support", "position", "capitalised", "has_digit"]


_F = {name: i for i, name in enumerate(span_feature_names())}


def span_features(question: str, info: QuestionInfo, type_probs: dict[str, float],
                  sentence: str, spans: Sequence[SpanCandidate], others: Sequence[str],
                  embed: Callable[[Sequence[str]], Vectors]) -> np.ndarray:
    """One row per span of `sentence`; `others` are the other candidate sentences."""
    feats = np.zeros((len(spans), len(_F)), dtype=np.float32)
    if not spans:
        return feats
    q_terms = set(terms(question))
    q_norm = f" {normalize_answer(question)} "
    sims = np.zeros(len(spans), dtype=np.float32)
    if info.focus:
        vecs = embed([info.focus, *[sp.text for sp in spans]])
        sims = vecs[1:] @ vecs[0]
    other_norms = [f" {normalize_answer(o)} " for o in others]
    for r, sp in enumerate(spans):
        f = feats[r]
        norm = normalize_answer(sp.text)
        f[_F["log_type_prob"]] = math.log(max(type_probs.get(sp.label, 0.0), 1e-4)) / 10
        f[_F["focus_sim"]] = float(sims[r])
        f[_F["has_focus"]] = 1.0 if info.focus else 0.0
        f[_F["in_question"]] = 1.0 if norm and f" {norm} " in q_norm else 0.0
        s_terms = terms(sp.text)
        f[_F["q_overlap"]] = (sum(t in q_terms for t in s_terms) / len(s_terms)
                              if s_terms else 1.0)
        f[_F["n_tokens"]] = min(len(sp.text.split()), 10) / 10
        f[_F["noun_chunk"]] = 1.0 if sp.label == "NOUN_CHUNK" else 0.0
        f[_F["support"]] = math.log1p(sum(bool(norm) and f" {norm} " in o
                                          for o in other_norms)) / 2
        f[_F["position"]] = sp.start / max(len(sentence), 1)
        f[_F["capitalised"]] = 1.0 if sp.text[:1].isupper() else 0.0
        f[_F["has_digit"]] = 1.0 if any(c.isdigit() for c in sp.text) else 0.0
    return feats


@dataclass(frozen=True)
class SpanModel:
    """Softmax over a sentence's spans of `features @ weights`."""

    weights: np.ndarray

    def probabilities(self, feats: np.ndarray) -> np.ndarray:
        if not len(feats):
            return np.zeros(0)
        z = feats @ self.weights
        z = np.exp(z - z.max())
        return np.asarray(z / z.sum(), dtype=np.float64)


def read_span(question: str, info: QuestionInfo, type_probs: dict[str, float],
              sentence: str, spans: Sequence[SpanCandidate], others: Sequence[str],
              model: SpanModel, embed: Callable[[Sequence[str]], Vectors]) -> ScoredSpan | None:
    """The most probable answering span of `sentence`, or None when it has none."""
    if not spans:
        return None
    p = model.probabilities(span_features(question, info, type_probs, sentence, spans, others,
                                          embed))
    k = int(np.argmax(p))
    return ScoredSpan(spans[k], float(p[k]))
