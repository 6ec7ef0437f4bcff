"""The default answerer (`reader = "learned"`): ranker -> span reader -> calibrated abstention.

Given the sentences of the retrieved passages, it
1. keeps the `RANK_SENTENCES` best by reciprocal rank fusion of two cheap orders (embedding
   cosine, share of the question's terms), so the cross-encoder's cost is bounded per question;
2. scores them with the ranker (rag/rank.py) and reads spans from the best (rag/read.py);
3. answers with the sentence that holds the most probable span, cited, and that span as the
   short answer when it is likely enough; or abstains when neither the span nor the sentence is
   likely enough to be right.

Both probabilities are calibrated on RealTimeQA weeks the models did not train on
(rag/train/train_reader.py); the thresholds are settings (`abstain_threshold`,
`short_answer_threshold`) whose defaults were chosen on 2024 weeks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag.cite import (
    ABSTAIN_TEXT,
    EMPTY_INDEX_TEXT,
    Candidate,
    conflicting_report,
    newest_first,
    render,
)
from rag.embed import Vectors
from rag.followup import Query, split_question
from rag.nlp import analyse_question
from rag.rank import Ranker
from rag.read import ScoredSpan, SentenceIn, SpanModel, read_spans
from rag.settings import Settings
from rag.text import terms
from rag.types import Answer, Citation, Passage, ShortAnswer

RANK_SENTENCES = 16  # sentences the cross-encoder reads per question (~4 ms each on one core)
_FUSION_K = 10  # reciprocal rank fusion constant for the pre-filter's two orders
# Questions whose answer can change; their answer says whose report it is and when.
_TIME_SENSITIVE_WH = frozenset({"when", "how_many", "how_much"})


@dataclass(frozen=True)
class Calibration:
    """Maps the ranker's best sentence score to P(the sentence answers): Platt scaling."""

    a: float = 1.0
    b: float = 0.0

    def __call__(self, p: float) -> float:
        z = math.log(max(p, 1e-6) / max(1 - p, 1e-6))
        return 1.0 / (1.0 + math.exp(-(self.a * z + self.b)))


def prefilter(question: str, q_vec: Vectors, cands: Sequence[Candidate],
              keep: int = RANK_SENTENCES) -> list[Candidate]:
    """The `keep` sentences best by fused cosine and term-overlap ranks."""
    if len(cands) <= keep:
        return list(cands)
    cos = np.stack([c.vec for c in cands]) @ q_vec
    q_terms = set(terms(question))
    overlap = [len(q_terms & set(terms(c.text))) for c in cands]
    by_cos = np.argsort(-cos, kind="stable")
    by_lex = sorted(range(len(cands)), key=lambda i: -overlap[i])
    fused = np.zeros(len(cands))
    for order in (by_cos, by_lex):
        for rank, i in enumerate(order):
            fused[i] += 1.0 / (_FUSION_K + rank + 1)
    return [cands[i] for i in np.argsort(-fused, kind="stable")[:keep]]


@dataclass
class Reading:
    """What the reader found for one question (or one part of a two-part question)."""

    question: str
    ranked: list[Candidate]
    cited: Candidate | None
    span: ScoredSpan | None
    confidence: float
    wh: str


