"""How often ingest dates a real article right from its text alone, on RealTimeQA's articles.

Each article of `past/<year>/*_gcs.jsonl` (one per URL) goes through `to_article` with its
text and nothing else: no title, no URL (RealTimeQA's URLs often spell the date), no date. The
one extra fact given is when the search fetched it (`search_time`), as any crawler knows: no
publication date can be later, and it reads "2 hours ago". RealTimeQA's `publish_date` is the
truth. Printed per year, as shares of the articles:

- exact: the date ingest gives is the publication day; wrong: it gives another day;
  undated: it gives none (an inferred date counts as a date: it is shown as "about ...");
- the same over the articles whose first lines state a date ("dateline", the goal's
  denominator), by the bench's own rules, independent of rag/dates.py: one of the first six
  non-empty lines is a dateline (`_is_dateline`: a date, times, cues and names, nothing the
  text talks about). Two looser rows for comparison: "short dated line", one of the first
  five lines has at most 12 words and a complete date (the denominator until 2026-12-03,
  which counted "Birth date: January 25, 1978" and "Nov. 5, 2024: Election Day"); "any date
  in head", a complete date anywhere in those five lines, sentences included.

rag/dates.py was tuned on the 2024 weeks only; 2025 is held out. 2025's first half has only 15
articles with a dated head (`--months 1 6`): nearly all of the 341 are in 2025-07..12.

Measured 2026-12-02 ("head" row: exact / wrong / undated):
- before the two 2024 rules below: 2025 92.1% / 2.6% / -; 2024 0% / 33.3% (10) / 66.7%
  (of 30 articles);
- with them (an update date alone only bounds the publication date; the first date heading
  of a page of dated entries does not date the page): 2024 0% / 16.7% (5) / 83.3%, and on
  held-out 2025, run once: 58.4% (199) / 0.9% (3) / 40.8% (139). The wrong rate meets its
  goal, exact day no longer does: most of 2025's dated heads give an update time alone, and
  it is mostly the publication day, where every such line of 2024 (3) was months later.
- 4b5d177 then dated an update date given alone "about" that day, chosen after seeing 2025.

Measured 2026-12-03, "dateline" row, exact / wrong / undated (n): 2024 (tuned on) 14.3% (2) /
42.9% (6) / 42.9% (6) of 14; 2025 (held out, run once with the final rules) 96.0% (311) /
1.9% (6) / 2.2% (7) of 324, of which 114 exact and 4 wrong are update dates given alone
(without that rule exact would be 197, 60.8%). 2024's 6 wrong: 3 datelines one day after
RealTimeQA's publish_date (a print edition or a time zone), 1 page of dated entries, 2
update dates alone; its 6 undated: 4 blog entry headings, 2 dates in the body.

    .venv/bin/python bench/date_accuracy.py [--root ../shared/realtimeqa/past] [--years 2024 2025]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # this checkout's rag, not the one installed in the venv
_MON = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_FULL_DATE = re.compile(
    rf"\b{_MON}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON},?\s+(?:19|20)\d\d\b"
    r"|\b(?:19|20)\d\d-\d\d-\d\d\b", re.IGNORECASE)


def head_states_date(text: str, *, short_lines_only: bool = True) -> bool:
    head = [ln.strip() for ln in text.split("\n") if ln.strip()][:5]
    return any(_FULL_DATE.search(ln) and (not short_lines_only or len(ln.split()) <= 12)
               for ln in head)


# A dateline, as a reader tells one: a line of the first ones whose part holding a complete
# date says nothing else than when (times, zones, "Published", "Updated on") and who or where
# (capitalised names), beside other short parts split by "|", "•" or a dash (a byline, an
# outlet). Any date format counts here, numeric and relative ("3 hours ago") included; a date
# followed by a colon heads a timeline entry, a question is no dateline.
_ANY_DATE = re.compile(
    _FULL_DATE.pattern + r"|\b\d{1,2}[/.]\d{1,2}[/.](?:19|20)\d\d\b"
    r"|\b(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\s+"
    r"(?:second|minute|min|hour|hr|day|week)s?\s+ago\b", re.IGNORECASE)
_CLOCK = re.compile(r"\b\d{1,2}(?:[:.]\d\d){0,2}\s*(?:a\.m\.|p\.m\.|am\b|pm\b)|\b\d{1,2}[:.]\d\d\b",
                    re.IGNORECASE)
_WHEN_WORDS = frozenset("published updated posted modified last first originally on at by and"
                        .split())
_PARTS = re.compile(r"\s*(?:[|•·]|\s[—–-]\s|\s[—–]$)\s*")


def _is_dateline(line: str) -> bool:
    if len(line.split()) > 20 or line.rstrip().endswith("?"):
        return False
    parts = [p for p in _PARTS.split(line) if p.strip()]
    for k, part in enumerate(parts):
        m = _ANY_DATE.search(part)
        if not m or re.match(r"\s*:\s*\w", part[m.end():]):
            continue
        before = re.findall(r"\w+", part[:m.start()])
        if part[:m.start()].rstrip().endswith(":") and any(
                w.lower() not in _WHEN_WORDS | {"date"} for w in before):
            continue  # a label's date ("Primary Election: March 12, 2024"), not the article's
        rest = _CLOCK.sub(" ", _ANY_DATE.sub(" ", part))
        if re.search(r"\d", rest):
            continue  # a numbered entry ("1. 15 May 2020") or a figure beside the date
        words = re.findall(r"[^\W\d_][\w'’.-]*", rest)
        if words and words[0] == "date":  # "date 2024-06-02", not "Birth date: ..."
            words = words[1:]
        if all(w[0].isupper() or w.lower().rstrip(".") in _WHEN_WORDS for w in words) and all(
                len(p.split()) <= 8 for j, p in enumerate(parts) if j != k):
            return True
    return False


def head_has_dateline(text: str) -> bool:
    """One of the first six non-empty lines is a dateline (see `_is_dateline`)."""
    return any(_is_dateline(ln) for ln in [ln.strip() for ln in text.split("\n") if ln.strip()][:6])


def articles(root: Path, year: str, months: tuple[int, int] = (1, 12)
             ) -> Iterator[tuple[str, str, str]]:
    """(text, ISO truth, ISO fetch time) of each article, first occurrence of each URL, from
    the weeks of `year` whose month is within `months`."""
    seen: set[str] = set()
    for path in sorted((root / year).glob("*_gcs.jsonl")):
        if not months[0] <= int(path.name[4:6]) <= months[1]:
            continue
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            fetched = rec.get("search_time") or ""
            m = re.match(r"(\d{4})/(\d\d)/(\d\d)(?:/(\d\d):(\d\d))?", fetched)
            crawl = f"{m[1]}-{m[2]}-{m[3]}T{m[4] or '23'}:{m[5] or '59'}" if m else ""
            for art in rec.get("search_result") or []:
                url, truth, text = art.get("url"), art.get("publish_date"), art.get("text")
                if not url or url in seen or not truth or not text:
                    continue
                seen.add(url)
                yield text, truth.replace("/", "-")[:10], crawl


def _share(n: int, total: int) -> str:
    return f"{n / total:6.1%} ({n})" if total else "     -"


def measure(root: Path, year: str, show_wrong: int = 0, months: tuple[int, int] = (1, 12),
            label: str = "") -> None:
    from rag.errors import InputError
    from rag.ingest import to_article
    from rag.types import RawDocument

    tallies: dict[str, Counter[str]] = {
        k: Counter() for k in ("all", "dateline", "short dated line", "any date in head")}
    for text, truth, crawl in articles(root, year, months):
        try:
            art = to_article(RawDocument(text=text, origin="bench", filename="article.txt",
                                         crawled=crawl or None))
            got, inferred = art.date, art.date_inferred
        except InputError:
            got, inferred = None, False
        outcome = "undated" if got is None else "exact" if got == truth else "wrong"
        how = "inferred" if inferred else "stated"
        dateline = head_has_dateline(text)
        if outcome == "wrong" and show_wrong > 0 and dateline:
            show_wrong -= 1
            head = " | ".join(ln.strip() for ln in text.split("\n") if ln.strip())[:160]
            print(f"  wrong ({how}): truth {truth}, got {got}: {head}")
        for subset, member in (("all", True), ("dateline", dateline),
                               ("short dated line", head_states_date(text)),
                               ("any date in head",
                                head_states_date(text, short_lines_only=False))):
            if member:
                tallies[subset][outcome] += 1
                tallies[subset]["n"] += 1
                if got is not None:
                    tallies[subset][f"{outcome} {how}"] += 1
    weeks = "" if months == (1, 12) else f"-{months[0]:02d}..{year}-{months[1]:02d}"
    print(f"\n{year}{weeks}  ({label or ('tuned on' if year <= '2024' else 'held out')})")
    print(f"{'articles':<22}{'n':>7}  {'exact':>13}  {'wrong':>13}  {'undated':>13}"
          f"  {'of which inferred: exact':>24}  {'wrong':>13}")
    for subset, c in tallies.items():
        print(f"{subset:<22}{c['n']:>7}  {_share(c['exact'], c['n']):>13}  "
              f"{_share(c['wrong'], c['n']):>13}  {_share(c['undated'], c['n']):>13}  "
              f"{_share(c['exact inferred'], c['n']):>24}  "
              f"{_share(c['wrong inferred'], c['n']):>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "realtimeqa" / "past")
    parser.add_argument("--years", nargs="+", default=["2024", "2025"])
    parser.add_argument("--months", nargs=2, type=int, default=(1, 12), metavar=("FROM", "TO"),
                        help="only the weeks of these months (inclusive)")
    parser.add_argument("--show-wrong", type=int, default=0, metavar="N",
                        help="print the first lines of N wrongly dated articles with a dated head")
    args = parser.parse_args()
    if not args.root.is_dir():
        raise SystemExit(f"No RealTimeQA folder at {args.root}.")
    for year in args.years:
        measure(args.root, year, args.show_wrong, tuple(args.months))


if __name__ == "__main__":
    main()
