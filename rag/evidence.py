"""Which sentence answers: a question-level choice among the ranked sentences, or none of them.

    sentences of the retrieved passages, scored by the ranker (rag/rank.py)
      -> a feature row per sentence (general signals only, below)
      -> a softmax over the sentences plus a "none of them answers" option
      -> P(this sentence answers) for each, and P(none) for abstention.

The model is a conditional logit (one weight vector shared by all sentences, fitted so the
sentences that hold the gold choice get the probability mass, and questions none of whose
sentences do put it on "none"), fitted on RealTimeQA's 2024 weeks with the ranker's
held-out scores (rag/train/train_evidence.py). Its weights and the answer-type model's are
plain numbers in rag/models/evidence.json.

Features say nothing about any article, name or phrasing: the ranker's logit and its gap to the
best, embedding cosine, the share of the question's terms (weighted by how rare they are among
the candidates) that the sentence and its article's title repeat, the sentence's place in its
article, its length and age, and whether it names something new of the kind the question asks
for (the answer-type model: P(entity label of the answer | question words), learned from the
2024 questions' gold answers, so "which company" learns ORG without a list of companies).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from rag.language import normalize_answer
from rag.nlp import SPAN_LABELS, WH_TYPES, QuestionInfo, SpanCandidate
from rag.read import SpanModel, span_feature_names
from rag.text import terms

MODELS_DIR = Path(__file__).resolve().parent / "models"
EVIDENCE_PATH = MODELS_DIR / "evidence.json"  # fitted without a ranker (`ranker = "none"`)
RANKER_FEATURES = ("ce", "ce_gap", "ce_top")  # read only when a ranker scores the sentences


def evidence_path(ranker: str) -> Path:
    """The chooser fitted for `ranker`: its features include the ranker's scores or not."""
    return EVIDENCE_PATH if ranker == "none" else MODELS_DIR / f"evidence-{ranker}.json"
_AGE_CAP_DAYS = 3650
_WORD = re.compile(r"[a-z0-9]+")


def question_tokens(question: str, info: QuestionInfo) -> list[str]:
    """The answer-type model's inputs: the question's lower-cased words, its asking word and
    the last word of the noun it asks about."""
    toks = _WORD.findall(question.lower())
    out = [f"w={t}" for t in toks]
    out += [f"b={a}_{b}" for a, b in zip(toks, toks[1:], strict=False)]
    out.append(f"wh={info.wh}")
    if info.focus:
        out.append(f"focus={info.focus.split()[-1].lower()}")
    return out


