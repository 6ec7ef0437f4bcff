"""Conflicting reports: do two sentences disagree on a number or a date?

General rules, no list of known stories:
- a quantity is a number with its qualifier ("around", "more than", "nearly") and the noun it
  counts: the first content word after it ("1,000 American troops" -> troop), else the noun
  before it ("personnel, which numbers nearly 1,000" -> personnel). Two quantities of the same
  noun disagree when their values differ by more than 5%, or when one is a bound ("more than")
  and the other an estimate or a different bound ("around", "fewer than");
- a schedule is a day and month after a deadline word ("no later than 15 September", "by
  September 15"); a pending schedule says none is set yet ("no timeline has been set"). Two
  schedules disagree when their days differ, and a pending one disagrees with any set one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import STOPWORDS, stem

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_MONTH_RE = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
             r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_QUALIFIERS = {
    "approx": r"around|about|approximately|roughly|nearly|almost|close to|some|an estimated|"
              r"estimated|close",
    "more": r"more than|over|above|at least|upwards of|in excess of|the over",
    "less": r"fewer than|less than|under|below|at most|up to",
}
_QUAL_OF = {w: k for k, ws in _QUALIFIERS.items() for w in ws.split("|")}
_QTY = re.compile(
    r"(?:\b(?P<q>" + "|".join(sorted(_QUAL_OF, key=len, reverse=True)) + r")\s+)?"
    r"(?:the\s+)?(?<![\d.,$])(?P<n>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\d,]*%)"
    r"(?:\s+(?P<scale>thousand|million|billion)\b)?", re.IGNORECASE)
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
# Verbs that introduce a count ("which numbers nearly 1,000"): not the counted noun.
_COUNT_VERBS = frozenset(stem(w) for w in "number numbering numbers total totals totaling "
                         "totalling reach reached reaching stand stands stood".split())
_DEADLINE = re.compile(
    r"\b(?:by|before|until|than|deadline(?: of)?|on)[”\"’']?\s+(?:the\s+)?"
    rf"(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}\b|{_MONTH_RE}\.?\s+(\d{{1,2}})\b)",
    re.IGNORECASE)
_PENDING = re.compile(
    r"\b(?:no|not yet|yet to be|has not been|have not been|had not been|not been)\b[^.;]{0,40}?"
    r"\b(?:timeline|timetable|deadline|schedule|date|set|decided|agreed|fixed|announced)\b",
    re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    value: float
    qualifier: str  # "exact", "approx", "more" or "less"
    noun: str  # stem of the counted noun ("" when none is found)


def _noun(before: str, after: str) -> str:
    # The noun after the number, within its clause; else the one before it, within its sentence.
    after = re.split(r"[,.;:()]", after, maxsplit=1)[0]
    before = re.split(r"[.;:]", before)[-1]
    for w in re.findall(r"[A-Za-z][\w’'-]*", after)[:4]:
        if w[0].isupper() or w.lower() in STOPWORDS:
            continue  # "American", "US": modifiers of the noun that follows
        return stem(w.lower())
    for w in reversed(re.findall(r"[A-Za-z][\w’'-]*", before)[-6:]):
        s = stem(w.lower())
        if w[0].islower() and w.lower() not in STOPWORDS and s not in _COUNT_VERBS:
            return s
    return ""


def quantities(sentence: str) -> list[Quantity]:
    out = []
    for m in _QTY.finditer(sentence):
        raw = m.group("n").replace(",", "")
        value = float(raw) * _SCALE.get((m.group("scale") or "").lower(), 1.0)
        if "," not in m.group("n") and not m.group("scale") and (
                1900 <= value <= 2100 or value < 10):
            continue  # years, and small numbers that are mostly parts of names or dates
        tail = sentence[m.end():m.end() + 12].lower()
        head = sentence[max(0, m.start() - 12):m.start()].lower()
        if re.match(rf"\s*{_MONTH_RE}\b", tail) or re.search(rf"{_MONTH_RE}\.?\s*$", head):
            continue  # a day of a month is a date, not a count
        qualifier = _QUAL_OF.get((m.group("q") or "").lower(), "exact")
        noun = _noun(sentence[max(0, m.start() - 60):m.start()], sentence[m.end():])
        out.append(Quantity(value, qualifier, noun))
    return out


def schedules(sentence: str) -> list[str]:
    """'MM-DD' of each deadline the sentence sets, or 'pending' when it says none is set."""
    out = []
    for m in _DEADLINE.finditer(sentence):
        day = int(m.group(1) or m.group(4))
        month_name = (m.group(2) or m.group(3)).lower()
        month = next(i for i, name in enumerate(_MONTHS, 1) if name.startswith(month_name[:3]))
        out.append(f"{month:02d}-{day:02d}")
    if not out and _PENDING.search(sentence):
        out.append("pending")
    return out


def _quantities_disagree(a: Quantity, b: Quantity) -> bool:
    if not a.noun or a.noun != b.noun:
        return False
    if abs(a.value - b.value) > 0.05 * max(a.value, b.value):
        return True
    bounds = {a.qualifier, b.qualifier} - {"exact"}
    return bool(bounds & {"more", "less"}) and a.qualifier != b.qualifier


def disagreement(a: str, b: str) -> str | None:
    """What two sentences disagree on ("number" or "date"), or None when they don't."""
    qa, qb = quantities(a), quantities(b)
    if any(_quantities_disagree(x, y) for x in qa for y in qb):
        return "number"
    sa, sb = set(schedules(a)), set(schedules(b))
    if sa and sb and not sa & sb:
        return "date"
    return None


def is_pending(sentence: str) -> bool:
    """Does the sentence only say that no date is set yet? (It is superseded by one that sets
    a date: nothing is scheduled before it is scheduled.)"""
    return schedules(sentence) == ["pending"]
