"""What a sentence states, as the verifier's hard checks read it: the numbers it gives (in digits
or words), the months it names, its names, whether it denies something and what, its content
terms, whether it reports speech, and which of its words has an opposite in another sentence.

rag/verify.py judges a claim against a source by comparing these readings of the two;
rag/relations.py reads who is where in a sentence. The words of English they rest on (number
words, months, negation, irregular past forms, speech verbs) come from rag/language.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.language import (
    IRREGULAR_PAST,
    MONTH_NAMES,
    MONTHS,
    NUMBER_WORDS,
    OPPOSITES,
    ORDINALS,
    SCALES,
    SPEECH_NOUNS,
    SPEECH_VERBS,
    STOPWORDS,
    bounds,
    negation,
)
from rag.text import normalize, stem, terms, words

# --- numbers and months ------------------------------------------------------------------------

# The number words the checks read, as the digits they stand for ("three" ~ "3"): the cardinals
# to twelve, the tens to fifty, a hundred and a thousand, and (in a source only) the first three
# ordinals. Not "a", "thirteen" or "sixty": the checks have never read them, and reading them is
# a change to measure on bench/verify_precision.py, not part of keeping one copy of the words.
_ORDINALS = {w: str(n) for w, n in ORDINALS.items() if n <= 3}
_NUMBER_WORDS = {w: str(n) for w, n in NUMBER_WORDS.items()
                 if w not in ("a", "an") and (n <= 12 or n in (20, 30, 40, 50, 100))}
_NUMBER_WORDS |= {"thousand": str(int(SCALES["thousand"]))} | _ORDINALS


def numbers(text: str) -> set[str]:
    """The numbers the text states, as digits ("two" -> "2", "3.0" -> "3")."""
    out = set()
    for w in words(text):
        if w[0].isdigit():
            out.add(w.split(".")[0] if w.endswith(".0") else w)
        elif w in _NUMBER_WORDS and w not in _ORDINALS:
            out.add(_NUMBER_WORDS[w])
    return out


def source_numbers(text: str, date: str | None, claim_months: set[str] | None = None) -> set[str]:
    """The numbers a source states, and its article date's year; the date's day only for a
    claim that names no month but the article's ("on 20 May" from a report dated 20 May, not
    "on October 20" from it)."""
    nums = numbers(text) | {w for w in words(text) if w in _NUMBER_WORDS}
    nums |= {_NUMBER_WORDS[w] for w in words(text) if w in _NUMBER_WORDS}
    if date:
        y, m, d = (date.split("-") + ["", ""])[:3]
        nums |= {y, m.lstrip("0")}
        if claim_months is None or claim_months <= months("", date):
            nums.add(d.lstrip("0"))
    return nums


def months(text: str, date: str | None = None) -> set[str]:
    """The months the text names ("Sept." -> "september"), and its date's."""
    out = {MONTH_NAMES[MONTHS[w] - 1] for w in words(text) if w in MONTHS}
    if date and len(date) >= 7 and date[5:7].isdigit():
        out.add(MONTH_NAMES[int(date[5:7]) - 1])
    return out


# --- names -------------------------------------------------------------------------------------

# Words about the sources rather than the news: "Source [2] found that ...".
META = frozenset("source sources article articles passage passages".split())
ANSWER_WORDS = frozenset("yes no".split())  # "Yes, a timeline ..." names nobody called Yes
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]*")


def names(sentence: str) -> list[str]:
    """Capitalised words: names of people, places and bodies. The first word counts too unless
    it is a stopword: "Freedonia and Sylvania ..." names Freedonia, "The US ..." names nothing
    by "The"."""
    out = []
    first = re.match(r"\s*([A-Z][\w’'-]*)", sentence)
    if first:
        w = normalize(first.group(1)).removesuffix("'s")
        if w not in STOPWORDS | META | ANSWER_WORDS and w not in MONTH_NAMES:
            out.append(w)
    for m in _CAPITALISED.finditer(sentence):
        w = normalize(m.group(0)).removesuffix("'s")
        if w not in STOPWORDS and w not in MONTHS:
            out.append(w)
    return out


def name_present(name: str, text_norm: str) -> bool:
    # The whole name, as a word (a possessive allowed): a shared prefix would make two
    # different places one ("Austria" in "Australia").
    return re.search(rf"\b{re.escape(name)}(?:'s)?\b", text_norm) is not None


# --- negation ----------------------------------------------------------------------------------

