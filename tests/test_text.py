from typing import Any

from rag.text import MAX_SENTENCE_CHARS, sentence_spans, terms, words


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


class _CountingStr(str):
    """A str that counts the characters handed out by indexing and slicing."""

    served = 0

    def __getitem__(self, key: Any) -> str:
        out = str.__getitem__(self, key)
        _CountingStr.served += len(out)
        return out


def test_sentence_splitting_reads_each_character_a_bounded_number_of_times() -> None:
    """Linear time without a clock: splitting reads a text of many full stops a few times
    over, not once per full stop (as the abbreviation check once did, 37 s at 400 KB)."""
    para = ("Col. Abdourahamane Tiani met U.S. officials on Monday. Talks went on. "
            "J. Smith said it was over. Nothing else was said.\n")
    for copies in (10, 100):
        text = _CountingStr(para * copies)
        _CountingStr.served = 0
        spans = sentence_spans(text)
        assert len(spans) == 4 * copies
        assert _CountingStr.served <= 8 * len(text), (copies, _CountingStr.served)


def test_a_text_without_full_stops_is_cut_into_bounded_sentences() -> None:
    text = "word " * 200_000 + "end"
    spans = sentence_spans(text)
    assert max(e - s for s, e in spans) <= MAX_SENTENCE_CHARS
    assert all(text[s:e].strip() == text[s:e] and text[s:e] for s, e in spans)
    assert " ".join(text[s:e] for s, e in spans) == text  # nothing lost, words kept whole
