"""Eval metrics as pure functions, each written from its definition (no heavy imports).

Retrieval metrics take a ranked list where each entry is the set of gold ids that retrieved item
covers (a bare string is a one-id set). A gold id counts once: a later item that covers only
already-covered ids gains nothing, so overlapping chunks cannot push recall or nDCG above 1.

Answer metrics use SQuAD normalisation (lower case, no punctuation, no articles a/an/the, single
spaces). An alias list is either flat (any alias is right) or a list of groups (lists: every group
must be matched by one of its aliases).
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from rag.language import BOUND_COMPARATIVES, bounds, negation
from rag.text import terms

Ranked = Sequence[str | Collection[str]]
Aliases = Sequence[str] | Sequence[Sequence[str]]

# ---------------------------------------------------------------------------------------------
# retrieval


def _covered(item: str | Collection[str], relevant: Collection[str]) -> set[str]:
    ids = {item} if isinstance(item, str) else set(item)
    return ids & set(relevant)


def _gains(ranked: Ranked, relevant: Collection[str], k: int) -> list[int]:
    """1 where an item covers a gold id not covered by an earlier item, else 0 (top k only)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    seen: set[str] = set()
    gains = []
    for item in list(ranked)[:k]:
        new = _covered(item, relevant) - seen
        gains.append(1 if new else 0)
        seen |= new
    return gains


def hit_at_k(ranked: Ranked, relevant: Collection[str], k: int) -> float:
    """1.0 if any of the top k items covers a gold id, else 0.0."""
    return 1.0 if any(_gains(ranked, relevant, k)) else 0.0


def recall_at_k(ranked: Ranked, relevant: Collection[str], k: int) -> float:
    """Share of gold ids covered by the top k items. No gold ids: 0.0 (nothing to find)."""
    if not relevant:
        return 0.0
    covered: set[str] = set()
    for item in list(ranked)[:k]:
        covered |= _covered(item, relevant)
    return len(covered) / len(set(relevant))


def reciprocal_rank(ranked: Ranked, relevant: Collection[str]) -> float:
    """1 / rank of the first item covering a gold id (MRR is its mean); 0.0 when none does."""
    for rank, item in enumerate(ranked, start=1):
        if _covered(item, relevant):
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Ranked, relevant: Collection[str], k: int) -> float:
    """Binary-gain nDCG@k. The ideal ranking puts min(|gold|, k) relevant items first.

    Using k relevant items for the ideal (a known bug elsewhere) would punish questions that
    simply have fewer gold passages than k.
    """
    gains = _gains(ranked, relevant, k)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    n_ideal = min(len(set(relevant)), k)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(n_ideal))
    return dcg / idcg if idcg > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# answers

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MARKER = re.compile(r"\s*\[\d+\]")


def _is_punct(ch: str) -> bool:
    # string.punctuation is ASCII only; news text has curly quotes and dashes too.
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation, extended to Unicode punctuation."""
    text = text.lower()
    text = "".join(ch for ch in text if not _is_punct(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def strip_citation_markers(text: str) -> str:
    """Drop `[n]` markers: they are citation data, not part of the answer."""
    return " ".join(_MARKER.sub("", text).split())


def alias_groups(aliases: Aliases) -> list[list[str]]:
    """A flat alias list is one group; a list of lists is several groups (all needed)."""
    if not aliases:
        return []
    if all(isinstance(a, str) for a in aliases):
        return [[str(a) for a in aliases]]
    groups: list[list[str]] = []
    for group in aliases:
        if isinstance(group, str):
            raise ValueError("mix of strings and lists in an alias list")
        groups.append(list(group))
    return groups


def _flat(aliases: Aliases) -> list[str]:
    return [a for g in alias_groups(aliases) for a in g]


def exact_match(prediction: str, aliases: Aliases) -> float:
    """1.0 if the normalised prediction equals a normalised alias (any alias of any group)."""
    pred = normalize_answer(prediction)
    return 1.0 if any(pred == normalize_answer(a) for a in _flat(aliases)) else 0.0


def token_f1(prediction: str, aliases: Aliases) -> float:
    """SQuAD token F1, the max over aliases. Each alias of each group is scored alone, so a
    list answer earns partial F1 (`contains_alias` is the all-groups check)."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for alias in _flat(aliases):
        gold = normalize_answer(alias).split()
        common = Counter(pred) & Counter(gold)
        same = sum(common.values())
        if same == 0:
            continue
        precision, recall = same / len(pred), same / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_alias(text: str, aliases: Aliases) -> bool:
    """Every group has an alias that occurs in the text as whole normalised tokens."""
    groups = alias_groups(aliases)
    if not groups:
        return False
    haystack = f" {normalize_answer(text)} "
    return all(
        any((n := normalize_answer(a)) and f" {n} " in haystack for a in group) for group in groups
    )