_NEGATION = negation()
# Negation words that bound a fact rather than deny it: "no later than 1 March".
_NOT_NEGATION = bounds()


def _without_bounds(text: str) -> str:
    """The text without "no later than"-style bounds (double quotes removed first: a source
    may quote “no later” than 1 March)."""
    return _NOT_NEGATION.sub(" ", re.sub(r"[\"“”]", "", text))


def negated(text: str) -> bool:
    """Does the text deny something? ("no later than" bounds; it denies nothing.)"""
    return bool(_NEGATION.search(_without_bounds(text)))


def negated_terms(text: str) -> set[str]:
    """Terms within three words after a negation: what the sentence denies."""
    text = _without_bounds(text)
    out: set[str] = set()
    for m in _NEGATION.finditer(text):
        out |= set(terms(" ".join(text[m.end():].split()[:3])))
    return out


# --- content terms -----------------------------------------------------------------------------

# Irregular past forms the stemmer leaves apart from their present: "sought" ~ "seeks". Mapped
# to the verb's stem, which `terms` stems once more: the same stem for all but "choose", whose
# "choos" becomes "choo", so "chose" meets "chose" but not "chooses" (kept as it was measured).
_IRREGULAR = {past: stem(verb) for past, verb in IRREGULAR_PAST.items()}


def content_terms(text: str) -> list[str]:
    """The text's stemmed content terms, once each, irregular past forms as their present, no
    digits and no words about the sources."""
    ts = [_IRREGULAR.get(w, w) for w in words(text) if w not in META]
    return [t for t in dict.fromkeys(terms(" ".join(ts)))
            if not t.isdigit() and t not in ("th", "st")]


def source_terms(text: str) -> set[str]:
    """The text's terms, with irregular past forms also as their present ("told" -> "tell"),
    as the claim's terms are."""
    return set(terms(text)) | set(content_terms(text))


def covered(term: str, source_terms: set[str]) -> bool:
    """Is `term` among `source_terms`, or a word that shares a long prefix with one?"""
    if term in source_terms:
        return True
    # elect ~ election, militari ~ military: a long shared prefix is the same word.
    return len(term) >= 5 and any(s[:5] == term[:5] and (s.startswith(term) or term.startswith(s))
                                  for s in source_terms)


# --- speech ------------------------------------------------------------------------------------

# Speech and its reporting: "X said/announced/confirmed ...", "according to X", "in a statement".
_ATTRIBUTION = SPEECH_VERBS
_REPORTED_SPEECH = SPEECH_VERBS | SPEECH_NOUNS
# Speech by the sources themselves is no claim about the news: "Source [1] says ...".
_META_SPEECH = re.compile(r"\b(?:according to )?(?:the )?(?:sources?|articles?|passages?|reports?)"
                          r"(?:\s*\[\d+\])?(?: (?:says?|states?|reports?|notes?|mentions?))?",
                          re.IGNORECASE)


def attributes_speech(claim: str) -> bool:
    """Does the claim say that someone said something (the sources' own "says" aside)?"""
    return bool(_ATTRIBUTION & set(words(_META_SPEECH.sub(" ", claim))))


def reports_speech(text: str) -> bool:
    """Does the text report speech: a verb of saying or a statement, an interview?"""
    return bool(_REPORTED_SPEECH & set(words(text)))


# --- words of opposite sense -------------------------------------------------------------------

# A claim whose word is missing from its source while the source has a word of the opposite
# sense (and no word of the claim's own group) says the reverse of it: "the talks ended" from
# "the talks will continue". The groups are rag.language.OPPOSITES.


def _opposites() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """stem -> (its own group, the opposite group), as stems."""
    out: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for a, b in OPPOSITES:
        ga, gb = frozenset(content_terms(a)), frozenset(content_terms(b))
        for t in ga:
            out[t] = (ga | out.get(t, (frozenset(), frozenset()))[0], gb)
        for t in gb:
            out[t] = (gb | out.get(t, (frozenset(), frozenset()))[0], ga)
    return out


_OPPOSITES = _opposites()


def reversed_term(claim_terms: Sequence[str], source_text: str) -> str | None:
    """A claim word whose opposite the source uses instead of it or any of its synonyms."""
    src = set(content_terms(source_text))
    for t in claim_terms:
        groups = _OPPOSITES.get(t)
        if groups and not (groups[0] & src) and groups[1] & src:
            return t
    return None
