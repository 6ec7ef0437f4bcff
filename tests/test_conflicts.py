"""Conflicting reports: numbers and dates that disagree are surfaced, both sides cited, the
newest first; nothing is decided from the sample's own strings (unit tests use other stories)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.conflicts import disagreement, is_pending, quantities, schedules
from rag.pipeline import Pipeline


@pytest.mark.parametrize(("sentence", "expected"), [
    ("Officials said about 2,500 firefighters were at the scene.",
     [(2500, "approx", "firefight")]),
    ("The club has more than 40,000 members.", [(40000, "more", "member")]),
    ("The company, whose workforce totals nearly 12,000, cut jobs.",
     [(12000, "nearly", "workforc")]),
    ("Fewer than 300 British soldiers remain.", [(300, "less", "soldier")]),
    ("It cost 4.2 billion dollars.", [(4.2e9, "exact", "dollar")]),
    ("The deal is worth $3.2 billion.", [(3.2e9, "exact", "dollar:deal")]),
    ("Prices rose 3.2% in May.", [(3.2, "exact", "percent:price")]),
    ("Of adults, 63% of voters came.", [(63, "exact", "percent:voter")]),
    ("Up to 3-5 inches of snow fell.", [(3, "range", "inch")]),
    ("A score of 30 or more means a pass.", [(30, "more", "score")]),
    # The counted noun is the head of the phrase after the figure, past its modifiers.
    ("There were 7,376 confirmed deaths from the virus.", [(7376, "exact", "death")]),
    ("About 2,500 volunteer firefighters came.", [(2500, "approx", "firefight")]),
    ("The party took 156 of 182 total seats.", [(156, "exact", "seat"), (182, "exact", "seat")]),
    ("Sales of the Model 3 car rose.", []),  # a number after a name is part of the name
    # Years, days of a month, times, ordinals and numbers glued to names are no figures;
    # small counts are.
    ("In 2019, on 12 March at 3:30, the 2nd of 3 people with Covid-19 spoke.",
     [(3, "exact", "peopl")]),
])
def test_quantities_carry_their_qualifier_unit_and_counted_noun(
        sentence: str, expected: list[tuple[float, str, str]]) -> None:
    assert [(q.value, q.qualifier, q.noun) for q in quantities(sentence)] == expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("The deal is worth $3.2 billion.", "The deal is worth $3.4 billion.", "number"),
    ("Prices rose 3.2% in May.", "Prices rose 3.4% in May.", "number"),
    ("Prices rose 3.2% in May.", "Prices rose 3.2 percent in May.", None),
    ("Three people died.", "Five people died.", "number"),  # counts in words are read
    ("Twenty-one states raise wages.", "23 states raise wages.", "number"),
    ("One of the two men spoke.", "One of the 2 men spoke.", None),
    ("3 people died in the blast.", "5 people died in the blast.", "number"),
    ("3 to 5 inches of snow fell.", "8 inches of snow fell.", "number"),
    # One deal, its worth written before or after the noun: the figures are of one thing.
    ("The deal is worth $3.2 billion.", "The $3.4 billion deal was signed.", "number"),
    # The same figure of two different things (unit or counted noun) is no disagreement.
    ("The fund lost $5 million this year.", "The fund lost 7 million members this year.", None),
    ("Police said 40 protesters were held.", "Police said 55 officers were hurt.", None),
    ("3 to 5 inches of snow fell.", "4 inches of snow fell.", None),
    ("About 1,000 fans came.", "About 1,020 fans came.", None),  # a round figure, rounded
    ("The $3 billion plan sends $1 billion to roads and $2 billion to rail.",
     "Of the $3 billion plan, $1 billion is for roads.", None),  # every shared figure agrees
    ("The $3 billion plan sends $1 billion to roads.",
     "The $3 billion plan sends $2 billion to roads.", "number"),
    ("Nearly 57% of voters agreed.", "More than 58% of voters agreed.", "number"),
    ("About 57% of voters agreed.", "Nearly 57% of voters agreed.", None),
    ("At least 36 people died in the fire.", "At least 97 people died in the fire.", "number"),
    ("At least 36 people died in the fire.", "At least 36 people died in the blaze.", None),
    ("Some 56% of adults had a dose.", "Some 63% of doses were late.", None),  # not one share
    ("The vote is on March 4, officials said.", "The vote is on March 11, officials said.",
     "date"),
    ("The vote is on March 4, officials said.", "Officials said the vote is on 4 March.", None),
])
def test_figures_and_dates_of_one_event_disagree_only_when_they_contradict(
        a: str, b: str, expected: str | None) -> None:
    assert disagreement(a, b) == expected
    assert disagreement(b, a) == expected


def test_sentences_about_different_events_never_disagree() -> None:
    a, b = "The deal is worth $3.2 billion.", "The deal is worth $3.4 billion."
    assert disagreement(a, b, similarity=0.9) == "number"
    assert disagreement(a, b, similarity=0.2) is None


def test_a_negated_announcement_without_a_date_noun_is_not_a_pending_schedule() -> None:
    assert schedules("No injuries were announced.") == []
    assert not is_pending("No injuries were announced.")
    assert is_pending("A date for the hearing has not been set.")


@pytest.mark.parametrize(("sentence", "expected"), [
    ("The mission must end by March 3, the ministry said.", ["03-03"]),
    ("Staff will leave “no later” than 1 July.", ["07-01"]),
    ("Talks will continue, though no date has been agreed.", ["pending"]),
    ("A schedule has not yet been announced.", ["pending"]),
    ("The ministry met on Tuesday to discuss the plan.", []),
])
def test_schedules_are_set_dates_or_pending(sentence: str, expected: list[str]) -> None:
    assert schedules(sentence) == expected


def test_different_bounds_on_one_count_disagree() -> None:
    assert disagreement("Around 500 protesters gathered.",
                        "More than 500 protesters gathered.") == "number"
    assert disagreement("Around 500 protesters gathered.", "Some 800 protesters gathered.") == (
        "number")
    # Two estimates of one figure agree; counts of different things never disagree.
    assert disagreement("Around 500 protesters gathered.", "Nearly 500 protesters came.") is None
    assert disagreement("Around 500 protesters gathered.", "More than 500 police came.") is None


def test_a_set_date_disagrees_with_a_pending_one_and_with_another_date() -> None:
    assert disagreement("The team leaves by June 30.", "No timeline has been set.") == "date"
    assert disagreement("The team leaves by June 30.", "It leaves no later than 1 August.") == (
        "date")
    assert disagreement("The team leaves by June 30.", "They go by 30 June, aides said.") is None
    assert is_pending("No timeline has been set.") and not is_pending("Leave by June 30.")


# --- on the bundled corpus ----------------------------------------------------------------------

def _n_markers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d+)\]", text)]


@pytest.mark.slow
def test_when_must_troops_leave_answers_september_15_from_may_2024(
        real_pipeline: Pipeline) -> None:
    answer = real_pipeline.ask("When must US troops leave?")
    lead = answer.text.split("[1]")[0]
    assert re.search(r"15 September|September 15", lead)
    assert "no timeline" not in lead  # April's "no timeline" is not presented as current
    # The May report that says so is undated when ingested years later (its "Sunday (19 May)"
    # is neither days before the ingest nor closed in by its own dates: rag/dates.py no longer
    # guesses); a dated one says "As of".
    first = answer.citations[0]
    assert first.date is None or (first.date.startswith("2024-05")
                                  and re.search(r"As of (about )?\d+ May 2024 \(", lead))
    # If April's report is mentioned, it is cited as the earlier report, after the newest.
    for c in answer.citations[1:]:
        if "no timeline" in c.quote:
            assert "Earlier" in answer.text


@pytest.mark.slow
def test_the_troop_count_question_surfaces_the_disagreement(real_pipeline: Pipeline) -> None:
    answer = real_pipeline.ask("How many US troops are in Niger?")
    assert "Reports differ" in answer.text
    assert len(answer.citations) >= 2 and _n_markers(answer.text) == [
        c.n for c in answer.citations]
    quotes = " ".join(c.quote for c in answer.citations)
    assert "more than 1,000" in quotes and re.search(r"around 1,000|nearly 1,000|close", quotes)
    assert len({c.article_id for c in answer.citations}) >= 2


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known defect, issue 12: the learned reader does not "
                   "choose the deadline sentence for this yes/no question on the sample")
def test_a_pending_schedule_is_reported_as_superseded(real_pipeline: Pipeline) -> None:
    answer = real_pipeline.ask("Has a timeline been set for the withdrawal?")
    lead = answer.text.split("[1]")[0]
    assert "September 15" in lead or "15 September" in lead
    assert "Earlier" in answer.text


def test_a_model_of_meaning_decides_whether_two_reports_are_of_one_event() -> None:
    import numpy as np

    from rag.conflicts import conflict, same_event_similarity

    def alike(texts: object) -> np.ndarray:
        return np.ones((2, 4), dtype=np.float32)

    def apart(texts: object) -> np.ndarray:
        return np.eye(2, 4, dtype=np.float32)

    a, b = "The deal is worth $3.2 billion.", "The $3.4 billion deal was signed."
    assert same_event_similarity(alike, a, b) == pytest.approx(1.0)
    assert same_event_similarity(apart, a, b) == pytest.approx(0.0)
    assert conflict(a, b, alike) == "number"
    assert conflict(a, b, apart) is None


def test_figures_are_masked_so_a_model_compares_what_reports_are_about() -> None:
    from rag.conflicts import mask_figures

    assert mask_figures("It took 156 of 182 seats, 3.2% and $4.8 billion in 2019.") == (
        "It took # of # seats, #% and $# billion in #.")
    assert mask_figures("Covid-19 and the A380") == "Covid-19 and the A380"


def test_the_labelled_pairs_hold_ids_spans_and_labels_but_no_publisher_text() -> None:
    import json
    from pathlib import Path

    path = Path(__file__).parent / "data" / "conflict_pairs.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keys = {"question_id", "url_a", "span_a", "sha_a", "url_b", "span_b", "sha_b", "label",
            "split"}
    assert rows and all(set(r) == keys for r in rows)
    for r in rows:
        for side in "ab":
            start, end = r[f"span_{side}"]
            assert isinstance(start, int) and isinstance(end, int) and 0 <= start < end
            assert re.fullmatch(r"[0-9a-f]{12}", r[f"sha_{side}"])
        assert r["label"] in (None, "number", "date") and r["split"] in ("2024", "2025")
    assert len({(r["question_id"], tuple(r["span_a"]), r["url_a"]) for r in rows}) == len(rows)


# --- ranges, units and the thing counted (issue 15 item 2) -------------------------------------

@pytest.mark.parametrize(("sentence", "expected"), [
    ("Between 10 and 12 people died.", [(10, 12, "range", "peopl")]),
    ("The deal is worth between $3.2 billion and $3.4 billion.",
     [(3.2e9, 3.4e9, "range", "dollar:deal")]),
    ("About 10% to 14% of chips sold come from plants here.",
     [(10, 14, "range", "percent:chip")]),
    ("Insurers expect $3.2 billion to $3.4 billion in losses.",
     [(3.2e9, 3.4e9, "range", "dollar:loss")]),
    # Money "in" something is money for it: the counted thing follows the "in".
    ("The $60 billion in aid was approved in April.", [(6e10, None, "exact", "dollar:aid")]),
    ("He failed to pay taxes on $1.76 million in income.",
     [(1.76e6, None, "exact", "dollar:incom")]),
])
def test_ranges_keep_their_bounds_and_units_and_money_counts_what_it_is_in(
        sentence: str, expected: list[tuple[float, float | None, str, str]]) -> None:
    got = [(q.value, q.high, q.qualifier, q.noun) for q in quantities(sentence)]
    assert got == [(pytest.approx(v), pytest.approx(h) if h else None, k, n)
                   for v, h, k, n in expected]


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("Between 10 and 12 people died in the fire.", "11 people died in the fire.", None),
    ("Between 10 and 12 people died in the fire.", "15 people died in the fire.", "number"),
    ("Officials put the loss at $3.2 billion to $3.4 billion.",
     "Officials put the loss at $3.3 billion.", None),
    ("Officials put the loss at between $3.2 billion and $3.4 billion.",
     "Officials put the loss at $4.1 billion.", "number"),
    ("The league reached a $765 million settlement with former players.",
     "The league agreed to pay more than $1 billion in a settlement with former players.",
     "number"),
])
def test_ranges_and_bounds_disagree_only_with_figures_outside_them(
        a: str, b: str, expected: str | None) -> None:
    assert disagreement(a, b) == expected
    assert disagreement(b, a) == expected


def test_figures_of_differently_named_or_modified_things_are_not_paired() -> None:
    # Pairing the one sum each of two same-event reports gives whatever noun it names was
    # tried: on the 2024 pairs it found no conflict the nouns missed and raised false alarms
    # (a total against a first payment). The model says "same event", the noun "same thing".
    a = "The league reached a $765 million settlement with former players."
    b = "The league's agreement with former players is worth $1.2 billion."
    assert disagreement(a, b, similarity=0.95) is None
    assert disagreement("Chicken prices jumped 16.6% in May.", "Bread prices jumped 0.5% in May.",
                        similarity=0.95) is None
    assert disagreement("Chicken prices jumped 16.6% in May.", "Prices jumped 0.5% in May.",
                        similarity=0.95) == "number"


@pytest.mark.parametrize(("a", "b", "expected"), [
    # An exact figure meets a bound at it: "at least 36" and "36" are one toll.
    ("At least 36 people were injured on the flight.", "36 people were injured on the flight.",
     None),
    # "As many as" caps a figure; "no fewer than" floors it.
    ("Gusts of 45 to 55 mph are possible.", "Gusts as high as 80 mph are possible.", None),
    ("Voting runs for no fewer than 17 days.", "Voting runs for 45 days.", None),
    ("Voting runs for no fewer than 17 days.", "Voting runs for 12 days.", "number"),
    # Figures given for different days or years are of different times, not in conflict.
    ("On Sunday, roughly 3,000 flights were canceled.",
     "More than 3,500 flights were canceled on Monday.", None),
    ("In 2019, at least 154 people died after drinking tainted alcohol.",
     "In 2020, at least 120 people died after drinking tainted alcohol.", None),
    ("On Sunday, roughly 3,000 flights were canceled.",
     "On Sunday, more than 3,500 flights were canceled.", "number"),
])
def test_bounds_caps_and_different_times_are_read_before_figures_are_compared(
        a: str, b: str, expected: str | None) -> None:
    assert disagreement(a, b) == expected
    assert disagreement(b, a) == expected


REALTIMEQA = Path(__file__).resolve().parents[2] / "shared" / "realtimeqa" / "past"


@pytest.mark.skipif(not REALTIMEQA.is_dir(), reason="needs ../shared/realtimeqa (not shipped)")
def test_every_labelled_pair_reads_back_from_realtimeqa_unchanged() -> None:
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[1] / "bench" / "conflict_precision.py"
    spec = importlib.util.spec_from_file_location("conflict_precision", path)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [json.loads(line) for line in bench.PAIRS.read_text().splitlines() if line.strip()]
    for r in rows:
        a, b = bench._texts(r)  # raises when a span no longer holds its labelled sentence
        assert a and b and a != b
