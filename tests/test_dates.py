"""Publication dates: every source of a date, and bounded inference for undated articles."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rag.dates import (
    date_bounds,
    date_number,
    display_article_date,
    infer_date,
    parse_date,
)
from rag.html import extract_html
from rag.ingest import RawDocument, clean_text, to_article

ARTICLES = Path(__file__).resolve().parents[1] / "data" / "articles"
TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(("raw", "iso"), [
    ("2024-05-20", "2024-05-20"), ("2024-05-20T10:00:00Z", "2024-05-20"),
    ("2024/05/20", "2024-05-20"), ("May 20, 2024", "2024-05-20"),
    ("20 May 2024", "2024-05-20"), ("Mon, 20 May 2024 10:00:00 GMT", "2024-05-20"),
    ("not a date", None), ("2024-02-30", None),
])
def test_dates_written_the_ways_sites_write_them_parse(raw: str, iso: str | None) -> None:
    assert parse_date(raw) == iso


def test_a_header_line_gives_the_date() -> None:
    assert clean_text(" date 2024-05-20 \n\nBody sentence here.").date == "2024-05-20"


def test_a_json_field_gives_the_date_and_it_is_not_inferred() -> None:
    art = to_article(RawDocument(text="On Sunday (19 May) they met.", origin="o", filename="f",
                                 date="2024-04-02"))
    assert (art.date, art.date_inferred) == ("2024-04-02", False)


@pytest.mark.parametrize("head", [
    '<meta property="article:published_time" content="2024-05-20T08:00:00Z">',
    '<script type="application/ld+json">{"@type": "NewsArticle", '
    '"datePublished": "2024-05-20"}</script>',
    '<meta name="dc.date" content="2024-05-20">',
])
def test_html_metadata_gives_the_date(head: str) -> None:
    page = extract_html(f"<html><head>{head}</head><body><p>Text.</p></body></html>")
    assert page.date == "2024-05-20"


def test_an_html_time_element_gives_the_date() -> None:
    page = extract_html('<body><time datetime="2024-05-20">20 May</time><p>Text.</p></body>')
    assert page.date == "2024-05-20"


def test_a_weekday_with_its_day_and_month_pins_the_most_recent_matching_date() -> None:
    # 19 May was a Sunday in 2024 (and 2019, 2013); 2022 is mentioned, so 2024.
    est = infer_date("In 2022 it began. The statement on Sunday (19 May) said so.", TODAY)
    assert est is not None and est.date == "2024-05-19"
    assert infer_date("They met on Sunday, May 19, officials said.", TODAY) is not None


def test_the_inferred_date_is_never_after_the_ingest_date() -> None:
    est = infer_date("The statement on Sunday (19 May) said so.", date(2024, 5, 18))
    assert est is not None and est.date == "2019-05-19"


def test_last_month_name_next_to_its_year_bounds_the_date() -> None:
    lo, hi = date_bounds("The coup last July... the coup in July 2023 ousted him.", TODAY)
    assert (lo, hi) == (date(2023, 8, 1), date(2024, 7, 28))
    # ... so a weekday anchor outside those bounds is rejected.
    assert infer_date("The coup last July. In July 2023 it happened. On Sunday (20 May 2018)",
                      TODAY) is None


def test_deadlines_ahead_do_not_bound_the_date_from_below() -> None:
    lo, _ = date_bounds("Troops leave by September 2025; the coup was in 2023.", date(2024, 6, 1))
    assert lo == date(2023, 1, 1)


def test_no_anchor_means_no_invented_date() -> None:
    assert infer_date("Last month, Niger asked the troops to leave. In March it ended.",
                      TODAY) is None


def test_the_sample_article_with_sunday_19_may_gets_an_inferred_date() -> None:
    path = next(ARTICLES.glob("002_*.txt"))
    art = to_article(RawDocument(text=path.read_text(), origin=str(path), filename=path.name))
    assert (art.date, art.date_inferred) == ("2024-05-19", True)
    assert display_article_date(art.date, art.date_inferred) == "about 19 May 2024"


def test_date_numbers_compare_like_dates() -> None:
    assert date_number("2024-05-20") == 20240520 and date_number(None) == 0
