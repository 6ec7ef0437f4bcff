"""Conflicting reports: do two sentences about the same event disagree on a figure or a date?

General rules, no list of known stories:
- a quantity is a number with what makes it a figure: its qualifier ("about", "more than",
  "as many as", "no fewer than"), its range ("3 to 5", "3-5", "between 3 and 5", "$3.2
  billion to $3.4 billion"), its scale ("$3.2 billion"), its unit (a currency sign,
  "%"/"percent") and the noun it counts, found by part of speech (spaCy's tagger): the head
  of the noun phrase after it ("2,500 volunteer firefighters" -> firefight, "63% of voters",
  "$60 billion in aid"), else the nearest noun before it in its clause ("a workforce
  totalling 12,000"), with the nouns that modify it ("chicken prices"). Counts in words
  ("Twenty-one states") are read. Years, days of a month, times, ordinals and numbers glued
  to words ("Covid-19") are no quantities;
- two figures of one unit and noun (and no different modifiers) disagree when they differ
  beyond the precision they are written with (2,000 vs 2,030 agree; 3.2 vs 3.4 do not), an
  estimate by more than 10%, a range when the other falls outside it; a bound ("more than
  500") disagrees with the same figure given as an estimate ("about 500") and with any figure
  that breaks it, not with the exact figure it is at ("at least 36" / "36"). A figure that
  the other sentence also states (a sentence may give several) disagrees with nothing, and
  figures given for different times (other weekdays or years, "at the time") are not
  compared: a count that rises is no contradiction;
- a schedule is a date after a deadline word ("no later than 1 July", "by March 3"); a pending
  schedule says none is set yet ("no date has been agreed"): a sentence with no date noun
  negated ("No injuries were announced") is not one. Two sentences that each give one date
  of the same event disagree when the dates differ;
- "the same event" is decided by the caller's sentence similarity (`SAME_EVENT`, fitted on
  labelled RealTimeQA pairs), not by words: two sentences can share every noun and be about
  different things. bench/conflict_precision.py measures the whole.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from rag.dates import mentions
from rag.language import (
    CURRENCY_SYMBOLS,
    MONTHS,
    NEGATORS,
    NUMBER_WORDS,
    PAST_MARKERS,
    QUALIFIERS,
    SCALES,
    STOPWORDS,
    WEEKDAYS,
    alternation,
)
from rag.text import stem

if TYPE_CHECKING:
    from rag.embed import Vectors

# Cosine similarity of two sentences' embeddings (the packaged MiniLM, int8, as the store holds
# them) from which they are taken to report the same event: the best F1 on the 365 labelled
# 2024 pairs of bench/conflict_precision.py (0.662; 0.698 on the first 134 pairs). The 2025
# pairs are held out.
SAME_EVENT = 0.66
SAME_DATE_EVENT = 0.8  # dates carry no noun that says what they date: a higher bar

_MON = alternation(MONTHS)
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = alternation(SCALES)
_CUR = f"[{''.join(CURRENCY_SYMBOLS)}]"
_PCT = r"\s*%|\s+per\s?cent\b|\s+percent\b"
_QTY = re.compile(
    rf"(?:\b(?P<q>{alternation(QUALIFIERS)})\s+)?(?:the\s+)?(?P<btw>between\s+)?"
    rf"(?P<cur>{_CUR})?(?<![\w.,/#:-])(?P<n>{_NUM})"
    # A range repeats its scale or its unit on the low end: "$3.2 billion to $3.4 billion",
    # "10% to 14%"; "between X and Y" is one too.
    rf"(?:(?:\s*(?P<scale1>{_SCALE})\b|(?P<pct1>{_PCT}))?"
    rf"\s*(?(btw)and|(?:-|–|to))\s*{_CUR}?(?P<n2>{_NUM}))?"
    rf"(?:\s*(?P<scale>{_SCALE})\b)?"
    rf"(?P<pct>{_PCT})?"
    r"(?:\s+or\s+(?:(?P<up>more|higher|greater|above|over)|(?P<down>less|fewer|lower|under))\b)?"
    r"(?![\w:/]|[.,]\d|-\w)", re.IGNORECASE)
# A count written in words ("Twenty-one states", "five people"): from two to ninety-nine, as
# "one", "a" and "dozen" are more often no count at all ("one of the", "a dozen times").
_UNITS = [w for w, n in NUMBER_WORDS.items() if 1 <= n <= 9 and len(w) > 2]  # "twenty-one"
_TENS = [w for w, n in NUMBER_WORDS.items() if n in range(20, 100, 10)]
_WORD_COUNT = re.compile(
    rf"(?:\b(?P<q>{alternation(QUALIFIERS)})\s+)?\b(?P<w>(?:{alternation(_TENS)})(?:-(?:{alternation(_UNITS)}))?"
    rf"|{alternation(w for w, n in NUMBER_WORDS.items() if 2 <= n <= 19 and w != 'dozen')})"
    r"(?=\s+[a-z])(?!\s+(?:of|or|and|to)\b)", re.IGNORECASE)


def _word_value(words: str) -> int:
    return sum(NUMBER_WORDS[w] for w in words.lower().split("-"))


# Verbs that introduce a count ("a workforce totalling 12,000"): not the counted noun.
_COUNT_VERBS = frozenset(stem(w) for w in "number numbering numbers total totals totaling "
                         "totalling reach reached reaching stand stands stood".split())
# A deadline word right before a date: "by", "no later than", "until", "deadline of".
_DEADLINE = re.compile(r"\b(?:by|before|until|than|deadline(?: of)?|on)[”\"’']?\s+(?:the\s+)?$",
                       re.IGNORECASE)
_DATE_NOUNS = r"timeline|timetable|deadline|schedule|date|time ?frame"
_PENDING = re.compile(
    rf"\b(?:{NEGATORS}|yet to be)\b[^.;]{{0,40}}?\b(?:{_DATE_NOUNS})\b"
    rf"|\b(?:{_DATE_NOUNS})\b[^.;]{{0,30}}?\b(?:{NEGATORS})\b[^.;]{{0,20}}?"
    r"\b(?:set|decided|agreed|fixed|announced|given|known|determined|confirmed)\b",
    re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    value: float
    qualifier: str  # "exact", "approx", "nearly", "more", "less" or "range"
    noun: str  # stem of the counted noun, or of the unit ("dollar", "percent"); "" if none
    high: float | None = None  # the top of a range
    precision: float = 1.0  # the worth of its last written digit: "40,000" 10,000; "3.2" 0.1
    # Stems of the nouns that modify the counted one: "manufacturing jobs" {"manufactur"},
    # "chicken prices" {"chicken"}; a figure of "jobs" is not one of "manufacturing jobs".
    kind: frozenset[str] = frozenset()


def _precision(raw: str, scale: float) -> float:
    digits = raw.replace(",", "")
    if "." in digits:
        return scale * 10.0 ** -len(digits.split(".")[1])
    if len(digits) < 4:
        return scale  # "10" and "12" people are two counts, not one rounded figure
    zeros = len(digits) - len(digits.rstrip("0"))
    return scale * 10.0 ** min(zeros, len(digits) - 1)


# Part-of-speech tags (Penn Treebank) of the words that may stand between a number and the
# noun it counts: adjectives, participles, other nouns ("2,500 volunteer firefighters",
# "7,376 confirmed deaths", "300 foreign soldiers").
_NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
_MODIFIER_TAGS = _NOUN_TAGS | {"JJ", "JJR", "JJS", "VBN", "VBG", "HYPH"}


@lru_cache(maxsize=4096)
def _tagged(sentence: str) -> tuple[tuple[int, str, str], ...]:
    """(start, word, Penn tag) of each token, by spaCy's tagger (rag/nlp.py's model)."""
    from rag.nlp import model

    doc = model()(sentence, disable=["parser", "ner"])
    return tuple((t.idx, t.text, t.tag_) for t in doc)


def _counted_noun(sentence: str, start: int, end: int,
                  money: bool = False) -> tuple[str, frozenset[str]]:
    """The stem of the noun a figure at sentence[start:end] counts, by part of speech, and the
    stems of the nouns that modify it.

    The last noun of the noun phrase right after the figure ("2,500 volunteer firefighters"),
    or after an "of" ("63% of voters"); else the nearest noun before it in its clause ("a
    workforce totalling 12,000", "the deal is worth $3 billion"); "" when there is none. A sum
    of money "in" something is money for it: "$60 billion in aid" counts aid.
    """
    tokens = _tagged(sentence)
    after = [t for t in tokens if t[0] >= end]
    if after and (after[0][1].lower() == "of" or (money and after[0][1].lower() == "in")):
        after = after[1:]
        if after and after[0][2] in ("DT", "PRP$", "CD"):
            after = after[1:]
    nouns: list[str] = []
    for _, word, tag in after:
        if tag not in _MODIFIER_TAGS:
            break
        if tag in _NOUN_TAGS:
            nouns.append(stem(word.lower()))
    if nouns:
        return nouns[-1], frozenset(nouns[:-1])
    before = [t for t in tokens if t[0] < start]
    for i in range(len(before) - 1, -1, -1):
        _, word, tag = before[i]
        if tag in (".", ":", ",") or word in ";:":
            break
        low = word.lower()
        if tag in _NOUN_TAGS and low not in STOPWORDS and stem(low) not in _COUNT_VERBS:
            kind = []
            for _, w, t in reversed(before[max(0, i - 3):i]):
                if t not in _NOUN_TAGS:
                    break
                kind.append(stem(w.lower()))
            return stem(low), frozenset(kind)
    return "", frozenset()


def _is_date_part(sentence: str, start: int, end: int) -> bool:
    return any(m.start <= start < m.end or m.start < end <= m.end for m in mentions(sentence))


def quantities(sentence: str) -> list[Quantity]:
    out = []
    for m in _QTY.finditer(sentence):
        raw, cur = m.group("n"), m.group("cur")
        pct = m.group("pct") or m.group("pct1")
        scale_word = (m.group("scale") or m.group("scale1") or "").lower()
        if scale_word in ("m", "k", "bn", "mn") and not cur:
            scale_word = ""  # "5 m" is five metres; "$5m" is five million dollars
        scale = SCALES.get(scale_word, 1.0)
        value = float(raw.replace(",", "")) * scale
        plain = not (cur or pct or scale_word or "," in raw or "." in raw)
        if plain and re.fullmatch(r"(?:19|20)\d\d", raw):
            continue  # a year
        if _is_date_part(sentence, m.start("n"), m.end("n")):
            continue  # a day of a month is a date, not a count
        if not (m.group("q") or cur) and re.search(r"\S\s+[A-Z][\w-]*\s$", sentence[:m.start("n")]):
            continue  # a number after a name inside a sentence is part of it: "iPhone 13"
        high = None
        if m.group("n2"):
            high = float(m.group("n2").replace(",", "")) * scale
            if high <= value:
                continue  # "5-3" is a score, not a range
        # A currency or a percentage is a unit: the figure is of the noun beside it too
        # ("$3 billion deal", "63% of adults"), or two unrelated shares would be compared.
        counted, kind = _counted_noun(sentence, m.start(), m.end(), money=bool(cur))
        unit = stem(CURRENCY_SYMBOLS[cur]) if cur else "percent" if pct else ""
        noun = f"{unit}:{counted}" if unit else counted
        if not counted:
            continue
        qualifier = ("range" if high is not None else "more" if m.group("up")
                     else "less" if m.group("down")
                     else QUALIFIERS.get((m.group("q") or "").lower(), "exact"))
        out.append(Quantity(value, qualifier, noun, high, _precision(raw, scale), kind))
    for m in _WORD_COUNT.finditer(sentence):
        counted, kind = _counted_noun(sentence, m.start(), m.end())
        if counted and _tagged_at(sentence, m.end()) in _NOUN_TAGS | {"JJ", "VBN"}:
            out.append(Quantity(float(_word_value(m.group("w"))),
                                QUALIFIERS.get((m.group("q") or "").lower(), "exact"),
                                counted, None, 1.0, kind))
    return out


def _tagged_at(sentence: str, end: int) -> str:
    """The tag of the first word after sentence[:end]: a count in words must count a noun."""
    return next((tag for start, _, tag in _tagged(sentence) if start >= end), "")


def _same_figure(a: Quantity, b: Quantity) -> bool:
    p = max(a.precision, b.precision)
    return math.isclose(round(a.value / p), round(b.value / p))


def _interval(q: Quantity) -> tuple[float, float]:
    if q.qualifier == "nearly":  # "nearly 57%" is just under 57%
        return 0.9 * q.value, q.value
    if q.qualifier == "range" and q.high is not None:
        return q.value, q.high
    if q.qualifier == "more":
        return q.value, math.inf
    if q.qualifier == "less":
        return 0.0, q.value
    slack = 0.1 * q.value if q.qualifier == "approx" else q.precision / 2
    return q.value - slack, q.value + slack


def _same_thing(a: Quantity, b: Quantity) -> bool:
    """Do two figures count one thing: one counted noun, and no different modifiers of it
    ("chicken prices", "bread prices"; "prices" is either)?"""
    if not a.noun or a.noun != b.noun:
        return False
    return not (a.kind and b.kind and not a.kind & b.kind)


def quantities_disagree(a: Quantity, b: Quantity) -> bool:
    """Do two figures of one thing contradict each other?"""
    if not _same_thing(a, b):
        return False
    bounds = {a.qualifier, b.qualifier} & {"more", "less"}
    if (bounds and a.qualifier != b.qualifier and "exact" not in (a.qualifier, b.qualifier)
            and a.value == b.value):
        # "more than 2,000" against "about 2,000": above it, or not. An exact figure meets
        # a bound at it ("at least 36", "36").
        return True
    if {a.qualifier, b.qualifier} <= {"exact"}:
        return not _same_figure(a, b)
    if a.qualifier == b.qualifier and a.qualifier in ("more", "less"):
        # "At least 36 died" and "at least 97 died": both bounds hold, but the reports give
        # different tolls, and the reader must see both.
        return not _same_figure(a, b)
    (lo_a, hi_a), (lo_b, hi_b) = _interval(a), _interval(b)
    return hi_a < lo_b or hi_b < lo_a


def schedules(sentence: str) -> list[str]:
    """'MM-DD' of each deadline the sentence sets, or 'pending' when it says none is set."""
    out = []
    for m in mentions(sentence):
        if _DEADLINE.search(sentence[max(0, m.start - 30):m.start]):
            out.append(f"{m.month:02d}-{m.day:02d}")
    if not out and _PENDING.search(sentence):
        out.append("pending")
    return out


def _dates(sentence: str) -> set[tuple[int | None, int, int]]:
    return {(m.year, m.month, m.day) for m in mentions(sentence)}


def _schedules_disagree(a: str, b: str) -> bool:
    sa, sb = set(schedules(a)), set(schedules(b))
    return bool(sa and sb and not sa & sb)


def _dates_disagree(a: str, b: str) -> bool:
    """One date each, of the same event (the caller's similarity says so): they must match."""
    da, db = _dates(a), _dates(b)
    if len(da) != 1 or len(db) != 1:
        return False
    (ya, ma, xa), (yb, mb, xb) = next(iter(da)), next(iter(db))
    return (ma, xa) != (mb, xb) or (ya is not None and yb is not None and ya != yb)


def _unmatched(xs: list[Quantity], ys: list[Quantity]) -> list[Quantity]:
    """Figures of `xs` that `ys` does not also state."""
    return [x for x in xs if not any(_same_thing(x, y) and not quantities_disagree(x, y)
                                     for y in ys)]


_YEAR = re.compile(r"(?<![\w$£€¥.,-])(?:19|20)\d\d(?![\w%.,-]\d|\w)")
_WEEKDAY = re.compile(rf"\b(?:{alternation(w for w in WEEKDAYS if len(w) > 4)})\b", re.IGNORECASE)
_PAST = re.compile(rf"\b(?:{PAST_MARKERS})\b", re.IGNORECASE)


def _times(sentence: str) -> dict[str, set[object]]:
    """The times a sentence gives its figures for, by kind: whether it dates them before the
    time of writing ("at the time"), and the weekdays, years and days of a month it names."""
    return {"then": {bool(_PAST.search(sentence))},
            "weekday": {WEEKDAYS[m.group(0).lower()] for m in _WEEKDAY.finditer(sentence)},
            "year": {m.group(0) for m in _YEAR.finditer(sentence)},
            "day": {(m.month, m.day) for m in mentions(sentence)}}


def _different_times(a: str, b: str) -> bool:
    """Do the sentences give their figures for different times ("on Sunday" / "on Monday",
    "in 2019" / "in 2020")? Figures of different times are no conflict: a count rises."""
    ta, tb = _times(a), _times(b)
    return any(ta[k] and tb[k] and not ta[k] & tb[k] for k in ta)


def disagreement(a: str, b: str, similarity: float | None = None) -> str | None:
    """What two sentences disagree on ("number" or "date"), or None when they don't.

    With `similarity` (the cosine of their embeddings) below `SAME_EVENT` they are about
    different events and cannot disagree. Without it the caller vouches that they are. Figures
    are paired by the thing they count, and figures given for different times are not
    compared.
    """
    if similarity is not None and similarity < SAME_EVENT:
        return None
    qa, qb = quantities(a), quantities(b)
    ua, ub = _unmatched(qa, qb), _unmatched(qb, qa)
    if (ua and ub) and not _different_times(a, b) and (
            any(quantities_disagree(x, y) for x in ua for y in ub)):
        return "number"
    # A deadline is of what the sentence says must happen by it; a lone date each is of one
    # event only when the sentences say nearly the same thing.
    if _schedules_disagree(a, b) or (
            (similarity is None or similarity >= SAME_DATE_EVENT) and _dates_disagree(a, b)):
        return "date"
    return None


def mask_figures(sentence: str) -> str:
    """The sentence with each written number replaced by one placeholder, so that a model
    compares what two reports are about, not the figures they differ on."""
    return re.sub(rf"(?<![\w.-])(?:{_NUM})(?![\w])", "#", sentence)


def same_event_similarity(embed: Callable[[Sequence[str]], Vectors], a: str, b: str) -> float:
    """How alike two sentences are in meaning: the cosine of their embeddings (the packaged
    MiniLM, rag/embed.py). From `SAME_EVENT` up they are taken to report one event."""
    va, vb = embed([a, b])
    return cosine(va, vb)


def cosine(a: Vectors, b: Vectors) -> float:
    """The cosine of two sentence vectors (0 for a zero vector). The answer path reads it from
    the vectors the store already holds (rag/cite.py), with no model call at question time."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb) / norm if norm > 0 else 0.0


def conflict(a: str, b: str, embed: Callable[[Sequence[str]], Vectors]) -> str | None:
    """What two sentences of different reports disagree on, when a model (the sentence
    embedding) says they are about the same event; None otherwise."""
    if not (quantities(a) and quantities(b)) and not (_dates(a) and _dates(b)):
        return None  # nothing to compare: spare the model
    return disagreement(a, b, similarity=same_event_similarity(embed, a, b))


def is_pending(sentence: str) -> bool:
    """Does the sentence only say that no date is set yet? (It is superseded by one that sets
    a date: nothing is scheduled before it is scheduled.)"""
    return schedules(sentence) == ["pending"]
