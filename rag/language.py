"""English language resources shared by the date reader, the conflict detector, the reader and
the eval.

Only facts about the language live here (month and weekday names, the words that introduce a
publication date, number words, quantity qualifiers, answer normalisation); never the words of
one story.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterable

MONTHS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}

WEEKDAYS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        [
            ("monday", "mon"), ("tuesday", "tue", "tues"), ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"), ("friday", "fri"), ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of `words`, longest first so that "sept" wins over "sep"."""
    return "|".join(sorted(words, key=len, reverse=True))


# Words around a date in a byline/dateline zone: "Published", "Last updated on", "Posted at".
# ("date" counts only as a line's first word: "date 2024-06-02", not "Birth date: ...".)
DATELINE_CUES = frozenset("published updated posted modified last first on at by and".split())
# Cues that say the date is of a change, not of first publication.
UPDATE_CUES = frozenset("updated modified".split())

# Units of a relative time ("2 hours ago") and their length in seconds.
TIME_UNITS = {"second": 1, "minute": 60, "min": 60, "hour": 3600, "hr": 3600, "day": 86400,
              "week": 7 * 86400}

NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "dozen": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3,
          "m": 1e6, "bn": 1e9, "mn": 1e6}
CURRENCY_SYMBOLS = {"$": "dollar", "€": "euro", "£": "pound", "¥": "yen"}

# Qualifiers of a quantity: an estimate, a lower bound, an upper bound.
QUALIFIERS: dict[str, str] = {
    **dict.fromkeys(["around", "about", "approximately", "roughly", "some", "estimated",
                     "an estimated", "more or less"], "approx"),
    **dict.fromkeys(["nearly", "almost", "close to", "just under", "just shy of"], "nearly"),
    **dict.fromkeys(["more than", "over", "above", "at least", "upwards of", "in excess of",
                     "exceeding", "the over", "no fewer than", "no less than"], "more"),
    **dict.fromkeys(["fewer than", "less than", "under", "below", "at most", "up to",
                     "no more than", "as many as", "as much as", "as high as"], "less"),
}

# Words that date what a sentence reports to before the time of writing: "at the time, 3,040
# cases", "earlier forecasts said 2 to 4 inches".
PAST_MARKERS = r"earlier|at the time|initially|at first"

# A sentence that says something is not (yet) fixed: the negators of English.
NEGATORS = r"no|not|never|none|without|yet to be|has not|have not|had not|hasn't|haven't|hadn't"


_ANSWER_PUNCT = frozenset(string.punctuation) | frozenset("‘’“”–—…«»")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """SQuAD's answer normalisation, which RealTimeQA scores with: lower case, no punctuation,
    no articles, single spaces. The reader counts repeated spans with it and the eval judges
    answers with it, so both see the same words."""
    s = html.unescape(s).lower()
    s = "".join(ch for ch in s if ch not in _ANSWER_PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())
