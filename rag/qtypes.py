"""What a question asks for, and whether a sentence has it.

- `answer_type`: a "when" question wants a date, "how many" a number, "who" a name, "which
  group" the name of a body, "where" a place; a deadline question a bound, not any date.
- `satisfies`: does a sentence contain that kind of thing (beyond what the question holds)?
- `named_entities` / `mentions`: the names a question is about and whether a text mentions
  them, demonyms and inflections included (Niger ~ Nigerien, France ~ French).
These are cues, not a parser: rules about kinds of questions, never about particular ones.
"""

from __future__ import annotations

import re

from rag.conflicts import schedules
from rag.text import QUESTION_WORDS, STOPWORDS, normalize, words

_STATES_ALIASES = ("us", "usa", "american", "united states", "america", "washington")


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
TEMPORAL_CUE = re.compile(r"\b(now|current|currently|latest|still|yet|deadline|must|will|today|"
                       r"final|remain|remaining)\b", re.IGNORECASE)
LIST_CUE = re.compile(r"\b(which|what)\s+\w+(ies|s)\b|\b(list|name)\b|\bwhat are\b|\bwho are\b",
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
    if qwords & set(_STATES_ALIASES):  # "the United States" is the question's "US"
        qwords |= {w for alias in _STATES_ALIASES for w in alias.split()}
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
