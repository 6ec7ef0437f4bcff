"""The learned reader (`reader = "learned"`): ranker -> evidence chooser -> short answer.

Given the sentences of the retrieved passages, it
1. keeps the `RANK_SENTENCES` best by reciprocal rank fusion of two cheap orders (embedding
   cosine, share of the question's terms), so the cross-encoder's cost is bounded per question;
2. scores them with the ranker (rag/rank.py);
3. chooses the sentence that answers, or none (rag/evidence.py: a softmax over the sentences and
   "none of them", fitted on RealTimeQA's 2024 weeks), and quotes it, cited;
4. takes the words of that sentence that answer as the short answer (rag/read.py) when they are
   likely enough to be right.

The probabilities are fitted on weeks the ranker did not train on
(rag/train/train_evidence.py); the thresholds are settings (`abstain_threshold`,
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
from rag.evidence import (
    EvidenceIn,
    EvidenceModel,
    answer_probability,
    evidence_path,
    features,
    null_features,
)
from rag.followup import Query, split_question
from rag.nlp import analyse_question, span_candidates
from rag.rank import Ranker
from rag.read import ScoredSpan, read_span
from rag.settings import Settings
from rag.text import terms
from rag.types import Answer, Citation, Passage, ShortAnswer, SpanCandidate

RANK_SENTENCES = 16  # sentences the cross-encoder reads per question (~4 ms each on one core)
FUSION_K = 10  # reciprocal rank fusion constant for the pre-filter's two orders
# Questions whose answer can change; their answer says whose report it is and when.
_TIME_SENSITIVE_WH = frozenset({"when", "how_many", "how_much"})


def fused_order(question: str, cosines: np.ndarray, texts: Sequence[str],
                keep: int = RANK_SENTENCES) -> list[int]:
    """Indexes of the `keep` texts best by fused cosine and term-overlap ranks (also what the
    reader's training pools by: rag/train/train_evidence.py)."""
    q_terms = set(terms(question))
    overlap = [len(q_terms & set(terms(t))) for t in texts]
    by_cos = np.argsort(-cosines, kind="stable")
    by_lex = sorted(range(len(texts)), key=lambda i: -overlap[i])
    fused = np.zeros(len(texts))
    for order in (by_cos, by_lex):
        for rank, i in enumerate(order):
            fused[i] += 1.0 / (FUSION_K + rank + 1)
    return [int(i) for i in np.argsort(-fused, kind="stable")[:keep]]


def prefilter(question: str, q_vec: Vectors, cands: Sequence[Candidate],
              keep: int = RANK_SENTENCES) -> list[Candidate]:
    """The `keep` sentences best by fused cosine and term-overlap ranks."""
    if len(cands) <= keep:
        return list(cands)
    cos = np.stack([c.vec for c in cands]) @ q_vec
    return [cands[i] for i in fused_order(question, cos, [c.text for c in cands], keep)]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))


@dataclass
class Reading:
    """What the reader found for one question (or one part of a two-part question)."""

    question: str
    ranked: list[Candidate]  # most likely to answer first
    cited: Candidate | None
    span: ScoredSpan | None
    confidence: float  # P(the answer is right: the cited sentence or another saying the same)
    short_probability: float  # P(the short answer is right)
    wh: str


class LearnedAnswerer:
    def __init__(self, ranker: Ranker | None, evidence: EvidenceModel,
                 embed: Callable[[Sequence[str]], Vectors], abstain_threshold: float,
                 short_threshold: float) -> None:
        self.ranker = ranker
        self.evidence = evidence
        self.embed = embed
        self.abstain_threshold = abstain_threshold
        self.short_threshold = short_threshold

    def read(self, question: str, q_vec: Vectors, cands: Sequence[Candidate],
             as_of: str | None) -> Reading:
        """Rank the sentences, choose the one that answers, and read its answering words."""
        pool = [replace(c) for c in prefilter(question, q_vec, cands)]
        info = analyse_question(question)
        if not pool:
            return Reading(question, [], None, None, 0.0, 0.0, info.wh)
        texts = [c.text for c in pool]
        logits = self.ranker.logits(question, texts) if self.ranker else [0.0] * len(texts)
        spans = _spans(pool)
        types = self.evidence.types.probabilities(question, info)
        ins = [EvidenceIn(c.text, x, float(c.vec @ q_vec), c.passage.title, c.index,
                          c.passage.date, tuple(sp), c.article_id)
               for c, x, sp in zip(pool, logits, spans, strict=True)]
        feats, null = features(question, info, types, ins, as_of), null_features(info, ins)
        p, _ = self.evidence.probabilities(feats, null)
        # Each sentence's score: P(it answers rather than none of them), which other
        # sentences do not share out (unlike p), so it compares across questions and parts.
        utilities, null_utility = self.evidence.utilities(feats, null)
        for c, u in zip(pool, utilities, strict=True):
            c.score = _sigmoid(u - null_utility)
        order = np.argsort(-p, kind="stable")
        k = int(order[0])
        cited = pool[k]
        span = read_span(question, info, types, cited.text, spans[k],
                         [t for i, t in enumerate(texts) if i != k], self.evidence.spans,
                         self.embed)
        # Copies and other reports of the same answer share its probability.
        confidence = answer_probability(p, k, texts, span.span.text if span else None)
        short_p = confidence * span.probability if span is not None else 0.0
        return Reading(question, [pool[i] for i in order], cited, span, confidence, short_p,
                       info.wh)

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
        if r.span is not None and r.short_probability >= self.short_threshold:
            cited = r.cited
            n = next(c.n for c in citations
                     if c.article_id == cited.article_id and c.start == cited.start)
            short = ShortAnswer(text=r.span.span.text, article_id=cited.article_id,
                                start=cited.start + r.span.span.start,
                                end=cited.start + r.span.span.end, citation=n,
                                confidence=r.short_probability)
        return text, citations, short


def _spans(pool: Sequence[Candidate]) -> list[tuple[SpanCandidate, ...]]:
    """Each sentence's spans: as found at ingest, else found now (an older index)."""
    missing = [c.text for c in pool if c.spans is None]
    found = iter(span_candidates(missing)) if missing else iter(())
    return [c.spans if c.spans is not None else tuple(next(found)) for c in pool]


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
    from rag.errors import ConfigError
    from rag.rank import load_ranker

    ranker = None if settings.ranker == "none" else load_ranker(settings.ranker)
    path = evidence_path(settings.ranker)
    evidence = EvidenceModel.load(path)
    if evidence.uses_ranker != (ranker is not None):
        raise ConfigError(f"{path} was fitted {'with' if evidence.uses_ranker else 'without'} "
                          f"a ranker's scores, but the ranker setting is {settings.ranker!r}.",
                          hint="Restore rag/models/ from the repository.")
    return LearnedAnswerer(ranker, evidence, embed, settings.abstain_threshold,
                           settings.short_answer_threshold)
