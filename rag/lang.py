"""Language resources: facts of English that hold for any archive, in one place.

Answer normalisation (SQuAD's, which RealTimeQA scores with) is used by the reader to count how
often a span recurs and by the eval to judge answers, so both see the same words.
"""

from __future__ import annotations

import html
import re
import string

_PUNCT = frozenset(string.punctuation) | frozenset("‘’“”–—…«»")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD / RealTimeQA)."""
    s = html.unescape(s).lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())
