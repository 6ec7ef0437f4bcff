"""The extractive answerer: picks the sentences of the retrieved passages that answer the
question and quotes them with `[n]` citations, or abstains.

No reranker or QA model ships in a PyPI package, so the finer ranking happens here, per sentence,
from signals that generalise across questions:
- dense: cosine of question and sentence embeddings (computed at ingest, stored per sentence);
- lexical: IDF-weighted share of the question's terms the sentence contains;
- answer type (rag/qtypes.py): a "when" question wants a date, "how many" a number, "who" a
  name;
- the rank of the passage the sentence came from.
Confidence is the best sentence's score, lowered when the question names something (a person, a
country) that the passage never mentions: the usual shape of a question the articles don't
answer. Below `abstain_threshold` the answer abstains and shows the nearest passages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rag import cite
from rag.cite import citation_for, reporter
from rag.conflicts import disagreement, is_pending
from rag.dates import display_article_date
from rag.embed import Vectors
from rag.followup import Query, split_question
from rag.qtypes import (
    DATE,
    LIST_CUE,
    NONE,
    NUMBER,
    TEMPORAL_CUE,
    answer_type,
    mentions,
    named_entities,
    satisfies,
)
from rag.store import Store
from rag.text import QUESTION_WORDS, stem, terms
from rag.types import Answer, Citation, Passage

ABSTAIN_TEXT, EMPTY_INDEX_TEXT = cite.ABSTAIN_TEXT, cite.EMPTY_INDEX_TEXT

# --- scoring -----------------------------------------------------------------------------------

@dataclass
class Candidate(cite.Candidate):
    dense: float = 0.0
    lexical: float = 0.0
    typed: bool = True


@dataclass(frozen=True)
class Weights:
    dense: float = 0.5
    lexical: float = 0.35
    typed: float = 0.15
    passage_rank: float = 0.04
    entity_penalty: float = 0.55  # confidence multiplier per named entity the passage lacks
    entity_sentence_penalty: float = 0.85  # ... that the passage has but the sentence lacks
    rare_term_penalty: float = 0.85  # when the question's rarest term is not in the sentence
    type_penalty: float = 0.5  # confidence multiplier when the answer lacks the asked-for type
    # ... stronger for counts and dates: "how many?" answered without a number answers nothing.
    strict_type_penalty: float = 0.35
    unknown_term_penalty: float = 0.85  # when the question uses a word no article contains


_NUM_VALUE = re.compile(r"\d[\d,.]*")


def _values(text: str) -> frozenset[str]:
    """Numbers and month-day dates in a sentence, normalised, to detect disagreement."""
    vals = {v.replace(",", "").rstrip(".") for v in _NUM_VALUE.findall(text)}
    return frozenset(vals)


_PAST_QUESTION = re.compile(r"\b(did|was|were|had)\b", re.IGNORECASE)
# A disagreeing sentence is reported when it scores at least this share of the answer's score:
# relevant enough to be about the same question. "No date is set yet" against a set date is
# reported from a lower score: it is the very change a journalist must not miss.
_CONFLICT_FLOOR = 0.75
_PENDING_FLOOR = 0.5


def _newest_first(chosen: list[Candidate],
                  other: Candidate) -> tuple[list[Candidate], Candidate]:
    """Lead with the newer side. A report that no date is set yet is older than one that sets
    it, whatever the (often missing) dates say; otherwise dated beats undated, newer beats
    older, and a tie keeps the better-scoring answer first."""
    lead = chosen[0]
    if is_pending(lead.text) != is_pending(other.text):
        swap = is_pending(lead.text)
    else:
        swap = (other.passage.date or "") > (lead.passage.date or "")
    return ([other, *chosen[1:]], lead) if swap else (chosen, other)


# (sentences that answer, a report that disagrees, the passage an "as of" date comes from)
Segment = tuple[list[Candidate], Candidate | None, Passage | None]

class ExtractiveAnswerer:
    def __init__(self, store: Store, max_sentences: int, threshold: float,
                 weights: Weights | None = None,
                 embed: Callable[[str], Vectors] | None = None) -> None:
        self.store = store
        self.embed = embed
        self.max_sentences = max_sentences
        self.threshold = threshold
        self.w = weights or Weights()

    # -- candidates --

    def candidates(self, passages: Sequence[Passage]) -> list[Candidate]:
        return [Candidate(**vars(c)) for c in cite.sentence_candidates(self.store, passages)]

    def _term_weights(self, q_terms: Sequence[str]) -> dict[str, float]:
        df, total = self.store.document_frequencies(q_terms)
        n = max(total, 1)
        # Unknown words weigh as if they were rare but present: a paraphrase must not sink
        # the lexical signal, and named things absent from the corpus are handled separately.
        return {t: math.log(1 + n / (df.get(t, 0) + 1)) for t in q_terms}

    def score(self, query: Query, q_vec: Vectors, cands: list[Candidate]) -> str:
        kind = answer_type(query.text)
        q_terms = [t for t in terms(query.text) if t not in {stem(w) for w in QUESTION_WORDS}]
        ctx_terms = [t for t in query.context_terms if t not in q_terms]
        weights = self._term_weights(q_terms + ctx_terms)
        # The conversation says what a follow-up is about, the follow-up what it asks: however
        # many names the last answer held, its words weigh at most half of the question's own
        # ("And the prime minister?" after an answer about Tchiani and Putin).
        own = sum(weights[t] for t in q_terms)
        ctx = sum(weights[t] for t in ctx_terms)
        scale = min(0.5, 0.5 * own / ctx) if ctx and own else 0.5
        for t in ctx_terms:
            weights[t] *= scale
        total = sum(weights.values()) or 1.0
        if cands:
            mat = np.stack([c.vec for c in cands])
            dense = mat @ q_vec
            if query.retrieval_text != query.text and self.embed is not None:
                # A follow-up's vector is mostly its context ("And the prime minister?" plus
                # the last answer's names): the question on its own says what is asked.
                dense = 0.5 * dense + 0.5 * (mat @ self.embed(query.text))
        for i, c in enumerate(cands):
            s_terms = set(terms(c.text))
            hit = 0.0
            for t, w in weights.items():
                if t in s_terms:
                    hit += w
                elif len(t) >= 5 and any(s.startswith(t) or t.startswith(s) for s in s_terms
                                         if len(s) >= 5):
                    hit += 0.7 * w  # niger ~ nigerien, withdraw ~ withdrawal
            c.dense = float(dense[i])
            c.lexical = hit / total
            c.typed = kind == NONE or satisfies(kind, c.text, query.text)
            # A sentence that only restates the question answers nothing.
            novelty = 1.0 if len(s_terms - set(weights)) >= 2 else 0.8
            c.score = novelty * (
                self.w.dense * c.dense + self.w.lexical * c.lexical
                + (self.w.typed * (1.0 if c.typed else 0.0) if kind != NONE
                   else self.w.typed * 0.5)
                + self.w.passage_rank / (1 + c.passage.rank)
            )
        return kind

    # -- composing --

    def answer(self, query: Query, q_vec: Vectors, passages: Sequence[Passage],
               timings: dict[str, float]) -> tuple[Answer, list[Candidate]]:
        import time

        t0 = time.perf_counter()
        if not passages:
            empty = not self.store.counts()["articles"]
            return Answer(question=query.text, text=EMPTY_INDEX_TEXT if empty else ABSTAIN_TEXT,
                          abstained=True, passages=tuple(passages), timings_ms=timings), []
        cands = self.candidates(passages)
        parts = split_question(query.text) if self.embed is not None else [query.text]
        if len(parts) > 1:
            return self._answer_parts(query, parts, passages, cands, timings, t0)
        kind = self.score(query, q_vec, cands)
        ranked = sorted(cands, key=lambda c: -c.score)
        timings["rerank"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        confidence, best = self.confidence(query, kind, ranked)
        if best is None or confidence < self.threshold:
            timings["answer"] = (time.perf_counter() - t1) * 1000
            return Answer(question=query.text, text=ABSTAIN_TEXT, abstained=True,
                          passages=tuple(passages), timings_ms=timings,
                          confidence=confidence), ranked
        text, citations = self._render([self._settle(query, kind, ranked, best)])
        timings["answer"] = (time.perf_counter() - t1) * 1000
        return Answer(question=query.text, text=text, abstained=False,
                      citations=tuple(citations), passages=tuple(passages),
                      timings_ms=timings, confidence=confidence), ranked

    def _answer_parts(self, query: Query, parts: list[str], passages: Sequence[Passage],
                      cands: list[Candidate], timings: dict[str, float],
                      t0: float) -> tuple[Answer, list[Candidate]]:
        """A question that asks two things ("Which survey ..., and which group ...?"): each
        part is scored and answered on its own from the same passages, so one sentence that
        answers half cannot hide the other half. A part the articles don't answer is named."""
        import time

        assert self.embed is not None
        segments: list[Segment] = []
        confidences: list[float] = []
        unanswered: list[str] = []
        best_of: dict[tuple[str, int], Candidate] = {}
        for part in parts:
            sub = Query(part, part, query.context_terms)
            mine = [replace(c) for c in cands]
            kind = self.score(sub, self.embed(part), mine)
            ranked = sorted(mine, key=lambda c: -c.score)
            for c in ranked:
                key = (c.article_id, c.index)
                if key not in best_of or c.score > best_of[key].score:
                    best_of[key] = c
            confidence, best = self.confidence(sub, kind, ranked)
            if best is None or confidence < self.threshold:
                unanswered.append(part)
                confidences.append(confidence)
                continue
            segments.append(self._settle(sub, kind, ranked, best))
            confidences.append(confidence)
        merged = sorted(best_of.values(), key=lambda c: -c.score)
        timings["rerank"] = (time.perf_counter() - t0) * 1000
        if not segments:
            return Answer(question=query.text, text=ABSTAIN_TEXT, abstained=True,
                          passages=tuple(passages), timings_ms=timings,
                          confidence=max(confidences)), merged
        text, citations = self._render(segments)
        if unanswered:
            text += " " + " ".join(f"The articles don't answer: \u201c{p}\u201d"
                                   for p in unanswered)
        answered = [c for c, p in zip(confidences, parts, strict=True) if p not in unanswered]
        timings["answer"] = 0.0
        return Answer(question=query.text, text=text, abstained=False,
                      citations=tuple(citations), passages=tuple(passages),
                      timings_ms=timings, confidence=min(answered)), merged

    def _settle(self, query: Query, kind: str, ranked: list[Candidate],
                best: Candidate) -> Segment:
        """The sentences that answer, a disagreeing report if any, and the "as of" passage."""
        chosen, as_of = self.compose(query, kind, ranked, best)
        time_sensitive = kind in (DATE, NUMBER) or bool(TEMPORAL_CUE.search(query.text))
        # Reports disagree on numbers and dates: a question that asks for a person, a place or
        # a name ("In which city will the delegation ...?") is not answered by that dispute.
        other = (self._conflict(chosen, ranked)
                 if time_sensitive and kind in (DATE, NUMBER, NONE) else None)
        if other is not None:
            chosen, other = _newest_first(chosen, other)
        # "As of" dates a fact that can change; a question about the past ("When did ...?")
        # has a settled answer and gets it only when reports differ.
        if time_sensitive and chosen[0].passage.date and (
                as_of or other or not _PAST_QUESTION.search(query.text)):
            as_of = chosen[0].passage
        return chosen, other, as_of

    @staticmethod
    def _render(segments: Sequence[Segment]) -> tuple[str, list[Citation]]:
        """Answer text with [n] markers and its citations. A sentence already cited by an
        earlier segment is not repeated."""
        citations: list[Citation] = []
        cited: set[tuple[str, int]] = set()
        texts = []
        for chosen, other, as_of in segments:
            parts = []
            for c in [*chosen, *([other] if other else [])]:
                if (c.article_id, c.index) in cited:
                    continue
                cited.add((c.article_id, c.index))
                n = len(citations) + 1
                citations.append(citation_for(c, n))
                if c is other:
                    # Both sides, cited: the reader decides, and sees which report is older.
                    when = display_article_date(c.passage.date, c.passage.date_inferred)
                    lead = ("Earlier," if is_pending(c.text) and not is_pending(chosen[0].text)
                            else "Reports differ:")
                    parts.append(f"{lead} {reporter(c.passage)} ({when}) reported: {c.text} [{n}]")
                else:
                    parts.append(f"{c.text} [{n}]")
            if not parts:
                continue
            text = " ".join(parts)
            if as_of:
                # Say whose report it is and whether its date is an estimate: a journalist
                # must be able to check "as of" against the source.
                when = display_article_date(as_of.date, as_of.date_inferred)
                text = f"As of {when} ({reporter(as_of)}): {text}"
            texts.append(text)
        return " ".join(texts), citations

    def confidence(self, query: Query, kind: str,
                   ranked: list[Candidate]) -> tuple[float, Candidate | None]:
        if not ranked:
            return 0.0, None
        best = ranked[0]
        conf = best.score
        # Things the question names must appear in the answer, or at least in its passage.
        passage = f"{best.passage.title} {best.passage.chunk.text}"
        for entity in named_entities(query.text):
            if not mentions(entity, best.text):
                conf *= (self.w.entity_sentence_penalty if mentions(entity, passage)
                         else self.w.entity_penalty)
        # The question's most specific word ("uranium") should be in the answer sentence.
        rare, unknown = self._specific_terms(query)
        if rare and rare not in terms(best.text):
            conf *= self.w.rare_term_penalty
        # A word no article contains ("ambassador", "redeployed") often names the very thing
        # the articles don't cover; a paraphrase pays this too, which dev data says is worth it.
        if unknown:
            conf *= self.w.unknown_term_penalty
        if kind != NONE and not best.typed:
            # "How many instructors?" answered by a sentence with no number: likely unanswered.
            conf *= self.w.strict_type_penalty if kind in (NUMBER, DATE) else self.w.type_penalty
        return conf, best

    def _specific_terms(self, query: Query) -> tuple[str | None, list[str]]:
        """(the question's rarest term present in the corpus, if specific; unknown terms)."""
        q_terms = [t for t in terms(query.text)
                   if t not in {stem(w) for w in QUESTION_WORDS} and not t.isdigit()]
        df, total = self.store.document_frequencies(q_terms)
        unknown = [t for t in q_terms if df.get(t, 0) == 0 and len(t) > 2]
        present = [(n, t) for t, n in df.items() if n > 0]
        if not present or total < 2:
            return None, unknown
        n, term = min(present)
        # Only a genuinely specific word: one in at most a fifth of the chunks.
        return (term if n <= max(1, total // 5) else None), unknown

    def compose(self, query: Query, kind: str, ranked: list[Candidate],
                best: Candidate) -> tuple[list[Candidate], Passage | None]:
        as_of: Passage | None = None
        time_sensitive = kind in (DATE, NUMBER) or bool(TEMPORAL_CUE.search(query.text))
        # "When did the coup happen?" has one answer however new the report: the newest
        # report wins only for what can change.
        settled = kind == DATE and bool(_PAST_QUESTION.search(query.text)) and not (
            TEMPORAL_CUE.search(query.text))
        if time_sensitive and not settled:
            # Reports change: among near-equal answers, the newest dated report wins.
            # ... among answers to the same question: one that covers the question's words
            # much worse ("from the Pentagon" for "in which city will the delegation ...?")
            # answers something else, however new.
            band = [c for c in ranked[:8] if c.score >= best.score - 0.06 and c.typed
                    and c.lexical >= best.lexical * 0.8]
            dated = [c for c in band if c.passage.date]
            if dated:
                newest = max(dated, key=lambda c: (c.passage.date or "", c.score))
                articles = {c.article_id for c in band}
                if len(articles) > 1 and (newest is not best or len(
                        {_values(c.text) for c in band}) > 1):
                    as_of = newest.passage
                best = newest
        chosen = [best]
        coverage = self._covered(query, best)
        limit = self.max_sentences + (1 if LIST_CUE.search(query.text) else 0)
        for c in ranked:
            if len(chosen) >= limit:
                break
            if c is best or c.score < best.score * 0.85 or not c.typed:
                continue
            if any(float(c.vec @ o.vec) > 0.8 or self._overlap(c, o) > 0.5 for o in chosen):
                continue
            extra = self._covered(query, c) - coverage
            if extra:
                chosen.append(c)
                coverage |= extra
        return chosen, as_of

    @staticmethod
    def _conflict(chosen: list[Candidate], ranked: list[Candidate]) -> Candidate | None:
        """A well-ranked sentence from another story that disagrees with the answer on a
        number or a date. Copies of the answer's article don't count: they are one report."""
        lead = chosen[0]
        used = {c.article_id for c in chosen}
        for c in ranked[:20]:
            if c.score < lead.score * _PENDING_FLOOR:
                break
            if c.article_id in used or (lead.passage.group_id
                                        and c.passage.group_id == lead.passage.group_id):
                continue
            floor = _PENDING_FLOOR if is_pending(lead.text) or is_pending(c.text) \
                else _CONFLICT_FLOOR
            if c.score >= lead.score * floor and disagreement(lead.text, c.text):
                return c
        return None

    @staticmethod
    def _covered(query: Query, c: Candidate) -> set[str]:
        return set(terms(query.text)) & set(terms(c.text))

    @staticmethod
    def _overlap(a: Candidate, b: Candidate) -> float:
        ta, tb = set(terms(a.text)), set(terms(b.text))
        return len(ta & tb) / max(1, min(len(ta), len(tb)))
