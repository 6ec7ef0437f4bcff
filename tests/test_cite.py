"""Citing: who reported it, as a journalist reads it."""

import numpy as np

from rag.cite import Candidate, conflicting_report, reporter
from rag.types import Chunk, Passage


def test_as_of_names_the_publisher_or_else_the_title_never_a_file_name() -> None:
    chunk = Chunk("a:0", "a", 0, "Text.", 0, 5)
    title = "Freedonia: delegation to leave ‘illegal’ base by mid-September amid a regional pivot"
    assert reporter(Passage(chunk, title, None, "Example Wire", 1.0)) == "Example Wire"
    named = reporter(Passage(chunk, title, None, "002_6be8afa9a8b09b71.txt", 1.0))
    assert named == "“Freedonia: delegation to leave ‘illegal’ base by mid-September…”"


def test_the_answer_path_asks_the_stored_sentence_vectors_whether_two_reports_are_one_event(
        ) -> None:
    def cand(article: str, text: str, vec: list[float], score: float) -> Candidate:
        chunk = Chunk(f"{article}:0", article, 0, text, 0, len(text))
        passage = Passage(chunk, article, None, article, score)
        return Candidate(article, 0, 0, len(text), text, passage,
                         np.asarray(vec, dtype=np.float32), score)

    cited = cand("a", "The deal is worth $3.2 billion, the firm said.", [1, 0, 0], 0.9)
    alike = cand("b", "The deal is worth $3.4 billion, the firm said.", [1, 0.1, 0], 0.85)
    apart = cand("c", "The deal is worth $3.4 billion, the firm said.", [0, 1, 0], 0.85)
    assert conflicting_report(cited, [cited, alike]) is alike
    assert conflicting_report(cited, [cited, apart]) is None
