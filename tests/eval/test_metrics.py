"""Metric functions against hand-worked examples (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from rag.eval import metrics as m

# --- retrieval -------------------------------------------------------------------------------


def test_hit_at_k_looks_only_at_the_top_k() -> None:
    ranked = ["x", "y", "g1"]
    assert m.hit_at_k(ranked, {"g1"}, 2) == 0.0
    assert m.hit_at_k(ranked, {"g1"}, 3) == 1.0


def test_recall_at_k_counts_each_gold_id_once() -> None:
    # g1 appears twice in the top 3 but only g1 of {g1, g2} is found: 1/2.
    assert m.recall_at_k(["g1", "g1", "x"], {"g1", "g2"}, 3) == 0.5
    # One item may cover two gold ids (a chunk overlapping two evidence spans).
    assert m.recall_at_k([{"g1", "g2"}], {"g1", "g2"}, 1) == 1.0


def test_reciprocal_rank_of_first_relevant_item() -> None:
    assert m.reciprocal_rank(["x", "y", "g"], {"g"}) == pytest.approx(1 / 3)
    assert m.reciprocal_rank(["x", "y"], {"g"}) == 0.0


def test_ndcg_ideal_uses_min_of_gold_count_and_k() -> None:
    # One gold id, found at rank 2. DCG = 1/log2(3). Ideal has ONE relevant item: IDCG = 1/log2(2)
    # = 1. So nDCG = 1/log2(3) = 0.6309. (Using k=10 relevant items for the ideal would give
    # 0.6309 / 4.543 = 0.139.)
    assert m.ndcg_at_k(["x", "g"], {"g"}, 10) == pytest.approx(1 / math.log2(3))


def test_ndcg_is_one_for_a_perfect_ranking_with_fewer_gold_than_k() -> None:
    assert m.ndcg_at_k(["g1", "g2", "x", "y"], {"g1", "g2"}, 10) == pytest.approx(1.0)


def test_ndcg_two_gold_found_at_ranks_one_and_three() -> None:
    # DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.6309; nDCG = 0.9197.
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert m.ndcg_at_k(["g1", "x", "g2"], {"g1", "g2"}, 10) == pytest.approx(expected)


def test_ndcg_does_not_reward_a_repeated_gold_id() -> None:
    # Overlapping chunks both cover g1: the second gains nothing, so nDCG stays <= 1.
    assert m.ndcg_at_k(["g1", "g1"], {"g1"}, 10) == pytest.approx(1.0)
    assert m.ndcg_at_k(["g1", "g1"], {"g1", "g2"}, 10) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_retrieval_metrics_with_empty_predictions_are_zero() -> None:
    assert m.hit_at_k([], {"g"}, 5) == 0.0
    assert m.recall_at_k([], {"g"}, 5) == 0.0
    assert m.reciprocal_rank([], {"g"}) == 0.0
    assert m.ndcg_at_k([], {"g"}, 10) == 0.0


def test_k_below_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="k must be"):
        m.hit_at_k(["g"], {"g"}, 0)


# --- answers ---------------------------------------------------------------------------------


def test_normalisation_drops_case_punctuation_articles_and_curly_quotes() -> None:
    assert m.normalize_answer("The  “Wagner” Group!") == "wagner group"
    assert m.normalize_answer("U.S. troops, an army") == "us troops army"


def test_exact_match_takes_the_best_alias() -> None:
    assert m.exact_match("the Wagner group.", ["Wagner", "Wagner Group"]) == 1.0
    assert m.exact_match("Wagner mercenaries", ["Wagner", "Wagner Group"]) == 0.0


def test_token_f1_is_max_over_aliases() -> None:
    # pred tokens: [mohamed, bazoum, president] vs alias "Mohamed Bazoum": P=2/3, R=1, F1=0.8;
    # vs alias "Bazoum": P=1/3, R=1, F1=0.5. Max = 0.8.
    assert m.token_f1("Mohamed Bazoum, president", ["Bazoum", "Mohamed Bazoum"]) == pytest.approx(
        0.8
    )
    assert m.token_f1("", ["Bazoum"]) == 0.0
    assert m.token_f1("anything", []) == 0.0


def test_contains_alias_matches_whole_tokens_only() -> None:
    assert m.contains_alias("Troops leave by September 15 [1].", ["September 15", "15 September"])
    # "mali" must not match inside "somalia".
    assert not m.contains_alias("Somalia", ["Mali"])


def test_contains_alias_for_lists_needs_every_group() -> None:
    groups = [["Burkina Faso"], ["Mali"]]
    assert m.contains_alias("Burkina Faso and Mali", groups)
    assert not m.contains_alias("Burkina Faso only", groups)
    assert m.contains_any_alias("Burkina Faso only", groups)


def test_contains_alias_with_no_aliases_is_false() -> None:
    assert not m.contains_alias("anything", [])


def test_numbers_with_thousands_separators_match() -> None:
    assert m.contains_alias("close to 1,000 US troops", ["1000"])
    assert m.contains_alias("a $100m base", ["$100m"])


def test_citation_markers_are_not_answer_words() -> None:
    assert m.strip_citation_markers("Wagner [1] and Russia [12].") == "Wagner and Russia."
    assert m.answer_length_words("Wagner [1] and Russia [2].") == 3


def test_alias_groups_rejects_a_mixed_list() -> None:
    with pytest.raises(ValueError, match="mix"):
        m.alias_groups(["a", ["b"]])  # type: ignore[list-item]


# --- citations -------------------------------------------------------------------------------


def test_citation_supports_by_overlap_or_by_alias() -> None:
    gold = [m.Span("a1", 100, 150)]
    assert m.citation_supports(m.Span("a1", 140, 200), "no alias here", gold, ["Wagner"])
    # Touching end-to-start is not an overlap.
    assert not m.citation_supports(m.Span("a1", 150, 200), "no alias", gold, ["Wagner"])
    # Same offsets in another article do not count.
    assert not m.citation_supports(m.Span("a2", 100, 150), "no alias", gold, ["Wagner"])
    assert m.citation_supports(m.Span("a2", 0, 10), "the Wagner group", gold, ["Wagner"])


def test_citation_precision_and_recall() -> None:
    assert m.citation_precision([True, False, False, True]) == 0.5
    assert m.citation_precision([]) == 0.0
    assert m.citation_recall([False, True]) == 1.0
    assert m.citation_recall([]) == 0.0


def test_span_validity() -> None:
    text = "Niger ordered US troops out."
    assert m.span_valid(text, 6, 13, "ordered")
    assert not m.span_valid(text, 6, 14, "ordered")
    assert not m.span_valid(text, 20, 99, "out.")


# --- refusal ---------------------------------------------------------------------------------


def test_refusal_scores_hand_worked() -> None:
    # items:        u1    u2     a1    a2     a3
    abstained = [True, False, True, False, False]
    answerable = [False, False, True, True, True]
    s = m.refusal_scores(abstained, answerable)
    assert s.precision == 0.5  # 1 of 2 abstentions was on an unanswerable item
    assert s.recall == 0.5  # 1 of 2 unanswerable items abstained on
    assert s.false_refusal_rate == pytest.approx(1 / 3)  # 1 of 3 answerable refused


def test_refusal_precision_is_undefined_without_abstentions() -> None:
    s = m.refusal_scores([False, False], [False, True])
    assert s.precision is None
    assert s.recall == 0.0
    assert s.false_refusal_rate == 0.0


# --- aggregation and registry ----------------------------------------------------------------


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert m.percentile(values, 50) == 25.0
    # pos = 3 * 0.95 = 2.85 -> 30 + 0.85 * 10
    assert m.percentile(values, 95) == pytest.approx(38.5)
    assert m.percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="no values"):
        m.percentile([], 50)


def test_mean_skips_undefined_values() -> None:
    assert m.mean([1.0, None, 0.0]) == 0.5
    assert m.mean([None]) is None


def test_metric_registry_rejects_unknown_names() -> None:
    assert m.metric_info("ndcg@10").higher_is_better
    assert not m.metric_info("latency_p95_ms").higher_is_better
    with pytest.raises(KeyError, match="known: hit@1"):
        m.metric_info("ndcg@11")


# --- citation faithfulness (a lexical judge) ----------------------------------------------------

QUOTE = "The US troops will leave Niger \u201cno later\u201d than 15 September, the ministry said."


def test_cited_claims_split_an_answer_at_its_markers() -> None:
    text = "As of 19 May (AP): Troops leave by 15 September [1][2]. A base cost $110m [3]. Tail."
    assert m.cited_claims(text) == [("As of 19 May (AP): Troops leave by 15 September", [1, 2]),
                                     ("A base cost $110m", [3])]
    assert m.cited_claims("No markers at all.") == []


def test_claim_supported_by_a_verbatim_quote_with_its_date_and_source() -> None:
    claim = f"As of about 19 May 2024 (Al Jazeera): {QUOTE}"
    assert m.claim_supported(claim, QUOTE, "Niger and US agree Al Jazeera 19 May 2024")
    assert not m.claim_supported(claim, QUOTE, "")  # the date and source must come from somewhere


def test_claim_with_a_new_fact_number_or_flipped_negation_is_not_supported() -> None:
    assert not m.claim_supported("US troops will leave Niger by 15 August.", QUOTE)
    assert not m.claim_supported("US troops will leave Niger and Chad.", QUOTE)
    plain = QUOTE.replace("no later", "later")
    assert not m.claim_supported("US troops will not leave Niger.", plain)
    assert m.claim_supported("US troops will leave Niger by 15 September.", QUOTE)
    assert m.claim_supported("Earlier, AP reported: troops leave Niger", QUOTE, "AP")


def test_judge_reads_straight_quotes_and_answer_particles_alike() -> None:
    claim = 'Yes, according to the source, US troops will leave Niger "no later" than 15 September'
    assert m.claim_supported(claim, QUOTE)