@dataclass(frozen=True)
class AnswerTypeModel:
    """Multinomial logistic regression: question tokens -> P(label of the gold answer span)."""

    labels: tuple[str, ...]
    vocab: dict[str, int]
    coef: np.ndarray  # (labels, vocab)
    intercept: np.ndarray  # (labels,)

    def probabilities(self, question: str, info: QuestionInfo) -> dict[str, float]:
        idx = [self.vocab[t] for t in question_tokens(question, info) if t in self.vocab]
        z = self.intercept + (self.coef[:, idx].sum(axis=1) if idx else 0.0)
        z = np.exp(z - z.max())
        p = z / z.sum()
        return {lab: float(p[i]) for i, lab in enumerate(self.labels)}

    def to_json(self) -> dict[str, object]:
        return {"labels": list(self.labels), "vocab": self.vocab,
                "coef": [[round(float(x), 5) for x in row] for row in self.coef],
                "intercept": [round(float(x), 5) for x in self.intercept]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> AnswerTypeModel:
        labels = tuple(str(x) for x in data["labels"])  # type: ignore[attr-defined]
        vocab = {str(k): int(v) for k, v in data["vocab"].items()}  # type: ignore[attr-defined]
        return cls(labels, vocab, np.asarray(data["coef"], dtype=np.float32),
                   np.asarray(data["intercept"], dtype=np.float32))


@dataclass(frozen=True)
class EvidenceIn:
    """A candidate sentence as the chooser sees it."""

    text: str
    logit: float  # the ranker's raw logit
    cosine: float  # embedding cosine with the question
    title: str
    index: int  # the sentence's place in its article (0 = first)
    date: str | None  # ISO date of its article
    spans: tuple[SpanCandidate, ...]  # its named entities and noun chunks (rag/nlp.py)
    article: str = ""  # its article's id: sentences of one article support each other


def feature_names() -> list[str]:
    return ["ce", "ce_gap", "ce_top", "cos", "cos_gap", "cover", "cover_title", "first",
            "position", "n_words", "age_log", "undated", "type_prob", "type_prob_any",
            "novel_entities", "question_share", "article_best", "article_share", "neighbour",
            "has_neighbour", "entity_cover"]


def model_feature_names(ranker: bool) -> list[str]:
    """The features a chooser is fitted on: all of them with a ranker, else all but its."""
    return [n for n in feature_names() if ranker or n not in RANKER_FEATURES]


def null_feature_names() -> list[str]:
    return ["bias", *[f"wh={wh}" for wh in WH_TYPES], "entities_missing"]


_F = {name: i for i, name in enumerate(feature_names())}


def age_days(article_date: str | None, as_of: str | None) -> float | None:
    if not article_date or not as_of:
        return None
    try:
        days = (date.fromisoformat(as_of[:10]) - date.fromisoformat(article_date[:10])).days
    except ValueError:
        return None
    return float(min(abs(days), _AGE_CAP_DAYS))


def novel_spans(spans: Sequence[SpanCandidate], question_norm: str) -> list[SpanCandidate]:
    """Named entities the question does not already say (an answer rarely repeats the
    question)."""
    out = []
    for sp in spans:
        norm = normalize_answer(sp.text)
        if norm and f" {norm} " not in question_norm:
            out.append(sp)
    return out


def features(question: str, info: QuestionInfo, type_probs: dict[str, float],
             sentences: Sequence[EvidenceIn], as_of: str | None) -> np.ndarray:
    """One row per sentence of `feature_names()`."""
    feats = np.zeros((len(sentences), len(_F)), dtype=np.float32)
    if not sentences:
        return feats
    q_terms = list(dict.fromkeys(terms(question)))
    q_norm = f" {normalize_answer(question)} "
    sent_terms = [set(terms(s.text)) for s in sentences]
    n = len(sentences)
    # A question word is worth more the fewer candidates repeat it (IDF over the pool).
    idf = {t: math.log((n + 1) / (1 + sum(t in st for st in sent_terms))) + 1.0 for t in q_terms}
    total = sum(idf.values()) or 1.0
    top_logit = max(s.logit for s in sentences)
    top_cos = max(s.cosine for s in sentences)
    entity_labels = {lab for lab in SPAN_LABELS if lab != "NOUN_CHUNK"}
    p_entity = sum(p for lab, p in type_probs.items() if lab in entity_labels)
    best_in: dict[str, float] = {}
    for s in sentences:
        best_in[s.article] = max(best_in.get(s.article, -1e9), s.logit)
    by_place = {(s.article, s.index): s.logit for s in sentences}
    q_entities = question_entities(info)
    for r, (s, st) in enumerate(zip(sentences, sent_terms, strict=True)):
        f = feats[r]
        # An article that says much about the question supports each of its sentences, and a
        # sentence next to one that matches the question often holds what it asks.
        f[_F["article_best"]] = (best_in[s.article] - top_logit) / 10
        f[_F["article_share"]] = sum(o.article == s.article for o in sentences) / n
        near = [by_place[k] for k in ((s.article, s.index - 1), (s.article, s.index + 1))
                if k in by_place]
        if near:
            f[_F["has_neighbour"]] = 1.0
            f[_F["neighbour"]] = (max(near) - top_logit) / 10
        f[_F["ce"]] = s.logit / 10
        f[_F["ce_gap"]] = (s.logit - top_logit) / 10
        f[_F["ce_top"]] = 1.0 if s.logit == top_logit else 0.0
        f[_F["cos"]] = s.cosine
        f[_F["cos_gap"]] = s.cosine - top_cos
        f[_F["cover"]] = sum(idf[t] for t in q_terms if t in st) / total
        title_terms = set(terms(s.title))
        f[_F["cover_title"]] = sum(idf[t] for t in q_terms if t in title_terms) / total
        f[_F["first"]] = 1.0 if s.index == 0 else 0.0
        f[_F["position"]] = math.log1p(s.index) / math.log1p(100)
        f[_F["n_words"]] = min(len(s.text.split()), 60) / 60
        age = age_days(s.date, as_of)
        if age is None:
            f[_F["undated"]] = 1.0
        else:
            f[_F["age_log"]] = math.log1p(age) / math.log1p(_AGE_CAP_DAYS)
        novel = novel_spans(s.spans, q_norm)
        f[_F["type_prob"]] = max((type_probs.get(sp.label, 0.0) for sp in novel), default=0.0)
        f[_F["type_prob_any"]] = p_entity if any(sp.label in entity_labels for sp in novel) \
            else 0.0
        f[_F["novel_entities"]] = math.log1p(sum(sp.label in entity_labels for sp in novel)) / 3
        f[_F["question_share"]] = (len(st & set(q_terms)) / len(st)) if st else 0.0
        if q_entities:  # the things the question names, said in the sentence or its title
            where = f" {normalize_answer(s.title)} {normalize_answer(s.text)} "
            f[_F["entity_cover"]] = sum(f" {e} " in where for e in q_entities) / len(q_entities)
        else:
            f[_F["entity_cover"]] = 1.0
    return feats


def question_entities(info: QuestionInfo) -> list[str]:
    """The named things of the question (spaCy's NER), normalised; matched as whole words."""
    return [e for e in dict.fromkeys(normalize_answer(x) for x in info.entities) if e]


def null_features(info: QuestionInfo, sentences: Sequence[EvidenceIn] = ()) -> np.ndarray:
    """The "none of them" option's row: the asking word, and the share of the things the
    question names that no candidate (nor its title) says: a question about someone the
    articles never mention is one they don't answer."""
    names = null_feature_names()
    f = np.zeros(len(names), dtype=np.float32)
    f[0] = 1.0
    f[names.index(f"wh={info.wh}")] = 1.0
    q_entities = question_entities(info)
    if q_entities:
        said = " ".join(f" {normalize_answer(s.title)} {normalize_answer(s.text)} "
                        for s in sentences)
        f[names.index("entities_missing")] = sum(
            f" {e} " not in said for e in q_entities) / len(q_entities)
    return f


@dataclass(frozen=True)
class EvidenceModel:
    """Softmax over the sentences' scores `feats[:, used] @ weights` and "none":
    `null @ null_weights`; with it, the answer-type model and the short-answer span model
    (rag/read.py). `used` are the columns of `features()` it was fitted on (without a ranker,
    the ranker's columns are not read)."""

    weights: np.ndarray
    null_weights: np.ndarray
    types: AnswerTypeModel
    spans: SpanModel
    used: tuple[str, ...] = tuple(feature_names())

    @property
    def uses_ranker(self) -> bool:
        return any(n in RANKER_FEATURES for n in self.used)

    def utilities(self, feats: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, float]:
        """The softmax's inputs: each sentence's score and the "none" option's."""
        cols = [_F[n] for n in self.used]
        return (feats[:, cols] @ self.weights).astype(np.float64), float(null @ self.null_weights)

    def probabilities(self, feats: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, float]:
        """(P(sentence i answers) per row, P(none of them does))."""
        u, un = self.utilities(feats, null)
        z = np.append(u, un)
        z = np.exp(z - z.max())
        p = z / z.sum()
        return p[:-1].astype(np.float64), float(p[-1])

    def save(self, path: Path, meta: dict[str, object]) -> None:
        path.write_text(json.dumps({
            "features": list(self.used), "null_features": null_feature_names(),
            "weights": [round(float(w), 6) for w in self.weights],
            "null_weights": [round(float(w), 6) for w in self.null_weights],
            "span_features": span_feature_names(),
            "span_weights": [round(float(w), 6) for w in self.spans.weights],
            "answer_types": self.types.to_json(), **meta}) + "\n")

    @classmethod
    def load(cls, path: Path = EVIDENCE_PATH) -> EvidenceModel:
        from rag.errors import ConfigError

        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"The evidence model {path} is missing or unreadable ({exc}).",
                              hint="Restore rag/models/ from the repository.") from None
        used = data.get("features")
        if used not in (model_feature_names(True), model_feature_names(False)) or \
                data.get("null_features") != null_feature_names() or \
                data.get("span_features") != span_feature_names():
            raise ConfigError(f"{path} was fitted on other features than this code computes.",
                              hint="Re-run python -m rag.train.train_evidence.")
        return cls(np.asarray(data["weights"], dtype=np.float32),
                   np.asarray(data["null_weights"], dtype=np.float32),
                   AnswerTypeModel.from_json(data["answer_types"]),
                   SpanModel(np.asarray(data["span_weights"], dtype=np.float32)),
                   tuple(str(n) for n in used))


def answer_probability(p: np.ndarray, chosen: int, texts: Sequence[str],
                       short: str | None) -> float:
    """P(the answer is right): the chosen sentence's probability plus that of every other
    candidate saying the same thing (the same sentence in a copy, or the same short answer in
    another report), so repeated reports of one answer do not split its probability."""
    key = normalize_answer(short) if short else ""
    own = normalize_answer(texts[chosen])
    total = 0.0
    for i, text in enumerate(texts):
        norm = normalize_answer(text)
        if i == chosen or norm == own or (key and f" {key} " in f" {norm} "):
            total += float(p[i])
    return min(total, 1.0)
