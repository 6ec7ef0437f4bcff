"""Weakly labelled (question, sentence) pairs from RealTimeQA weeks, for the sentence ranker.

A sentence of a question's own articles is a positive when it contains the gold choice
(RealTimeQA's normalisation), a hard negative when it contains another choice but not the gold
one, and a plain negative otherwise; plain negatives are the sentences sharing the most terms
with the question (the ones a keyword or embedding search would also bring up), plus a few at
random. Questions whose gold text is in none of their articles give no pairs: their answer may
be in a paraphrase, which a negative label would teach the ranker to reject.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rag.eval import rtqa
from rag.text import sentence_spans, terms

MAX_POSITIVES = 4
MAX_HARD_NEGATIVES = 4
MAX_OVERLAP_NEGATIVES = 6
MAX_RANDOM_NEGATIVES = 2
MIN_SENTENCE_CHARS = 25
MAX_SENTENCE_CHARS = 600


@dataclass(frozen=True)
class Pair:
    qid: str
    question: str
    sentence: str
    label: int  # 1: holds the gold choice
    kind: str  # pos / hard / overlap / random


def article_sentences(article: rtqa.RtqaArticle) -> list[str]:
    text = article.text
    return [text[s:e] for s, e in sentence_spans(text)
            if MIN_SENTENCE_CHARS <= e - s <= MAX_SENTENCE_CHARS]


def pairs_for(q: rtqa.RtqaQuestion, rng: random.Random) -> list[Pair]:
    gold = rtqa.normalize_answer(q.gold)
    others = [rtqa.normalize_answer(c) for i, c in enumerate(q.choices) if i not in q.answer]
    others = [o for o in others if o and f" {o} " not in f" {gold} "]
    sents = list(dict.fromkeys(s for a in q.articles for s in article_sentences(a)))
    pos, hard, rest = [], [], []
    for s in sents:
        norm = f" {rtqa.normalize_answer(s)} "
        if f" {gold} " in norm:
            pos.append(s)
        elif any(f" {o} " in norm for o in others):
            hard.append(s)
        else:
            rest.append(s)
    if not pos:
        return []
    qterms = set(terms(q.question))
    rest.sort(key=lambda s: -len(qterms & set(terms(s))))
    overlap = rest[:MAX_OVERLAP_NEGATIVES]
    remaining = rest[MAX_OVERLAP_NEGATIVES:]
    randoms = rng.sample(remaining, min(MAX_RANDOM_NEGATIVES, len(remaining)))
    rng.shuffle(pos)
    rng.shuffle(hard)
    out = [Pair(q.id, q.question, s, 1, "pos") for s in pos[:MAX_POSITIVES]]
    out += [Pair(q.id, q.question, s, 0, "hard") for s in hard[:MAX_HARD_NEGATIVES]]
    out += [Pair(q.id, q.question, s, 0, "overlap") for s in overlap]
    out += [Pair(q.id, q.question, s, 0, "random") for s in randoms]
    return out


def build_pairs(questions: Sequence[rtqa.RtqaQuestion], seed: int = 13) -> Iterator[Pair]:
    rng = random.Random(seed)
    for q in questions:
        yield from pairs_for(q, rng)
