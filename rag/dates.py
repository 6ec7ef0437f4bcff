"""Reading publication dates written the ways news sites write them -> ISO YYYY-MM-DD."""

from __future__ import annotations

import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime

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
_MONTH_FIRST = re.compile(r"^(?:\w+,\s*)?([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_DAY_FIRST = re.compile(r"^(?:\w+,?\s*)?(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]+)\.?,?\s+(\d{4})")


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
