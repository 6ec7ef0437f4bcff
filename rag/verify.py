"""Verification of a generated answer, sentence by sentence, against the sentences it cites.

No NLI model ships in a PyPI package that works offline here, so support is judged from signals
that do, in two layers:
- hard checks, each enough to reject: every number, month and year the claim states must be in
  the source (or its date); every name it capitalises must be in the source or its title; a
  negated claim needs a negated source; a role or title it gives someone ("ambassador",
  "president") must be in the source, next to the same name; a possessive ("Acme's forces")
  must join what the source joins; two names may not swap sides of a verb ("Freedonia asked
  Sylvania" from "Sylvania asked Freedonia"); a claim that says someone said something needs a
  source that reports speech; a word the claim takes from the question must be in the source
  (the word, not a synonym: no table of synonyms fits news in general), since a small model
  forces the question's frame onto a source that does not fill it ("Where will the envoys be
  sent?" -> "They will be sent to mid-September"); at most one content word may come from
  neither source nor question; and the article date lends its day only to its own month;
- soft evidence, both required: the share of the claim's content terms the source contains
  (`coverage`) and the cosine of claim and source embeddings (`similarity`).
The hard checks catch what embeddings miss (a swapped number or name scores ~0.95 cosine); the
coverage floor catches added clauses. The trade-off is deliberate: a faithful paraphrase in
new words is sometimes rejected (lower recall), which costs a sentence, never a false citation.
Measured on tests/data/verify_pairs.jsonl by bench/verify_precision.py. What a sentence states
(its numbers, months, names, negations, content terms, speech) is read by rag/facts.py, who is
where in it by rag/relations.py; the judgement and its thresholds are here.

Markers: a sentence may cite `[n]`, `[n, m]` or `[n][m]`; out-of-range numbers are dropped. When
no cited source supports the sentence, every source is tried and the best supporting one is
attached ("repaired" from provenance): small models often write no marker or the wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag import facts
from rag.embed import Embedder, Vectors
from rag.relations import ROLE_WORDS, detached_possessive, misplaced_role, swapped_sides
from rag.text import normalize, sentence_spans, terms

# --- thresholds (tuned on the hand-made pairs; see the module docstring) ----------------------
MIN_COVERAGE = 0.75  # of the whole claim's content terms
MIN_CLAUSE_COVERAGE = 0.5  # of each clause's: an added clause ("..., and X did Y") fails alone
MIN_SIMILARITY = 0.4
NEGATED_SOURCE_SIMILARITY = 0.75  # a positive claim from a source with a negation needs more


@dataclass(frozen=True)
class Source:
    """A sentence the model was shown, with what a citation of it needs to be checked."""

    text: str
    title: str = ""
    date: str | None = None  # ISO, so "March 2024" in a claim can match the article's date
    vec: Vectors | None = None
    parts: tuple[Source, ...] = ()  # the sentences a merged source joins (see `_merge`)


@dataclass(frozen=True)
class Support:
    ok: bool
    coverage: float
    similarity: float
    reason: str  # why not, when not ok ("number 500", "name Freedonia", "coverage 0.42", ...)


@dataclass(frozen=True)
class Claim:
    text: str  # the sentence without its markers
    markers: tuple[int, ...]  # the 1-based source numbers it cited, as written


@dataclass(frozen=True)
class Verdict:
    text: str
    sources: tuple[int, ...]  # 0-based indices of the supporting sources
    support: Support
    repaired: bool = False  # citation attached or corrected from provenance
    quoted: bool = False  # the cited source sentence itself, in place of an unsupported claim


@dataclass(frozen=True)
class Verification:
    kept: tuple[Verdict, ...]
    removed: tuple[str, ...]  # sentences as the model wrote them, with a reason
    refused: bool  # the model said the sources do not answer (and said nothing verified)


# --- splitting the draft -------------------------------------------------------------------------

_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
# "claim. [1] Next" -> "claim [1]. Next": markers after the full stop belong to the sentence before.
_MARKER_AFTER_STOP = re.compile(r"([.!?]+)((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)")
_LEAD = re.compile(r"^\s*(?:[-*•]\s+|\d+[.)]\s+|answer:\s*)", re.IGNORECASE)
_REFUSAL = re.compile(
    r"\b(?:do(?:es)?n[’']?t|do(?:es)? not|cannot|can[’']?t)\s+(?:say|answer|mention|provide|"
    r"contain|specify|state|include)|\bno (?:information|mention|answer)\b|\bnot (?:mentioned|"
    r"stated|specified|provided|covered)\b|\bNOT_IN_SOURCES\b|\bnone of the sources\b",
    re.IGNORECASE)


def split_claims(draft: str) -> list[Claim]:
    text = _MARKER_AFTER_STOP.sub(lambda m: m.group(2) + m.group(1), draft.strip())
    claims = []
    for s, e in sentence_spans(text):
        sent = _LEAD.sub("", text[s:e])
        markers = tuple(int(n) for m in _MARKER.finditer(sent)
                        for n in re.split(r"\s*[,;]\s*", m.group(1)))
        clean = re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub("", sent)).strip()
        if clean:
            claims.append(Claim(clean, markers))
    return claims


def is_refusal(sentence: str) -> bool:
    return bool(_REFUSAL.search(sentence))


# --- the clause and question-frame checks' words (tuned on the pairs) -----------------------------

_CLAUSE = re.compile(r",?\s+(?:and|but|while|whereas|which|who|bringing|adding)\s+|;\s*|,\s+",
                     re.IGNORECASE)
# Words a claim may take from the question without the source using them: verbs of being and
# having, and the vaguest nouns ("what happened", "the reason").
_FRAME_EXEMPT = frozenset(terms(
    "be is are was were been has have had do does did get got make made happen happened "
    "thing things way ways reason reasons current currently now still yet also"))
MAX_NEW_TERMS = 1  # content words a claim may add that neither its source nor the question has


# --- the judgement -------------------------------------------------------------------------------


def _coverage(claim: str, sentence_terms: set[str], title_terms: set[str]) -> float:
    """Share of the claim's content terms found in the source sentence. A term found only in
    the title counts half: titles name the topic ("Freedonia", "Sylvania"), and a claim that takes a
    name from the title but no fact from the sentence must not pass on it."""
    c_terms = facts.content_terms(claim)
    if not c_terms:
        return 0.0
    found = sum(1.0 if facts.covered(t, sentence_terms)
                else 0.5 if facts.covered(t, title_terms) else 0.0 for t in c_terms)
    return found / len(c_terms)


def support(claim: str, source: Source, claim_vec: Vectors | None = None,
            question: str = "") -> Support:
    """Does `source` (with its title and date) support `claim`, written to answer `question`?"""
    body = f"{source.title}. {source.text}"
    sim = 0.0
    if claim_vec is not None and source.vec is not None:
        sim = float(np.dot(claim_vec, source.vec))
    c_terms = facts.content_terms(claim)
    s_terms, t_terms = facts.source_terms(source.text), facts.source_terms(source.title)
    coverage = _coverage(claim, s_terms, t_terms)

    def no(reason: str) -> Support:
        return Support(False, coverage, sim, reason)

    if not c_terms:
        return no("no content")
    missing_nums = facts.numbers(claim) - facts.source_numbers(body, source.date,
                                                               facts.months(claim))
    if missing_nums:
        return no(f"number {sorted(missing_nums)[0]}")
    missing_months = facts.months(claim) - facts.months(body, source.date)
    if missing_months:
        return no(f"month {sorted(missing_months)[0]}")
    body_norm = normalize(body)
    for name in facts.names(claim):
        if not facts.name_present(name, body_norm):
            return no(f"name {name}")
    claim_neg = facts.negated(claim)
    source_neg = facts.negated(source.text)
    if claim_neg and not source_neg:
        return no("negation")
    if source_neg and not claim_neg and facts.negated_terms(source.text) & set(c_terms):
        return no("asserts what the source denies")
    both = s_terms | t_terms
    role = next((t for t in c_terms if t in ROLE_WORDS and not facts.covered(t, both)), None)
    if role:
        return no(f"role {role!r} not in the source")
    names = set(facts.names(claim))
    misplaced = misplaced_role(claim, body, names)
    if misplaced:
        return no(f"the source does not call {misplaced[1]} {misplaced[0]!r}")
    detached = detached_possessive(claim, source.text)
    if detached:
        return no(f"the source does not speak of {detached[0]} {detached[1]}")
    swapped = swapped_sides(claim, source.text, names)
    if swapped:
        return no(f"{swapped[0]} and {swapped[2]} swap sides of {swapped[1]!r}")
    if facts.attributes_speech(claim) and not facts.reports_speech(body):
        return no("attributes speech the source does not report")
    q_terms = set(facts.content_terms(question)) if question else set()
    framed = next((t for t in c_terms if t in q_terms - _FRAME_EXEMPT
                   and not facts.covered(t, both)), None)
    if framed:
        return no(f"{framed!r} is the question's word, not the source's")
    new = [t for t in c_terms if t not in q_terms and t not in facts.ANSWER_WORDS
           and not facts.covered(t, both)]
    if len(new) > MAX_NEW_TERMS:
        return no(f"adds {', '.join(new)}")
    reversed_term = facts.reversed_term(c_terms, source.text)
    if reversed_term:
        return no(f"the source says the opposite of {reversed_term!r}")
    if coverage < MIN_COVERAGE:
        return no(f"coverage {coverage:.2f}")
    for clause in _CLAUSE.split(claim):
        if len(facts.content_terms(clause)) >= 2:
            clause_cov = _coverage(clause, s_terms, t_terms)
            if clause_cov < MIN_CLAUSE_COVERAGE:
                return no(f"clause {clause!r} coverage {clause_cov:.2f}")
            # A claim may join two sentences clause by clause, or in one clause about a thing
            # both name ("the union behind the strike" + "the strike at the port"), not word
            # by word: "The overthrow in Freedonia occurred in Sylvania" takes "Freedonia" from one
            # sentence and "Sylvania" from another that share nothing it says.
            if source.parts and not _joined_fairly(clause, source.parts):
                return no(f"clause {clause!r} joins sources that share nothing it says")
    floor = NEGATED_SOURCE_SIMILARITY if source_neg and not claim_neg else MIN_SIMILARITY
    if claim_vec is not None and source.vec is not None and sim < floor:
        return no(f"similarity {sim:.2f}")
    return Support(True, coverage, sim, "")


def _joined_fairly(clause: str, parts: Sequence[Source]) -> bool:
    part_terms = [facts.source_terms(p.text) for p in parts]
    if max(_coverage(clause, t, facts.source_terms(p.title))
           for p, t in zip(parts, part_terms, strict=True)) >= MIN_COVERAGE:
        return True
    shared = set.intersection(*part_terms) if part_terms else set()
    return any(facts.covered(t, shared) for t in facts.content_terms(clause)
               if t not in facts.ANSWER_WORDS)


def _merge(sources: Sequence[Source]) -> Source:
    """Several cited sentences read as one source: a claim may join facts from two of them."""
    vecs = [s.vec for s in sources if s.vec is not None]
    vec = None
    if vecs:
        v = np.sum(np.stack(vecs), axis=0)
        vec = (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)
    dates = [s.date for s in sources if s.date]
    return Source(text=" ".join(s.text for s in sources),
                  title=" ".join(dict.fromkeys(s.title for s in sources)),
                  date=dates[0] if len(set(dates)) == 1 else None, vec=vec,
                  parts=tuple(sources))


# --- the whole draft ---------------------------------------------------------------------------


def verify(draft: str, sources: Sequence[Source], embedder: Embedder | None,
           question: str = "") -> Verification:
    claims = split_claims(draft)
    if not claims and _MARKER.search(draft):
        # A bare "[2]": the model pointed at a source. Its sentence, quoted whole, answers.
        picked = [int(n) - 1 for m in _MARKER.finditer(draft)
                  for n in re.split(r"\s*[,;]\s*", m.group(1)) if 1 <= int(n) <= len(sources)]
        quoted = [Verdict(sources[i].text, (i,), Support(True, 1.0, 1.0, ""), repaired=True)
                  for i in dict.fromkeys(picked)]
        return Verification(tuple(quoted), (), refused=False)
    vecs = embedder.embed([c.text for c in claims]) if (embedder and claims) else None
    kept: list[Verdict] = []
    removed: list[str] = []
    refusals = 0
    for i, claim in enumerate(claims):
        vec = vecs[i] if vecs is not None else None
        if is_refusal(claim.text):
            refusals += 1
            removed.append(f"{claim.text} (says the sources do not answer)")
            continue
        verdict = _judge(claim, vec, sources, question)
        if verdict.support.ok:
            kept.append(verdict)
            continue
        removed.append(f"{claim.text} (unsupported: {verdict.support.reason})")
        # The source the model pointed at may still hold what it meant: quote it instead.
        kept.extend(Verdict(sources[idx].text, (idx,), Support(True, 1.0, 1.0, ""), quoted=True)
                    for idx in dict.fromkeys(m - 1 for m in claim.markers)
                    if 0 <= idx < len(sources))
    if all(v.quoted for v in kept):
        kept = []  # nothing the model wrote stands: the caller falls back to the extractive answer
    else:
        # A quote whose source a kept sentence already cites adds nothing.
        used = {i for v in kept if not v.quoted for i in v.sources}
        kept = [v for v in kept if not (v.quoted and v.sources[0] in used)]
        kept = [v for n, v in enumerate(kept) if not v.quoted or v not in kept[:n]]
    return Verification(tuple(kept), tuple(removed), refused=refusals > 0 and not kept)


def _judge(claim: Claim, vec: Vectors | None, sources: Sequence[Source],
           question: str = "") -> Verdict:
    cited = list(dict.fromkeys(m - 1 for m in claim.markers if 1 <= m <= len(sources)))
    best: Verdict | None = None
    for idx in cited:
        s = support(claim.text, sources[idx], vec, question)
        if s.ok and (best is None or s.similarity > best.support.similarity):
            best = Verdict(claim.text, (idx,), s)
    if best is None and len(cited) > 1:
        s = support(claim.text, _merge([sources[i] for i in cited]), vec, question)
        if s.ok:
            best = Verdict(claim.text, tuple(cited), s)
    if best is not None:
        return best
    # The model's markers are missing or wrong: attach the best supporting source, if any.
    first_failure: Support | None = None
    for idx, source in enumerate(sources):
        s = support(claim.text, source, vec, question)
        if idx in cited and first_failure is None:
            first_failure = s
        if s.ok and (best is None or s.similarity > best.support.similarity):
            best = Verdict(claim.text, (idx,), s, repaired=True)
    if best is not None:
        return best
    # A sentence may join the answer from one source with context from another ("the union
    # behind the strike [2]" + "the strike at the port [1]"): try each pair, cited ones
    # first.
    order = cited + [i for i in range(len(sources)) if i not in cited]
    for a_pos, a in enumerate(order):
        for b in order[a_pos + 1:]:
            s = support(claim.text, _merge([sources[a], sources[b]]), vec, question)
            if s.ok and (best is None or s.similarity > best.support.similarity):
                best = Verdict(claim.text, tuple(sorted((a, b))), s, repaired=True)
    if best is not None:
        return best
    failure = first_failure or _closest_failure(claim.text, sources, vec, question)
    return Verdict(claim.text, (), failure)


def _closest_failure(claim: str, sources: Sequence[Source], vec: Vectors | None,
                     question: str = "") -> Support:
    """The reason from the most similar source: the most informative 'why not'."""
    if not sources:
        return Support(False, 0.0, 0.0, "no sources")
    checks = [support(claim, s, vec, question) for s in sources]
    return max(checks, key=lambda s: (s.similarity, s.coverage))

