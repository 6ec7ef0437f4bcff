"""Follow-ups borrow the turn before; a two-part question is split into its parts."""

from rag.followup import condense, is_followup, split_question
from rag.types import Turn


def test_follow_ups_borrow_the_previous_turn() -> None:
    history = [Turn("user", "Who leads the council in Freedonia?"),
               Turn("assistant", "The council's chair is Jane Doe [1].")]
    assert is_followup("Who did she meet?")
    q = condense("Who did she meet?", history)
    assert q.text == "Who did she meet?"
    assert "council" in q.retrieval_text and "Jane Doe" in q.retrieval_text
    assert "council" in q.context_terms
    # A self-contained question is left alone even with history.
    q2 = condense("When must the delegation leave Freedonia?", history)
    assert q2.retrieval_text == q2.text and q2.context_terms == ()


def test_split_question_finds_each_question_joined_by_and() -> None:
    assert split_question("Which survey measured it, and which group organised the protest?") == [
        "Which survey measured it?", "Which group organised the protest?"]
    assert split_question("Who met the minister and in which city did they agree?") == [
        "Who met the minister?", "In which city did they agree?"]
    # Not two questions: a bare "and why", a noun phrase with "and", a plain question.
    for q in ["Which countries did the council worry about, and why?",
              "What did the two governments agree?", "When must the delegation leave?"]:
        assert split_question(q) == [q]
