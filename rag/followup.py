"""Follow-up questions without an LLM: "who did he meet?" borrows the context of the turn
before it. The current question still decides what is asked; the context only adds retrieval
terms. A question that asks two things ("Which survey ..., and which group ...?") is split into
its parts, each answered on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.language import ANAPHORA
from rag.text import terms, words
from rag.types import Turn

_OPENERS = re.compile(r"^\s*(and|but|so|also|what about|how about|then)\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b")


@dataclass(frozen=True)
class Query:
    text: str  # the question as asked
    retrieval_text: str  # what retrieval searches for
    context_terms: tuple[str, ...] = ()  # stemmed terms borrowed from earlier turns

    @property
    def standalone(self) -> str:
        if self.retrieval_text == self.text:
            return self.text
        return f"{self.text} [context: {self.retrieval_text[len(self.text):].strip()}]"


def is_followup(question: str) -> bool:
    ws = words(question)
    return bool(_OPENERS.match(question)) or any(w in ANAPHORA for w in ws) or len(
        terms(question)) <= 1


def condense(question: str, history: Sequence[Turn] | None) -> Query:
    history = list(history or [])
    users = [t.content for t in history if t.role == "user" and t.content.strip()]
    if not users or not is_followup(question):
        return Query(text=question, retrieval_text=question)
    context = users[-1]
    last_answer = next((t.content for t in reversed(history) if t.role == "assistant"), "")
    # Names in the last answer are what pronouns most often point to ("he" -> the leader named).
    names = list(dict.fromkeys(_NAME.findall(re.sub(r"\[\d+\]", "", last_answer))))[:3]
    extra = " ".join([context, *names]).strip()
    return Query(text=question, retrieval_text=f"{question} {extra}",
                 context_terms=tuple(terms(extra)))


# A second question joined to the first: "..., and which group organised the protest?"
_SECOND_QUESTION = re.compile(
    r",?\s+and\s+(?=(?:(?:in|at|on|from|to|for|by|with|of)\s+)?(?:which|what|who|whom|whose|"
    r"when|where|why|how)\b)", re.IGNORECASE)


def split_question(question: str) -> list[str]:
    """The questions a question asks: two or more when interrogative clauses are joined by
    "and", each with at least two content words; else the question itself."""
    parts = [p.strip(" ,?") for p in _SECOND_QUESTION.split(question.strip())]
    if len(parts) < 2 or any(len(terms(p)) < 2 for p in parts):
        return [question]
    return [f"{p[:1].upper()}{p[1:]}?" for p in parts]
