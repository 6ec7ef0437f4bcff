"""Kept conversations and answer feedback (rag/history.py) on a real SQLite file in tmp_path."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.errors import InputError, NotFoundError
from rag.history import (
    MAX_COMMENT_CHARS,
    SCHEMA_VERSION,
    History,
    answer_from_dict,
    export_feedback,
)
from rag.types import Answer, Chunk, Citation, Passage, ShortAnswer

ME, OTHER = "client-aaaaaaaaaaaaaaaaaaaa", "client-bbbbbbbbbbbbbbbbbbbb"


def _answer(question: str = "When must US troops leave Niger?") -> Answer:
    cite = Citation(1, "c8bf", "Niger: US to withdraw", "2024-05-20", "002.txt", "c8bf:0",
                    "The US troops will leave no later than 15 September.", 93, 146, 0.93,
                    also_reported_by=("Reuters",), url="https://example.org/a#:~:text=x",
                    date_inferred=True)
    return Answer(question, "The US troops will leave “no later” than 15 September [1].", False,
                  citations=(cite,), timings_ms={"total": 12.5}, confidence=0.93,
                  short_answer=ShortAnswer("15 September", "c8bf", 130, 142, 1),
                  as_of="2024-05-21")


def _abstained() -> Answer:
    chunk = Chunk("c8bf:2", "c8bf", 2, "Troops arrived in 2013.", 400, 423)
    return Answer("Who won the 1998 cup?", "The articles don't say.", True,
                  passages=(Passage(chunk, "Niger: US to withdraw", None, "002.txt", 0.2),))


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    h = History(tmp_path / "chats.sqlite")
    yield h
    h.close()


def test_an_answer_survives_its_json_round_trip() -> None:
    for answer in (_answer(), _abstained()):
        d = answer.to_dict()
        assert answer_from_dict(d).to_dict() == d
        assert answer_from_dict(d).citations == answer.citations  # field for field


def test_a_malformed_stored_answer_is_an_input_error() -> None:
    with pytest.raises(InputError, match="answer"):
        answer_from_dict({"question": "q", "answer": "a", "citations": [{"n": 1}]})


def test_a_conversation_is_kept_and_reopens_with_its_citations(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite"
    h = History(path)
    conv = h.start(ME, "When must US troops leave Niger?")
    assert h.add_turn(ME, conv, "When must US troops leave Niger?", _answer()) == 0
    assert h.add_turn(ME, conv, "Who won the 1998 cup?", _abstained()) == 1
    h.close()

    again = History(path)  # a new process: what was written is on disk
    (summary,) = again.conversations(ME)
    assert (summary.id, summary.title, summary.turns) == (conv, "When must US troops leave "
                                                          "Niger?", 2)
    opened = again.conversation(ME, conv)
    assert [t.question for t in opened.turns] == ["When must US troops leave Niger?",
                                                  "Who won the 1998 cup?"]
    assert opened.turns[0].answer.to_dict() == _answer().to_dict()
    assert opened.turns[0].answer.citations[0].quote.startswith("The US troops")
    assert opened.turns[1].answer.abstained
    again.close()


def test_conversations_are_listed_newest_first_and_only_for_their_client(
        history: History) -> None:
    first = history.start(ME, "First question")
    second = history.start(ME, "Second question")
    theirs = history.start(OTHER, "Their question")
    history.add_turn(ME, first, "First question again", _answer())  # now the newest
    assert [c.id for c in history.conversations(ME)] == [first, second]
    assert [c.id for c in history.conversations(OTHER)] == [theirs]
    with pytest.raises(NotFoundError):
        history.conversation(OTHER, first)  # another browser cannot open it ...
    with pytest.raises(NotFoundError):
        history.add_turn(OTHER, first, "q", _answer())  # ... write to it ...
    with pytest.raises(NotFoundError):
        history.delete(OTHER, first)  # ... or delete it
    assert history.conversation(ME, first).turns


def test_the_client_id_is_not_stored_in_the_clear(history: History, tmp_path: Path) -> None:
    history.start(ME, "q")
    assert ME.encode() not in (tmp_path / "chats.sqlite").read_bytes()


def test_a_long_first_question_gives_a_short_title(history: History) -> None:
    conv = history.start(ME, "word " * 100)
    (summary,) = history.conversations(ME)
    assert summary.id == conv and len(summary.title) <= 80 and summary.title.endswith("…")


def test_deleting_a_conversation_removes_it_and_its_turns_but_keeps_its_feedback(
        history: History, tmp_path: Path) -> None:
    conv = history.start(ME, "q")
    history.add_turn(ME, conv, "When must US troops leave Niger?", _answer())
    history.rate(ME, conv, 0, +1)
    history.delete(ME, conv)
    assert history.conversations(ME) == []
    with pytest.raises(NotFoundError, match="No conversation"):
        history.conversation(ME, conv)
    con = sqlite3.connect(tmp_path / "chats.sqlite")
    assert con.execute("SELECT COUNT(*) FROM turns").fetchone() == (0,)
    con.close()
    assert [f.rating for f in history.feedback()] == [1]  # the verdict stays for the export


def test_feedback_is_stored_with_question_answer_and_citations(history: History) -> None:
    conv = history.start(ME, "q")
    history.add_turn(ME, conv, "When must US troops leave Niger?", _answer())
    fb = history.rate(ME, conv, 0, -1, comment="The date is right but the source is old.")
    assert fb.rating == -1
    (row,) = [f.to_dict() for f in history.feedback()]
    assert row["rating"] == "down"
    assert row["question"] == "When must US troops leave Niger?"
    assert row["answer"] == _answer().text
    assert row["citations"] == [c.to_dict() for c in _answer().citations]
    assert row["comment"] == "The date is right but the source is old."
    assert row["conversation_id"] == conv and row["turn"] == 0
    assert row["created_at"].endswith("Z")
    assert ME not in json.dumps(row)


def test_rating_an_answer_again_replaces_the_verdict(history: History) -> None:
    conv = history.start(ME, "q")
    history.add_turn(ME, conv, "q", _answer())
    history.rate(ME, conv, 0, +1)
    history.rate(ME, conv, 0, -1)
    assert [f.rating for f in history.feedback()] == [-1]
    history.clear_rating(ME, conv, 0)
    assert list(history.feedback()) == []


@pytest.mark.parametrize(("turn", "rating", "comment", "error", "match"), [
    (5, 1, "", NotFoundError, "no answer 5"),
    (-1, 1, "", NotFoundError, "no answer -1"),
    (0, 0, "", InputError, "rating"),
    (0, 2, "", InputError, "rating"),
    (0, 1, "x" * (MAX_COMMENT_CHARS + 1), InputError, "longer than"),
    (0, 1, "bad \ud800", InputError, "comment"),
])
def test_bad_feedback_is_refused_with_a_clear_error_and_nothing_written(
        history: History, turn: int, rating: int, comment: str, error: type[Exception],
        match: str) -> None:
    conv = history.start(ME, "q")
    history.add_turn(ME, conv, "q", _answer())
    with pytest.raises(error, match=match):
        history.rate(ME, conv, turn, rating, comment=comment)
    assert list(history.feedback()) == []


def test_unknown_ids_and_clients_are_clear_errors(history: History) -> None:
    with pytest.raises(NotFoundError, match="No conversation 'nope'"):
        history.conversation(ME, "nope")
    with pytest.raises(NotFoundError):
        history.rate(ME, "nope", 0, 1)
    with pytest.raises(InputError, match="browser"):
        history.start("", "q")
    with pytest.raises(InputError, match="question"):
        history.start(ME, "   ")


def test_a_failed_write_leaves_nothing_half_written(history: History, tmp_path: Path) -> None:
    """start + first turn are one transaction in `start(..., first=...)`: a turn that cannot be
    stored (its answer is not JSON) leaves no empty conversation behind."""
    bad = Answer("q", "a", False, timings_ms={"total": float("nan")})
    with pytest.raises(InputError):
        history.start(ME, "q", first=bad)
    assert history.conversations(ME) == []


def test_the_store_is_versioned_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite"
    History(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(Exception, match="newer newsrag"):
        History(path)


def test_writes_from_many_threads_all_land(history: History) -> None:
    conv = history.start(ME, "q")

    def ask(i: int) -> None:
        history.add_turn(ME, conv, f"question {i}", _answer(f"question {i}"))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    turns = history.conversation(ME, conv).turns
    assert sorted(t.question for t in turns) == sorted(f"question {i}" for i in range(20))
    assert [t.n for t in turns] == list(range(20))


def test_export_writes_json_lines_atomically(history: History, tmp_path: Path) -> None:
    conv = history.start(ME, "q")
    for i in range(3):
        history.add_turn(ME, conv, f"question {i}", _answer(f"question {i}"))
        history.rate(ME, conv, i, 1 if i % 2 == 0 else -1)
    out = tmp_path / "out" / "feedback.jsonl"
    out.parent.mkdir()
    out.write_text("old contents\n")
    assert export_feedback(history, out) == 3
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["question"] for x in lines] == ["question 0", "question 1", "question 2"]
    assert [x["rating"] for x in lines] == ["up", "down", "up"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["feedback.jsonl"]  # no temp left


# --- `newsrag feedback export` ---------------------------------------------------------------


def _rated(index_dir: Path) -> str:
    h = History.beside(index_dir)
    conv = h.start(ME, "When must US troops leave Niger?", first=_answer())
    h.rate(ME, conv, 0, 1, comment="Exactly the date I needed.")
    h.close()
    return conv


def test_cli_feedback_export_prints_json_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rag import cli

    conv = _rated(tmp_path)
    assert cli.main(["--index-dir", str(tmp_path), "feedback", "export"]) == 0
    out, err = capsys.readouterr()
    (row,) = [json.loads(x) for x in out.splitlines()]
    assert (row["rating"], row["conversation_id"], row["comment"]) == (
        "up", conv, "Exactly the date I needed.")
    assert row["citations"][0]["quote"].startswith("The US troops")
    assert row["collection"] == "main"
    assert "1 feedback record" in err


def test_cli_feedback_export_to_a_file(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from rag import cli

    _rated(tmp_path / "index")
    out = tmp_path / "fb.jsonl"
    assert cli.main(["--index-dir", str(tmp_path / "index"), "feedback", "export",
                     "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(out.read_text())["question"] == "When must US troops leave Niger?"


def test_cli_feedback_export_with_no_chats_yet_exports_nothing_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rag import cli

    assert cli.main(["--index-dir", str(tmp_path / "none"), "feedback", "export"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "0 feedback records" in err
    assert not (tmp_path / "none").exists()


def test_cli_feedback_export_into_a_missing_folder_is_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rag import cli

    _rated(tmp_path)
    code = cli.main(["--index-dir", str(tmp_path), "feedback", "export",
                     "--out", str(tmp_path / "no" / "such" / "fb.jsonl")])
    assert code == 2
    assert "folder" in capsys.readouterr().err


def test_a_damaged_chat_store_is_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    from rag.errors import IndexDamagedError

    path = tmp_path / "chats.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexDamagedError, match="chats.sqlite"):
        History(path)


# --- collections ------------------------------------------------------------------------------


def test_a_conversation_and_its_feedback_carry_their_collection(history: History) -> None:
    sports = history.start(ME, "Who won the cricket final?", first=_answer(), collection="sports")
    main = history.start(ME, "When must US troops leave Niger?", first=_answer())
    assert {c.id: c.collection for c in history.conversations(ME)} == {sports: "sports",
                                                                       main: "main"}
    assert history.conversation(ME, sports).collection == "sports"
    history.rate(ME, sports, 0, 1)
    history.rate(ME, main, 0, -1)
    history.delete(ME, sports)  # the verdict outlives its conversation, collection and all
    assert {f.conversation_id: f.to_dict()["collection"] for f in history.feedback()} == {
        sports: "sports", main: "main"}


@pytest.mark.parametrize("name", ["../main", "Sports", ""])
def test_a_conversation_in_a_bad_collection_name_is_refused(history: History,
                                                             name: str) -> None:
    with pytest.raises(InputError, match="not a valid collection name"):
        history.start(ME, "q", first=_answer(), collection=name)
    assert history.conversations(ME) == []


# The chat store as the first newsrag that kept chats wrote it (schema version 1).
_SCHEMA_V1 = """
CREATE TABLE conversations (
  id TEXT PRIMARY KEY, client TEXT NOT NULL, title TEXT NOT NULL,
  created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX conversations_client ON conversations(client, updated_at);
CREATE TABLE turns (
  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  n INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, created_at REAL NOT NULL,
  PRIMARY KEY (conversation_id, n));
CREATE TABLE feedback (
  id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL, turn INTEGER NOT NULL,
  client TEXT NOT NULL, rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
  comment TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, created_at REAL NOT NULL,
  UNIQUE (conversation_id, turn));
PRAGMA user_version = 1;
"""


def test_a_chat_store_of_the_first_schema_gains_the_collection_as_main_and_loses_nothing(
        tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "chats.sqlite"
    con = sqlite3.connect(path)
    con.executescript(_SCHEMA_V1)
    owner = hashlib.sha256(ME.encode()).hexdigest()
    answer = json.dumps(_answer().to_dict())
    con.execute("INSERT INTO conversations VALUES ('c1', ?, 'Old chat', 1.0, 2.0)", (owner,))
    con.execute("INSERT INTO turns VALUES ('c1', 0, 'When must US troops leave Niger?', ?, 2.0)",
                (answer,))
    con.execute("INSERT INTO feedback (conversation_id, turn, client, rating, comment, question,"
                " answer, created_at) VALUES ('c1', 0, ?, 1, 'good', 'When must US troops "
                "leave Niger?', ?, 3.0)", (owner, answer))
    con.commit()
    con.close()

    h = History(path)
    (summary,) = h.conversations(ME)
    assert (summary.id, summary.title, summary.turns, summary.collection) == (
        "c1", "Old chat", 1, "main")
    opened = h.conversation(ME, "c1")
    assert opened.collection == "main"
    assert opened.turns[0].answer.to_dict() == _answer().to_dict()
    (fb,) = h.feedback()
    assert (fb.rating, fb.comment, fb.to_dict()["collection"]) == (1, "good", "main")
    h.add_turn(ME, "c1", "Who leads Niger?", _answer("Who leads Niger?"))  # it goes on
    h.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    con.close()
    again = History(path)  # opening a migrated store again changes nothing
    assert [c.turns for c in again.conversations(ME)] == [2]
    again.close()
