"""Reading publication dates written the ways news sites write them -> ISO YYYY-MM-DD."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime

from rag.errors import InputError
from rag.language import (
    DATELINE_CUES,
    MONTHS,
    NUMBER_WORDS,
    TIME_UNITS,
    UPDATE_CUES,
    WEEKDAYS,
    alternation,
)

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_SLASHED = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_MON = alternation(MONTHS)
_WD = alternation(WEEKDAYS)
_YEAR_RE = r"(?:19|20)\d\d"
# A date as written in running text or a dateline: "Oct. 20, 2025", "Tue March 4, 2025",
# "Friday (7 June)", "4th of March 2025", "2024-06-02", "04.03.2025". A weekday right before
# the date is kept, to check it or to pin the year of a date written without one.
_MENTION = re.compile(
    rf"\b(?:(?P<wd>{_WD})\b\.?,?\s*\(?\s*(?:the\s+)?)?(?:"
    rf"(?P<m1>{_MON})\b\.?\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y1>{_YEAR_RE})\b)?"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m2>{_MON})\b\.?"
    rf"(?:,?\s+(?P<y2>{_YEAR_RE})\b)?"
    rf"|(?P<y3>{_YEAR_RE})[-/](?P<m3>\d{{1,2}})[-/](?P<d3>\d{{1,2}})\b"
    rf"|(?P<a>\d{{1,2}})(?P<sep>[/.])(?P<b>\d{{1,2}})(?P=sep)(?P<y4>{_YEAR_RE})\b)",
    re.IGNORECASE)


@dataclass(frozen=True)
class DateMention:
    """A date written in a text: its span, and the year and weekday when the text gives them."""

    start: int
    end: int
    month: int
    day: int
    year: int | None
    weekday: int | None  # 0 = Monday

    def on(self, year: int) -> date | None:
        """This day and month in `year` (None when it does not exist or the weekday differs)."""
        try:
            d = date(year, self.month, self.day)
        except ValueError:
            return None
        return d if self.weekday is None or d.weekday() == self.weekday else None

    @property
    def full(self) -> date | None:
        return self.on(self.year) if self.year else None


def _numeric_day_month(a: int, b: int, sep: str) -> tuple[int, int] | None:
    # Dots are the European day.month.year; slashes are read only when one side cannot be a
    # month (13/04/2025, 04/13/2025): 04/03/2025 is a different day in the US and in Europe.
    if sep == ".":
        return a, b
    if a > 12 >= b:
        return a, b
    if b > 12 >= a:
        return b, a
    return (a, b) if a == b else None


def mentions(text: str) -> list[DateMention]:
    """Every date written in `text`, with or without its year."""
    out = []
    for m in _MENTION.finditer(text):
        g = m.groupdict()
        wd = WEEKDAYS[g["wd"].lower()] if g["wd"] else None
        if g["m1"] or g["m2"]:
            month = MONTHS[(g["m1"] or g["m2"]).lower()]
            day, year = int(g["d1"] or g["d2"]), g["y1"] or g["y2"]
        elif g["y3"]:
            month, day, year = int(g["m3"]), int(g["d3"]), g["y3"]
        else:
            dm = _numeric_day_month(int(g["a"]), int(g["b"]), g["sep"])
            if dm is None:
                continue
            (day, month), year = dm, g["y4"]
        if not (1 <= month <= 12 and 1 <= day <= 31):
            continue
        out.append(DateMention(m.start(), m.end(), month, day, int(year) if year else None, wd))
    return out


def _make(y: int, m: int, d: int) -> str | None:
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def parse_date(value: str | None) -> str | None:
    """The ISO date in `value`, or None when it is not a recognisable date.

    `value` is a metadata field or a user's input: an ISO timestamp, or a date line as sites
    print them ("May 20, 2024", "Updated 3:05 PM EDT, Tue March 4, 2025").
    """
    if not value:
        return None
    s = value.strip()
    for pattern in (_ISO, _SLASHED):
        m = pattern.match(s)
        if m:
            return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    line = _read_line(s)
    if line is not None:
        return line[0].isoformat()
    if re.search(r"\d{4}", s) and "," in s:  # RFC 2822, as in RSS: "Mon, 20 May 2024 10:00:00 GMT"
        try:
            return parsedate_to_datetime(s).date().isoformat()
        except (TypeError, ValueError, IndexError):
            return None
    return None


# --- the dateline: a line of the first lines that only states when the article appeared ------

_TIME = re.compile(
    r"\b\d{1,2}(?::\d\d){0,2}\s*(?:a\.m\.|p\.m\.|am\b|pm\b)"
    r"|\b\d{1,2}(?::\d\d){1,2}\b", re.IGNORECASE)
_AGO = re.compile(
    rf"\b(?P<n>\d+|{alternation(NUMBER_WORDS)})\s+(?P<unit>{alternation(TIME_UNITS)})s?\s+ago\b"
    # "today" alone is too often a masthead's name: only after a cue ("Updated today").
    r"|\b(?:published|updated|posted)\s+(?P<rel>yesterday|today)\b", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_][\w’'.@-]*")
_ZONE = 6  # non-empty lines that can hold a dateline: headline, kicker, byline, outlet, date
_MAX_NAME_WORDS = 6  # a byline or an outlet beside the date ("By Jane Doe | The Desert Sun")


def _is_prose(line: str) -> bool:
    """A sentence of the body: the dateline zone ends there."""
    return len(line.split()) >= 3 and bool(re.search(r"[.!?][\"”’']?$", line))


def _relative(line: str, crawled: datetime) -> list[tuple[int, int, date]]:
    out = []
    for m in _AGO.finditer(line):
        if m.group("rel"):
            back = timedelta(days=1 if m.group("rel").lower() == "yesterday" else 0)
        else:
            raw = m.group("n").lower()
            n = int(raw) if raw.isdigit() else NUMBER_WORDS[raw]
            back = timedelta(seconds=n * TIME_UNITS[m.group("unit").lower()])
        out.append((m.start(), m.end(), (crawled - back).date()))
    return out


def _read_line(line: str, not_after: date | None = None,
               crawled: datetime | None = None) -> tuple[date, bool] | None:
    """(date, only an update date) when `line` states a date and nothing but who and where.

    Beside the dates the line may hold times, cue words ("Published", "Updated on") and a few
    capitalised words (a byline, an outlet, a place); any other word makes it a sentence, a
    number makes it a list entry, and a colon after the date makes it a timeline entry
    ("May 5, 2024: Election Day").
    """
    found: list[tuple[int, int, date]] = []
    for mention in mentions(line):
        if mention.year is None:
            continue
        d = mention.full
        if d is None:
            return None  # a weekday that contradicts its date: not a date to trust
        found.append((mention.start, mention.end, d))
    if crawled is not None:
        found.extend(_relative(line, crawled))
    if not found:
        return None
    found.sort()
    rest, cursor, updated_flags = [], 0, []
    for start, end, _ in found:
        if re.match(r"\s*:\s*\w", line[end:]):
            return None
        gap = line[cursor:start]
        updated_flags.append(any(t.lower() in UPDATE_CUES for t in _TOKEN.findall(gap)))
        rest.append(gap)
        cursor = end
    rest.append(line[cursor:])
    names = 0
    for i, tok in enumerate(_TOKEN.findall(_TIME.sub(" ", " ".join(rest)))):
        low = tok.lower().rstrip(".")
        if low in DATELINE_CUES or (low == "date" and i == 0) or "@" in tok:
            continue
        if tok[0].isdigit() or not tok[0].isupper():
            return None
        names += 1
    if names > _MAX_NAME_WORDS:
        return None
    candidates = [(d, up) for (_, _, d), up in zip(found, updated_flags, strict=True)
                  if not_after is None or d <= not_after]
    if not candidates:
        return None
    published = [c for c in candidates if not c[1]]
    return published[0] if published else candidates[0]


_BAR = re.compile(r"\s*[|•·]\s*")  # a byline bar: "By Jane Doe | The Herald | May 2, 2024"
_BAR_PART_WORDS = 8  # a credit or an outlet beside the date, not a sentence


def _read_bar(line: str, not_after: date | None = None,
              crawled: datetime | None = None) -> tuple[date, bool] | None:
    """`_read_line` of a line read whole, else of a byline bar's part that states the date
    alone ("Story by Jane Doe | Photos and video by Tom Poe | Dec. 10, 2015"): the credits
    beside it may be in lower case, but each is short and none is a sentence."""
    got = _read_line(line, not_after, crawled)
    parts = [p for p in _BAR.split(line) if p.strip()]
    if got is not None or len(parts) < 2:
        return got
    if any(len(p.split()) > _BAR_PART_WORDS or _is_prose(p) for p in parts):
        return None
    for part in parts:
        got = _read_line(part, not_after, crawled)
        if got is not None:
            return got
    return None


@dataclass(frozen=True)
class Dateline:
    """The publication date stated in the first lines, and which lines state it."""

    date: str | None  # None when the lines give only an update date
    lines: tuple[int, ...]  # indexes into the lines given: the date lines, to drop from the body
    updated: bool  # the text gives only the date of an update
    latest: str | None = None  # no later than this: the update date when only that is given


_ENTRY_MAX_WORDS = 12  # a date heading of an entry is a short line of its own
_ENTRY_DATES = 2  # other dates in such headings that make a page of dated entries


def _entry_dates(lines: Sequence[str], skip: Iterable[int], not_after: date | None) -> set[date]:
    """Dates stated by lines of their own outside the dateline zone: entry headings."""
    out: set[date] = set()
    skipped = set(skip)
    for i, line in enumerate(lines):
        text = line.strip()
        if i in skipped or not text or len(text.split()) > _ENTRY_MAX_WORDS:
            continue
        got = _read_line(text, not_after)
        if got is not None:
            out.add(got[0])
    return out


def find_dateline(lines: Sequence[str], not_after: date | None = None,
                  crawled: datetime | None = None) -> Dateline | None:
    """The date the first lines of an article state, read like a reader reads a byline zone.

    Only the first few non-empty lines before the first sentence of prose count: a date
    further down is a date the story talks about. A publication date beats an update date;
    a date after `not_after` (the day the text was fetched) is not a publication date. A
    relative date ("2 hours ago") is read only when the time of fetching, `crawled`, is known.

    Two rules measured on RealTimeQA's 2024 articles (bench/date_accuracy.py), where every
    update date given alone was later than the publication day, and every dated head of a
    page whose entries each open with a date line was the newest entry's date:
    - an update date alone says the article appeared no later than that day, not on it:
      `date` is None and `latest` holds it;
    - when two or more other days head lines of their own further down, the page is a run
      of dated entries (a blog, a page of updates) and its first date line dates only the
      newest entry: no date is stated.
    """
    limit = not_after or (crawled.date() if crawled else None)
    best: tuple[date, bool] | None = None
    where: list[int] = []
    seen = 0
    for i, line in enumerate(lines):
        text = line.strip()
        if not text:
            continue
        seen += 1
        if seen > _ZONE:
            break
        got = _read_bar(text, limit, crawled)
        if got is None:
            if _is_prose(text):
                break
            continue
        where.append(i)
        if best is None or (best[1] and not got[1]):
            best = got
    if best is None:
        return None
    if len(_entry_dates(lines, where, limit) - {best[0]}) >= _ENTRY_DATES:
        return None
    if best[1]:
        return Dateline(None, tuple(where), True, best[0].isoformat())
    return Dateline(best[0].isoformat(), tuple(where), False, best[0].isoformat())


def display_date(iso: str | None) -> str:
    """'2024-05-20' -> '20 May 2024' (how newsrooms write dates)."""
    if not iso:
        return "undated"
    try:
        d = datetime.strptime(iso, "%Y-%m-%d")
    except ValueError:
        return iso
    return f"{d.day} {d.strftime('%B')} {d.year}"


# --- inferring an undated article's date from its text ----------------------------------------

# A year the article mentions as past ("in July 2023", "since 2022"), not a deadline ahead
# ("by September 2025"): the word before the year (or before its month) tells them apart.
_YEAR_MENTION = re.compile(rf"(?:\b(\w+)\s+)?(?:\b(?:{_MON})\.?\s+)?\b({_YEAR_RE})\b",
                           re.IGNORECASE)
_AHEAD_WORDS = frozenset({"by", "until", "till", "before", "than", "through", "next"})
_MONTH_YEAR = re.compile(rf"\b({_MON})\.?\s+({_YEAR_RE})\b", re.IGNORECASE)
_LAST_MONTH_NAME = re.compile(rf"\blast\s+({_MON})\b", re.IGNORECASE)


_SHORT_SPAN = 366  # days: bounds this narrow leave a weekday date one year
_FRESH_DAYS = 14  # days between a weekday date and the ingest that make it the news of the day
_RECENT_YEARS = 2  # the newest past year a fresh text mentions is at most this much older


@dataclass(frozen=True)
class DateEstimate:
    """An inferred publication date and the bounds the text puts on it (ISO strings)."""

    date: str
    earliest: str
    latest: str


def date_bounds(text: str, not_after: date) -> tuple[date, date]:
    """The earliest and latest publication dates the text allows.

    - an article is published after the past years it mentions ("in July 2023", "since 2022");
    - "last July" next to "July 2023" means it appeared within the year after July 2023.
    """
    lo, hi = date(1900, 1, 1), not_after
    for m in _YEAR_MENTION.finditer(text):
        y, before = int(m.group(2)), (m.group(1) or "").lower()
        if y <= not_after.year and before not in _AHEAD_WORDS:
            lo = max(lo, date(y, 1, 1))
    last_months = {MONTHS[m.group(1).lower()] for m in _LAST_MONTH_NAME.finditer(text)
                   if m.group(1).lower() != "may"}  # "last may" is usually the verb
    for m in _MONTH_YEAR.finditer(text):
        month, y = MONTHS[m.group(1).lower()], int(m.group(2))
        if month in last_months and y < not_after.year:
            # "last July" is the most recent July: published after July y, by July y+1.
            lo = max(lo, date(y, month, 1) + timedelta(days=31))
            hi = min(hi, date(y + 1, month, 28))
    return lo, hi


def infer_date(text: str, not_after: date | None = None) -> DateEstimate | None:
    """A publication date estimated from the text, or None when the text doesn't pin one.

    The anchor is a date written with its weekday ("on Tuesday, March 4", "Friday 7 June"): a
    weekday pinned to a day of a month names one date per 5-11 years, and it counts only when
    the text is fresh or closes its own dates within a year (see below). The estimate is the
    earliest such anchor within `date_bounds` and not after `not_after` (the ingest date).
    Without an anchor no date is invented: bounds alone are too wide to print as "as of".
    """
    today = not_after or date.today()
    lo, hi = date_bounds(text, today)
    best: date | None = None
    for m in mentions(text):
        if m.weekday is None:
            continue
        years = [m.year] if m.year else range(lo.year, hi.year + 1)
        fits = [d for d in (m.on(y) for y in years) if d is not None and lo <= d <= hi]
        # Measured on RealTimeQA's 2024 articles, a weekday date in the body is the
        # publication day for only 1 in 6 articles of an archive: it is as often an event
        # ahead or years back. It is trusted when the text is fresh: the date is days before
        # the ingest and, for a day and month written without a year (which lands in some
        # fortnight every year), the years the text mentions are recent too. Or when the
        # text closes itself within a year ("last July" beside "July 2023"; a year alone is
        # too often one ahead) and that year has one such date.
        recent = m.year is not None or lo.year >= today.year - _RECENT_YEARS
        fresh = [d for d in fits if (today - d).days <= _FRESH_DAYS and recent]
        narrow = hi < today and (hi - lo).days <= _SHORT_SPAN and len(fits) == 1
        pick = fresh[0] if fresh else fits[0] if narrow else None
        # The earliest: a text reports what happened and announces what is ahead, and a
        # page that is kept up to date names later days (measured: twice as often right).
        if pick is not None and (best is None or pick < best):
            best = pick
    if best is None:
        return None
    return DateEstimate(best.isoformat(), lo.isoformat() if lo.year > 1900 else best.isoformat(),
                        hi.isoformat())


def date_number(iso: str | None) -> int:
    """'2024-05-20' -> 20240520, the numeric form date filters compare (0 when undated)."""
    return int(iso.replace("-", "")) if iso else 0


def display_article_date(iso: str | None, inferred: bool) -> str:
    """'20 May 2024', or 'about 18 June 2024' when the date was inferred from the text."""
    return f"about {display_date(iso)}" if iso and inferred else display_date(iso)


@dataclass(frozen=True)
class DateRange:
    """Publication dates an answer may draw on (inclusive ISO bounds; None: open).

    With any bound set, undated articles are left out (nothing says they fall inside) unless
    `include_undated` asks for them.
    """

    since: str | None = None
    until: str | None = None
    include_undated: bool = False
    only_undated: bool = False  # the undated articles alone (see `undated`)

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.only_undated)

    def bounds(self) -> tuple[int, int]:
        """(lowest, highest) `date_number` of the dated articles inside the range; (0, 0), the
        number of an undated article, for `only_undated`. A store filters on these bounds, so
        undated articles are searched apart (`undated`) when they are included."""
        if self.only_undated:
            return 0, 0
        return (max(1, date_number(self.since)),
                date_number(self.until) if self.until else 99_991_231)

    def undated(self) -> DateRange:
        """The range that holds just the undated articles."""
        return DateRange(only_undated=True)

    def contains(self, iso: str | None) -> bool:
        if not self.active or (iso is None and self.include_undated):
            return True
        lo, hi = self.bounds()
        return lo <= date_number(iso) <= hi


def date_range(since: str | None = None, until: str | None = None,
               include_undated: bool = False) -> DateRange:
    """A `DateRange` from user input ("2024-05-01", "May 1, 2024"); InputError when unreadable."""
    parsed: list[str | None] = []
    for name, value in (("since", since), ("until", until)):
        if value is None or not str(value).strip():
            parsed.append(None)
            continue
        iso = parse_date(str(value))
        if iso is None:
            raise InputError(f"Unreadable {name} date {value!r}.", hint="Use YYYY-MM-DD.")
        parsed.append(iso)
    if parsed[0] and parsed[1] and parsed[0] > parsed[1]:
        raise InputError(f"since ({parsed[0]}) is after until ({parsed[1]}).")
    return DateRange(parsed[0], parsed[1], include_undated)


def undated_left_out(dates: Iterable[str | None], rng: DateRange) -> int:
    """How many articles (one date per article, None when undated) a search within `rng`
    leaves out for want of a date. 0 when the range is open or takes undated articles in:
    then nothing is left out."""
    return sum(1 for d in dates if not d) if rng.active and not rng.include_undated else 0


def undated_note(count: int) -> str | None:
    """What to tell the reader about the undated articles a date filter left out."""
    if count <= 0:
        return None
    noun = "article" if count == 1 else "articles"
    verb = "was" if count == 1 else "were"
    return (f"{count} undated {noun} {verb} left out: nothing says when "
            f"{'it' if count == 1 else 'they'} appeared.")
