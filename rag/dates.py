"""Reading publication dates written the ways news sites write them -> ISO YYYY-MM-DD."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime

from rag.errors import InputError

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_SLASHED = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_MONTH_FIRST = re.compile(
    r"^(?:[A-Za-z]+,\s*)?([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_DAY_FIRST = re.compile(
    r"^(?:[A-Za-z]+,?\s*)?(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]+)\.?,?\s+(\d{4})")


def _make(y: int, m: int, d: int) -> str | None:
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return None


def parse_date(value: str | None) -> str | None:
    """The ISO date in `value`, or None when it is not a recognisable date."""
    if not value:
        return None
    s = value.strip()
    for pattern in (_ISO, _SLASHED):
        m = pattern.match(s)
        if m:
            return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _MONTH_FIRST.match(s)
    if m and m.group(1).lower() in _MONTHS:
        return _make(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
    m = _DAY_FIRST.match(s)
    if m and m.group(2).lower() in _MONTHS:
        return _make(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
    if re.search(r"\d{4}", s) and "," in s:  # RFC 2822, as in RSS: "Mon, 20 May 2024 10:00:00 GMT"
        try:
            return parsedate_to_datetime(s).date().isoformat()
        except (TypeError, ValueError, IndexError):
            return None
    return None


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

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WD = "|".join(_WEEKDAYS)
# "on Sunday (19 May)", "on Sunday, May 19", "Sunday 19 May": a weekday pinned to a day of a
# month names one date per 5-11 years, which the year cues then single out.
_WEEKDAY_DATE = re.compile(
    rf"\b({_WD}),?\s*\(?\s*(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_NAMES})\b|"
    rf"({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b)", re.IGNORECASE)
# A year the article mentions as past ("in July 2023", "since 2022"), not a deadline ahead
# ("by September 2025"): the word before the year (or before its month) tells them apart.
_YEAR_MENTION = re.compile(rf"(?:\b(\w+)\s+)?(?:\b(?:{_MONTH_NAMES})\.?\s+)?\b((?:19|20)\d\d)\b",
                           re.IGNORECASE)
_AHEAD_WORDS = frozenset({"by", "until", "till", "before", "than", "through", "next"})
_MONTH_YEAR = re.compile(rf"\b({_MONTH_NAMES})\.?\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_LAST_MONTH_NAME = re.compile(rf"\blast\s+({_MONTH_NAMES})\b", re.IGNORECASE)


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
    last_months = {_MONTHS[m.group(1).lower()] for m in _LAST_MONTH_NAME.finditer(text)
                   if m.group(1).lower() != "may"}  # "last may" is usually the verb
    for m in _MONTH_YEAR.finditer(text):
        month, y = _MONTHS[m.group(1).lower()], int(m.group(2))
        if month in last_months and y < not_after.year:
            # "last July" is the most recent July: published after July y, by July y+1.
            lo = max(lo, date(y, month, 1) + timedelta(days=31))
            hi = min(hi, date(y + 1, month, 28))
    return lo, hi


def infer_date(text: str, not_after: date | None = None) -> DateEstimate | None:
    """A publication date estimated from the text, or None when the text doesn't pin one.

    The anchor is a weekday named together with its day and month ("on Sunday (19 May)"):
    the article appeared shortly after the most recent such date within the bounds of
    `date_bounds` and not after `not_after` (the ingest date). Without an anchor no date is
    invented: bounds alone are too wide to print as "as of".
    """
    today = not_after or date.today()
    lo, hi = date_bounds(text, today)
    best: date | None = None
    for m in _WEEKDAY_DATE.finditer(text):
        weekday = _WEEKDAYS.index(m.group(1).lower())
        day = int(m.group(2) or m.group(5))
        month = _MONTHS[(m.group(3) or m.group(4)).lower()]
        for y in range(hi.year, max(lo.year, hi.year - 30) - 1, -1):
            try:
                d = date(y, month, day)
            except ValueError:
                continue
            if lo <= d <= hi and d.weekday() == weekday:
                best = d if best is None or d > best else best
                break
    if best is None:
        return None
    return DateEstimate(best.isoformat(), lo.isoformat() if lo.year > 1900 else best.isoformat(),
                        hi.isoformat())


def date_number(iso: str | None) -> int:
    """'2024-05-20' -> 20240520, the numeric form date filters compare (0 when undated)."""
    return int(iso.replace("-", "")) if iso else 0


def display_article_date(iso: str | None, inferred: bool) -> str:
    """'20 May 2024', or 'about 19 May 2024' when the date was inferred from the text."""
    return f"about {display_date(iso)}" if iso and inferred else display_date(iso)


@dataclass(frozen=True)
class DateRange:
    """Publication dates an answer may draw on (inclusive ISO bounds; None: open).

    With any bound set, undated articles are left out: nothing says they fall inside.
    """

    since: str | None = None
    until: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.since or self.until)

    def bounds(self) -> tuple[int, int]:
        """(lowest, highest) `date_number` inside the range; undated (0) is always outside."""
        return (max(1, date_number(self.since)),
                date_number(self.until) if self.until else 99_991_231)

    def contains(self, iso: str | None) -> bool:
        lo, hi = self.bounds()
        return not self.active or lo <= date_number(iso) <= hi


def date_range(since: str | None = None, until: str | None = None) -> DateRange:
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
    return DateRange(parsed[0], parsed[1])
