"""Syndicated and rewritten copies: find them at ingest, collapse them at retrieval.

Two articles are copies when both signals agree:
- the Jaccard similarity of their stemmed 2-word shingles: wire copies share most shingles; a
  rewrite keeps names, numbers and short phrases, so it still shares far more than two
  independent reports of the same event do. MinHash signatures pick the candidate pairs cheaply
  (a low bar, since at these similarities 128 permutations estimate with a spread of about
  0.03), and the exact Jaccard of the two shingle sets decides;
- the cosine of their mean sentence embeddings confirms they tell the same story, so a stock
  paragraph (a boilerplate "background" box) shared by two different stories is not enough;
- and they state the same facts: nearly all the numbers and most of the names of the shorter
  one are in the other, so stories written from one template ("Project 17 will cost $129
  million") are not copies of each other, however much wording they share.
On the sample corpus the rewrite scores Jaccard 0.16 / cosine 0.95; the closest pair of
independent reports of the same event 0.09 / 0.91. On the hand-made pairs in
`tests/data/dedup_pairs.jsonl` copies score Jaccard 0.27-0.86 and other stories at most 0.09
(`bench/dedup_precision.py` prints precision and recall; `tests/test_dedup.py` holds them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rag.dates import display_article_date
from rag.embed import Vectors
from rag.store import Store
from rag.text import terms, words
from rag.types import Passage

SHINGLE_WORDS = 2
NUM_PERM = 128
CANDIDATE_MIN = 0.04  # MinHash estimate below which a pair is not even compared
JACCARD_MIN = 0.12  # shingle Jaccard at or above which wording is shared
# Shared wording decides; the embedding only rules out stock paragraphs shared by different
# stories. Same-topic corpora sit high (the sample's independent reports: 0.89-0.92), so the
# cosine alone could not separate them; copies measured 0.88-0.96, other stories 0.38-0.63.
COSINE_MIN = 0.85  # mean-embedding cosine at or above which the story is the same
# Stories from one template share wording and shape but not their figures and names; a copy
# repeats them. Shares of the shorter one's numbers / names found in the other: hand-made
# copies 1.0 / 0.8-1.0; siblings of one template up to 0.8 / 1.0 (small numbers and a few
# names recur by chance); independent stories 0.0 / up to 0.83. A copy must repeat nearly all
# the numbers (a story that changes one figure in ten is another story) and most names.
NUMBERS_MIN = 0.9
NAMES_MIN = 0.6
PASSAGE_TERM_JACCARD = 0.25  # passages of copied articles at this term overlap state one fact
PASSAGE_SHINGLE_JACCARD = 0.5  # any two passages sharing this much wording are one passage

# Universal hashing (a*x + b) mod p over 32-bit shingle hashes: with a < 2^31 and p just over
# 2^32 every intermediate fits in uint64, so a whole signature is one vectorised expression.
_PRIME = 4_294_967_311
_rng = np.random.default_rng(20240520)  # fixed: signatures must be stable across runs
_A = _rng.integers(1, 1 << 31, (NUM_PERM, 1), dtype=np.uint64)
_B = _rng.integers(0, _PRIME, (NUM_PERM, 1), dtype=np.uint64)


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[int]:
    """Hashes of the k-word shingles of the stemmed content terms."""
    t = terms(text)
    grams = [" ".join(t[i:i + k]) for i in range(max(1, len(t) - k + 1))] if t else []
    return {int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "big")
            for g in grams}


def minhash(sh: set[int]) -> np.ndarray:
    """NUM_PERM minimum hash values: equal positions estimate the Jaccard similarity."""
    if not sh:
        return np.full(NUM_PERM, _PRIME, dtype=np.uint64)
    x = np.fromiter(sh, dtype=np.uint64, count=len(sh))[None, :]
    out: np.ndarray = ((_A * x + _B) % np.uint64(_PRIME)).min(axis=1)
    return out


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


# A name: a capitalised word that does not open a sentence or a line (those are capitalised
# anyway). Crude, but two copies of a story name the same people and places either way.
_NAME = re.compile(r"(?<![.!?:\n]\s)(?<![.!?:\n])(?<!^)\b[A-Z][\w'’-]+")


@dataclass(frozen=True)
class Facts:
    """What a copy must repeat: the numbers and the names a story states."""

    numbers: frozenset[str]
    names: frozenset[str]


def facts(text: str) -> Facts:
    numbers = frozenset(w for w in words(text) if w[0].isdigit())
    names = frozenset(m.group().lower() for m in _NAME.finditer(text))
    return Facts(numbers, names)


def _containment(a: frozenset[str], b: frozenset[str]) -> float:
    """The share of the smaller set found in the larger one (1.0 when either is empty: a
    rewrite may leave facts out, it must not change them)."""
    return len(a & b) / min(len(a), len(b)) if a and b else 1.0


def facts_agree(a: Facts, b: Facts) -> bool:
    return (_containment(a.numbers, b.numbers) >= NUMBERS_MIN
            and _containment(a.names, b.names) >= NAMES_MIN)


@dataclass(frozen=True)
class Signature:
    """What dedup compares of an article: its MinHash, its mean sentence embedding and the
    facts it states."""

    article_id: str
    shingles: frozenset[int]
    minhash: np.ndarray
    vec: Vectors
    facts: Facts = Facts(frozenset(), frozenset())


def signature(article_id: str, text: str, sentence_vecs: Vectors) -> Signature:
    mean = sentence_vecs.mean(axis=0) if len(sentence_vecs) else np.zeros(1, dtype=np.float32)
    norm = float(np.linalg.norm(mean))
    sh = shingles(text)
    return Signature(article_id, frozenset(sh), minhash(sh), mean / norm if norm else mean,
                     facts(text))


def similarity(a: Signature, b: Signature) -> tuple[float, float]:
    """(shingle Jaccard, embedding cosine); the Jaccard is 0 when MinHash rules the pair out."""
    cos = float(a.vec @ b.vec) if a.vec.shape == b.vec.shape else 0.0
    if jaccard_estimate(a.minhash, b.minhash) < CANDIDATE_MIN:
        return 0.0, cos
    return len(a.shingles & b.shingles) / max(1, len(a.shingles | b.shingles)), cos


def is_copy(a: Signature, b: Signature, jaccard_min: float = JACCARD_MIN,
            cosine_min: float = COSINE_MIN) -> bool:
    j, cos = similarity(a, b)
    return j >= jaccard_min and cos >= cosine_min and facts_agree(a.facts, b.facts)


def group_ids(signatures: Sequence[Signature]) -> dict[str, str]:
    """article id -> group id (the id of the earliest article of its group, in input order).

    Copies are transitive (a wire story and two rewrites of it form one group), so groups are
    the connected components of the `is_copy` graph.
    """
    parent = {s.article_id: s.article_id for s in signatures}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    order = {s.article_id: i for i, s in enumerate(signatures)}
    if not signatures:
        return {}
    sig_matrix = np.stack([s.minhash for s in signatures])
    for i, a in enumerate(signatures):
        # One vectorised MinHash comparison against every later article picks the candidates.
        estimates = (sig_matrix[i + 1:] == a.minhash).mean(axis=1)
        for j in np.flatnonzero(estimates >= CANDIDATE_MIN):
            b = signatures[i + 1 + int(j)]
            if is_copy(a, b):
                ra, rb = find(a.article_id), find(b.article_id)
                if ra != rb:
                    first, second = sorted((ra, rb), key=order.__getitem__)
                    parent[second] = first
    return {s.article_id: find(s.article_id) for s in signatures}


# --- retrieval: one passage per fact -------------------------------------------------------------


# Retrieval compares every candidate passage with every kept one on each question; the same
# chunks come back question after question, so their term and shingle sets are cached.
@lru_cache(maxsize=4096)
def _term_set(text: str) -> frozenset[str]:
    return frozenset(terms(text))


@lru_cache(maxsize=4096)
def _shingle_set(text: str) -> frozenset[int]:
    return frozenset(shingles(text))


def _term_jaccard(a: str, b: str) -> float:
    ta, tb = _term_set(a), _term_set(b)
    return len(ta & tb) / max(1, len(ta | tb))


def _shingle_jaccard(a: str, b: str) -> float:
    sa, sb = _shingle_set(a), _shingle_set(b)
    return len(sa & sb) / max(1, len(sa | sb))


@lru_cache(maxsize=4096)
def _facts(text: str) -> Facts:
    return facts(text)


def same_fact(kept: Passage, other: Passage) -> bool:
    """Is `other` a copy of `kept`: the same passage in a copied article, or copied wording?
    It must state the same figures (a templated sibling does not); copied wording outside a
    group must name the same names too. (Passages of a rewrite are not cut at the same
    places, so within a group, whose articles agree on names, names are not compared.)"""
    if kept.chunk.article_id == other.chunk.article_id:
        return False
    fk, fo = _facts(kept.chunk.text), _facts(other.chunk.text)
    if _containment(fk.numbers, fo.numbers) < NUMBERS_MIN:
        return False
    if kept.group_id and kept.group_id == other.group_id:
        return _term_jaccard(kept.chunk.text, other.chunk.text) >= PASSAGE_TERM_JACCARD
    return (facts_agree(fk, fo)
            and _shingle_jaccard(kept.chunk.text, other.chunk.text) >= PASSAGE_SHINGLE_JACCARD)


def reported_by(p: Passage) -> str:
    """How a citation names another source: 'reuters.com (20 May 2024)'."""
    return f"{p.source} ({display_article_date(p.date, p.date_inferred)})"


def collapse(passages: Sequence[Passage], top_k: int) -> list[Passage]:
    """Best first: each copy folds into the better-ranked passage it copies, which lists the
    copy's source in `also`; the first `top_k` survivors are re-ranked from 0."""
    from dataclasses import replace

    kept: list[Passage] = []
    for p in passages:
        for i, k in enumerate(kept):
            if same_fact(k, p):
                name = reported_by(p)
                if p.source != k.source and name not in k.also:
                    kept[i] = replace(k, also=(*k.also, name))
                break
        else:
            kept.append(p)
    return [replace(p, rank=i) for i, p in enumerate(kept[:top_k])]


