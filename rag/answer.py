"""The extractive answerer: picks the sentences of the retrieved passages that answer the
question and quotes them with `[n]` citations, or abstains.

No reranker or QA model ships in a PyPI package, so the finer ranking happens here, per sentence,
from signals that generalise across questions:
- dense: cosine of question and sentence embeddings (computed at ingest, stored per sentence);
- lexical: IDF-weighted share of the question's terms the sentence contains;
- answer type: a "when" question wants a date, "how many" a number, "who" a name;
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

from rag.conflicts import disagreement, is_pending, schedules
from rag.dates import display_article_date
from rag.deeplink import text_fragment_url
from rag.embed import Vectors
from rag.followup import Query
from rag.store import Store
from rag.text import QUESTION_WORDS, STOPWORDS, normalize, stem, terms, words
from rag.types import Answer, Citation, Passage

ABSTAIN_TEXT = "The articles don't say. None of the retrieved passages answers this question."
EMPTY_INDEX_TEXT = (
    "The index has no articles yet, so the articles don't say. "
    "Add some with `newsrag ingest PATH`."
)

# --- answer types ------------------------------------------------------------------------------

DATE, NUMBER, PERSON, PLACE, ENTITY, NONE = ("date", "number", "person", "place", "entity",
                                             "none")

_TYPE_PATTERNS = [
    (DATE, r"^\s*when\b|\bwhat (date|day|year|month|time)\b|\bby when\b|\bwhich (date|day|year|"
           r"month)\b|\bhow long (ago|until|before)\b|\b(deadline|timeline|timetable|schedule)\b"),
    (NUMBER, r"\bhow (many|much|large|big|long|far|old)\b|\bwhat (number|percentage|percent|"
             r"share|proportion|fraction|amount|size|cost|price|value)\b|\bwhat (is|was|are|"
             r"were) the (number|value|cost|price|size|amount|total|figure|share|proportion|"
             r"percentage|toll)\b|\b(value|cost|price|worth) of\b"),
    # "Whose forces?" is answered by a country as often as by a person: no type.
    (PERSON, r"^\s*(who|whom)\b|\bwhich (person|official|leader|minister|president|"
             r"spokesperson|spokesman|general|secretary)\b|\bwhat is the name of\b|\bwho\b"),
    (PLACE, r"^\s*where\b|\bwhich (city|country|countries|town|region|base|capital|place)\b|"
            r"\bin what (city|country|town)\b|\bwhat (city|country|town|capital)\b"),
    # "Which group / survey / agency ...?" asks for the name of a body: a capitalised name the
    # question does not already contain.
    (ENTITY, r"\b(which|what) (group|groups|organi[sz]ations?|survey|poll|study|report|company|"
             r"companies|agency|agencies|news agenc(y|ies)|party|parties|newspaper|network|"
             r"militia|movement|body|bodies|institution|firm|union|coalition|alliance|"
             r"ministry|department|court|programme|program|operation|mission|force|forces)\b"),
]
_MONTH = (r"(january|february|march|april|may|june|july|august|september|october|november|"
          r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\b")
_DATE_EVIDENCE = re.compile(
    rf"\b{_MONTH}|\b(1[89]|20)\d\d\b|\b(monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday)\b|\b(last|next|this|coming|past)\s+(week|month|year|weekend|decade)\b|"
    r"\b(yesterday|today|tomorrow|recently|ago|within|days|weeks|months|years|decade|"
    r"decades)\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
                 r"thirty|forty|fifty|hundred|hundreds|thousand|thousands|million|millions|"
                 r"billion|dozen|dozens|half|third|thirds|quarter")
_NUMBER_EVIDENCE = re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.IGNORECASE)
_PERSON_TITLES = re.compile(
    r"\b(president|minister|secretary|spokesperson|spokesman|spokeswoman|leader|general|col|"
    r"colonel|chief|ambassador|official|officials|commander|king|queen|prime)\b", re.IGNORECASE)
_CAP_SEQ = re.compile(r"\b[A-Z][\w’'-]+(?:\s+[A-Z][\w’'-]+)+")
# "to the capital Niamey" names a city; "to the capital of Niger" does not.
_PLACE_CUE = re.compile(r"\b(?:(?:in|at|from|to|near|into)\s+(?:the\s+)?|capital\s+|city of\s+)"
                        r"[A-Z][\w’'-]+")
_TEMPORAL = re.compile(r"\b(now|current|currently|latest|still|yet|deadline|must|will|today|"
                       r"final|remain|remaining)\b", re.IGNORECASE)
_LIST_CUE = re.compile(r"\b(which|what)\s+\w+(ies|s)\b|\b(list|name)\b|\bwhat are\b|\bwho are\b",
                       re.IGNORECASE)


def answer_type(question: str) -> str:
    q = question.casefold()
    for kind, pattern in _TYPE_PATTERNS:
        if re.search(pattern, q):
            return kind
    return NONE


_DEADLINE_Q = re.compile(r"\b(by when|by what (date|time|day|month)|deadline|timeline|timetable|"
                         r"supposed to|must|have to|has to|due to|expected to|set to)\b",
                         re.IGNORECASE)
_BOUND = re.compile(rf"\b(by|before|until|no later than|within)\s+(the\s+)?(end of\s+)?"
                    rf"((mid|early|late)[- ]?)?({_MONTH}|about\b|around\b|the next\b|next\b|"
                    rf"\d+|a few\b|several\b|({_NUMBER_WORDS})\b)", re.IGNORECASE)
_COUNT_Q = re.compile(r"\bhow many\b", re.IGNORECASE)
_DURATION_Q = re.compile(r"\bhow long\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[89]|20)\d\d\b")
_DAY_OF_MONTH = re.compile(rf"\b\d{{1,2}}(st|nd|rd|th)?\s+(of\s+)?{_MONTH}|"
                           rf"\b{_MONTH}\.?\s+\d{{1,2}}\b", re.IGNORECASE)
_FRACTION = re.compile(r"\b(half|third|thirds|quarter|quarters|percent|per cent)\b|%|"
                       r"\b\w+-(half|third|thirds|quarter|quarters)\b", re.IGNORECASE)
_NOT_PLACES = re.compile(rf"^({_MONTH}|monday|tuesday|wednesday|thursday|friday|saturday|"
                         r"sunday)$|(ian|ien|ese|ish|can)$", re.IGNORECASE)


def satisfies(kind: str, sentence: str, question: str) -> bool:
    """Does the sentence contain the kind of thing the question asks for?

    Numbers the question itself contains ("Air Base 201") are part of a name, not an answer.
    """
    for num in set(re.findall(r"\d[\d,.]*\d|\d", question)):
        sentence = re.sub(rf"(?<![\d,.]){re.escape(num)}(?!\d|[,.]\d)", " ", sentence)
    if kind == DATE:
        if _DEADLINE_Q.search(question):
            # "By when must they leave?" is answered by a bound ("no later than 15 September",
            # "within four months") or by "no timeline has been set", not by any date.
            return bool(schedules(sentence)) or bool(_BOUND.search(sentence))
        return bool(_DATE_EVIDENCE.search(sentence))
    if kind == NUMBER:
        if _DURATION_Q.search(question) and _DATE_EVIDENCE.search(sentence):
            return True  # "how long?" -- "over the past decade"
        if _COUNT_Q.search(question):
            # A count is neither a year, a day of a month nor a fraction: "In 2022, about
            # two-thirds" and "no later than 15 September" count nothing.
            rest = _FRACTION.sub(" ", _YEAR.sub(" ", _DAY_OF_MONTH.sub(" ", sentence)))
            return bool(_NUMBER_EVIDENCE.search(rest))
        return bool(_NUMBER_EVIDENCE.search(sentence))
    qwords = set(words(question))
    if "us" in qwords or "u.s" in qwords:
        qwords |= {"united", "states", "america", "american", "u", "s"}
    if kind == ENTITY:
        return any(not _in_question(w, qwords) for name in _names_in(sentence)
                   for w in words(name))
    if kind == PERSON:
        names = [n for n in _CAP_SEQ.findall(sentence) if not set(words(n)) <= qwords]
        return bool(names) or bool(_PERSON_TITLES.search(sentence))
    if kind == PLACE:
        # A capitalised word after a preposition or "the capital", other than a month ("in
        # July") or a demonym ("from Russian"), and not already in the question.
        return any(not _in_question(w, qwords) and not _NOT_PLACES.search(w)
                   for m in _PLACE_CUE.finditer(sentence) for w in words(m.group(0))[-1:])
    return True


def _in_question(word: str, qwords: set[str]) -> bool:
    """The question names it already: the same word, or one sharing its first five letters
    (Niger ~ Nigeriens)."""
    return word in qwords or (len(word) >= 5 and any(q[:5] == word[:5] for q in qwords))


_NAME_WORD = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]*[A-Za-z]")


def _names_in(sentence: str) -> list[str]:
    """Capitalised words that are not the sentence's first, nor months or weekdays; an acronym
    counts even when it spells a stopword ("the US Department")."""
    return [w for m in _NAME_WORD.finditer(sentence) for w in [m.group(0)]
            if not _NOT_PLACES.search(w) and (w.isupper() or w.casefold() not in STOPWORDS)]


# --- entities a question names -----------------------------------------------------------------

# Country and demonym pairs whose spellings share no useful prefix.
_DEMONYMS = {"france": "french", "us": "american", "usa": "american", "uk": "british",
             "britain": "british", "netherlands": "dutch", "china": "chinese",
             "germany": "german", "spain": "spanish", "switzerland": "swiss"}
_STATES_ALIASES = ("us", "usa", "american", "united states", "america", "washington")


def named_entities(question: str) -> list[str]:
    """Capitalised words of the question after its first word, and acronyms: the things a
    question is about. The first word is skipped because every question capitalises it."""
    # Hyphenated words are split: in "Western-backed" only "Western" could be a name.
    toks = re.findall(r"[A-Za-z][\w’'.]*", question.replace("-", " "))
    out = []
    for i, tok in enumerate(toks):
        clean = tok.strip(".’'")
        if i == 0 and not clean.isupper():
            continue
        acronym = len(clean) > 1 and clean.replace(".", "").isupper()
        if clean[:1].isupper() and (acronym or normalize(clean) not in STOPWORDS | QUESTION_WORDS):
            out.append(normalize(clean.replace(".", "")).removesuffix("'s"))
    return out


def mentions(entity: str, text: str) -> bool:
    """Is the entity (or its demonym, or a word it prefixes: Niger -> Nigerien) in the text?"""
    tokens = set(words(text))
    alts = {entity}
    if entity in _DEMONYMS:
        alts.add(_DEMONYMS[entity])
    if entity in _STATES_ALIASES:
        alts.update(a for a in _STATES_ALIASES if " " not in a)
        if "united states" in normalize(text):
            return True
    for alt in alts:
        if alt in tokens:
            return True
        if len(alt) >= 5:  # a shared stem: russia ~ russian, niger ~ nigerien ~ niger's
            stem_len = max(5, len(alt) - 2)
            if any(t.startswith(alt[:stem_len]) or (len(t) >= 5 and alt.startswith(t))
                   for t in tokens):
                return True
    return False


# --- scoring -----------------------------------------------------------------------------------

@dataclass
class Candidate:
    article_id: str
    index: int
    start: int
    end: int
    text: str
    passage: Passage
    vec: Vectors
    dense: float = 0.0
    lexical: float = 0.0
    typed: bool = True
    score: float = 0.0


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

# A second question joined to the first: "..., and which group organised the protest?"
_SECOND_QUESTION = re.compile(
    r",?\s+and\s+(?=(?:(?:in|at|on|from|to|for|by|with|of)\s+)?(?:which|what|who|whom|whose|"
    r"when|where|why|how)\b)", re.IGNORECASE)


def split_question(question: str) -> list[str]:
    """The questions a question asks: two or more when interrogative clauses are joined by
    "and", each with at least two content words; else the question itself."""
    parts = [p.strip(" ,?") for p in _SECOND_QUESTION.split(question.strip())]
    if len(parts) < 2 or any(len(terms(p)) < 2 for p in parts):
        return [question]
    return [f"{p[:1].upper()}{p[1:]}?" for p in parts]


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
        seen: set[tuple[str, int]] = set()
        out = []
        for p in passages:
            text = self._article_text(p)
            for idx, start, end, vec in self.store.sentences_in(p.chunk.article_id, p.chunk.start,
                                                               p.chunk.end):
                key = (p.chunk.article_id, idx)
                if key in seen:
                    continue
                seen.add(key)
                sent = text[start - p.chunk.start:end - p.chunk.start]
                if len(sent.split()) < 4:  # headings, bylines, "Key Takeaways"
                    continue
                out.append(Candidate(p.chunk.article_id, idx, start, end, sent, p, vec))
        return out

    @staticmethod
    def _article_text(p: Passage) -> str:
        return p.chunk.text

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
        time_sensitive = kind in (DATE, NUMBER) or bool(_TEMPORAL.search(query.text))
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
                    parts.append(f"{lead} {_reporter(c.passage)} ({when}) reported: {c.text} [{n}]")
                else:
                    parts.append(f"{c.text} [{n}]")
            if not parts:
                continue
            text = " ".join(parts)
            if as_of:
                # Say whose report it is and whether its date is an estimate: a journalist
                # must be able to check "as of" against the source.
                when = display_article_date(as_of.date, as_of.date_inferred)
                text = f"As of {when} ({_reporter(as_of)}): {text}"
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
        time_sensitive = kind in (DATE, NUMBER) or bool(_TEMPORAL.search(query.text))
        # "When did the coup happen?" has one answer however new the report: the newest
        # report wins only for what can change.
        settled = kind == DATE and bool(_PAST_QUESTION.search(query.text)) and not (
            _TEMPORAL.search(query.text))
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
        limit = self.max_sentences + (1 if _LIST_CUE.search(query.text) else 0)
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


def citation_for(c: Candidate, n: int) -> Citation:
    """Citation number `n` of a chosen sentence, with what a newsroom checks it by: the copies
    that carried it, whether its date is estimated, and a link to the passage."""
    return Citation(
        n=n, article_id=c.article_id, title=c.passage.title, date=c.passage.date,
        source=c.passage.source, chunk_id=c.passage.chunk.id, quote=c.text, start=c.start,
        end=c.end, score=c.score, also_reported_by=c.passage.also,
        date_inferred=c.passage.date_inferred, url=text_fragment_url(c.passage.url, c.text))


_FILE_NAME = re.compile(r"^[^\s/]+\.[A-Za-z0-9]{2,5}$")


def _reporter(passage: Passage) -> str:
    """Who reported it, for the reader: the publisher, or the article's title in quotes when
    only a file name is known ("000_e847….txt" tells a journalist nothing)."""
    if passage.source and not _FILE_NAME.match(passage.source):
        return passage.source
    title = passage.title.split()
    short = " ".join(title[:8]).rstrip("…,:;") + ("…" if len(title) > 8 else "")
    return f"“{short}”" if short else passage.source