class LearnedAnswerer:
    def __init__(self, ranker: Ranker, spans: SpanModel, sentence_calibration: Calibration,
                 embed: Callable[[Sequence[str]], Vectors], abstain_threshold: float,
                 short_threshold: float) -> None:
        self.ranker = ranker
        self.spans = spans
        self.sentence_calibration = sentence_calibration
        self.embed = embed
        self.abstain_threshold = abstain_threshold
        self.short_threshold = short_threshold

    def read(self, question: str, q_vec: Vectors, cands: Sequence[Candidate],
             as_of: str | None) -> Reading:
        """Rank the sentences, read spans from the best, and say how likely it is right."""
        pool = [replace(c) for c in prefilter(question, q_vec, cands)]
        for c, s in zip(pool, self.ranker.score(question, [c.text for c in pool]), strict=True):
            c.score = s
        ranked = sorted(pool, key=lambda c: -c.score)
        info = analyse_question(question)
        if not ranked:
            return Reading(question, ranked, None, None, 0.0, info.wh)
        sentences = [SentenceIn(c.text, c.score, c.passage.date,
                                c.passage.group_id or c.article_id) for c in ranked]
        spans = read_spans(question, info, sentences, as_of, self.spans, self.embed)
        best = spans[0] if spans else None
        # The sentence that holds the most probable span is the one cited (without spans, the
        # best-ranked one); the answer is as likely right as the better of its two readings.
        cited = ranked[best.sentence] if best is not None else ranked[0]
        p_span = best.probability if best is not None else 0.0
        confidence = max(p_span, self.sentence_calibration(cited.score))
        return Reading(question, ranked, cited, best, confidence, info.wh)

    def answer(self, query: Query, q_vec: Vectors, passages: Sequence[Passage],
               cands: Sequence[Candidate], as_of: str | None, timings: dict[str, float],
               empty_index: bool = False) -> tuple[Answer, list[Candidate]]:
        t0 = time.perf_counter()
        if not passages or not cands:
            text = EMPTY_INDEX_TEXT if empty_index else ABSTAIN_TEXT
            return Answer(question=query.text, text=text, abstained=True,
                          passages=tuple(passages), timings_ms=timings, as_of=as_of), []
        parts = split_question(query.text)
        if len(parts) == 1:
            readings = [self.read(query.text, q_vec, cands, as_of)]
        else:  # each part ranked on its own, so one sentence answering half hides nothing
            vecs = self.embed(parts)
            readings = [self.read(p, vecs[i], cands, as_of) for i, p in enumerate(parts)]
        timings["rerank"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        ranked = _merged_ranking(readings)
        answered = [r for r in readings if r.cited and r.confidence >= self.abstain_threshold]
        if not answered:
            timings["answer"] = (time.perf_counter() - t1) * 1000
            return Answer(question=query.text, text=ABSTAIN_TEXT, abstained=True,
                          passages=tuple(passages), timings_ms=timings,
                          confidence=max(r.confidence for r in readings), as_of=as_of), ranked
        texts: list[str] = []
        citations: list[Citation] = []
        short = None
        for r in answered:
            text, cites, span = self._compose(r, len(citations) + 1)
            texts.append(text)
            citations += cites
            short = short or span
        texts += [f"The articles don't answer: \u201c{r.question}\u201d"
                  for r in readings if r not in answered]
        timings["answer"] = (time.perf_counter() - t1) * 1000
        return Answer(question=query.text, text=" ".join(texts), abstained=False,
                      citations=tuple(citations), passages=tuple(passages), timings_ms=timings,
                      confidence=min(r.confidence for r in answered), short_answer=short,
                      as_of=as_of), ranked

    def _compose(self, r: Reading, first: int) -> tuple[str, list[Citation], ShortAnswer | None]:
        assert r.cited is not None
        lead, other, as_of_passage = r.cited, None, None
        if r.wh in _TIME_SENSITIVE_WH:
            # Counts and dates change between reports: cite a disagreeing one, newest first,
            # and say whose report the answer is and from when.
            found = conflicting_report(r.cited, r.ranked)
            if found is not None:
                lead, other = newest_first(r.cited, found)
            if lead.passage.date:
                as_of_passage = lead.passage
        text, citations = render(lead, other, as_of_passage, first)
        short = None
        if r.span is not None and r.span.probability >= self.short_threshold:
            cited = r.cited
            n = next(c.n for c in citations
                     if c.article_id == cited.article_id and c.start == cited.start)
            short = ShortAnswer(text=r.span.span.text, article_id=cited.article_id,
                                start=cited.start + r.span.span.start,
                                end=cited.start + r.span.span.end, citation=n)
        return text, citations, short


def _merged_ranking(readings: Sequence[Reading]) -> list[Candidate]:
    """Every ranked sentence once, at its best score over the parts, best first."""
    best: dict[tuple[str, int], Candidate] = {}
    for r in readings:
        for c in r.ranked:
            key = (c.article_id, c.index)
            if key not in best or c.score > best[key].score:
                best[key] = c
    return sorted(best.values(), key=lambda c: -c.score)


def load_learned(settings: Settings, embed: Callable[[Sequence[str]], Vectors]) -> LearnedAnswerer:
    """The learned reader with the committed models (checked on load) and the settings'
    thresholds."""
    import json

    from rag.rank import load_ranker
    from rag.read import READER_PATH

    data = json.loads(READER_PATH.read_text())
    calibration = Calibration(float(data.get("sentence_calib_a", 1.0)),
                              float(data.get("sentence_calib_b", 0.0)))
    return LearnedAnswerer(load_ranker(settings.ranker), SpanModel.load(READER_PATH),
                           calibration, embed, settings.answer_threshold,
                           settings.short_answer_threshold)
