"""Publication dates: every source of a date, and bounded inference for undated articles."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from rag.dates import (
    date_bounds,
    date_number,
    date_range,
    display_article_date,
    find_dateline,
    infer_date,
    parse_date,
    undated_left_out,
    undated_note,
)
from rag.html import extract_html
from rag.ingest import clean_text, to_article
from rag.types import RawDocument

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


def test_a_weekday_with_its_day_and_month_dates_a_fresh_text() -> None:
    # Ingested six days later, 2022 recent: the Sunday 19 May just before the ingest.
    est = infer_date("In 2022 it began. The statement on Sunday (19 May) said so.",
                     date(2024, 5, 25))
    assert est is not None and est.date == "2024-05-19"
    assert infer_date("They met on Sunday, May 19, 2024, officials said.",
                      date(2024, 5, 25)) is not None


def test_the_inferred_date_is_never_after_the_ingest_date() -> None:
    # "last July" beside "July 2018": published from August 2018 to July 2019.
    text = "The vote last July, in July 2018, was close. On Sunday (19 May) they met."
    est = infer_date(text, date(2019, 6, 1))
    assert est is not None and est.date == "2019-05-19"
    assert infer_date(text, date(2019, 5, 18)) is None


def test_a_day_and_month_without_a_recent_year_is_no_fresh_anchor() -> None:
    # Any 19 May falls in the fortnight before some ingest: a text of 2018 is not fresh.
    assert infer_date("In 2018 it began. The statement on Sunday (19 May) said so.",
                      date(2024, 5, 25)) is None
    assert infer_date("The statement on Sunday (19 May) said so.", date(2024, 5, 25)) is None


def test_the_earliest_weekday_date_dates_the_text_not_the_days_it_announces() -> None:
    text = "In 2024 the trial opened on Monday, March 3. Closing is set for Friday, March 7."
    est = infer_date(text, date(2025, 3, 10))
    assert est is not None and est.date == "2025-03-03"


def test_an_archive_text_weekday_date_is_no_anchor() -> None:
    # Ingested years later, with nothing closing its dates: 2019 or 2024, the text can't say.
    assert infer_date("In 2018 it began. The statement on Sunday (19 May) said so.",
                      TODAY) is None


def test_a_name_spelling_today_is_no_relative_date() -> None:
    assert find_dateline(["The Valley TODAY"], crawled=datetime(2024, 1, 5, 1, 0)) is None


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


def test_the_sample_article_is_dated_by_inference_when_ingested_fresh() -> None:
    path = next(ARTICLES.glob("002_*.txt"))
    fresh = to_article(RawDocument(text=path.read_text(), origin=str(path), filename=path.name,
                                   crawled="2024-05-21"))
    assert (fresh.date, fresh.date_inferred) == ("2024-05-19", True)
    assert display_article_date(fresh.date, fresh.date_inferred) == "about 19 May 2024"


def test_date_numbers_compare_like_dates() -> None:
    assert date_number("2024-05-20") == 20240520 and date_number(None) == 0


# --- the dateline zone: the first lines state when the article appeared ---------------------

def _lines(text: str) -> list[str]:
    return text.split("\n")


@pytest.mark.parametrize(("line", "iso"), [
    ("Oct. 20, 2025, 11:53 a.m. ET", "2025-10-20"),
    ("Updated 3:05 PM EDT, Tue March 4, 2025", "2025-03-04"),
    ("Published: April 21, 2024", "2024-04-21"),
    ("date 2024-06-02", "2024-06-02"),
    ("Last updated on 4th of March 2025", "2025-03-04"),
    ("Posted 04.03.2025 at 10:15", "2025-03-04"),  # dots: the European day.month.year
    ("By Jane Doe | The Valley Herald | 14 April 2016", "2016-04-14"),
    ("FRIDAY, DEC. 16, 2016", "2016-12-16"),
    # a byline bar: credits in lower case beside a part that is the date alone
    ("Story by Jane Doe and Ann Roe | Photos and video by Tom Poe | Dec. 10, 2015", "2015-12-10"),
])
def test_a_date_line_in_the_first_lines_states_the_date(line: str, iso: str) -> None:
    got = find_dateline(_lines(f"A headline about the harbour\n{line}\n\nThe body starts here."))
    assert got is not None and got.latest == iso and got.lines == (1,)
    assert got.date == (None if got.updated else iso)  # an update date alone is only a bound


def test_the_publication_date_beats_the_update_date() -> None:
    got = find_dateline(["Jan. 26, 2014 Updated Jan. 27, 2014, 10:57 a.m. ET"])
    assert got is not None and (got.date, got.updated) == ("2014-01-26", False)
    only = find_dateline(["Updated Feb. 6, 2023, 6:17 p.m. ET"])
    assert only is not None and (only.date, only.updated) == (None, True)


def test_an_update_date_alone_bounds_the_publication_date_but_does_not_state_it() -> None:
    # Measured on RealTimeQA 2024: each "Updated"/"Last updated" line without a publication
    # date was later than the publication day (by 54 days to 3.7 years).
    only = find_dateline(["Last updated Oct. 19, 2021.", "", "The story begins here."])
    assert only is not None and only.date is None and only.latest == "2021-10-19"
    assert only.lines == (0,)  # still byline matter: it leaves the body
    c = clean_text("Harbour reopens\nList updated on Feb. 27, 2021\n\nShips came back.")
    assert c.date is None and "updated" not in c.text


def test_a_date_heading_of_one_entry_among_many_does_not_date_the_page() -> None:
    # A blog or a page of updates: each entry opens with its own date line. The first is the
    # newest entry, not when the page appeared.
    entries = "\n".join(f"{day}\nWhat happened that day, told in a sentence.\n"
                         for day in ("Friday, Dec. 16, 2016", "Wednesday, Dec. 7, 2016",
                                     "Thursday, Dec. 1, 2016"))
    assert find_dateline(_lines(f"Jane Doe\n{entries}")) is None
    one = find_dateline(_lines("Jane Doe\nDecember 30, 2016\nThe body, a sentence.\n"
                               "A quote line\nDecember 30, 2016"))
    assert one is not None and one.date == "2016-12-30"  # the same date again is no entry


@pytest.mark.parametrize("text", [
    "Leap Day is Thursday, Feb. 29, 2024.",  # a sentence that mentions a date
    "Nov. 5, 2024: Election Day",  # a timeline entry
    "1. 15 May 2020",  # a numbered list entry
    "Birth date: January 25, 1978",  # a field of a profile, not of the page
    "A story opens here, as stories do.\nApril 2, 2006",  # after the first sentence: content
    "Wed 3 May 2024",  # 3 May 2024 was a Friday: a contradiction is not trusted
    "Posted 04/03/2025",  # April 3 in the US, 4 March in Europe: not guessed
    # a bar whose other part is a sentence: a date and what happened on it
    "Nov. 5, 2024 | polls open at seven across the state and close at eight",
])
def test_lines_that_only_mention_a_date_are_not_datelines(text: str) -> None:
    assert find_dateline(_lines(text)) is None


def test_a_date_after_the_fetch_is_not_a_publication_date() -> None:
    assert find_dateline(["March 12, 2024"], not_after=date(2024, 1, 2)) is None


def test_a_relative_date_is_read_only_when_the_fetch_time_is_known() -> None:
    assert find_dateline(["Posted 2 hours ago"]) is None
    got = find_dateline(["Posted 2 hours ago"], crawled=datetime(2024, 1, 5, 1, 0))
    assert got is not None and got.date == "2024-01-04"
    got = find_dateline(["Posted yesterday"], crawled=datetime(2024, 1, 5, 12, 0))
    assert got is not None and got.date == "2024-01-04"


def test_a_dateline_under_the_headline_dates_the_article_and_leaves_the_body() -> None:
    c = clean_text("Harbour reopens after storm\nPublished: April 21, 2024\n\nShips came back.")
    assert c.date == "2024-04-21" and "Published" not in c.text and "2024" not in c.text
    assert c.title == "Harbour reopens after storm"
    c = clean_text("Harbour reopens after storm\nBy Jane Doe\ndate 2024-06-02\n\nShips came.")
    assert c.date == "2024-06-02" and "2024-06-02" not in c.text


def test_a_fetch_time_dates_a_relative_dateline_at_ingest() -> None:
    art = to_article(RawDocument(text="Harbour reopens\nPosted 3 hours ago\n\nShips came back.",
                                 origin="o", filename="f", crawled="2024-01-05T23:29"))
    assert (art.date, art.date_inferred) == ("2024-01-05", False)
    assert "ago" not in art.text


def test_metadata_wins_over_the_text() -> None:
    art = to_article(RawDocument(text="Harbour reopens\nPublished: May 20, 2024\n\nShips came.",
                                 origin="o", filename="f", date="2024-04-02"))
    assert (art.date, art.date_inferred) == ("2024-04-02", False)


@pytest.mark.parametrize(("text", "iso"), [
    ("The vote on Tuesday, March 4 was close, the first since 2024.", "2025-03-04"),
    ("Fans queued on Thursday the 5th of June, as in 2024.", "2025-06-05"),
    ("Results came on Tue. 4 March. In 2024 they came later.", "2025-03-04"),
])
def test_any_weekday_written_with_its_date_anchors_the_inference(text: str, iso: str) -> None:
    est = infer_date(text, date.fromisoformat(iso) + timedelta(days=3))
    assert est is not None and est.date == iso


def test_a_filtered_search_counts_the_undated_articles_it_leaves_out() -> None:
    dates = ["2024-05-20", None, "2024-04-02", None]
    assert undated_left_out(dates, date_range("2024-05-01", None)) == 2
    assert undated_left_out(dates, date_range()) == 0  # no filter: nothing is left out
    assert undated_note(2) == "2 undated articles were left out: nothing says when they appeared."
    assert undated_note(0) is None


# --- no story's own words in the rules: dates, conflicts, language, the verifier's checks ----

RAG = Path(__file__).resolve().parents[1] / "rag"
# Words of the bundled sample corpus (US troops leaving Niger, 2024).
SAMPLE_WORDS = ("Niger", "Nigerien", "Niamey", "Pentagon", "troop", "junta", "Tiani", "Bazoum",
                "Russia", "Wagner", "Sahel", "withdraw", "Africa", "September 15", "15 September",
                "19 May", "May 19", "Sunday (", "1,000", "1000")


# The modules of rules: what they hold must be true of English and of news, not of one story.
RULE_MODULES = ["dates.py", "conflicts.py", "language.py", "facts.py", "verify.py",
                "relations.py"]


@pytest.mark.parametrize("module", RULE_MODULES)
def test_rules_hold_no_word_of_the_sample_corpus(module: str) -> None:
    text = (RAG / module).read_text()
    found = [w for w in SAMPLE_WORDS if re.search(re.escape(w), text, re.IGNORECASE)]
    assert found == []


def _word_grams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+(?:[,.'’][a-z0-9]+)*", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@pytest.mark.parametrize("module", RULE_MODULES)
def test_rules_quote_no_phrase_of_the_sample_corpus(module: str) -> None:
    # Not even in a comment: a rule explained by the sample's own sentence ("no timeline has
    # been set") is a rule that may have been written for it. Four words in a row are a phrase.
    sample = "\n".join(p.read_text(encoding="utf-8")
                       for p in (RAG.parent / "data" / "articles").glob("*.txt"))
    shared = _word_grams((RAG / module).read_text(), 4) & _word_grams(sample, 4)
    assert sorted(" ".join(g) for g in shared) == []
