"""English language resources shared by the tokenizer, the date reader, the conflict detector,
the reader, the verifier and the eval: the one copy of each.

Only facts about the language live here (stopwords and abbreviations, month and weekday names,
the words that introduce a publication date, number words and ordinals, quantity qualifiers,
negation, irregular past forms, the verbs that report speech, words of opposite sense, answer
normalisation); never the words of one story. A module that needs another form of one (the
digits of a number word, a regex of the negators) derives it from the definition here rather
than writing the list again (`tests/test_language_resources.py`). Thresholds and the word lists
of one check tuned on its own pairs stay with the check.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterable

# Function words: no topic of their own. `rag.text.terms` leaves them out of every search,
# overlap and check.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom whose why will with would you your
    yours yourself yourselves us s t d ll m re ve says said say according per via""".split()
)

# Question words and fillers that carry no topic: never required to appear in an answer.
QUESTION_WORDS = frozenset(
    """what when where which who whom whose why how many much did does do is are was were has have
    had can could will would should must may might tell me please article articles report
    reports say said happen happened""".split()
)

_MONTH_SPELLINGS = [
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
    ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
    ("october", "oct"), ("november", "nov"), ("december", "dec"),
]
# Month name or abbreviation -> its number (1-12).
MONTHS: dict[str, int] = {
    name: number for number, names in enumerate(_MONTH_SPELLINGS, start=1) for name in names
}
# The full names, January first: MONTH_NAMES[n - 1] is month n.
MONTH_NAMES: tuple[str, ...] = tuple(names[0] for names in _MONTH_SPELLINGS)

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


# Abbreviations after which a period does not end a sentence: titles, "No.", "approx." and the
# months' ("Sept.").
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof col gen lt sgt capt cmdr adm maj sen rep gov pres st jr sr inc corp co ltd
    vs etc no nos fig mt ft approx dept est govt univ rev hon""".split()
) | {name for name, number in MONTHS.items() if name != MONTH_NAMES[number - 1]}


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
# Ordinals that count: "for the third time".
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
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

# The words that deny what follows them. With the contracted "n't" (`negation()`), the
# verifier's and the eval's test of a negated sentence.
NEGATION_WORDS = ("no", "not", "never", "none", "without", "neither", "nor", "cannot")
# Denials that a fact is fixed yet: "has not been set", "is yet to be decided".
NOT_YET = ("yet to be", "has not", "have not", "had not", "hasn't", "haven't", "hadn't")
# A sentence that says something is not (yet) fixed, as the conflict detector reads it: the
# plain negation words (not "neither", "nor", "cannot", which it has never read) and `NOT_YET`.
NEGATORS = "|".join([*(w for w in NEGATION_WORDS if w not in ("neither", "nor", "cannot")),
                     *NOT_YET])


def negation(apostrophes: str = "’'") -> re.Pattern[str]:
    """Finds a negation word, or "n't" written with one of `apostrophes` ("didn't", "won’t"),
    in any case."""
    return re.compile(rf"\b(?:{'|'.join(NEGATION_WORDS)})\b|n[{apostrophes}]t\b", re.IGNORECASE)


# Comparatives that a negation word makes a bound, not a denial: "no later than 1 March".
BOUND_COMPARATIVES = ("later", "earlier", "more", "less", "fewer", "longer", "sooner")


def bounds(negators: Iterable[str] = ("no", "not"),
           comparatives: Iterable[str] = BOUND_COMPARATIVES) -> re.Pattern[str]:
    """Finds negation words that bound a fact rather than deny it: "no later than", "not only"."""
    return re.compile(rf"\b(?:{'|'.join(negators)}) (?:{'|'.join(comparatives)}) than\b"
                      r"|\bnot only\b", re.IGNORECASE)


# Irregular past forms and participles -> the verb: "sought" is a form of "seek", which a stemmer
# does not see.
IRREGULAR_PAST = {
    "sought": "seek", "made": "make", "built": "build", "held": "hold", "found": "find",
    "took": "take", "taken": "take", "began": "begin", "begun": "begin", "met": "meet",
    "told": "tell", "left": "leave", "came": "come", "gave": "give", "given": "give",
    "brought": "bring", "went": "go", "gone": "go", "sent": "send", "spent": "spend",
    "kept": "keep", "led": "lead", "won": "win", "lost": "lose", "paid": "pay", "rose": "rise",
    "risen": "rise", "fell": "fall", "fallen": "fall", "struck": "strike", "chose": "choose",
    "chosen": "choose", "drew": "draw", "drawn": "draw", "flew": "fly", "flown": "fly",
    "wrote": "write", "written": "write", "saw": "see", "seen": "see", "knew": "know",
    "known": "know", "thought": "think", "bought": "buy", "fought": "fight", "caught": "catch",
    "taught": "teach", "sold": "sell", "stood": "stand", "understood": "understand",
}

# Words that report speech: "X said/announced/confirmed ...", "according to X". Word forms, not
# stems: "state" and "says" are stopwords or nouns as stems ("Secretary of State").
SPEECH_VERBS = frozenset(
    "said says say saying told tells announced announces announcing stated states confirmed "
    "confirms according reported reports added adds claimed claims warned insisted noted "
    "declared quoted explained".split())
# Nouns that report speech: "in a statement", "in an interview".
SPEECH_NOUNS = frozenset({"statement", "announcement", "report", "interview"})

# Words that point back to something named before: "who did he meet?", "what happened there?".
ANAPHORA = frozenset(
    """he she it they them his her its their theirs him this that these those there then such same
    also too""".split()
)

# Words of opposite sense, as pairs of rough synonym groups: a claim that says "rose" of what
# its source says "fell" reverses it (rag/facts.py `reversed_term`). General English pairs of
# change, start and stop, consent and refusal, outcome and verdict; no verb of one story.
OPPOSITES = (
    ("rise increase grow climb gain expand raise higher",
     "fall decrease decline drop shrink reduce lower"),
    ("begin start launch resume continue", "end stop halt finish suspend"),
    ("approve accept agree support endorse allow permit",
     "reject refuse oppose deny ban forbid prohibit veto block"),
    ("win", "lose"),
    ("confirm", "deny"),
    ("succeed", "fail"),
    ("legal", "illegal"),
    ("strengthen improve", "weaken worsen"),
    ("convict guilty", "acquit innocent"),
)

# The forms of "be".
BE_FORMS = frozenset("be being been am is are was were".split())


_ANSWER_PUNCT = frozenset(string.punctuation) | frozenset("‘’“”–—…«»")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """SQuAD's answer normalisation, which RealTimeQA scores with: lower case, no punctuation,
    no articles, single spaces. The reader counts repeated spans with it and the eval judges
    answers with it, so both see the same words."""
    s = html.unescape(s).lower()
    s = "".join(ch for ch in s if ch not in _ANSWER_PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())
