"""RealTimeQA (public benchmark, NeurIPS 2023 datasets track) read from its own files.

A RealTimeQA folder holds, per week, `YYYYMMDD_qa.jsonl` (news-quiz questions with
`question_date`, `choices` and `answer` indexes into them) and `YYYYMMDD_gcs.jsonl` (for each
question, the articles a web search returned). Both the eval (`newsrag eval --dataset
realtimeqa`) and the reader's training scripts (`rag/train/`) read it through this module, and
score answers with the same normalisation RealTimeQA uses (SQuAD's: lower case, no
punctuation, no articles, single spaces).

The articles are the publishers' text: they are read from the given path and never copied
into the project.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.language import normalize_answer

__all__ = ["normalize_answer"]  # re-exported: the eval judges with it

_QA_SUFFIX = "_qa.jsonl"
_GCS_SUFFIX = "_gcs.jsonl"
_TAG = re.compile(r"<[^>]{0,2000}>")


@dataclass(frozen=True)
class RtqaArticle:
    url: str
    title: str
    text: str
    date: str | None  # ISO YYYY-MM-DD, from the search result's publish_date
    authors: tuple[str, ...] = ()


@dataclass(frozen=True)
class RtqaQuestion:
    id: str
    week: str  # YYYYMMDD, from the file name
    date: str | None  # ISO YYYY-MM-DD: the quiz date, the question's `as_of`
    source: str  # the quiz: CNN, THE WEEK, DelawareOnline, ...
    question: str  # HTML tags removed, entities unescaped
    choices: tuple[str, ...]
    answer: tuple[int, ...]  # indexes into `choices`
    articles: tuple[RtqaArticle, ...]

    @property
    def gold(self) -> str:
        return self.choices[self.answer[0]]

    @property
    def findable(self) -> bool:
        """The gold choice occurs (normalised) in the question's own articles."""
        g = normalize_answer(self.gold)
        return bool(g) and any(contains(a.title + "\n" + a.text, g, normalized=True)
                               for a in self.articles)


def contains(text: str, phrase: str, normalized: bool = False) -> bool:
    """`phrase` occurs in `text` as whole words after normalisation."""
    p = phrase if normalized else normalize_answer(phrase)
    return bool(p) and f" {p} " in f" {normalize_answer(text)} "


def token_f1(prediction: str, gold: str) -> float:
    """RealTimeQA's generation metric: token F1 of normalised words."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def judge(answer_text: str, question: RtqaQuestion) -> bool:
    """Right: the answer contains the gold choice and no other choice (normalised). A choice
    that is part of the gold one ("Texas" inside "Missouri and Texas") does not count."""
    gold = normalize_answer(question.gold)
    if not contains(answer_text, gold, normalized=True):
        return False
    for i, choice in enumerate(question.choices):
        c = normalize_answer(choice)
        if i in question.answer or not c or f" {c} " in f" {gold} ":
            continue
        if contains(answer_text, c, normalized=True):
            return False
    return True


def clean_question(raw: str) -> str:
    """The Week's questions carry inline links: keep their text, drop the markup."""
    return " ".join(html.unescape(_TAG.sub("", raw)).split())


def _iso(raw: object) -> str | None:
    m = re.match(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", str(raw or ""))
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}" if m else None


def is_except_question(text: str) -> bool:
    """RealTimeQA's scorer skips "... except" items (the choices are needed to answer)."""
    return bool(re.search(r"\bexcept\b", text, re.IGNORECASE))


def weeks(root: Path) -> list[tuple[str, Path]]:
    """(week, folder) for every week under `root` (searched recursively), oldest first."""
    if not root.is_dir():
        raise InputError(f"{root} is not a folder.",
                         hint="Point at a RealTimeQA checkout or its past/ folder.")
    out = sorted((p.name[:-len(_QA_SUFFIX)], p.parent) for p in root.rglob(f"*{_QA_SUFFIX}")
                 if re.fullmatch(r"\d{8}", p.name[:-len(_QA_SUFFIX)]))
    if not out:
        raise InputError(f"No RealTimeQA weeks (YYYYMMDD_qa.jsonl) under {root}.")
    return out


def select_weeks(root: Path, spec: str | None = None) -> list[tuple[str, Path]]:
    """Weeks within `spec`: 'YYYY', 'YYYY-MM', 'YYYY-MM..YYYY-MM' or 'YYYYMMDD..YYYYMMDD'."""
    all_weeks = weeks(root)
    if not spec:
        return all_weeks
    lo, _, hi = spec.partition("..")
    lo_key, hi_key = _bound(lo, low=True), _bound(hi or lo, low=False)
    chosen = [(w, p) for w, p in all_weeks if lo_key <= w <= hi_key]
    if not chosen:
        raise InputError(f"No RealTimeQA weeks in {spec!r} under {root}.",
                         hint=f"Weeks found: {all_weeks[0][0]}..{all_weeks[-1][0]}.")
    return chosen


def _bound(part: str, low: bool) -> str:
    digits = re.sub(r"\D", "", part)
    if len(digits) not in (4, 6, 8):
        raise InputError(f"Bad week range {part!r}.",
                         hint="Use YYYY, YYYY-MM or YYYYMMDD, and A..B for a range.")
    return digits + ("0" if low else "9") * (8 - len(digits))


def load_week(folder: Path, week: str, skip_except: bool = True) -> list[RtqaQuestion]:
    """The questions of one week with their articles."""
    results: dict[str, list[RtqaArticle]] = {}
    gcs = folder / f"{week}{_GCS_SUFFIX}"
    if gcs.exists():
        for rec in _jsonl(gcs):
            arts = []
            for r in rec.get("search_result") or []:
                text = str(r.get("text") or "").strip()
                if text:
                    arts.append(RtqaArticle(
                        url=str(r.get("url") or ""), title=str(r.get("title") or "").strip(),
                        text=text, date=_iso(r.get("publish_date")),
                        authors=tuple(str(a) for a in r.get("authors") or ())))
            results[str(rec.get("question_id"))] = arts
    out = []
    for rec in _jsonl(folder / f"{week}{_QA_SUFFIX}"):
        q = clean_question(str(rec.get("question_sentence") or ""))
        choices = tuple(clean_question(str(c)) for c in rec.get("choices") or ())
        try:
            answer = tuple(int(a) for a in rec.get("answer") or ())
        except (TypeError, ValueError):
            continue
        if not q or not answer or any(not 0 <= a < len(choices) for a in answer):
            continue
        if skip_except and is_except_question(q):
            continue
        qid = str(rec.get("question_id"))
        out.append(RtqaQuestion(
            id=qid, week=week, date=_iso(rec.get("question_date")),
            source=str(rec.get("question_source") or ""), question=q, choices=choices,
            answer=answer, articles=tuple(results.get(qid, ()))))
    return out


def load(root: Path, spec: str | None = None) -> list[RtqaQuestion]:
    return [q for w, folder in select_weeks(root, spec) for q in load_week(folder, w)]


def week_articles(questions: Sequence[RtqaQuestion]) -> list[RtqaArticle]:
    """The distinct articles (by URL, else title+text) of a set of questions, in order."""
    seen: set[str] = set()
    out = []
    for q in questions:
        for a in q.articles:
            key = a.url or f"{a.title}\n{a.text[:200]}"
            if key not in seen:
                seen.add(key)
                out.append(a)
    return out


def _jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                yield rec