def contains_any_alias(text: str, aliases: Aliases) -> bool:
    """Some alias of some group occurs in the text (a passage supporting part of a list)."""
    return any(contains_alias(text, [a]) for a in _flat(aliases))


def answer_length_words(text: str) -> int:
    return len(strip_citation_markers(text).split())


# ---------------------------------------------------------------------------------------------
# citations (ALCE-style, without an NLI judge)


@dataclass(frozen=True)
class Span:
    """A character span in one article's stored text."""

    doc: str
    start: int
    end: int


def spans_overlap(a: Span, b: Span) -> bool:
    return a.doc == b.doc and a.start < b.end and b.start < a.end


def citation_supports(cited: Span, quote: str, gold: Iterable[Span], aliases: Aliases) -> bool:
    """A citation supports the answer when it overlaps a gold evidence span or its passage
    contains an accepted alias."""
    return any(spans_overlap(cited, g) for g in gold) or contains_any_alias(quote, aliases)


_MARKER_RUN = re.compile(r"(?:\s*\[\d+\])+")
# Words that frame a claim as someone's report ("As of about 19 May (AP): ...", "Earlier, X
# reported: ..."): they say who and when, which the citation's metadata attests, not its text.
_ATTRIBUTION = frozenset(terms("as of about according report reported reports said says "
                               "earlier differ differs undated dated source sources per yes",
                               keep_stopwords=True))
# A straight apostrophe only, as the judge has always read "n't": "didn’t" is not a negation here.
_NEGATION = negation(apostrophes="'")


def cited_claims(answer: str) -> list[tuple[str, list[int]]]:
    """(claim, the [n] numbers after it) for each stretch of an answer that ends in markers.

    Text after the last marker cites nothing and is not a cited claim.
    """
    out: list[tuple[str, list[int]]] = []
    pos = 0
    for run in _MARKER_RUN.finditer(answer):
        claim = answer[pos:run.start()].strip(" .;:,")
        if claim:
            out.append((claim, [int(n) for n in re.findall(r"\d+", run.group())]))
        pos = run.end()
    return out


def claim_supported(claim: str, quote: str, metadata: str = "") -> bool:
    """A strict lexical judge of one citation (no NLI model runs offline here).

    Supported when every content word and number of the claim appears in the cited quote, or in
    the cited article's title, source and date (`metadata`: "As of 19 May 2024 (AP)" states
    those), attribution words aside; and the claim and the quote agree on negation. A verbatim
    quote always passes; a paraphrase with a word not in the quote fails, so for generated text
    this is a lower bound on what a human judge would accept.
    """
    have = set(terms(quote)) | set(terms(metadata))
    if any(t not in have for t in terms(claim) if t not in _ATTRIBUTION):
        return False
    return _negated(claim) == _negated(quote)


# "No later than 15 September" bounds a date; it does not deny anything. (The judge reads only
# "no ... than", and not "no longer than": the verifier reads more, but the two are kept as they
# were measured.)
_NOT_NEGATION = bounds(negators=("no",), comparatives=(c for c in BOUND_COMPARATIVES
                                                      if c != "longer"))


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(_NOT_NEGATION.sub(" ", re.sub("[\"\u201c\u201d]", "", text))))


def citation_precision(supports: Sequence[bool]) -> float:
    """Share of an answer's citations that support it; an answer without citations scores 0."""
    return sum(supports) / len(supports) if supports else 0.0


def citation_recall(supports: Sequence[bool]) -> float:
    """1.0 when at least one citation supports the answer (its mean over answers is the recall)."""
    return 1.0 if any(supports) else 0.0


def span_valid(text: str, start: int, end: int, quote: str) -> bool:
    """The citation's offsets point at exactly its quote in the stored article text."""
    return 0 <= start <= end <= len(text) and text[start:end] == quote