# --- ingest: keep the stored groups up to date ---------------------------------------------------


NEIGHBOURS = 20  # nearest chunks whose articles are compared with each new article


def _stored_signature(store: Store, article_id: str) -> Signature:
    art = store.get_article(article_id)
    vecs = [s.vec for s in store.sentences_in(art.id, 0, len(art.text))]
    return signature(art.id, art.text, np.stack(vecs) if vecs else np.zeros((0, 1), np.float32))


def group_peers(store: Store, article_id: str) -> list[str]:
    """The other articles in `article_id`'s group."""
    gid = store.group_of([article_id]).get(article_id)
    if gid is None:
        return []
    return [a for a in store.group_members(gid) if a != article_id]


def regroup(store: Store, article_ids: Sequence[str] | None = None,
            reset: bool = False) -> dict[str, list[str]]:
    """Link the given articles (default: every stored one) to the stored articles they copy,
    and store the group ids. With `reset`, they first leave their groups (after a delete
    that may have split one).

    Only each article's nearest neighbours in the vector index are compared, and group ids
    are read per article from an index, so the cost per new article does not grow with the
    index. A group is named by the id of its earliest-ingested article. An undated copy takes
    the date of the earliest dated article of its group, marked inferred: a rewrite appears
    with or after its original.
    Returns group id -> article ids for the groups the given articles ended up in.
    """
    ids = list(store.group_of(article_ids) if article_ids is not None else store.article_ids())
    if reset:
        for aid, gid in store.group_of(ids).items():
            if gid != aid:
                store.set_group([aid], aid)
    cache: dict[str, Signature] = {}

    def sig(aid: str) -> Signature:
        if aid not in cache:
            cache[aid] = _stored_signature(store, aid)
        return cache[aid]

    def merge(g1: str, g2: str) -> None:
        added = store.added_at([g1, g2])
        keep, lose = sorted((g1, g2), key=lambda g: (added.get(g, float("inf")), g))
        store.set_group(store.group_members(lose), keep)

    for aid in ids:
        s = sig(aid)
        near = {cid.rsplit(":", 1)[0] for cid, _ in store.dense_search(s.vec, NEIGHBOURS)}
        others = sorted(near - {aid})
        groups = store.group_of([aid, *others])  # stored ones only; read after each merge
        for other in others:
            if other in groups and groups[other] != groups[aid] and is_copy(s, sig(other)):
                merge(groups[aid], groups[other])
                groups = store.group_of([aid, *others])
    touched = set(store.group_of(ids).values())
    by_group = {g: store.group_members(g) for g in sorted(touched)}
    for members in by_group.values():
        if len(members) > 1:
            _inherit_date(store, members)
    return {g: m for g, m in by_group.items() if len(m) > 1}


def _inherit_date(store: Store, members: Sequence[str]) -> None:
    articles = [store.get_article(m) for m in members]
    dated = [a.date for a in articles if a.date and not a.date_inferred]
    if not dated:
        return
    origin_date = min(dated)
    for art in articles:
        if (art.date is None or art.date_inferred) and art.date != origin_date:
            store.set_date(art.id, origin_date, inferred=True)
