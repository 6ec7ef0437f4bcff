import pytest

from rag.answer import split_question
from rag.followup import condense, is_followup
from rag.qtypes import (
    DATE,
    ENTITY,
    NONE,
    NUMBER,
    PERSON,
    PLACE,
    answer_type,
    mentions,
    named_entities,
    satisfies,
)
from rag.retrieve import reciprocal_rank_fusion
from rag.text import normalize
from rag.types import Turn


@pytest.mark.parametrize(("question", "kind"), [
    ("When must the troops leave?", DATE),
    ("By what date will they go?", DATE),
    ("How many soldiers are there?", NUMBER),
    ("How much did the base cost?", NUMBER),
    ("Who leads the junta?", PERSON),
    ("Which minister met the delegation?", PERSON),
    ("Where is the drone base?", PLACE),
    ("Which countries turned to Moscow?", PLACE),
    ("Why did Niger end the agreement?", NONE),
    ("Which group organised the protests?", ENTITY),
    ("What news agencies did officials tell?", ENTITY),
])
def test_answer_type_follows_the_question_word(question: str, kind: str) -> None:
    assert answer_type(question) == kind


def test_a_sentence_satisfies_the_asked_for_type() -> None:
    assert satisfies(DATE, "They leave no later than 15 September.", "When?")
    assert not satisfies(DATE, "They leave soon, officials said.", "When?")
    assert satisfies(NUMBER, "About two-thirds disagreed.", "What share?")
    assert satisfies(NUMBER, "Around 1,000 troops are there.", "How many troops?")
    assert not satisfies(NUMBER, "Instructors arrived with equipment.", "How many instructors?")
    assert satisfies(PERSON, "The talks were led by Kurt Campbell.", "Who led the talks?")
    assert satisfies(PLACE, "The base is in Agadez.", "Where is the base?")


def test_a_day_of_a_month_is_no_count() -> None:
    q = "How many troops does the US have in Niger"
    assert not satisfies(NUMBER, "The troops will leave no later than 15 September.", q)
    assert not satisfies(NUMBER, "The troops will leave by September 15.", q)
    assert satisfies(NUMBER, "Around 1,000 American troops are stationed there.", q)


def test_a_deadline_question_wants_a_bound_not_any_date() -> None:
    q = "By what date is the US military supposed to be out of Niger?"
    assert satisfies(DATE, "The US will remove all its troops by September 15.", q)
    assert satisfies(DATE, "US to withdraw troops by mid-September.", q)
    assert satisfies(DATE, "It will withdraw within about the next four months.", q)
    assert satisfies(DATE, "A delegation will go, though no timeline has been set.", q)
    assert not satisfies(DATE, "The military took power in July 2023.", q)
    # A question about the past still takes any date.
    assert satisfies(DATE, "The military took power in July 2023.", "When did they take power?")


def test_a_body_or_a_city_is_a_name_the_question_does_not_already_hold() -> None:
    q = "Which survey found that most Nigeriens disagreed?"
    assert satisfies(ENTITY, "Most disagreed, according to an Afrobarometer survey.", q)
    # "Niger" is the question's "Nigeriens"; a sentence's first word is no name.
    assert not satisfies(ENTITY, "Public opinion in Niger was hostile, a survey said.", q)
    assert not satisfies(ENTITY, "Surveys found most people disagreed.", q)
    # An acronym is a name even when it spells a stopword.
    dept = "Which department agreed with Niger's defense ministry?"
    assert satisfies(ENTITY, "It followed an agreement with the US Department of Defense.", dept)
    city = "To which city will the US delegation travel?"
    assert satisfies(PLACE, "A U.S. delegation will head to the capital Niamey.", city)
    # The United States is the question's "US"; "the capital of Niger" names no city.
    assert not satisfies(PLACE, "A delegation from the United States will travel to the "
                         "capital of Niger.", city)


def test_named_entities_are_the_capitalised_things_a_question_is_about() -> None:
    assert named_entities("What did Emmanuel Macron say?") == ["emmanuel", "macron"]
    assert named_entities("When must US troops leave Niger?") == ["us", "niger"]
    assert named_entities("how many troops?") == []


def test_mentions_accept_demonyms_and_prefixes() -> None:
    text = normalize("Nigerien officials met French and American envoys in Washington.")
    assert mentions("niger", text)
    assert mentions("france", text)
    assert mentions("us", text)
    assert not mentions("russia", text)


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    assert [i for i, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_follow_ups_borrow_the_previous_turn() -> None:
    history = [Turn("user", "Who leads the junta in Niger?"),
               Turn("assistant", "The transitional leader is Abdourahamane Tchiani [1].")]
    assert is_followup("Who did he meet?")
    q = condense("Who did he meet?", history)
    assert q.text == "Who did he meet?"
    assert "junta" in q.retrieval_text and "Abdourahamane Tchiani" in q.retrieval_text
    assert "junta" in q.context_terms
    # A self-contained question is left alone even with history.
    q2 = condense("When must US troops leave Niger?", history)
    assert q2.retrieval_text == q2.text and q2.context_terms == ()


def test_split_question_finds_each_question_joined_by_and() -> None:
    assert split_question("Which survey measured it, and which group organised the protest?") == [
        "Which survey measured it?", "Which group organised the protest?"]
    assert split_question("Who met Putin and in which city did they agree?") == [
        "Who met Putin?", "In which city did they agree?"]
    # Not two questions: a bare "and why", a noun phrase with "and", a plain question.
    for q in ["Which countries did Washington worry about, and why?",
              "What did the US and Niger agree?", "When must US troops leave Niger?"]:
        assert split_question(q) == [q]