# ---------------------------------------------------------------------------------------------
# refusal


@dataclass(frozen=True)
class RefusalScores:
    precision: float | None  # of the abstentions, the share on unanswerable items
    recall: float | None  # of the unanswerable items, the share abstained on
    false_refusal_rate: float | None  # of the answerable items, the share abstained on


def refusal_scores(abstained: Sequence[bool], answerable: Sequence[bool]) -> RefusalScores:
    """None where the denominator is empty (e.g. no abstentions): undefined, not zero."""
    if len(abstained) != len(answerable):
        raise ValueError("abstained and answerable differ in length")
    pairs = list(zip(abstained, answerable, strict=True))
    n_abstained = sum(1 for a, _ in pairs if a)
    n_unanswerable = sum(1 for _, ok in pairs if not ok)
    n_answerable = len(pairs) - n_unanswerable
    true_refusals = sum(1 for a, ok in pairs if a and not ok)
    false_refusals = sum(1 for a, ok in pairs if a and ok)
    return RefusalScores(
        precision=true_refusals / n_abstained if n_abstained else None,
        recall=true_refusals / n_unanswerable if n_unanswerable else None,
        false_refusal_rate=false_refusals / n_answerable if n_answerable else None,
    )


# ---------------------------------------------------------------------------------------------
# aggregation


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values; None when there are none."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


# ---------------------------------------------------------------------------------------------
# registry: the figures a report may carry, so reports and --compare reject typos


@dataclass(frozen=True)
class MetricInfo:
    name: str
    description: str
    higher_is_better: bool = True
    unit: str = ""  # "" for a share in [0, 1]


_INFOS = [
    MetricInfo("hit@1", "a gold passage is ranked first"),
    MetricInfo("hit@5", "a gold passage is in the top 5"),
    MetricInfo("recall@5", "share of gold passages in the top 5"),
    MetricInfo("mrr", "mean reciprocal rank of the first gold passage"),
    MetricInfo("ndcg@10", "nDCG@10, ideal over min(|gold|, 10)"),
    MetricInfo("exact_match", "normalised answer equals an alias"),
    MetricInfo("f1", "SQuAD token F1, max over aliases"),
    MetricInfo("contains", "answer contains an alias (every group for lists)"),
    MetricInfo("accuracy", "contains on answerable items, abstains on unanswerable ones"),
    MetricInfo("answer_words", "answer length in words", higher_is_better=False, unit="words"),
    MetricInfo("citation_precision", "share of citations that support the answer"),
    MetricInfo("citation_recall", "share of answers with a supporting citation"),
    MetricInfo("citation_faithfulness",
               "share of (claim, citation) pairs whose cited text states the claim (lexical)"),
    MetricInfo("span_validity", "share of citations with text[start:end] == quote"),
    MetricInfo("abstain_rate", "share of items abstained on", higher_is_better=False),
    MetricInfo("refusal_precision", "share of abstentions that were on unanswerable items"),
    MetricInfo("refusal_recall", "share of unanswerable items abstained on"),
    MetricInfo("false_refusal_rate", "share of answerable items abstained on",
               higher_is_better=False),
    # RealTimeQA (rag/eval/realtimeqa.py): shares of the questions asked
    MetricInfo("right", "the answer holds the gold choice and no other choice"),
    MetricInfo("right_short", "the short answer holds the gold choice and no other choice"),
    MetricInfo("wrong", "answered, not right", higher_is_better=False),
    MetricInfo("abstained", "share of questions abstained on", higher_is_better=False),
    MetricInfo("short_rate", "share of answers that carry a short answer"),
    MetricInfo("short_f1", "token F1 of the short answer (else the answer) against the gold"),
    MetricInfo("gold@1", "the gold text is in the first retrieved passage"),
    MetricInfo("gold@5", "the gold text is in the top 5 retrieved passages"),
    MetricInfo("gold@30", "the gold text is in the top 30 retrieved passages"),
    MetricInfo("latency_p50_ms", "median time per item", higher_is_better=False, unit="ms"),
    MetricInfo("latency_p95_ms", "95th percentile time per item", higher_is_better=False,
               unit="ms"),
]
METRICS: dict[str, MetricInfo] = {m.name: m for m in _INFOS}


def metric_info(name: str) -> MetricInfo:
    """The registered metric; an unknown name is an error listing the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
