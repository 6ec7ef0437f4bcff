"""The verifier: hand-made supported and unsupported claims, marker parsing, repair from
provenance. The precision figure itself is printed by bench/verify_precision.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.embed import Embedder
from rag.verify import Source, is_refusal, split_claims, support, verify

PAIRS = Path(__file__).parent / "data" / "verify_pairs.jsonl"
ROWS = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line]

NIGER = Source("The US has agreed to remove all its troops by September 15, following a recent "
               "agreement between Niger’s defense ministry and the US Department of Defense.",
               title="Niger orders US troops out")
WAGNER = Source("A few months later, the military government asked French forces to leave and "
                "turned to the Russian mercenary group Wagner for security assistance.",
                title="Niger deems US troops illegal")


def test_the_pairs_file_is_big_enough_and_covers_every_kind_of_error() -> None:
    kinds = {r["kind"] for r in ROWS if not r["supported"]}
    assert len(ROWS) >= 40
    assert {"number_swap", "date_swap", "entity_swap", "negation", "addition"} <= kinds
    assert sum(r["supported"] for r in ROWS) >= 20


def test_every_pair_cites_a_real_sentence_of_a_sample_article() -> None:
    articles = Path(__file__).parent.parent / "data" / "articles"
    for r in ROWS:
        assert r["source"] in (articles / r["doc"]).read_text(encoding="utf-8")


@pytest.mark.parametrize("row", [r for r in ROWS if not r["supported"]],
                         ids=lambda r: f"{r['kind']}:{r['claim'][:40]}")
def test_hard_checks_alone_reject_swaps_negations_and_additions(row: dict[str, str]) -> None:
    """Without embeddings (the weakest setting), no swapped number, date or name, no negation,
    no flipped verb and no added clause may pass."""
    s = support(row["claim"], Source(row["source"], row["title"], row["date"]))
    assert not s.ok, s


def test_the_verifier_is_precise_on_the_pairs_with_the_real_embedder(
        real_embedder: Embedder) -> None:
    claims = real_embedder.embed([r["claim"] for r in ROWS])
    sources = real_embedder.embed([r["source"] for r in ROWS])
    kept = [r["supported"] for i, r in enumerate(ROWS)
            if support(r["claim"], Source(r["source"], r["title"], r["date"], sources[i]),
                       claims[i]).ok]
    supported = sum(r["supported"] for r in ROWS)
    precision = sum(kept) / len(kept)
    recall = sum(kept) / supported
    assert precision >= 0.95, precision
    assert recall >= 0.8, recall


def test_numbers_written_as_words_must_agree() -> None:
    src = Source("The US will withdraw all its troops within about the next four months.")
    assert support("The US will withdraw its troops within four months.", src).ok
    assert not support("The US will withdraw its troops within six months.", src).ok
    assert not support("The US will withdraw its troops within 6 months.", src).ok


def test_the_article_date_supports_a_year_the_sentence_leaves_out() -> None:
    src = Source("Niger's military rulers took power in July.", date="2023-07-30")
    assert support("Niger's military rulers took power in July 2023.", src).ok
    assert not support("Niger's military rulers took power in July 2022.", src).ok


def test_a_bound_is_not_a_negation() -> None:
    src = Source("The US troops will leave Niger “no later” than 15 September.")
    assert support("US troops will leave Niger by 15 September.", src).ok


def test_markers_after_the_full_stop_belong_to_the_sentence_before() -> None:
    claims = split_claims("Troops leave by September 15. [2] Wagner helped the junta [1][3]. "
                          "It is over [1, 2].")
    assert [c.markers for c in claims] == [(2,), (1, 3), (1, 2)]
    assert claims[0].text == "Troops leave by September 15."
    assert claims[1].text == "Wagner helped the junta."


def test_refusals_are_recognised() -> None:
    assert is_refusal("The articles don't say.")
    assert is_refusal("The sources do not mention the cost.")
    assert not is_refusal("The US did not agree to stay.")


def test_a_wrong_marker_is_repaired_from_provenance() -> None:
    result = verify("The US agreed to remove all its troops by September 15 [1].",
                    [WAGNER, NIGER], None)
    assert [v.sources for v in result.kept] == [(1,)]
    assert result.kept[0].repaired


def test_out_of_range_markers_are_dropped_and_the_right_source_attached() -> None:
    result = verify("Niger turned to the Russian mercenary group Wagner [7].", [NIGER, WAGNER],
                    None)
    assert [v.sources for v in result.kept] == [(1,)]


def test_a_claim_joining_two_cited_sources_is_supported_by_both() -> None:
    result = verify("The US agreed to remove its troops by September 15, and the military "
                    "government turned to the Russian mercenary group Wagner [1][2].",
                    [NIGER, WAGNER], None)
    assert [v.sources for v in result.kept] == [(0, 1)]


def test_unsupported_sentences_are_removed_and_recorded() -> None:
    result = verify("The US agreed to remove all its troops by September 15 [1]. "
                    "The troops will move to a new base in Chad [1].", [NIGER], None)
    assert len(result.kept) == 1
    assert len(result.removed) == 1 and "Chad" in result.removed[0]


def test_a_refusal_with_nothing_else_is_a_refusal() -> None:
    result = verify("The articles don't say.", [NIGER], None)
    assert result.refused and not result.kept


def test_a_sentence_that_names_its_source_is_judged_on_its_news() -> None:
    result = verify("Source [1] says the US agreed to remove all its troops by September 15.",
                    [NIGER], None)
    assert [v.sources for v in result.kept] == [(0,)]


def test_a_sentence_joining_two_sources_cites_both_even_when_it_cited_one() -> None:
    protest = Source("Last weekend in Niamey, government officials and thousands of demonstrators "
                     "gathered at a protest, demanding the withdrawal of US forces.")
    group = Source("The Synergy of Nigerien Civil Society Organizations, the group behind the "
                   "protests, claimed that many civilians had lost their lives.")
    result = verify("The Synergy of Nigerien Civil Society Organizations organised the protests "
                    "in Niamey demanding the withdrawal of US forces [2].", [protest, group], None)
    assert [v.sources for v in result.kept] == [(0, 1)]


def test_a_bare_marker_quotes_the_source_it_points_at() -> None:
    result = verify("[2]", [NIGER, WAGNER], None)
    assert [(v.text, v.sources) for v in result.kept] == [(WAGNER.text, (1,))]


def test_yes_is_not_a_name_but_the_denied_timeline_is_still_caught() -> None:
    src = Source("A U.S. delegation will head to Niamey within days to arrange an orderly "
                 "withdrawal, though no timeline has been set.")
    assert not support("Yes, a timeline has been set for the withdrawal.", src).ok
    assert support("Yes, a U.S. delegation will head to Niamey within days.", src).ok
