"""Citing: who reported it, as a journalist reads it."""

from rag.cite import reporter
from rag.types import Chunk, Passage


def test_as_of_names_the_publisher_or_else_the_title_never_a_file_name() -> None:
    chunk = Chunk("a:0", "a", 0, "Text.", 0, 5)
    title = "Freedonia: delegation to leave ‘illegal’ base by mid-September amid a regional pivot"
    assert reporter(Passage(chunk, title, None, "Example Wire", 1.0)) == "Example Wire"
    named = reporter(Passage(chunk, title, None, "002_6be8afa9a8b09b71.txt", 1.0))
    assert named == "“Freedonia: delegation to leave ‘illegal’ base by mid-September…”"
