"""Who is who, and who did what to whom: checks that a claim keeps its names in the roles and
on the sides its source gives them. Lexical coverage and embeddings miss these (every word of
"Freedonia asked Sylvania to leave" is in "Sylvania asked Freedonia to leave", cosine
0.94),
so rag/verify.py runs them as hard checks.

Each check takes the claim's names (normalised capitalised words, from rag/facts.py) where it
needs them, and returns what it found wrong, or None.
"""

from __future__ import annotations

import re

from rag.language import BE_FORMS, STOPWORDS
from rag.text import normalize, stem, terms, words

# Roles and titles of people: a claim that calls someone an "ambassador" or says "the president
# said" makes a claim about who they are, which the source must make too.
ROLE_WORDS = frozenset(terms(
    "president presidents prime premier minister ministers secretary ambassador envoy diplomat "
    "spokesperson spokesman spokeswoman general colonel commander governor mayor senator "
    "lawmaker legislator director chairman chairwoman ceo king queen prince judge prosecutor "
    "adviser advisor analyst expert official officials leader chief"))


def misplaced_role(claim: str, source: str, names: set[str]) -> tuple[str, str] | None:
    """(role, name) when the claim puts a role before a name ("President Jane Doe")
    and the source gives that name without that role within four words of it, though it uses
    the role for someone else ("... Doe ... with the visiting President John Roe")."""
    c_words, s_words = words(claim), words(source)
    s_stems = [stem(w) for w in s_words]
    for i, w in enumerate(c_words):
        role = stem(w)
        if role not in ROLE_WORDS:
            continue
        person = []
        prev = w
        for nxt in c_words[i + 1:i + 6]:  # "Vice Minister of State Jane Doe"
            if nxt in names and stem(nxt) not in ROLE_WORDS:
                if prev != "of":  # "minister of Freedonia" names a country, not the minister
                    person.append(nxt)
            elif not (stem(nxt) in ROLE_WORDS or nxt in ("of", "state")):
                break
            prev = nxt
        spots = [j for j, sw in enumerate(s_words) for n in person[-2:] if sw == n]
        if spots and not any(role in s_stems[max(0, j - 6):j + 3] for j in spots):
            return role, person[-1]
    return None


_POSSESSIVE = re.compile(r"\b([A-Z][\w-]*)[’']s\s+([a-z]+)")


def detached_possessive(claim: str, source: str) -> tuple[str, str] | None:
    """(name, noun) when the claim gives a name a thing ("Acme's forces") that the source
    keeps apart from it ("foreign forces ... the private security firm Acme")."""
    s_words = words(source)
    for m in _POSSESSIVE.finditer(claim):
        name, noun = normalize(m.group(1)), m.group(2)
        if noun in STOPWORDS:
            continue
        spots = [j for j, sw in enumerate(s_words) if sw[:5] == name[:5]]
        noun_stem = stem(noun)
        if spots and not any(noun_stem in {stem(x) for x in s_words[max(0, j - 4):j + 5]}
                             for j in spots):
            return name, noun
    return None


# "X was condemned by Y": a form of "be" before the word and "by" after it. Not "am", which the
# check has never read (no behaviour change when the list moved to rag/language.py).
_PASSIVE = BE_FORMS - {"am"}


def swapped_sides(claim: str, source: str, names: set[str]) -> tuple[str, str, str] | None:
    """(name, word, name) when the claim puts two names on the opposite sides of a word from
    where the source puts them: "Freedonia asked Sylvania to leave" from "Sylvania asked
    Freedonia to leave". A passive claim ("X was condemned by Y") is read the other way
    round. Only words and names that occur once in each are compared. When several pairs
    swap, the first word in the claim and, around it, the first names in the claim are named."""
    c_words, s_words = words(claim), words(source)
    names = names - ROLE_WORDS

    def positions(ws: list[str]) -> tuple[dict[str, int], dict[str, int]]:
        stems = [stem(w) for w in ws]
        # In the order of the text, not of the set: which pair is named must not depend on
        # the hash seed when more than one swaps.
        name_pos = {n: i for i, n in enumerate(ws) if n in names and ws.count(n) == 1}
        term_pos = {t: i for i, t in enumerate(stems)
                    if stems.count(t) == 1 and ws[i] not in names and ws[i] not in STOPWORDS
                    and len(t) > 2}
        return name_pos, term_pos

    c_names, c_terms = positions(c_words)
    s_names, s_terms = positions(s_words)
    shared_names = [n for n in c_names if n in s_names]
    for t, ci in c_terms.items():
        si = s_terms.get(t)
        if si is None:
            continue
        passive = (ci > 0 and c_words[ci - 1] in _PASSIVE
                   and "by" in c_words[ci + 1:ci + 3])
        before = [n for n in shared_names if (c_names[n] < ci) != passive]
        after = [n for n in shared_names if (c_names[n] > ci) != passive]
        for a in before:
            for b in after:
                if a != b and s_names[a] > si > s_names[b]:
                    return a, t, b
    return None
