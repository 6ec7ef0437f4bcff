"""From chosen sentences to answer text with `[n]` markers and `Citation`s.

The reader (rag/learned.py) decides what answers; this module says it: each quoted sentence is
cited from provenance (its article, chunk and exact character span), a report that disagrees
with the answer on a quantity or a date is cited beside it, newest first ("Reports differ:"),
and a time-sensitive answer says whose report it is and from when ("As of ...").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.conflicts import cosine, disagreement, is_pending
from rag.dates import display_article_date
from rag.deeplink import text_fragment_url
from rag.embed import Vectors
from rag.store import Store
from rag.types import Citation, Passage, SpanCandidate

ABSTAIN_TEXT = "The articles don't say. None of the retrieved passages answers this question."
EMPTY_INDEX_TEXT = (
    "The index has no articles yet, so the articles don't say. "
    "Add some with `newsrag ingest PATH`."
)
MIN_SENTENCE_WORDS = 4  # shorter: headings, bylines, "Key Takeaways"


@dataclass
class Candidate:
    """A sentence of a retrieved passage; `score` is the ranker's (0-1) once ranked."""

    article_id: str
    index: int
    start: int
    end: int
    text: str
    passage: Passage
    vec: Vectors
    score: float = 0.0
    spans: tuple[SpanCandidate, ...] | None = None  # found at ingest; None: not stored


def sentence_candidates(store: Store, passages: Sequence[Passage]) -> list[Candidate]:
    """The sentences of the passages (each once, with its stored vector), in passage order."""
    seen: set[tuple[str, int]] = set()
    out = []
    for p in passages:
        text = p.chunk.text
        for s in store.sentences_in(p.chunk.article_id, p.chunk.start, p.chunk.end):
            key = (p.chunk.article_id, s.idx)
            if key in seen:
                continue
            seen.add(key)
            sent = text[s.start - p.chunk.start:s.end - p.chunk.start]
            if len(sent.split()) < MIN_SENTENCE_WORDS:
                continue
            out.append(Candidate(p.chunk.article_id, s.idx, s.start, s.end, sent, p, s.vec,
                                 spans=s.span_candidates(sent)))
    return out


def citation_for(c: Candidate, n: int) -> Citation:
    """Citation number `n` of a chosen sentence, with what a newsroom checks it by: the copies
    that carried it, whether its date is estimated, and a link to the passage."""
    return Citation(
        n=n, article_id=c.article_id, title=c.passage.title, date=c.passage.date,
        source=c.passage.source, chunk_id=c.passage.chunk.id, quote=c.text, start=c.start,
        end=c.end, score=c.score, also_reported_by=c.passage.also,
        date_inferred=c.passage.date_inferred, url=text_fragment_url(c.passage.url, c.text))


# A disagreeing sentence is reported when the ranker scores it at least this share of the
# answer's score: relevant enough to be about the same question. "No date is set yet" against a
# set date is reported from a lower score: it is the very change a journalist must not miss.
CONFLICT_FLOOR = 0.75
PENDING_FLOOR = 0.5


def conflicting_report(cited: Candidate, ranked: Sequence[Candidate]) -> Candidate | None:
    """A well-ranked sentence of another story that disagrees with the answer on a number or a
    date, when the cosine of their stored embeddings says they report one event
    (`rag.conflicts.SAME_EVENT`, fitted on labelled RealTimeQA pairs, bench/conflict_precision.py).
    Copies of the answer's article don't count: they are one report."""
    for c in ranked[:20]:
        if c.score < cited.score * PENDING_FLOOR:
            break
        if c.article_id == cited.article_id or (
                cited.passage.group_id and c.passage.group_id == cited.passage.group_id):
            continue
        floor = PENDING_FLOOR if is_pending(cited.text) or is_pending(c.text) else CONFLICT_FLOOR
        if c.score >= cited.score * floor and disagreement(
                cited.text, c.text, similarity=cosine(cited.vec, c.vec)):
            return c
    return None


def newest_first(lead: Candidate, other: Candidate) -> tuple[Candidate, Candidate]:
    """Lead with the newer side. A report that no date is set yet is older than one that sets
    it, whatever the (often missing) dates say; otherwise dated beats undated, newer beats
    older, and a tie keeps the better-scoring answer first."""
    if is_pending(lead.text) != is_pending(other.text):
        swap = is_pending(lead.text)
    else:
        swap = (other.passage.date or "") > (lead.passage.date or "")
    return (other, lead) if swap else (lead, other)


def render(cited: Candidate, other: Candidate | None, as_of: Passage | None,
           first: int = 1) -> tuple[str, list[Citation]]:
    """Answer text with [n] markers (numbered from `first`) and its citations: the answer's
    sentence, a disagreeing report after it, and "As of <date> (<who>):" in front when the
    answer is dated."""
    citations = [citation_for(cited, first)]
    parts = [f"{cited.text} [{first}]"]
    if other is not None:
        n = first + 1
        citations.append(citation_for(other, n))
        when = display_article_date(other.passage.date, other.passage.date_inferred)
        lead = ("Earlier," if is_pending(other.text) and not is_pending(cited.text)
                else "Reports differ:")
        parts.append(f"{lead} {reporter(other.passage)} ({when}) reported: {other.text} [{n}]")
    text = " ".join(parts)
    if as_of is not None:
        # Say whose report it is and whether its date is an estimate: a journalist must be
        # able to check "as of" against the source.
        when = display_article_date(as_of.date, as_of.date_inferred)
        text = f"As of {when} ({reporter(as_of)}): {text}"
    return text, citations


_FILE_NAME = re.compile(r"^[^\s/]+\.[A-Za-z0-9]{2,5}$")


def reporter(passage: Passage) -> str:
    """Who reported it, for the reader: the publisher, or the article's title in quotes when
    only a file name is known ("000_e847….txt" tells a journalist nothing)."""
    if passage.source and not _FILE_NAME.match(passage.source):
        return passage.source
    title = passage.title.split()
    short = " ".join(title[:8]).rstrip("…,:;") + ("…" if len(title) > 8 else "")
    return f"“{short}”" if short else passage.source
