"""Text utilities shared by every stage: one tokenizer, one stemmer, one sentence splitter.

Keyword search, the answerer's lexical overlap and its IDF all use `terms()`, so a word is
counted the same way everywhere. The sentence splitter returns character spans, never copies,
so that every quote can be traced back to `text[start:end]`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

from rag.errors import InputError
from rag.language import ABBREVIATIONS, STOPWORDS

_stemmer = Stemmer.Stemmer("english")

_WORD = re.compile(r"\d[\d,.]*\d|\d|\w+(?:[’']\w+)*", re.UNICODE)


_SURROGATE = re.compile("[\ud800-\udfff]")


def require_unicode(value: object, where: str, _field: str = "") -> None:
    """`InputError` if any string in `value` (nested lists and dicts too) holds a lone
    surrogate: a JSON escape such as "\\ud800" or a non-UTF-8 byte in a command-line argument,
    which no UTF-8 file, database or response can store."""
    if isinstance(value, str):
        bad = _SURROGATE.search(value)
        if bad:
            field = f" field '{_field}'" if _field else ""
            raise InputError(f"{where}{field} is not valid Unicode: a lone surrogate "
                             f"(U+{ord(bad.group()):04X}) at character {bad.start()}.",
                             hint="Send UTF-8 text; a \\uD800-\\uDFFF escape must be half of "
                             "a pair.")
    elif isinstance(value, dict):
        for k, v in value.items():
            require_unicode(k, where, _field)
            require_unicode(v, where, f"{_field}.{k}" if _field else str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            require_unicode(v, where, _field)


def normalize(text: str) -> str:
    """Casefold, unify quotes and dashes, and strip accents, for matching (not for display)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return (
        text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
        .replace("–", "-").replace("—", "-").casefold()
    )


_ACRONYM = re.compile(r"\b((?:[A-Z]\.){2,})")


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(normalised token, is_acronym) pairs; "U.S." and "US" both become ("us", True)."""
    text = _ACRONYM.sub(lambda m: m.group(1).replace(".", "") + " ", text)
    out = []
    for m in _WORD.finditer(text):
        raw = m.group(0)
        # Most tokens are plain ASCII: lower-casing is all they need, and it is 10x cheaper.
        tok = raw.lower() if raw.isascii() else normalize(raw)
        if tok[0].isdigit():
            tok = tok.replace(",", "").rstrip(".")
        elif tok.endswith("'s"):
            tok = tok[:-2]
        out.append((tok, len(raw) > 1 and raw.isupper() and raw.isalpha()))
    return out


def words(text: str) -> list[str]:
    """Word tokens, normalised; numbers keep their digits only ("1,000" -> "1000")."""
    return [tok for tok, _ in _tokens(text)]


_BRITISH_OUR = re.compile(r"(?<=[a-z]{3})our(?=(s|ed|ing|ite|ites|able|ably|hood|er)?$)")
_NOT_BRITISH = frozenset({"devour", "detour", "contour", "amour", "velour", "troubadour"})


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    # UK and US spellings meet: neighbouring ~ neighboring, labour ~ labor.
    if "our" in word and not any(word.startswith(x) for x in _NOT_BRITISH):
        word = _BRITISH_OUR.sub("or", word)
    return str(_stemmer.stemWord(word))


def terms(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Stemmed content terms: the unit of keyword search, lexical overlap and IDF."""
    # Acronyms are kept even when they spell a stopword: "US" is the country, not "us".
    return [
        stem(w) for w, acronym in _tokens(text) if keep_stopwords or acronym or w not in STOPWORDS
    ]


def count_words(text: str) -> int:
    return len(text.split())


# --- sentences ---------------------------------------------------------------------------------

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then space.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+)")
_NEXT_STARTS_SENTENCE = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9À-Ý•\-–—]")


_MAX_ABBREVIATION_CHARS = 40


def _ends_with_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` belongs to an abbreviation or initial ("U.S.", "Col.")."""
    # Scan back over the letters and dots before `dot`, at most a few dozen characters: a
    # search over `text[:dot]` at every full stop made splitting quadratic in the text length.
    i = dot
    while i > 0 and dot - i < _MAX_ABBREVIATION_CHARS and _is_abbrev_char(text[i - 1]):
        i -= 1
    token = text[i:dot].lstrip(".")
    if not token:
        return False
    if "." in token:  # U.S / e.g / a.m: an internal period marks an abbreviation
        return True
    if len(token) == 1 and token.isupper():  # an initial: "J. Smith"
        return True
    return token.lower() in ABBREVIATIONS


def _is_abbrev_char(c: str) -> bool:
    return c == "." or ("a" <= c <= "z") or ("A" <= c <= "Z")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences in text[start:end].

    A line break always ends a sentence (headlines, bullets and paragraphs are separate units).
    Spans exclude surrounding white space and a leading list bullet; joining them with the gaps
    gives the text back.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        ls, le = line.start() + start, line.end() + start
        seg_start = ls
        for m in _BOUNDARY.finditer(text, ls, le):
            cut = m.end()
            if not _NEXT_STARTS_SENTENCE.match(text, cut, le):
                continue
            if text[m.start()] == "." and m.end() - m.start() == 1 and _ends_with_abbreviation(
                text, m.start()
            ):
                continue
            spans.append((seg_start, cut))
            seg_start = cut
        spans.append((seg_start, le))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        # A list bullet ("• U.S. agrees ...") is layout, not part of the sentence it marks.
        bullet = _BULLET.match(text, s, e)
        if bullet:
            s = bullet.end()
        while e > s and text[e - 1].isspace():
            e -= 1
        out += _bounded(text, s, e)
    return out


MAX_SENTENCE_CHARS = 1500  # a "sentence" longer than this (no full stop for pages) is cut


def _bounded(text: str, s: int, e: int) -> list[tuple[int, int]]:
    """The span [s, e) cut at spaces into pieces of at most MAX_SENTENCE_CHARS, so that a text
    without full stops cannot become one huge chunk or quote."""
    pieces = []
    while e - s > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", s + 1, s + MAX_SENTENCE_CHARS + 1)
        cut = cut if cut > s else s + MAX_SENTENCE_CHARS  # one long word: cut inside it
        end = cut
        while end > s and text[end - 1].isspace():
            end -= 1
        pieces.append((s, end))
        s = cut
        while s < e and text[s].isspace():
            s += 1
    if e > s:
        pieces.append((s, e))
    return pieces


_BULLET = re.compile(r"[•◦▪‣·*–—-]+\s+")
