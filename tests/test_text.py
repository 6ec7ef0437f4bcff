from rag.text import sentence_spans, terms, words


def test_sentence_spans_cover_the_text_without_losing_characters() -> None:
    text = "First one. Second “quoted” one!\nA headline\n\n  Third? Yes.  "
    spans = sentence_spans(text)
    # Spans are ordered, disjoint, trimmed, and what lies between them is only white space.
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False))
    gaps = [text[:spans[0][0]]] + [text[e1:s2] for (_, e1), (s2, _) in zip(
        spans, spans[1:], strict=False)] + [text[spans[-1][1]:]]
    assert all(not g.strip() for g in gaps)
    assert [text[s:e] for s, e in spans] == [
        "First one.", "Second “quoted” one!", "A headline", "Third?", "Yes."]


def test_abbreviations_and_initials_do_not_end_sentences() -> None:
    text = "The U.S. Department of Defense agreed. Col. Amadou Abdramane spoke to J. Smith today."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "The U.S. Department of Defense agreed.",
        "Col. Amadou Abdramane spoke to J. Smith today.",
    ]


def test_a_line_break_always_ends_a_sentence() -> None:
    text = "Key Takeaways\n• U.S. agrees to withdraw\n• Second point"
    assert len(sentence_spans(text)) == 3


def test_terms_keep_acronyms_that_spell_stopwords_and_normalise_numbers() -> None:
    assert "us" in terms("US troops")
    assert "us" in terms("U.S. troops")
    assert "us" not in terms("they told us")
    assert "1000" in terms("close to 1,000 soldiers")
    assert terms("withdrawing troops") == terms("withdraw troop")


def test_words_unify_curly_quotes_and_possessives() -> None:
    assert words("Niger’s “no later”") == ["niger", "no", "later"]


def test_a_list_bullet_is_not_part_of_its_sentence() -> None:
    text = "Intro.\n• U.S. agrees to withdraw. Next one.\n- a dash item\n-5 degrees is cold."
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Intro.", "U.S. agrees to withdraw.", "Next one.", "a dash item", "-5 degrees is cold."]
